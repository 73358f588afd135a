//! The swarm that fetches one download: a few worker threads per source
//! pull piece numbers from a shared crossbeam work queue, fetch each piece
//! with a `Range` request, check it against its chaining value and write it
//! at its offset in the part file; a faster source simply comes back for
//! work more often. One coordinator ([`Swarm::run`]) owns every decision: it
//! requeues what failed, drops a source that sent bad bytes (or kept
//! failing), asks the directory for new sources, duplicates the last pieces
//! in flight onto idle sources (endgame), and checkpoints which pieces are
//! verified every [`CHECKPOINT_EVERY`].

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::part::Part;
use super::plan::size_mismatch;
use super::transfer::{self, http_err, TransferError};
use super::{CHECKPOINT_EVERY, LOCATE_EVERY, MAX_SOURCES, PIECE_READ_TIMEOUT, SOURCE_RETRIES};
use crate::id::FileId;
use crate::peer::client::DirectoryApi;
use crate::pieces::{self, piece_range};
use crate::wire::{HttpAddr, Source};

/// What each worker needs, shared read-only (but for the done flags).
pub(super) struct Job {
    pub id: FileId,
    pub size: u64,
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
}

pub(super) fn progress_bar(size: u64, wanted: bool) -> ProgressBar {
    if !wanted {
        return ProgressBar::hidden();
    }
    // indicatif draws nothing when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar
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
            });
        }
        self.bar.set_message(format!("{} sources", self.alive()));
    }

    fn drop_source(&mut self, index: usize, reason: &str) {
        let s = &self.sources[index];
        if !s.dropped.swap(true, Ordering::Relaxed) {
            log::warn!("dropping source {}: {reason}", s.source.peer);
            self.dropped
                .push((s.source.peer.clone(), reason.to_string()));
            self.bar.set_message(format!("{} sources", self.alive()));
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
        let mut duplicated: HashSet<usize> = HashSet::new();
        let mut last_checkpoint = Instant::now();
        let mut last_locate = Instant::now();
        let result = loop {
            if remaining == 0 {
                break Ok(());
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break Err(TransferError::Cancelled {
                    part: self.job.part.path.clone(),
                });
            }
            match ev_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Done { piece, source }) => {
                    let len = piece_range(self.job.size, piece).1;
                    if !self.done[piece] {
                        self.done[piece] = true;
                        remaining -= 1;
                        self.sources[source].bytes += len;
                        self.fetched += len;
                        self.bar.inc(len);
                    }
                }
                Ok(Event::Bad { piece, source }) => {
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
            if job_tx.is_empty() && remaining <= self.alive() * self.per_source {
                for piece in (0..self.done.len()).filter(|p| !self.done[*p]) {
                    if duplicated.insert(piece) {
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
                        part: self.job.part.path.clone(),
                        dropped: self
                            .dropped
                            .iter()
                            .map(|(p, r)| format!("{p}: {r}"))
                            .collect(),
                    });
                }
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
                // Nothing verified: nothing worth keeping.
                self.job.part.discard();
            }
        }
        result
    }

    /// Tells every worker to stop and joins them (each finishes at most the
    /// piece it is on, bounded by the read timeout).
    pub fn stop_workers(&mut self) {
        for s in &self.sources {
            s.dropped.store(true, Ordering::Relaxed);
        }
        for s in &mut self.sources {
            for t in s.threads.drain(..) {
                let _ = t.join();
            }
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
        match fetch_piece(&agent, base, job, piece) {
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
            // Another source finished this piece first.
            Ok(None) => {}
            Err((error, retry_after)) => {
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
                let backoff = retry_after
                    .unwrap_or(Duration::from_millis(250 << failures))
                    .min(Duration::from_secs(5));
                std::thread::sleep(backoff);
            }
        }
    }
}

/// Fetches one piece. `Ok(None)` when it was finished elsewhere meanwhile;
/// on error, the reason and how long the source asked us to wait.
fn fetch_piece(
    agent: &ureq::Agent,
    base: &HttpAddr,
    job: &Job,
    piece: usize,
) -> Result<Option<Vec<u8>>, (String, Option<Duration>)> {
    let (offset, len) = piece_range(job.size, piece);
    let done = || job.done[piece].load(Ordering::Relaxed);
    fetch_range(agent, base, job.id, job.size, offset, len, None, &done)
}

/// Fetches `len` bytes at `offset` of the file `id` of `size` bytes with a
/// `Range` request, within `timeout` when given, reading no more than
/// asked whatever the source sends. `Ok(None)` when `stop` turned true
/// meanwhile; on error, the reason and how long the source asked us to
/// wait (a 503's `Retry-After`).
#[allow(clippy::too_many_arguments)]
pub(super) fn fetch_range(
    agent: &ureq::Agent,
    base: &HttpAddr,
    id: FileId,
    size: u64,
    offset: u64,
    len: u64,
    timeout: Option<Duration>,
    stop: &dyn Fn() -> bool,
) -> Result<Option<Vec<u8>>, (String, Option<Duration>)> {
    let end = offset + len - 1;
    let url = base.url(&format!("/files/{id}"));
    let mut req = agent
        .get(&url)
        .set("Range", &format!("bytes={offset}-{end}"));
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(503, r)) => {
            let wait = r
                .header("Retry-After")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(("busy (503)".into(), wait));
        }
        Err(e) => return Err((http_err(&url, e).to_string(), None)),
    };
    let want = format!("bytes {offset}-{end}/{size}");
    if resp.status() != 206 || resp.header("Content-Range") != Some(want.as_str()) {
        return Err((
            format!(
                "asked for {want}, got status {} with Content-Range {:?}",
                resp.status(),
                resp.header("Content-Range")
            ),
            None,
        ));
    }
    let mut body = resp.into_reader().take(len);
    let mut data = vec![0u8; len as usize];
    let mut got = 0;
    while got < data.len() {
        if stop() {
            return Ok(None);
        }
        let upto = (got + 64 * 1024).min(data.len());
        match body.read(&mut data[got..upto]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((format!("{url}: {e}"), None)),
        }
    }
    if got < data.len() {
        return Err((
            format!("{url}: connection closed after {got} of {len} bytes"),
            None,
        ));
    }
    Ok(Some(data))
}
