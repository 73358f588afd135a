//! The swarm that fetches one download: a few worker threads per source
//! pull piece numbers from a shared crossbeam work queue, fetch each piece
//! with a `Range` request, check it against its chaining value and write it
//! at its offset in the part file; a faster source simply comes back for
//! work more often. One coordinator ([`Swarm::run`]) owns every decision: it
//! requeues what failed, drops a source that sent bad bytes (or kept
//! failing), asks the directory for new sources, duplicates the last pieces
//! in flight onto idle sources (endgame, again every [`ENDGAME_AGAIN`]), and
//! checkpoints which pieces are verified every [`CHECKPOINT_EVERY`].

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use indicatif::ProgressBar;

use super::options::{
    CHECKPOINT_EVERY, LOCATE_EVERY, MAX_QUEUE_POLL, MAX_SOURCES, PIECE_READ_TIMEOUT, SOURCE_RETRIES,
};
use super::part::Part;
use super::plan::size_mismatch;
use super::range::{fetch_range, FetchError, Range};
use super::transfer::{self, TransferError};
use crate::id::FileId;
use crate::peer::client::DirectoryApi;
use crate::pieces::{self, piece_range};
use crate::wire::{HttpAddr, Source};

/// How often the endgame hands out another copy of a piece not done yet.
const ENDGAME_AGAIN: Duration = Duration::from_secs(1);

/// How long a download that ends waits for its workers to notice.
const WORKER_GRACE: Duration = Duration::from_millis(250);

/// What each worker needs, shared read-only (but for the done flags).
pub(super) struct Job {
    pub id: FileId,
    pub size: u64,
    /// This downloader's peer name, sent with every request.
    pub me: Option<String>,
    pub cvs: Vec<ChainingValue>,
    pub part: Part,
    pub done: Vec<AtomicBool>,
}

enum Event {
    Done {
        piece: usize,
        source: usize,
    },
    Bad {
        piece: usize,
        source: usize,
    },
    Failed {
        piece: usize,
        source: usize,
        error: String,
    },
    /// The source put us in its queue; the piece goes back to the others.
    Queued {
        piece: usize,
        source: usize,
        position: Option<usize>,
    },
    Gone {
        source: usize,
        reason: String,
    },
    WriteFailed(io::Error),
}

struct SourceState {
    source: Source,
    dropped: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    bytes: u64,
    /// It sent a piece that failed verification.
    lied: bool,
    /// Since when, and at which place, it keeps us in its queue.
    queued: Option<(Instant, Option<usize>)>,
    /// Time spent in its queue so far, and the first place we were given.
    waited: Duration,
    first_place: Option<usize>,
}

/// The coordinator's state for one download.
pub(super) struct Swarm<'a> {
    job: Arc<Job>,
    done: Vec<bool>,
    sources: Vec<SourceState>,
    /// Every peer name ever used in this download (dropped ones are not re-added).
    known: HashSet<String>,
    /// Sources dropped, with the reason.
    pub dropped: Vec<(String, String)>,
    per_source: usize,
    bar: &'a ProgressBar,
    /// Verified bytes fetched in this run.
    pub fetched: u64,
    /// How long to wait in sources' queues without a piece before giving
    /// up (`None`: until stopped).
    pub patience: Option<Duration>,
    /// Pieces that failed verification in this run.
    pub bad_pieces: u64,
}

impl<'a> Swarm<'a> {
    /// A swarm for `job`; the peers in `dropped` were dropped before it
    /// started (they are reported, and never used even if the directory
    /// names them again).
    pub fn new(
        job: Arc<Job>,
        done: Vec<bool>,
        per_source: usize,
        bar: &'a ProgressBar,
        dropped: Vec<(String, String)>,
    ) -> Swarm<'a> {
        Swarm {
            job,
            done,
            sources: Vec::new(),
            known: dropped.iter().map(|(p, _)| p.clone()).collect(),
            dropped,
            per_source: per_source.max(1),
            bar,
            fetched: 0,
            patience: None,
            bad_pieces: 0,
        }
    }

    /// Verified bytes each source sent this run, most first.
    pub fn bytes_per_source(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .sources
            .iter()
            .filter(|s| s.bytes > 0)
            .map(|s| (s.source.peer.clone(), s.bytes))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// (name shared under, verified bytes sent) of each source that sent
    /// verified pieces this run and never a bad one.
    pub fn verified_names(&self) -> Vec<(String, u64)> {
        self.sources
            .iter()
            .filter(|s| s.bytes > 0 && !s.lied)
            .map(|s| (s.source.name.clone(), s.bytes))
            .collect()
    }

    /// Counts `bytes` verified bytes from `peer` that did not come through
    /// the swarm (a one-piece file fetched while proving its size).
    pub fn credit(&mut self, source: Source, bytes: u64) {
        self.known.insert(source.peer.clone());
        self.fetched += bytes;
        self.sources.push(SourceState {
            source,
            dropped: Arc::new(AtomicBool::new(true)),
            threads: Vec::new(),
            bytes,
            lied: false,
            queued: None,
            waited: Duration::ZERO,
            first_place: None,
        });
    }

    fn alive(&self) -> usize {
        self.sources
            .iter()
            .filter(|s| !s.dropped.load(Ordering::Relaxed))
            .count()
    }

    fn add_sources(&mut self, found: Vec<Source>, jobs: &Receiver<usize>, events: &Sender<Event>) {
        for source in found {
            if self.sources.len() >= MAX_SOURCES || !self.known.insert(source.peer.clone()) {
                continue;
            }
            if source.size != self.job.size {
                let reason = size_mismatch(source.size, self.job.size);
                log::warn!("not using source {}: it {reason}", source.peer);
                self.dropped.push((source.peer, reason));
                continue;
            }
            let index = self.sources.len();
            let dropped = Arc::new(AtomicBool::new(false));
            let threads = (0..self.per_source)
                .map(|k| {
                    let (job, jobs, events, dropped) = (
                        self.job.clone(),
                        jobs.clone(),
                        events.clone(),
                        dropped.clone(),
                    );
                    let base = source.http_addr.clone();
                    std::thread::Builder::new()
                        .name(format!("fetch-{}-{k}", source.peer))
                        .spawn(move || worker(&job, index, &base, &dropped, &jobs, &events))
                        .expect("spawn a fetch thread")
                })
                .collect();
            self.sources.push(SourceState {
                source,
                dropped,
                threads,
                bytes: 0,
                lied: false,
                queued: None,
                waited: Duration::ZERO,
                first_place: None,
            });
        }
        self.show();
    }

    /// The progress line's message: sources, and where we wait in line.
    fn show(&self) {
        let n = self.alive();
        let mut msg = format!("{n} source{}", if n == 1 { "" } else { "s" });
        let lines: Vec<String> = self
            .sources
            .iter()
            .filter(|s| !s.dropped.load(Ordering::Relaxed))
            .filter_map(|s| {
                let (_, place) = s.queued?;
                Some(match place {
                    Some(p) => format!("{} (position {p})", s.source.peer),
                    None => s.source.peer.clone(),
                })
            })
            .collect();
        if !lines.is_empty() {
            msg.push_str(&format!(", queued at {}", lines.join(", ")));
        }
        self.bar.set_message(msg);
    }

    /// (peer, time waited in its queue, first place given) of every source
    /// that queued us.
    pub fn waits(&self) -> Vec<(String, Duration, Option<usize>)> {
        let now = Instant::now();
        self.sources
            .iter()
            .filter(|s| s.first_place.is_some() || !s.waited.is_zero() || s.queued.is_some())
            .map(|s| {
                let ongoing = s.queued.map_or(Duration::ZERO, |(t, _)| now - t);
                (s.source.peer.clone(), s.waited + ongoing, s.first_place)
            })
            .collect()
    }

    /// Notes that `source` sent a piece: it no longer keeps us waiting.
    fn served_by(&mut self, source: usize) {
        let s = &mut self.sources[source];
        if let Some((since, _)) = s.queued.take() {
            s.waited += since.elapsed();
            log::info!(
                "{} serves us now, after {:.1} s in its queue",
                s.source.peer,
                since.elapsed().as_secs_f64()
            );
            self.show();
        }
    }

    /// Notes that `source` put us in its queue at `place`.
    fn queued_at(&mut self, source: usize, place: Option<usize>) {
        let s = &mut self.sources[source];
        let changed = s.queued.map(|(_, p)| p) != Some(place);
        let since = s.queued.map_or_else(Instant::now, |(t, _)| t);
        s.queued = Some((since, place));
        if s.first_place.is_none() {
            s.first_place = place.or(Some(0));
        }
        if changed {
            match place {
                Some(p) => log::info!("queued at {} (position {p})", s.source.peer),
                None => log::info!("queued at {}", s.source.peer),
            }
            self.show();
        }
    }

    /// Whether every source left keeps us waiting, none of them has sent a
    /// piece since `since`, and that is longer than our patience.
    fn out_of_patience(&self, since: Instant) -> bool {
        let Some(patience) = self.patience else {
            return false;
        };
        let alive: Vec<&SourceState> = self
            .sources
            .iter()
            .filter(|s| !s.dropped.load(Ordering::Relaxed))
            .collect();
        !alive.is_empty() && alive.iter().all(|s| s.queued.is_some()) && since.elapsed() > patience
    }

    fn drop_source(&mut self, index: usize, reason: &str) {
        let s = &self.sources[index];
        if !s.dropped.swap(true, Ordering::Relaxed) {
            log::warn!("dropping source {}: {reason}", s.source.peer);
            self.dropped
                .push((s.source.peer.clone(), reason.to_string()));
            self.show();
        }
    }

    fn checkpoint(&self) -> Result<(), TransferError> {
        self.job
            .part
            .checkpoint(self.job.id, self.job.size, &self.done)
    }

    fn missing(&self) -> (usize, u64) {
        let pieces: Vec<usize> = (0..self.done.len()).filter(|i| !self.done[*i]).collect();
        let bytes = pieces
            .iter()
            .map(|i| piece_range(self.job.size, *i).1)
            .sum();
        (pieces.len(), bytes)
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
            self.done.iter_mut().for_each(|d| *d = true);
            return Ok(());
        }
        let (job_tx, job_rx) = unbounded::<usize>();
        let (ev_tx, ev_rx) = unbounded::<Event>();
        let mut remaining = 0;
        for (i, d) in self.done.iter().enumerate() {
            if !*d {
                job_tx.send(i).expect("queue is open");
                remaining += 1;
            }
        }
        if remaining == 0 {
            return Ok(());
        }
        self.add_sources(first, &job_rx, &ev_tx);
        // When each piece was last handed out again by the endgame.
        let mut duplicated: HashMap<usize, Instant> = HashMap::new();
        let mut last_checkpoint = Instant::now();
        let mut last_locate = Instant::now();
        let mut last_piece = Instant::now();
        let result = loop {
            if remaining == 0 {
                break Ok(());
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break Err(TransferError::Cancelled {
                    part: Some(self.job.part.path.clone()),
                });
            }
            match ev_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Done { piece, source }) => {
                    let len = piece_range(self.job.size, piece).1;
                    self.served_by(source);
                    last_piece = Instant::now();
                    if !self.done[piece] {
                        self.done[piece] = true;
                        remaining -= 1;
                        self.sources[source].bytes += len;
                        self.fetched += len;
                        self.bar.inc(len);
                    }
                }
                Ok(Event::Bad { piece, source }) => {
                    self.bad_pieces += 1;
                    self.sources[source].lied = true;
                    self.drop_source(
                        source,
                        &format!("sent piece {piece}, which failed verification"),
                    );
                    if !self.done[piece] {
                        let _ = job_tx.send(piece);
                    }
                }
                Ok(Event::Failed {
                    piece,
                    source,
                    error,
                }) => {
                    log::debug!(
                        "piece {piece} from {}: {error}",
                        self.sources[source].source.peer
                    );
                    if !self.done[piece] {
                        let _ = job_tx.send(piece);
                    }
                }
                Ok(Event::Queued {
                    piece,
                    source,
                    position,
                }) => {
                    self.queued_at(source, position);
                    if !self.done[piece] {
                        let _ = job_tx.send(piece);
                    }
                }
                Ok(Event::Gone { source, reason }) => self.drop_source(source, &reason),
                Ok(Event::WriteFailed(e)) => {
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
            // Endgame: the queue ran dry but pieces are in flight; let idle
            // sources race for them (the loser is cancelled mid-piece).
            // Again every ENDGAME_AGAIN while a piece is not done: a copy
            // may have gone to an idle connection of the very source that
            // holds the piece back (one that trickles its bytes), and once
            // all of that source's connections are busy, the next copy
            // goes to another.
            if job_tx.is_empty() && remaining <= self.alive() * self.per_source {
                let now = Instant::now();
                for piece in (0..self.done.len()).filter(|p| !self.done[*p]) {
                    let recent = duplicated
                        .get(&piece)
                        .is_some_and(|t| now.duration_since(*t) < ENDGAME_AGAIN);
                    if !recent {
                        duplicated.insert(piece, now);
                        let _ = job_tx.send(piece);
                    }
                }
            }
            let alive = self.alive();
            if alive == 0 || (alive < MAX_SOURCES && last_locate.elapsed() >= LOCATE_EVERY) {
                last_locate = Instant::now();
                match dir.locate(&self.job.id) {
                    Ok((_, found)) => self.add_sources(found, &job_rx, &ev_tx),
                    Err(e) => log::debug!("locate during download: {e}"),
                }
                if self.alive() == 0 {
                    let (missing_pieces, missing_bytes) = self.missing();
                    break Err(TransferError::NoSourceLeft {
                        id: self.job.id,
                        missing_pieces,
                        missing_bytes,
                        part: Some(self.job.part.path.clone()),
                        dropped: self
                            .dropped
                            .iter()
                            .map(|(p, r)| format!("{p}: {r}"))
                            .collect(),
                    });
                }
            }
            if self.out_of_patience(last_piece) {
                let (missing_pieces, missing_bytes) = self.missing();
                let waiting = self
                    .waits()
                    .into_iter()
                    .map(|(p, d, _)| {
                        format!(
                            "{p}: still queued after {:.0} s (download_patience_secs)",
                            d.as_secs_f64()
                        )
                    })
                    .collect();
                break Err(TransferError::NoSourceLeft {
                    id: self.job.id,
                    missing_pieces,
                    missing_bytes,
                    part: Some(self.job.part.path.clone()),
                    dropped: waiting,
                });
            }
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                last_checkpoint = Instant::now();
                self.checkpoint()?;
            }
        };
        if result.is_err() {
            if self.done.iter().any(|d| *d) {
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

    /// Tells every worker to stop and joins those that do within
    /// [`WORKER_GRACE`]. A worker still blocked in a read (a source that
    /// trickles its bytes, one every few seconds, never silent long enough
    /// for the read timeout) is left to end on its own at its next byte or
    /// at the read timeout: it writes nothing more, since it writes only a
    /// verified piece that is not done yet, and the bytes of a verified
    /// piece are those already at its place.
    pub fn stop_workers(&mut self) {
        for s in &self.sources {
            s.dropped.store(true, Ordering::Relaxed);
        }
        let deadline = Instant::now() + WORKER_GRACE;
        let mut left = 0;
        for s in &mut self.sources {
            for t in s.threads.drain(..) {
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

/// One connection to one source: takes piece numbers until the source is
/// dropped or the download ends.
fn worker(
    job: &Job,
    source: usize,
    base: &HttpAddr,
    dropped: &AtomicBool,
    jobs: &Receiver<usize>,
    events: &Sender<Event>,
) {
    let agent = transfer::agent_with_read_timeout(PIECE_READ_TIMEOUT);
    let mut failures = 0u32;
    while !dropped.load(Ordering::Relaxed) {
        let piece = match jobs.recv_timeout(Duration::from_millis(100)) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if job.done[piece].load(Ordering::Relaxed) {
            continue;
        }
        match fetch_piece(&agent, base, job, piece, dropped) {
            Ok(Some(data)) => {
                if !pieces::verify_piece(&job.id, job.size, &job.cvs, piece, &data) {
                    let _ = events.send(Event::Bad { piece, source });
                    return;
                }
                let (offset, _) = piece_range(job.size, piece);
                if let Err(e) = job.part.file.write_all_at(&data, offset) {
                    let _ = events.send(Event::WriteFailed(e));
                    return;
                }
                job.done[piece].store(true, Ordering::Relaxed);
                failures = 0;
                let _ = events.send(Event::Done { piece, source });
            }
            // Another source finished this piece first...
            Ok(None) if job.done[piece].load(Ordering::Relaxed) => {}
            // ...or this source was dropped mid-piece: the piece goes back
            // to the others (the loop ends here).
            Ok(None) => {
                let _ = events.send(Event::Failed {
                    piece,
                    source,
                    error: "the source was dropped".to_string(),
                });
            }
            // Busy is a wait, not a failure: hand the piece back, come back
            // when the source asks, keep our place in its line.
            Err(FetchError::Queued {
                retry_after,
                position,
            }) => {
                let _ = events.send(Event::Queued {
                    piece,
                    source,
                    position,
                });
                pause(retry_after.min(MAX_QUEUE_POLL), dropped);
            }
            Err(FetchError::Gone(reason)) => {
                // The piece goes back to the others; this source is done.
                let _ = events.send(Event::Failed {
                    piece,
                    source,
                    error: reason.clone(),
                });
                let _ = events.send(Event::Gone { source, reason });
                return;
            }
            Err(FetchError::Failed(error)) => {
                failures += 1;
                let _ = events.send(Event::Failed {
                    piece,
                    source,
                    error: error.clone(),
                });
                if failures >= SOURCE_RETRIES {
                    let _ = events.send(Event::Gone {
                        source,
                        reason: format!("{failures} failures in a row, the last: {error}"),
                    });
                    return;
                }
                pause(Duration::from_millis(250 << failures), dropped);
            }
        }
    }
}

/// Sleeps `d`, waking early when the source is dropped (the download ends).
fn pause(d: Duration, dropped: &AtomicBool) {
    let until = Instant::now() + d;
    while !dropped.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Fetches one piece. `Ok(None)` when it was finished elsewhere meanwhile,
/// or the source was dropped (the download ended).
fn fetch_piece(
    agent: &ureq::Agent,
    base: &HttpAddr,
    job: &Job,
    piece: usize,
    dropped: &AtomicBool,
) -> Result<Option<Vec<u8>>, FetchError> {
    let (offset, len) = piece_range(job.size, piece);
    let done = || job.done[piece].load(Ordering::Relaxed) || dropped.load(Ordering::Relaxed);
    let range = Range {
        id: job.id,
        size: job.size,
        offset,
        len,
    };
    fetch_range(agent, base, &range, job.me.as_deref(), None, &done)
}
