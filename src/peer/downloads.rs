//! The running peer's download queue: one list, kept in the state folder
//! (`downloads.json`, replaced whole at every change), that every front
//! end drives through the control routes (`peer queue`).
//!
//! A download is queued, waiting (no source could serve it: its sources
//! are looked up again every [`WAIT_RETRY`]), active, paused, done or
//! failed (with why). At most `max_active_downloads` run at once, in
//! queue order. After a restart, or a `kill -9`, every unfinished download
//! is back in the queue (an active one as queued) and resumes from its
//! verified `.part`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use indicatif::ProgressBar;

use super::client::ClientError;
use super::core::{Core, QueueControl};
use super::fetch::{self, download_report_json, download_summary, DownloadOptions, TransferError};
use crate::id::FileId;
use crate::sync::MutexExt;
use crate::wire::{QueueEntry, QueueOp, QueueState};

/// The queue's file in the state folder.
pub const QUEUE_FILE: &str = "downloads.json";
/// How long a waiting download waits before its sources are looked up again.
pub const WAIT_RETRY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Inner {
    entries: Vec<QueueEntry>,
    next: u64,
    /// The running ones: their stop flag and progress.
    running: HashMap<u64, (Arc<AtomicBool>, ProgressBar)>,
    /// When each waiting one is tried again.
    retry_at: HashMap<u64, Instant>,
}

/// The queue (see the module doc).
pub struct DownloadQueue {
    core: Weak<Core>,
    file: PathBuf,
    max_active: usize,
    /// `download_rate_limit`, shared by every download of the queue.
    pace: Option<Arc<crate::pace::Pace>>,
    inner: Mutex<Inner>,
    wake: Sender<()>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Saved {
    next: u64,
    entries: Vec<QueueEntry>,
}

impl DownloadQueue {
    /// The queue of `core`, read back from its state folder, with its
    /// scheduler thread started.
    pub fn start(core: &Arc<Core>, state_dir: &Path) -> std::io::Result<Arc<DownloadQueue>> {
        let file = state_dir.join(QUEUE_FILE);
        let saved: Saved = crate::fsutil::read_json_or_default(&file)?;
        let mut entries = saved.entries;
        let mut back = 0;
        for e in &mut entries {
            if matches!(e.state, QueueState::Active | QueueState::Waiting { .. }) {
                e.state = QueueState::Queued;
                back += 1;
            }
        }
        if back > 0 {
            log::info!("download queue: {back} unfinished download(s) back in the queue");
        }
        let (wake, woken) = bounded(1);
        let queue = Arc::new(DownloadQueue {
            core: Arc::downgrade(core),
            file,
            max_active: core.config().max_active_downloads.max(1),
            pace: (core.config().download_rate_limit > 0)
                .then(|| Arc::new(crate::pace::Pace::new(core.config().download_rate_limit))),
            inner: Mutex::new(Inner {
                next: saved
                    .next
                    .max(entries.iter().map(|e| e.n).max().unwrap_or(0)),
                entries,
                ..Inner::default()
            }),
            wake,
        });
        let q = Arc::downgrade(&queue);
        std::thread::Builder::new()
            .name("download-queue".into())
            .spawn(move || schedule(&q, &woken))?;
        queue.poke();
        Ok(queue)
    }

    fn poke(&self) {
        let _ = self.wake.try_send(());
    }

    /// Writes the queue to its file (whole, atomically).
    fn save(&self, inner: &Inner) {
        let saved = Saved {
            next: inner.next,
            entries: inner.entries.clone(),
        };
        let written = serde_json::to_vec_pretty(&saved)
            .map_err(std::io::Error::other)
            .and_then(|json| crate::fsutil::write_private(&self.file, &json));
        if let Err(e) = written {
            log::error!(
                "cannot keep the download queue in {}: {e}",
                self.file.display()
            );
        }
    }

    /// Starts what may start now; returns how long until a waiting one is
    /// due.
    fn start_due(self: &Arc<Self>) -> Duration {
        let Some(core) = self.core.upgrade() else {
            return Duration::from_secs(3600);
        };
        let mut inner = self.inner.locked();
        let now = Instant::now();
        let mut next_due = Duration::from_secs(3600);
        let mut changed = false;
        for i in 0..inner.entries.len() {
            let n = inner.entries[i].n;
            if let QueueState::Waiting { .. } = inner.entries[i].state {
                match inner.retry_at.get(&n) {
                    Some(at) if *at > now => next_due = next_due.min(*at - now),
                    _ => {
                        inner.entries[i].state = QueueState::Queued;
                        changed = true;
                    }
                }
            }
        }
        let mut active = inner.running.len();
        for i in 0..inner.entries.len() {
            if active >= self.max_active {
                break;
            }
            // A paused one resumed before its thread ended waits for it.
            if inner.entries[i].state != QueueState::Queued
                || inner.running.contains_key(&inner.entries[i].n)
            {
                continue;
            }
            let entry = inner.entries[i].clone();
            let Ok(id) = FileId::parse(&entry.id) else {
                inner.entries[i].state = QueueState::Failed {
                    why: "not a file id".into(),
                };
                changed = true;
                continue;
            };
            inner.entries[i].state = QueueState::Active;
            changed = true;
            active += 1;
            let stop = Arc::new(AtomicBool::new(false));
            let bar = ProgressBar::hidden();
            inner.running.insert(entry.n, (stop.clone(), bar.clone()));
            log::info!(
                "download queue: {} of {} starts ({active} of {} at once)",
                entry.n,
                entry.id,
                self.max_active
            );
            let (q, core, n) = (self.clone(), core.clone(), entry.n);
            let spawned = std::thread::Builder::new()
                .name("queued-download".into())
                .spawn(move || q.run(&core, &entry, id, stop, bar));
            if spawned.is_err() {
                inner.running.remove(&n);
                inner.entries[i].state = QueueState::Queued;
            }
        }
        if changed {
            self.save(&inner);
        }
        next_due
    }

    /// Runs one download to its end, and records how it ended.
    fn run(
        self: &Arc<Self>,
        core: &Arc<Core>,
        entry: &QueueEntry,
        id: FileId,
        stop: Arc<AtomicBool>,
        bar: ProgressBar,
    ) {
        let n = entry.n;
        let config = core.config();
        let opts = DownloadOptions {
            name: entry.name.clone(),
            copy: entry.copy,
            progress: false,
            cancel: Some(stop.clone()),
            peer_name: Some(config.name.clone()),
            patience: config.download_patience(),
            watch: Some(bar.clone()),
            counters: Some(core.download_counters()),
            flat: !config.mirror_paths,
            pace: self.pace.clone(),
            ..DownloadOptions::default()
        };
        let outcome = fetch::download(&**core.directory(), id, &config.download_dir(), &opts);
        if let Ok(r) = &outcome {
            if !r.already_had && r.path.starts_with(core.share().dir()) {
                core.shared_file_added(&r.path, id);
            }
            if let Some((program, args)) = config.on_download_done.split_first() {
                run_hook(program, args, &r.path);
            }
        }
        let mut inner = self.inner.locked();
        inner.running.remove(&n);
        let Some(entry) = inner.entries.iter_mut().find(|e| e.n == n) else {
            // Cancelled while it ran.
            drop(inner);
            return self.poke();
        };
        entry.done = bar.position();
        entry.size = bar.length().unwrap_or(entry.size);
        let stopped = stop.load(Ordering::Relaxed);
        let mut retry = false;
        entry.state = match outcome {
            Ok(r) if r.already_had => {
                log::info!("download queue: {n} was already here: {}", r.path.display());
                done(entry, &r)
            }
            Ok(r) => {
                log::info!(
                    "download queue: {n} saved {} ({} bytes in {:.2} s from {} source(s))",
                    r.path.display(),
                    r.size,
                    r.elapsed.as_secs_f64(),
                    r.sources.len()
                );
                done(entry, &r)
            }
            // Paused (or resumed meanwhile: queued again) by its owner.
            Err(_) if stopped && entry.state == QueueState::Active => QueueState::Paused,
            Err(_) if stopped => entry.state.clone(),
            Err(e) if waits(&e) => {
                let why = crate::error::error_chain(&e);
                log::info!("download queue: {n} waits for a source: {why}");
                retry = true;
                QueueState::Waiting { why }
            }
            Err(e) => {
                let why = crate::error::error_chain(&e);
                log::warn!("download queue: {n} failed: {why}");
                QueueState::Failed { why }
            }
        };
        if retry {
            inner.retry_at.insert(n, Instant::now() + WAIT_RETRY);
        }
        self.save(&inner);
        drop(inner);
        self.poke();
    }
}

/// Records a finished download in its entry; the entry's new state.
fn done(entry: &mut QueueEntry, r: &fetch::DownloadReport) -> QueueState {
    entry.done = r.size;
    entry.size = r.size;
    QueueState::Done {
        path: r.path.display().to_string(),
        summary: download_summary(r),
        report: download_report_json(r),
    }
}

/// Whether a download that failed may succeed later, when sources come
/// back: none online, none that answered, all of them busy or firewalled.
fn waits(e: &TransferError) -> bool {
    matches!(
        e,
        TransferError::Directory(
            ClientError::NotFound(_) | ClientError::Unreachable { .. } | ClientError::Busy(_)
        ) | TransferError::AllSourcesFailed { .. }
            | TransferError::NoSourceLeft { .. }
            | TransferError::BadPieceList { .. }
            | TransferError::Transport { .. }
            | TransferError::Status { .. }
    )
}

/// Runs `on_download_done` for `path` (no shell), on a thread of its own;
/// its failure is logged, never the download's.
fn run_hook(program: &str, args: &[String], path: &Path) {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).arg(path).stdin(std::process::Stdio::null());
    let shown = format!("{program} {}", path.display());
    let spawned = std::thread::Builder::new()
        .name("on-download-done".into())
        .spawn(move || match cmd.status() {
            Ok(s) if s.success() => log::info!("on_download_done: ran {shown}"),
            Ok(s) => log::warn!("on_download_done: {shown} exited with {s}"),
            Err(e) => log::warn!("on_download_done: cannot run {shown}: {e}"),
        });
    if let Err(e) = spawned {
        log::warn!("on_download_done: {e}");
    }
}

fn schedule(queue: &Weak<DownloadQueue>, woken: &Receiver<()>) {
    loop {
        let Some(q) = queue.upgrade() else { return };
        let wait = q.start_due().min(Duration::from_secs(1));
        drop(q);
        if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) = woken.recv_timeout(wait) {
            return;
        }
    }
}

impl QueueControl for DownloadQueue {
    fn list(&self) -> Vec<QueueEntry> {
        let inner = self.inner.locked();
        inner
            .entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if let Some((_, bar)) = inner.running.get(&e.n) {
                    e.done = bar.position();
                    e.size = bar.length().unwrap_or(0);
                }
                e
            })
            .collect()
    }

    fn apply(&self, op: QueueOp) -> Result<QueueEntry, String> {
        let mut inner = self.inner.locked();
        let find = |inner: &Inner, n: u64| {
            inner
                .entries
                .iter()
                .position(|e| e.n == n)
                .ok_or_else(|| format!("no download {n} in the queue"))
        };
        let entry = match op {
            QueueOp::Add { id, name, copy } => {
                let id = FileId::parse(&id).map_err(|e| e.to_string())?;
                if let Some(name) = &name {
                    crate::names::check_shared_path(name).map_err(|e| e.to_string())?;
                }
                // Asked again while unfinished: the same download, tried
                // again now if it waited or was paused.
                let same = inner.entries.iter().position(|e| {
                    e.id == id.to_string()
                        && e.name == name
                        && e.copy == copy
                        && matches!(
                            e.state,
                            QueueState::Queued
                                | QueueState::Active
                                | QueueState::Waiting { .. }
                                | QueueState::Paused
                        )
                });
                if let Some(i) = same {
                    let n = inner.entries[i].n;
                    if matches!(
                        inner.entries[i].state,
                        QueueState::Waiting { .. } | QueueState::Paused
                    ) {
                        inner.entries[i].state = QueueState::Queued;
                        inner.retry_at.remove(&n);
                    }
                    log::info!("download queue: {n} asked for again");
                    let entry = inner.entries[i].clone();
                    self.save(&inner);
                    drop(inner);
                    self.poke();
                    return Ok(entry);
                }
                inner.next += 1;
                let entry = QueueEntry {
                    n: inner.next,
                    id: id.to_string(),
                    name,
                    copy,
                    state: QueueState::Queued,
                    done: 0,
                    size: 0,
                };
                log::info!("download queue: {} added: {}", entry.n, entry.id);
                inner.entries.push(entry.clone());
                entry
            }
            QueueOp::Pause { n } => {
                let i = find(&inner, n)?;
                match inner.entries[i].state {
                    QueueState::Done { .. } | QueueState::Failed { .. } => {
                        return Err(format!("download {n} has ended"))
                    }
                    _ => {}
                }
                if let Some((stop, _)) = inner.running.get(&n) {
                    stop.store(true, Ordering::Relaxed);
                }
                inner.entries[i].state = QueueState::Paused;
                inner.entries[i].clone()
            }
            QueueOp::Resume { n } => {
                let i = find(&inner, n)?;
                match inner.entries[i].state {
                    QueueState::Paused | QueueState::Failed { .. } | QueueState::Waiting { .. } => {
                        inner.entries[i].state = QueueState::Queued;
                        inner.retry_at.remove(&n);
                    }
                    _ => {}
                }
                inner.entries[i].clone()
            }
            QueueOp::Cancel { n } => {
                let i = find(&inner, n)?;
                if let Some((stop, _)) = inner.running.get(&n) {
                    stop.store(true, Ordering::Relaxed);
                }
                inner.retry_at.remove(&n);
                inner.entries.remove(i)
            }
            QueueOp::Move { n, to } => {
                let i = find(&inner, n)?;
                let entry = inner.entries.remove(i);
                let to = to.clamp(1, inner.entries.len() + 1) - 1;
                inner.entries.insert(to, entry.clone());
                entry
            }
        };
        self.save(&inner);
        drop(inner);
        self.poke();
        Ok(entry)
    }
}
