//! Verified multi-source downloads. The directory names the sources; one of
//! them gives the piece list, which must merge to the file id before it is
//! trusted. A few worker threads per source pull piece numbers from a shared
//! crossbeam work queue, fetch each piece with a `Range` request, check it
//! against its chaining value and write it at its offset in `<name>.part`;
//! a faster source simply comes back for work more often. One coordinating
//! thread owns all decisions: it requeues what failed, drops a source that
//! sent bad bytes (or kept failing), asks the directory for new sources,
//! duplicates the last pieces in flight onto idle sources (endgame), and
//! checkpoints which pieces are verified in `<name>.part.state` (written
//! atomically, after the part file is synced), so a crash or Ctrl-C loses at
//! most a second of work. The final name is taken only when every piece is
//! verified, and never over an existing file.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, Directory};
use crate::directory::Source;
use crate::http::PieceList;
use crate::id::FileId;
use crate::names;
use crate::pieces::{self, piece_count, piece_range, piece_size};
use crate::share::PART_SUFFIX;
use crate::transfer::{self, http_err, io_err, publish, TransferError};

/// Suffix of the file beside a `.part` that says which pieces are verified.
pub const STATE_SUFFIX: &str = ".part.state";
/// Most sources fetched from at once.
pub const MAX_SOURCES: usize = 16;
/// Failures in a row after which a source is dropped from a download.
pub const SOURCE_RETRIES: u32 = 3;
/// How often the verified pieces are recorded on disk.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often the directory is asked for more sources while downloading.
pub const LOCATE_EVERY: Duration = Duration::from_secs(5);
/// Longest silence tolerated from a source in the middle of a piece.
pub const PIECE_READ_TIMEOUT: Duration = Duration::from_secs(10);
const STATE_FORMAT: u32 = 1;

/// How a download should behave.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Save under this name instead of the name the source gives.
    pub name: Option<String>,
    /// Show a progress bar (it stays hidden when stderr is not a terminal).
    pub progress: bool,
    /// Concurrent piece requests per source.
    pub connections_per_source: usize,
    /// Set to stop the download; what is verified is kept for a resume.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for DownloadOptions {
    fn default() -> DownloadOptions {
        DownloadOptions {
            name: None,
            progress: false,
            connections_per_source: 4,
            cancel: None,
        }
    }
}

/// What a finished download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    pub path: PathBuf,
    pub size: u64,
    pub elapsed: Duration,
    /// Verified bytes each source sent this run, most first.
    pub sources: Vec<(String, u64)>,
    /// Sources dropped, with the reason.
    pub dropped: Vec<(String, String)>,
    /// Verified bytes found in an earlier `.part` (a resume).
    pub resumed_bytes: u64,
    /// Verified bytes fetched this run.
    pub fetched: u64,
    /// True when an identical file was already there and nothing was fetched.
    pub already_had: bool,
}

impl DownloadReport {
    /// Average rate of this run in MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        self.fetched as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Serialize, Deserialize)]
struct PartState {
    format: u32,
    id: FileId,
    size: u64,
    piece_size: u64,
    /// One character per piece: '1' verified, '0' not.
    done: String,
}

fn read_state(path: &Path) -> Option<PartState> {
    let st: PartState = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    (st.format == STATE_FORMAT).then_some(st)
}

fn write_state(path: &Path, id: FileId, size: u64, done: &[bool]) -> io::Result<()> {
    let st = PartState {
        format: STATE_FORMAT,
        id,
        size,
        piece_size: piece_size(size),
        done: done.iter().map(|d| if *d { '1' } else { '0' }).collect(),
    };
    let tmp = path.with_extension("state.tmp");
    fs::write(&tmp, serde_json::to_vec(&st).map_err(io::Error::other)?)?;
    fs::rename(&tmp, path)
}

/// `stem (n).ext`.
fn numbered(name: &str, n: usize) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// The name to download under: the first `name`, `name (1)`, ... that is not
/// a finished file and whose `.part` is free or belongs to this same file
/// (a resume). Returns the name and the part's recorded state, if any.
fn choose_name(dir: &Path, name: &str, id: FileId, size: u64) -> (String, Option<PartState>) {
    for n in 0.. {
        let candidate = numbered(name, n);
        if dir.join(&candidate).symlink_metadata().is_ok() {
            continue;
        }
        if dir
            .join(format!("{candidate}{PART_SUFFIX}"))
            .symlink_metadata()
            .is_err()
        {
            return (candidate, None);
        }
        match read_state(&dir.join(format!("{candidate}{STATE_SUFFIX}"))) {
            Some(st) if st.id == id && st.size == size => return (candidate, Some(st)),
            Some(_) => continue,
            // A part without state: re-verified piece by piece.
            None => return (candidate, None),
        }
    }
    unreachable!("some numbered name is free")
}

/// What each worker needs, shared read-only (but for the done flags).
struct Job {
    id: FileId,
    size: u64,
    cvs: Vec<ChainingValue>,
    part: File,
    done: Vec<AtomicBool>,
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
}

/// Downloads `id` into `dest_dir` from every source the directory knows.
pub fn download(
    dir: &Directory,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let started = Instant::now();
    let (size, sources) = dir.locate(&id)?;
    if sources.is_empty() {
        return Err(TransferError::Directory(ClientError::NotFound(format!(
            "no online peer shares {id}"
        ))));
    }
    let wanted = match &opts.name {
        Some(n) => {
            names::check_file_name(n).map_err(|e| TransferError::Io {
                path: dest_dir.join(n),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            n.clone()
        }
        None => names::sanitize_file_name(&sources[0].name, &id.to_string()),
    };
    // Leave room for " (n)" and ".part.state" within the name limit.
    let wanted = names::shorten(&wanted, names::MAX_FILE_NAME_LEN - STATE_SUFFIX.len() - 8);
    fs::create_dir_all(dest_dir).map_err(io_err(dest_dir))?;

    let existing = dest_dir.join(&wanted);
    if let Ok(meta) = fs::metadata(&existing) {
        if meta.len() == size
            && crate::share::hash_file(&existing)
                .map(|(h, _)| h == id)
                .unwrap_or(false)
        {
            return Ok(DownloadReport {
                path: existing,
                size,
                elapsed: started.elapsed(),
                sources: Vec::new(),
                dropped: Vec::new(),
                resumed_bytes: 0,
                fetched: 0,
                already_had: true,
            });
        }
    }

    let (name, state) = choose_name(dest_dir, &wanted, id, size);
    let part_path = dest_dir.join(format!("{name}{PART_SUFFIX}"));
    let state_path = dest_dir.join(format!("{name}{STATE_SUFFIX}"));
    let count = piece_count(size);
    let cvs = if count > 1 {
        piece_list(&sources, id, size)?
    } else {
        Vec::new()
    };
    let existed = part_path.exists();
    let part = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part_path)
        .map_err(io_err(&part_path))?;
    let mut done = vec![false; count];
    match state {
        Some(st) if st.done.len() == count => {
            for (d, c) in done.iter_mut().zip(st.done.chars()) {
                *d = c == '1';
            }
        }
        _ if existed => {
            // No usable record: keep whatever pieces of the part verify.
            for (i, d) in done.iter_mut().enumerate() {
                let (off, len) = piece_range(size, i);
                let mut buf = vec![0u8; len as usize];
                if size > 0 && part.read_exact_at(&mut buf, off).is_ok() {
                    *d = pieces::verify_piece(&id, size, &cvs, i, &buf);
                }
            }
        }
        _ => {}
    }
    part.set_len(size).map_err(io_err(&part_path))?;
    let resumed_bytes: u64 = (0..count)
        .filter(|i| done[*i])
        .map(|i| piece_range(size, i).1)
        .sum();
    if resumed_bytes > 0 {
        log::info!("resuming {name}: {resumed_bytes} of {size} bytes already verified");
    }

    let job = Arc::new(Job {
        id,
        size,
        cvs,
        part,
        done: done.iter().map(|d| AtomicBool::new(*d)).collect(),
    });
    let bar = progress_bar(size, opts.progress);
    bar.set_position(resumed_bytes);
    let mut swarm = Swarm {
        job: job.clone(),
        done,
        sources: Vec::new(),
        known: HashSet::new(),
        dropped: Vec::new(),
        per_source: opts.connections_per_source.max(1),
        bar: &bar,
        fetched: 0,
        part_path: &part_path,
        state_path: &state_path,
    };
    let outcome = swarm.run(dir, sources, size == 0, opts.cancel.as_deref());
    let fetched = swarm.fetched;
    let dropped = swarm.dropped.clone();
    let mut per_source: Vec<(String, u64)> = swarm
        .sources
        .iter()
        .filter(|s| s.bytes > 0)
        .map(|s| (s.source.peer.clone(), s.bytes))
        .collect();
    swarm.stop_workers();
    drop(swarm);
    if let Err(e) = outcome {
        bar.abandon();
        return Err(e);
    }
    bar.finish_and_clear();

    job.part.sync_all().map_err(io_err(&part_path))?;
    let mut final_path = dest_dir.join(&name);
    let mut n = 0;
    while let Err(e) = publish(&part_path, &final_path) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(TransferError::Io {
                path: final_path,
                source: e,
            });
        }
        n += 1;
        final_path = dest_dir.join(numbered(&name, n));
    }
    let _ = fs::remove_file(&state_path);
    per_source.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(DownloadReport {
        path: final_path,
        size,
        elapsed: started.elapsed(),
        sources: per_source,
        dropped,
        resumed_bytes,
        fetched,
        already_had: false,
    })
}

/// The first piece list, from any source, that merges to the id.
fn piece_list(
    sources: &[Source],
    id: FileId,
    size: u64,
) -> Result<Vec<ChainingValue>, TransferError> {
    let agent = transfer::agent();
    let mut failures = Vec::new();
    for s in sources {
        let url = format!("{}/files/{id}/pieces", s.http_addr.trim_end_matches('/'));
        let list: PieceList = match agent
            .get(&url)
            .call()
            .map_err(|e| http_err(&url, e))
            .and_then(|r| transfer::read_json(r, &url))
        {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{}: {e}", s.peer));
                continue;
            }
        };
        match parse_piece_list(&list, id, size) {
            Ok(cvs) => return Ok(cvs),
            Err(why) => {
                log::warn!("{} sent a bad piece list for {id}: {why}", s.peer);
                failures.push(format!("{}: {why}", s.peer));
            }
        }
    }
    Err(TransferError::BadPieceList { id, failures })
}

fn parse_piece_list(list: &PieceList, id: FileId, size: u64) -> Result<Vec<ChainingValue>, String> {
    if list.id != id || list.size != size || list.piece_size != piece_size(size) {
        return Err(format!(
            "it describes {} ({} bytes, pieces of {})",
            list.id, list.size, list.piece_size
        ));
    }
    let cvs = list
        .pieces
        .iter()
        .map(|hex| {
            let parsed = FileId::parse(hex).map_err(|e| e.to_string())?;
            Ok(*parsed.as_bytes())
        })
        .collect::<Result<Vec<ChainingValue>, String>>()?;
    if pieces::merge(size, &cvs) != Some(id) {
        return Err("its chaining values do not merge to the id".into());
    }
    Ok(cvs)
}

fn progress_bar(size: u64, wanted: bool) -> ProgressBar {
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
struct Swarm<'a> {
    job: Arc<Job>,
    done: Vec<bool>,
    sources: Vec<SourceState>,
    /// Every peer name ever used in this download (dropped ones are not re-added).
    known: HashSet<String>,
    dropped: Vec<(String, String)>,
    per_source: usize,
    bar: &'a ProgressBar,
    fetched: u64,
    part_path: &'a Path,
    state_path: &'a Path,
}

impl Swarm<'_> {
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
                    let base = source.http_addr.trim_end_matches('/').to_string();
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
        // The bytes must be on disk before the record says they are.
        self.job.part.sync_data().map_err(io_err(self.part_path))?;
        write_state(self.state_path, self.job.id, self.job.size, &self.done)
            .map_err(io_err(self.state_path))
    }

    fn missing(&self) -> (usize, u64) {
        let pieces: Vec<usize> = (0..self.done.len()).filter(|i| !self.done[*i]).collect();
        let bytes = pieces
            .iter()
            .map(|i| piece_range(self.job.size, *i).1)
            .sum();
        (pieces.len(), bytes)
    }

    fn run(
        &mut self,
        dir: &Directory,
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
                    part: self.part_path.to_path_buf(),
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
                        path: self.part_path.to_path_buf(),
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
                        part: self.part_path.to_path_buf(),
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
                let _ = fs::remove_file(self.part_path);
                let _ = fs::remove_file(self.state_path);
            }
        }
        result
    }

    /// Tells every worker to stop and joins them (each finishes at most the
    /// piece it is on, bounded by the read timeout).
    fn stop_workers(&mut self) {
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
    base: &str,
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
                if let Err(e) = job.part.write_all_at(&data, offset) {
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
    base: &str,
    job: &Job,
    piece: usize,
) -> Result<Option<Vec<u8>>, (String, Option<Duration>)> {
    let (offset, len) = piece_range(job.size, piece);
    let end = offset + len - 1;
    let url = format!("{base}/files/{}", job.id);
    let resp = match agent
        .get(&url)
        .set("Range", &format!("bytes={offset}-{end}"))
        .call()
    {
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
    let want = format!("bytes {offset}-{end}/{}", job.size);
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
    // Never read more than the piece, whatever the source sends.
    let mut body = resp.into_reader().take(len);
    let mut data = vec![0u8; len as usize];
    let mut got = 0;
    while got < data.len() {
        if job.done[piece].load(Ordering::Relaxed) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 2), "a (2).txt");
        assert_eq!(numbered("noext", 1), "noext (1)");
        assert_eq!(numbered(".x", 1), ".x (1)");
    }

    #[test]
    fn choose_name_resumes_its_own_part_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let id = FileId::of(b"mine");
        let other = FileId::of(b"other");
        assert_eq!(choose_name(d, "f.bin", id, 10).0, "f.bin");
        // A finished file of that name is never a target.
        fs::write(d.join("f.bin"), b"x").unwrap();
        assert_eq!(choose_name(d, "f.bin", id, 10).0, "f (1).bin");
        // Another file's part is skipped; our own is resumed.
        fs::write(d.join("f (1).bin.part"), b"").unwrap();
        write_state(&d.join("f (1).bin.part.state"), other, 10, &[false]).unwrap();
        fs::write(d.join("f (2).bin.part"), b"").unwrap();
        write_state(&d.join("f (2).bin.part.state"), id, 10, &[true]).unwrap();
        let (name, st) = choose_name(d, "f.bin", id, 10);
        assert_eq!(name, "f (2).bin");
        assert_eq!(st.unwrap().done, "1");
    }

    #[test]
    fn piece_lists_must_merge_to_the_id() {
        let size = 3 * pieces::MIN_PIECE_SIZE;
        let data: Vec<u8> = (0..size)
            .map(|i| (i % 251) as u8 ^ (i >> 18) as u8)
            .collect();
        let mut h = pieces::PieceHasher::new(size);
        h.update(&data);
        let (id, cvs) = h.finish().unwrap();
        let hex = |cv: &ChainingValue| cv.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let good = PieceList {
            id,
            size,
            piece_size: piece_size(size),
            pieces: cvs.iter().map(hex).collect(),
        };
        assert_eq!(parse_piece_list(&good, id, size).unwrap(), cvs);
        let mut forged = good.clone();
        forged.pieces.swap(0, 1);
        assert!(parse_piece_list(&forged, id, size).is_err());
        let mut short = good.clone();
        short.pieces.pop();
        assert!(parse_piece_list(&short, id, size).is_err());
        let mut wrong_size = good.clone();
        wrong_size.piece_size *= 2;
        assert!(parse_piece_list(&wrong_size, id, size).is_err());
        let mut junk = good;
        junk.pieces[0] = "zz".into();
        assert!(parse_piece_list(&junk, id, size).is_err());
    }
}
