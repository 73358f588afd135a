//! Keeping the share current: the `share-rescan` thread, woken by a
//! `notify` watcher on the share folder. The watcher collects the paths
//! events name; the thread rescans only those (and what is below them) a
//! moment after a burst ends, looks again at files held back while they
//! settle once they should have, and rescans everything every
//! `rescan_secs` as a safety net, or when the watcher may have missed
//! events (its queue overflowed).

use std::mem;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::core::Core;
use super::share;
use crate::sync::MutexExt;

/// Quiet time after a change in the share folder before it is rescanned,
/// so a burst of events (a folder copied in) makes one rescan.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(300);
/// Least time between two rescans started by the watcher.
const WATCH_MIN_GAP: Duration = Duration::from_secs(1);
/// More changed paths than this between two rescans: rescan everything
/// (as fast as walking, and the list stays bounded).
const MAX_DIRTY_PATHS: usize = 20_000;

/// What the watcher saw change since the last rescan.
#[derive(Default)]
struct Dirty {
    paths: Vec<PathBuf>,
    /// Events may have been missed: only a full rescan is sure.
    everything: bool,
}

impl Dirty {
    fn add(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        if self.everything {
            return;
        }
        self.paths.extend(paths);
        if self.paths.len() > MAX_DIRTY_PATHS {
            self.everything();
        }
    }

    fn everything(&mut self) {
        self.everything = true;
        self.paths = Vec::new();
    }
}

/// Starts the `share-rescan` thread: it rescans what the watcher on the
/// share folder reports changed (after [`WATCH_DEBOUNCE`]), looks again at
/// a file held back while it settles when it should have settled, and
/// rescans everything every `rescan_secs` as a safety net (0: no periodic
/// rescan). Where the folder cannot be watched it says so and relies on
/// the periodic rescan. Returns the thread and the sender that stops it.
pub(super) fn start_rescanner(core: Arc<Core>) -> Option<(Sender<()>, JoinHandle<()>)> {
    let config = core.config();
    let every = (config.rescan_secs > 0).then(|| Duration::from_secs(config.rescan_secs));
    let settle = Duration::from_secs(config.settle_secs) + Duration::from_millis(200);
    let (poke, poked) = crossbeam_channel::bounded::<()>(1);
    let dirty = Arc::new(Mutex::new(Dirty::default()));
    let watcher = if config.watch_share {
        let dirs: Vec<PathBuf> = core.share().roots().map(|(_, d)| d.to_path_buf()).collect();
        watch(&dirs, dirty.clone(), poke, every)
    } else {
        None
    };
    if watcher.is_none() && every.is_none() {
        return None;
    }
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let thread = std::thread::Builder::new()
        .name("share-rescan".into())
        .spawn(move || {
            // Kept alive as long as the thread: dropping it stops watching.
            let _watcher = watcher;
            let far = Duration::from_secs(24 * 3600);
            let mut next_periodic = every.map(|e| Instant::now() + e);
            // Files the first scan held back are looked at once they
            // should have settled, like any later.
            let mut due: Option<Instant> =
                (core.share().unsettled() > 0).then(|| Instant::now() + settle);
            let mut last = Instant::now();
            loop {
                let now = Instant::now();
                let wake = [due, next_periodic].into_iter().flatten().min();
                let wait = wake.map_or(far, |t| t.saturating_duration_since(now));
                crossbeam_channel::select! {
                    recv(stopped) -> _ => return,
                    recv(poked) -> _ => {
                        let at = (Instant::now() + WATCH_DEBOUNCE).max(last + WATCH_MIN_GAP);
                        due = Some(due.map_or(at, |d| d.min(at).max(last + WATCH_MIN_GAP)));
                        continue;
                    }
                    default(wait) => {}
                }
                let now = Instant::now();
                let periodic = next_periodic.is_some_and(|t| now >= t);
                if !periodic && due.is_none_or(|t| now < t) {
                    continue;
                }
                due = None;
                last = now;
                if periodic {
                    next_periodic = every.map(|e| now + e);
                }
                let changed = mem::take(&mut *dirty.locked());
                let started = Instant::now();
                let (what, result) = if periodic || changed.everything {
                    ("the share folder".to_string(), core.rescan())
                } else {
                    // With the files held back, which are looked at again.
                    let mut paths = changed.paths;
                    paths.extend(core.share().unsettled_paths());
                    let what = format!("{} changed path(s)", paths.len());
                    (what, core.rescan_paths(&paths))
                };
                match result {
                    Ok(c) if !c.is_empty() => log::info!(
                        "rescan of {what}: {} added or renamed, {} removed ({:.2} s)",
                        c.added.len(),
                        c.removed.len(),
                        started.elapsed().as_secs_f64()
                    ),
                    Ok(_) => log::debug!(
                        "rescan of {what}: no change ({:.2} s)",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => log::warn!("rescan failed: {}", crate::error::error_chain(&e)),
                }
                // After the change is on its way to the directory.
                core.share().save_cache();
                // A file held back while it settles is looked at again
                // as soon as it should have settled.
                if core.share().unsettled() > 0 {
                    due = Some(Instant::now() + settle);
                }
            }
        })
        .expect("spawn the rescan thread");
    Some((stop, thread))
}

/// Watches `dir` and everything below it: the paths each event names go
/// into `dirty` (as paths below `dir` as given), and `poke` is poked.
/// `None` (said in the log) when the folder cannot be watched.
fn watch(
    dirs: &[PathBuf],
    dirty: Arc<Mutex<Dirty>>,
    poke: Sender<()>,
    every: Option<Duration>,
) -> Option<notify::RecommendedWatcher> {
    use notify::event::{AccessKind, AccessMode};
    use notify::{EventKind, Watcher};
    // The watcher names paths below the folders made absolute; the share
    // table knows them below the folders as configured.
    let mapped: Vec<(PathBuf, PathBuf)> = dirs
        .iter()
        .map(|d| {
            (
                std::path::absolute(d).unwrap_or_else(|_| d.clone()),
                d.clone(),
            )
        })
        .collect();
    let what = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let dir = &what;
    let started = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                log::debug!("watcher: {e}; rescanning everything");
                dirty.locked().everything();
                let _ = poke.try_send(());
                return;
            }
        };
        if event.need_rescan() {
            dirty.locked().everything();
        } else {
            // Reading a file (serving it, hashing it) changes nothing.
            if matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write))
            {
                return;
            }
            // A download writing its part file is no change to the share
            // either.
            let paths: Vec<PathBuf> = event
                .paths
                .iter()
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(share::skipped)
                })
                .map(|p| {
                    mapped
                        .iter()
                        .find_map(|(absolute, table_dir)| {
                            p.strip_prefix(absolute).ok().map(|rel| table_dir.join(rel))
                        })
                        .unwrap_or_else(|| p.clone())
                })
                .collect();
            if paths.is_empty() {
                return;
            }
            dirty.locked().add(paths);
        }
        // Full means a poke is already waiting: one is enough.
        let _ = poke.try_send(());
    })
    .and_then(|mut w| {
        for d in dirs {
            w.watch(d, notify::RecursiveMode::Recursive)?;
        }
        Ok(w)
    });
    match started {
        Ok(w) => {
            log::info!("watching {} for changes", dir);
            Some(w)
        }
        Err(e) => {
            match every {
                Some(e2) => log::warn!(
                    "cannot watch {} ({e}); changes are picked up by the rescan every {} s",
                    dir,
                    e2.as_secs()
                ),
                None => log::warn!(
                    "cannot watch {} ({e}) and rescan_secs is 0: changes are seen only on \
                     a rescan asked for (`peer rescan`, the menu)",
                    dir
                ),
            }
            None
        }
    }
}
