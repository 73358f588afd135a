//! The swarm that runs one download's [`Coordinator`] with threads: a few
//! worker threads per source (`worker.rs`) pull piece numbers from a
//! shared crossbeam work queue and report what each fetch came to; a
//! faster source simply comes back for work more often. [`Swarm::run`]
//! feeds the reports and the time to the coordinator and carries out what
//! it asks: hand out a piece, start or stop a source's workers, locate more
//! sources, checkpoint, finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use indicatif::ProgressBar;

use super::coordinator::{Action, Coordinator, Outcome};
use super::options::PIECE_READ_TIMEOUT;
use super::transfer::TransferError;
use super::worker::{work, HttpSource, Job, PieceSource, Sent};
use crate::peer::client::DirectoryApi;
use crate::wire::Source;

/// How long a download that ends waits for its workers to notice.
pub const WORKER_GRACE: Duration = Duration::from_millis(250);

/// How a source is reached, one per worker: over HTTP, or a test's twin.
pub type Connect = Box<dyn Fn(&Source) -> Arc<dyn PieceSource>>;

/// A source's workers, and the flag that stops them.
struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// One download's coordinator and the threads it runs on.
pub struct Swarm<'a> {
    job: Arc<Job>,
    pub coord: Coordinator,
    workers: Vec<Workers>,
    per_source: usize,
    bar: &'a ProgressBar,
    connect: Connect,
}

impl<'a> Swarm<'a> {
    /// A swarm for `job`, whose pieces `done` are verified already; the
    /// peers in `dropped` were dropped before it started (they are
    /// reported, and never used even if the directory names them again).
    pub fn new(
        job: Arc<Job>,
        done: Vec<bool>,
        per_source: usize,
        bar: &'a ProgressBar,
        dropped: Vec<(String, String)>,
    ) -> Swarm<'a> {
        let connect: Connect =
            Box::new(|s: &Source| Arc::new(HttpSource::new(s.http_addr.clone())) as _);
        Swarm::connecting(job, done, per_source, bar, dropped, connect)
    }

    /// [`Swarm::new`] reaching sources through `connect`.
    pub fn connecting(
        job: Arc<Job>,
        done: Vec<bool>,
        per_source: usize,
        bar: &'a ProgressBar,
        dropped: Vec<(String, String)>,
        connect: Connect,
    ) -> Swarm<'a> {
        let size = job.size;
        Swarm {
            job,
            coord: Coordinator::new(size, done, per_source, dropped, Instant::now()),
            workers: Vec::new(),
            per_source: per_source.max(1),
            bar,
            connect,
        }
    }

    /// Verified bytes each source sent this run, most first.
    pub fn bytes_per_source(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .coord
            .books
            .iter()
            .filter(|b| b.bytes > 0)
            .map(|b| (b.source.peer.clone(), b.bytes))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// (name shared under, verified bytes sent) of each source that sent
    /// verified pieces this run and never a bad one.
    pub fn verified_names(&self) -> Vec<(String, u64)> {
        self.coord
            .books
            .iter()
            .filter(|b| b.bytes > 0 && !b.lied)
            .map(|b| (b.source.name.clone(), b.bytes))
            .collect()
    }

    /// (peer, time waited in its queue, first place given) of every source
    /// that queued us.
    pub fn waits(&self) -> Vec<(String, Duration, Option<usize>)> {
        self.coord.waits(Instant::now())
    }

    /// Counts `bytes` verified bytes from `source` that did not come
    /// through the swarm (a one-piece file fetched while proving its size).
    pub fn credit(&mut self, source: Source, bytes: u64) {
        self.coord.credit(source, bytes);
        self.workers.push(Workers {
            stop: Arc::new(AtomicBool::new(true)),
            threads: Vec::new(),
        });
    }

    /// The progress line's message: sources, and where we wait in line.
    fn show(&self) {
        let n = self.coord.alive();
        let mut msg = format!("{n} source{}", if n == 1 { "" } else { "s" });
        let lines: Vec<String> = self
            .coord
            .books
            .iter()
            .filter(|b| !b.dropped)
            .filter_map(|b| {
                let (_, place) = b.queued?;
                Some(match place {
                    Some(p) => format!("{} (position {p})", b.source.peer),
                    None => b.source.peer.clone(),
                })
            })
            .collect();
        if !lines.is_empty() {
            msg.push_str(&format!(", queued at {}", lines.join(", ")));
        }
        self.bar.set_message(msg);
    }

    /// Starts the workers of the source the coordinator just admitted.
    fn start(&mut self, index: usize, jobs: &Receiver<usize>, events: &Sender<Sent>) {
        let source = self.coord.books[index].source.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..self.per_source)
            .map(|k| {
                let (job, jobs, events, stop) =
                    (self.job.clone(), jobs.clone(), events.clone(), stop.clone());
                let from = (self.connect)(&source);
                std::thread::Builder::new()
                    .name(format!("fetch-{}-{k}", source.peer))
                    .spawn(move || work(&job, index, &*from, &stop, &jobs, &events))
                    .expect("spawn a fetch thread")
            })
            .collect();
        debug_assert_eq!(self.workers.len(), index);
        self.workers.push(Workers { stop, threads });
    }

    /// Fetches every missing piece from `first` and whatever sources the
    /// directory names meanwhile; on failure, what is verified is recorded
    /// for a resume.
    pub fn run(
        &mut self,
        dir: &dyn DirectoryApi,
        first: Vec<Source>,
        empty: bool,
        cancel: Option<&AtomicBool>,
    ) -> Result<(), TransferError> {
        if empty {
            self.coord.all_done();
            return Ok(());
        }
        if self.coord.remaining() == 0 {
            return Ok(());
        }
        let (job_tx, job_rx) = unbounded::<usize>();
        let (ev_tx, ev_rx) = unbounded::<Sent>();
        let mut actions = self.coord.start();
        actions.extend(self.coord.offer(first));
        let result = loop {
            let mut ended = None;
            while !actions.is_empty() && ended.is_none() {
                for action in std::mem::take(&mut actions) {
                    match action {
                        Action::Hand(piece) => {
                            let _ = job_tx.send(piece);
                        }
                        Action::Start(index) => self.start(index, &job_rx, &ev_tx),
                        Action::Stop(index) => {
                            self.workers[index].stop.store(true, Ordering::Relaxed)
                        }
                        Action::Locate => {
                            let found = match dir.locate(&self.job.id) {
                                Ok((_, found)) => super::plan::reachable(found).0,
                                Err(e) => {
                                    log::debug!("locate during download: {e}");
                                    Vec::new()
                                }
                            };
                            actions.extend(self.coord.located(found));
                        }
                        Action::Checkpoint => self.checkpoint()?,
                        Action::Verified(bytes) => self.bar.inc(bytes),
                        Action::Show => self.show(),
                        Action::Finish(outcome) => {
                            ended = Some(outcome);
                            break;
                        }
                    }
                }
            }
            if let Some(outcome) = ended {
                // What workers reported meanwhile still counts for the
                // report (a source dropped for bad bytes or a 404 at the
                // very end is named); it asks for nothing more.
                for sent in ev_rx.try_iter() {
                    if let Sent::Report(report) = sent {
                        self.coord.report(report, Instant::now());
                    }
                }
                break match outcome {
                    Outcome::Complete => Ok(()),
                    Outcome::NoSourceLeft {
                        missing_pieces,
                        missing_bytes,
                        why,
                    } => Err(TransferError::NoSourceLeft {
                        id: self.job.id,
                        missing_pieces,
                        missing_bytes,
                        part: Some(self.job.part.path.clone()),
                        dropped: why,
                    }),
                };
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break Err(TransferError::Cancelled {
                    part: Some(self.job.part.path.clone()),
                });
            }
            match ev_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Sent::Report(report)) => {
                    actions.extend(self.coord.report(report, Instant::now()))
                }
                Ok(Sent::WriteFailed(e)) => {
                    break Err(TransferError::Io {
                        path: self.job.part.path.clone(),
                        source: e,
                    })
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    unreachable!("the coordinator holds a sender")
                }
            }
            actions.extend(self.coord.step(Instant::now(), job_tx.is_empty()));
        };
        if result.is_err() {
            if self.coord.done().iter().any(|d| *d) {
                // Keep what was verified for the next try.
                self.checkpoint()?;
            } else {
                // Nothing verified: nothing worth keeping (nor said kept).
                self.job.part.discard();
                return result.map_err(|e| match e {
                    TransferError::NoSourceLeft {
                        id,
                        missing_pieces,
                        missing_bytes,
                        dropped,
                        ..
                    } => TransferError::NoSourceLeft {
                        id,
                        missing_pieces,
                        missing_bytes,
                        part: None,
                        dropped,
                    },
                    TransferError::Cancelled { .. } => TransferError::Cancelled { part: None },
                    other => other,
                });
            }
        }
        result
    }

    fn checkpoint(&self) -> Result<(), TransferError> {
        self.job
            .part
            .checkpoint(self.job.id, self.job.size, self.coord.done())
    }

    /// Tells every worker to stop and joins those that do within
    /// [`WORKER_GRACE`]. A worker still blocked in a read (a source that
    /// trickles its bytes, one every few seconds, never silent long enough
    /// for the read timeout) is left to end on its own at its next byte or
    /// at the read timeout: it writes nothing more, since it writes only a
    /// verified piece that is not done yet, and the bytes of a verified
    /// piece are those already at its place.
    pub fn stop_workers(&mut self) {
        for w in &self.workers {
            w.stop.store(true, Ordering::Relaxed);
        }
        let deadline = Instant::now() + WORKER_GRACE;
        let mut left = 0;
        for w in &mut self.workers {
            for t in w.threads.drain(..) {
                while !t.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if t.is_finished() {
                    crate::sync::join_or_raise(t);
                } else {
                    left += 1;
                }
            }
        }
        if left > 0 {
            log::debug!(
                "{left} connection(s) still waiting in a read; left to end on their own \
                 (within {PIECE_READ_TIMEOUT:?})"
            );
        }
    }
}
