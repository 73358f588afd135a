//! The menu's downloads, run in the background: each on its own thread
//! with a hidden progress bar the download keeps up to date, a flag that
//! stops it (what is verified stays in its `.part` for a resume), and its
//! outcome once it ends. The menu lists, stops and resumes them while its
//! prompt stays usable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use indicatif::ProgressBar;

use super::client::Directory;
use super::core::Core;
use super::fetch::{self, DownloadOptions, DownloadReport};
use crate::id::FileId;
use crate::sync::MutexExt;

/// How a transfer ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// Saved (or found already there).
    Saved(DownloadReport),
    /// Stopped on request; the part is kept.
    Stopped,
    Failed(String),
}

/// One transfer as the menu lists it.
pub struct Row {
    pub label: String,
    /// Verified bytes, of the size (0 until the size is proven).
    pub done: u64,
    pub total: u64,
    /// Bytes per second this run.
    pub rate: f64,
    /// `None` while it runs.
    pub ended: Option<Ended>,
}

struct Transfer {
    id: FileId,
    /// The name asked for (from a browse listing), if any.
    name: Option<String>,
    /// What the list shows: the name, or the id.
    label: String,
    bar: ProgressBar,
    cancel: Arc<AtomicBool>,
    ended: Arc<Mutex<Option<Ended>>>,
    thread: Option<JoinHandle<()>>,
}

impl Transfer {
    fn running(&self) -> bool {
        self.ended.locked().is_none()
    }
}

/// (Re)starts `t`'s thread; a download that finds its `.part` resumes.
fn run(core: &Arc<Core>, dir: &Arc<Directory>, t: &mut Transfer) {
    t.cancel = Arc::new(AtomicBool::new(false));
    t.bar = ProgressBar::hidden();
    *t.ended.locked() = None;
    let opts = DownloadOptions {
        name: t.name.clone(),
        progress: false,
        cancel: Some(t.cancel.clone()),
        peer_name: Some(core.config().name.clone()),
        patience: core.config().download_patience(),
        watch: Some(t.bar.clone()),
        counters: Some(core.download_counters()),
        flat: !core.config().mirror_paths,
        ..DownloadOptions::default()
    };
    let (core, dir, ended, cancel, id) = (
        core.clone(),
        dir.clone(),
        t.ended.clone(),
        t.cancel.clone(),
        t.id,
    );
    let thread = std::thread::Builder::new()
        .name("menu-download".into())
        .spawn(move || {
            let dest = core.config().download_dir();
            let outcome = match fetch::download(&*dir, id, &dest, &opts) {
                Ok(r) => {
                    if !r.already_had && r.path.starts_with(core.share().dir()) {
                        core.shared_file_added(&r.path, id);
                    }
                    Ended::Saved(r)
                }
                Err(_) if cancel.load(Ordering::Relaxed) => Ended::Stopped,
                Err(e) => Ended::Failed(crate::error::error_chain(&e)),
            };
            match &outcome {
                Ended::Saved(r) if r.already_had => {
                    log::info!("menu download of {id}: already here, {}", r.path.display())
                }
                Ended::Saved(r) => log::info!(
                    "menu download of {id}: saved {} ({} bytes in {:.2}s, {} fetched from {} source(s))",
                    r.path.display(),
                    r.size,
                    r.elapsed.as_secs_f64(),
                    r.fetched,
                    r.sources.len()
                ),
                Ended::Stopped => log::info!("menu download of {id}: stopped, what is verified kept"),
                Ended::Failed(why) => log::warn!("menu download of {id} failed: {why}"),
            }
            *ended.locked() = Some(outcome);
        })
        .expect("start a download thread");
    t.thread = Some(thread);
}

/// The background downloads of one menu session, numbered from 1.
pub struct Transfers {
    core: Arc<Core>,
    dir: Arc<Directory>,
    list: Vec<Transfer>,
}

impl Transfers {
    pub fn new(core: Arc<Core>, dir: Arc<Directory>) -> Transfers {
        Transfers {
            core,
            dir,
            list: Vec::new(),
        }
    }

    /// Starts downloading `id` (under `name`, if given); returns its number.
    /// Starts a download of `id` (under `name`, if given), listed as
    /// `label` (the name a search or browse showed; else the start of the
    /// id, until the summary line names the file once it is saved).
    pub fn start(&mut self, id: FileId, name: Option<String>, label: Option<String>) -> usize {
        let label = label.unwrap_or_else(|| id.to_string()[..16].to_string());
        let mut t = Transfer {
            id,
            name,
            label,
            bar: ProgressBar::hidden(),
            cancel: Arc::new(AtomicBool::new(false)),
            ended: Arc::new(Mutex::new(None)),
            thread: None,
        };
        run(&self.core, &self.dir, &mut t);
        self.list.push(t);
        self.list.len()
    }

    /// Stops transfer `n` (1-based); what is verified is kept.
    pub fn stop(&mut self, n: usize) -> Result<(), String> {
        let t = self.get(n)?;
        if !t.running() {
            return Err(format!("transfer {n} is not running"));
        }
        t.cancel.store(true, Ordering::Relaxed);
        if let Some(thread) = self.list[n - 1].thread.take() {
            crate::sync::join_or_raise(thread);
        }
        Ok(())
    }

    /// Starts transfer `n` again (it resumes from its `.part`).
    pub fn resume(&mut self, n: usize) -> Result<(), String> {
        let t = self.get(n)?;
        match &*t.ended.locked() {
            None => return Err(format!("transfer {n} is running")),
            Some(Ended::Saved(_)) => return Err(format!("transfer {n} is done")),
            Some(_) => {}
        }
        let t = &mut self.list[n - 1];
        if let Some(thread) = t.thread.take() {
            crate::sync::join_or_raise(thread);
        }
        run(&self.core, &self.dir, t);
        Ok(())
    }

    fn get(&self, n: usize) -> Result<&Transfer, String> {
        n.checked_sub(1)
            .and_then(|i| self.list.get(i))
            .ok_or_else(|| format!("no transfer numbered {n} (there are {})", self.list.len()))
    }

    /// How many are running.
    pub fn running(&self) -> usize {
        self.list.iter().filter(|t| t.running()).count()
    }

    /// Every transfer, in order (number 1 first).
    pub fn rows(&self) -> Vec<Row> {
        self.list
            .iter()
            .map(|t| Row {
                label: t.label.clone(),
                done: t.bar.position(),
                total: t.bar.length().unwrap_or(0),
                rate: t.bar.per_sec(),
                ended: t.ended.locked().clone(),
            })
            .collect()
    }

    /// Stops every running transfer (their parts are kept) and waits for
    /// their threads.
    pub fn stop_all(&mut self) {
        for t in &self.list {
            t.cancel.store(true, Ordering::Relaxed);
        }
        for t in &mut self.list {
            if let Some(thread) = t.thread.take() {
                crate::sync::join_or_raise(thread);
            }
        }
    }
}
