//! The peer's HTTP client side: verified multi-source downloads (this
//! module, with the part file in `part.rs`, the piece list and the name in
//! `plan.rs`, the fetching swarm in `swarm.rs`), folders of other peers
//! fetched file by file (`folder.rs`), and pushing files to, browsing and
//! resolving other peers (`transfer.rs`).
//!
//! A download asks the directory for the sources and the size each claims;
//! a claim is trusted only once a source proves it (a piece list that
//! merges to the file id, raced between sources; see `plan.rs`), and
//! sources claiming another size are dropped; every piece is checked
//! against the list before it is written into `<name>.part`; a crash or
//! Ctrl-C loses at most a second of verified work; the final name is taken
//! only when every piece is verified, from the sources that sent verified
//! pieces, and never over an existing file.

pub mod folder;
mod part;
mod plan;
mod swarm;
pub mod transfer;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{ClientError, DirectoryApi};
use crate::hash::hash_file;
use crate::id::FileId;
use crate::pieces::{piece_count, piece_range};
pub use folder::{download_folder, is_folder_target, FolderEvent, FolderReport};
use part::{choose_name, Part};
use swarm::{progress_bar, Job, Swarm};
pub use transfer::{browse, resolve_peer, upload, TransferError, UploadReport};

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
/// Longest wait between two asks of a source that queued us, whatever its
/// `Retry-After` says.
pub const MAX_QUEUE_POLL: Duration = Duration::from_secs(30);

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
    /// This peer's name, sent to sources so that all our connections count
    /// as one downloader against their upload slots.
    pub peer_name: Option<String>,
    /// How long to wait in sources' queues without getting a piece before
    /// giving up (`None`: until cancelled).
    pub patience: Option<Duration>,
    /// A bar to keep up to date instead of drawing one (a background
    /// transfer: its owner reads position, length and rate from it).
    pub watch: Option<indicatif::ProgressBar>,
    /// Counters to add this download to (a serving peer's `/metrics`).
    pub counters: Option<DownloadCounters>,
}

/// What downloads add up to, for a peer's `/metrics`: bytes received and
/// verified, pieces that failed verification, sources dropped, downloads
/// ended by outcome, and those running. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct DownloadCounters {
    pub bytes_received: Counter,
    pub bad_pieces: Counter,
    pub sources_dropped: Counter,
    pub completed: Counter,
    pub failed: Counter,
    pub running: Gauge,
}

impl DownloadCounters {
    /// Adds them to `registry` (its prefix applies).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "download_bytes_received",
            "Bytes downloaded and verified",
            self.bytes_received.clone(),
        );
        registry.register(
            "download_bad_pieces",
            "Pieces that failed verification (their source is dropped)",
            self.bad_pieces.clone(),
        );
        registry.register(
            "download_sources_dropped",
            "Sources dropped from downloads (bad pieces, other sizes, gone)",
            self.sources_dropped.clone(),
        );
        registry.register(
            "downloads_completed",
            "Downloads that ended with the file verified and in place",
            self.completed.clone(),
        );
        registry.register(
            "downloads_failed",
            "Downloads that ended without the file (stopped ones included)",
            self.failed.clone(),
        );
        registry.register(
            "downloads_running",
            "Downloads running now",
            self.running.clone(),
        );
    }
}

impl Default for DownloadOptions {
    fn default() -> DownloadOptions {
        DownloadOptions {
            name: None,
            progress: false,
            connections_per_source: 4,
            cancel: None,
            peer_name: None,
            patience: Some(Duration::from_secs(3600)),
            watch: None,
            counters: None,
        }
    }
}

/// What a finished download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// The file downloaded.
    pub id: FileId,
    pub path: PathBuf,
    pub size: u64,
    pub elapsed: Duration,
    /// Verified bytes each source sent this run, most first.
    pub sources: Vec<(String, u64)>,
    /// Sources dropped, with the reason.
    pub dropped: Vec<(String, String)>,
    /// Sources that queued us: time waited in line, and the first place given.
    pub queued: Vec<(String, Duration, Option<usize>)>,
    /// Verified bytes found in an earlier `.part` (a resume).
    pub resumed_bytes: u64,
    /// Verified bytes fetched this run.
    pub fetched: u64,
    /// True when an identical file was already there and nothing was fetched.
    pub already_had: bool,
}

impl DownloadReport {
    /// Average rate of this run in bytes per second (of what it fetched).
    pub fn bytes_per_sec(&self) -> f64 {
        self.fetched as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Downloads `id` into `dest_dir` from every source the directory knows.
pub fn download(
    dir: &dyn DirectoryApi,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let Some(counters) = &opts.counters else {
        return download_counted(dir, id, dest_dir, opts);
    };
    counters.running.inc();
    let result = download_counted(dir, id, dest_dir, opts);
    counters.running.dec();
    match &result {
        Ok(_) => counters.completed.inc(),
        Err(_) => counters.failed.inc(),
    };
    result
}

fn download_counted(
    dir: &dyn DirectoryApi,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let started = Instant::now();
    // The directory's size is what most sources claim; each source's own
    // claim is checked instead.
    let (_, sources) = dir.locate(&id)?;
    if sources.is_empty() {
        return Err(TransferError::Directory(ClientError::NotFound(format!(
            "no online peer shares {id}"
        ))));
    }
    if let Some(n) = opts.name.as_deref() {
        // A bad name is refused before anything is fetched.
        plan::name(Some(n), &[], id, dest_dir)?;
    }
    let proven = plan::prove(&sources, id, opts.peer_name.as_deref())?;
    let size = proven.size;
    let (sources, dropped) = plan::admit(sources, &proven);
    let wanted = plan::name(opts.name.as_deref(), &sources, id, dest_dir)?;
    fs::create_dir_all(dest_dir).map_err(transfer::io_err(dest_dir))?;

    let existing = dest_dir.join(&wanted);
    if let Ok(meta) = fs::metadata(&existing) {
        if meta.len() == size && hash_file(&existing).is_ok_and(|(h, _)| h == id) {
            return Ok(DownloadReport {
                id,
                path: existing,
                size,
                elapsed: started.elapsed(),
                sources: Vec::new(),
                dropped,
                queued: Vec::new(),
                resumed_bytes: 0,
                fetched: 0,
                already_had: true,
            });
        }
    }

    let (name, state) = choose_name(dest_dir, &wanted, id, size);
    let count = piece_count(size);
    let cvs = proven.cvs;
    let (part, mut done) = Part::open(dest_dir, &name, state, id, size, &cvs)?;
    let resumed_bytes: u64 = (0..count)
        .filter(|i| done[*i])
        .map(|i| piece_range(size, i).1)
        .sum();
    if resumed_bytes > 0 {
        log::info!("resuming {name}: {resumed_bytes} of {size} bytes already verified");
    }
    // A one-piece file was fetched whole to prove its size.
    let whole = match proven.whole {
        Some(bytes) if count == 1 && !done[0] => {
            part.file
                .write_all_at(&bytes, 0)
                .map_err(transfer::io_err(&part.path))?;
            done[0] = true;
            let by = sources.iter().find(|s| s.peer == proven.by).cloned();
            by.map(|s| (s, bytes.len() as u64))
        }
        _ => None,
    };

    let job = Arc::new(Job {
        id,
        size,
        me: opts.peer_name.clone(),
        cvs,
        part,
        done: done.iter().map(|d| AtomicBool::new(*d)).collect(),
    });
    let bar = match &opts.watch {
        Some(bar) => {
            bar.set_length(size);
            bar.set_position(resumed_bytes);
            bar.reset_eta();
            bar.clone()
        }
        None => progress_bar(size, opts.progress, resumed_bytes),
    };
    let mut swarm = Swarm::new(
        job.clone(),
        done,
        opts.connections_per_source,
        &bar,
        dropped,
    );
    swarm.patience = opts.patience;
    if let Some((source, bytes)) = whole {
        swarm.credit(source, bytes);
        bar.inc(bytes);
    }
    let outcome = swarm.run(dir, sources, size == 0, opts.cancel.as_deref());
    swarm.stop_workers();
    let (fetched, dropped, per_source, verified, queued) = (
        swarm.fetched,
        swarm.dropped.clone(),
        swarm.bytes_per_source(),
        swarm.verified_names(),
        swarm.waits(),
    );
    if let Some(c) = &opts.counters {
        c.bytes_received.inc_by(fetched);
        c.bad_pieces.inc_by(swarm.bad_pieces);
        c.sources_dropped.inc_by(dropped.len() as u64);
    }
    drop(swarm);
    if let Err(e) = outcome {
        bar.abandon();
        return Err(e);
    }
    bar.finish_and_clear();
    let final_name = plan::final_name(opts.name.as_deref(), &verified, &name, id);
    let path = job.part.publish(&final_name)?;
    Ok(DownloadReport {
        id,
        path,
        size,
        elapsed: started.elapsed(),
        sources: per_source,
        dropped,
        queued,
        resumed_bytes,
        fetched,
        already_had: false,
    })
}
