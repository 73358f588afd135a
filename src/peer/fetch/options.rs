//! What a download is asked to do (`DownloadOptions`), what it reports
//! (`DownloadReport`), the counters a serving peer's `/metrics` adds
//! downloads to, and the constants that pace every download.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::id::FileId;

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
    /// A cap on download bytes per second shared with other downloads
    /// (`download_rate_limit`).
    pub pace: Option<Arc<crate::pace::Pace>>,
    /// Fetch even when the file is already at its name in the download
    /// folder: the copy goes beside it (`name (1).ext`).
    pub copy: bool,
    /// Save under the file's own name (the last part of the path its
    /// sources share it under: `x.mp3`, not `music/a/x.mp3`) unless `name`
    /// is given (`mirror_paths = false`).
    pub flat: bool,
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
            copy: false,
            flat: false,
            pace: None,
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
    /// How the firewalled sources were reached, by name: `reverse` (it
    /// connected out to this peer) or `relayed`; the rest directly.
    pub via: Vec<(String, &'static str)>,
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

/// How a download reached `peer`: `direct`, `reverse` (the source
/// connected out to this peer) or `relayed`.
pub fn path_of(r: &DownloadReport, peer: &str) -> &'static str {
    r.via
        .iter()
        .find(|(p, _)| p == peer)
        .map_or("direct", |(_, path)| path)
}

/// What a finished download did, in a few lines: where it went, how fast,
/// how much each source sent, and which sources were dropped.
pub fn download_summary(r: &DownloadReport) -> String {
    if r.already_had {
        return format!("already here: {}", r.path.display());
    }
    let mut out = format!(
        "saved {} ({} in {:.2}s, {}/s)",
        r.path.display(),
        crate::units::human_size(r.size),
        r.elapsed.as_secs_f64(),
        crate::units::human_size(r.bytes_per_sec() as u64)
    );
    if r.resumed_bytes > 0 {
        out.push_str(&format!(
            "\n  resumed: {} were already verified; fetched {} ({} bytes)",
            crate::units::human_size(r.resumed_bytes),
            crate::units::human_size(r.fetched),
            r.fetched
        ));
    }
    if r.sources.is_empty() {
        out.push_str("\n  nothing to fetch");
    }
    for (peer, bytes) in &r.sources {
        out.push_str(&format!(
            "\n  from {peer} ({}): {} ({bytes} bytes)",
            path_of(r, peer),
            crate::units::human_size(*bytes)
        ));
    }
    for (peer, waited, place) in &r.queued {
        let place = match place {
            Some(p) if *p > 0 => format!(" (position {p} at first)"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "\n  queued at {peer}{place}: waited {:.1} s",
            waited.as_secs_f64()
        ));
    }
    for (peer, why) in &r.dropped {
        out.push_str(&format!("\n  dropped {peer}: {why}"));
    }
    out
}

/// A download's outcome as the one JSON line `peer get --json` prints:
/// `event` is `saved` or `already_here`.
pub fn download_report_json(r: &DownloadReport) -> serde_json::Value {
    let sources: Vec<_> = r
        .sources
        .iter()
        .map(|(peer, bytes)| {
            serde_json::json!({ "peer": peer, "bytes": bytes, "path": path_of(r, peer) })
        })
        .collect();
    let dropped: Vec<_> = r
        .dropped
        .iter()
        .map(|(peer, why)| serde_json::json!({ "peer": peer, "why": why }))
        .collect();
    serde_json::json!({
        "event": if r.already_had { "already_here" } else { "saved" },
        "id": r.id,
        "path": r.path,
        "size": r.size,
        "fetched": r.fetched,
        "resumed": r.resumed_bytes,
        "elapsed_secs": r.elapsed.as_secs_f64(),
        "sources": sources,
        "dropped": dropped,
    })
}
