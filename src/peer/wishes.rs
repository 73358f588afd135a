//! The running peer's wishlist (Soulseek's, eMule's): saved searches it
//! repeats every `wish_every_secs`, queueing each new match for download
//! (or only keeping it to show, per wish). Kept in the state folder
//! (`wishes.json`, replaced whole at every change).
//!
//! One search at a time, at most one a second, so that however many wishes
//! there are the directory sees a trickle within its flood limits; a wish
//! whose search the directory limits is tried again after its interval.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::client::{ClientError, DirectoryApi};
use super::core::{Core, WishControl};
use crate::sync::MutexExt;
use crate::wire::{unix_now, QueueOp, Wish, WishMatch, WishOp};

/// The wishlist's file in the state folder.
pub const WISH_FILE: &str = "wishes.json";
/// Results a wish's search asks for.
const WISH_RESULTS: u32 = 100;
/// Matches a wish keeps (the oldest go first).
const MAX_MATCHES: usize = 1000;
/// Wishes one peer keeps.
const MAX_WISHES: usize = 200;
/// Longest query text.
const MAX_QUERY_BYTES: usize = 256;

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Saved {
    next: u64,
    wishes: Vec<Wish>,
}

/// The wishlist (see the module doc).
pub struct Wishlist {
    core: Weak<Core>,
    file: PathBuf,
    every: Duration,
    saved: Mutex<Saved>,
}

impl Wishlist {
    /// The wishlist of `core`, read back from its state folder, with its
    /// thread started.
    pub fn start(core: &Arc<Core>, state_dir: &Path) -> std::io::Result<Arc<Wishlist>> {
        let file = state_dir.join(WISH_FILE);
        let saved: Saved = crate::fsutil::read_json_or_default(&file)?;
        let list = Arc::new(Wishlist {
            core: Arc::downgrade(core),
            file,
            every: Duration::from_secs(core.config().wish_every_secs),
            saved: Mutex::new(saved),
        });
        let weak = Arc::downgrade(&list);
        std::thread::Builder::new()
            .name("wishlist".into())
            .spawn(move || {
                while let Some(list) = weak.upgrade() {
                    list.search_one_due();
                    drop(list);
                    std::thread::sleep(Duration::from_secs(1));
                }
            })?;
        Ok(list)
    }

    fn save(&self, saved: &Saved) {
        let written = serde_json::to_vec_pretty(saved)
            .map_err(std::io::Error::other)
            .and_then(|json| crate::fsutil::write_private(&self.file, &json));
        if let Err(e) = written {
            log::error!("cannot keep the wishlist in {}: {e}", self.file.display());
        }
    }

    /// Searches the wish most overdue, if one is due; records what it
    /// found and queues the new matches of a wish that queues.
    fn search_one_due(&self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        let now = unix_now();
        let due = {
            let saved = self.saved.locked();
            saved
                .wishes
                .iter()
                .filter(|w| w.searched_at + self.every.as_secs() <= now)
                .min_by_key(|w| w.searched_at)
                .map(|w| (w.n, w.query.clone()))
        };
        let Some((n, query)) = due else { return };
        // Without a session the search would count against the address:
        // wait for the login.
        let Some(token) = core.session().token() else {
            return;
        };
        let found = core.directory().search(&query, WISH_RESULTS, Some(&token));
        let mut saved = self.saved.locked();
        let Some(wish) = saved.wishes.iter_mut().find(|w| w.n == n) else {
            return; // removed meanwhile
        };
        wish.searched_at = unix_now();
        match found {
            Ok(found) => {
                wish.error = None;
                for hit in &found.hits {
                    let id = hit.id.to_string();
                    if wish.matches.iter().any(|m| m.id == id) {
                        continue;
                    }
                    let name = hit.names.first().cloned().unwrap_or_default();
                    let held = core.share().get(&hit.id).is_some();
                    let queued = (wish.queue && !held)
                        .then(|| {
                            let op = QueueOp::Add {
                                id: id.clone(),
                                name: None,
                                copy: false,
                            };
                            match core.queue().map(|q| q.apply(op)) {
                                Some(Ok(e)) => Some(e.n),
                                Some(Err(why)) => {
                                    log::warn!("wish {n}: cannot queue {id}: {why}");
                                    None
                                }
                                None => None,
                            }
                        })
                        .flatten();
                    match queued {
                        Some(q) => log::info!(
                            "wish {n} ({query:?}) found {name} ({id}): queued as download {q}"
                        ),
                        None => log::info!("wish {n} ({query:?}) found {name} ({id})"),
                    }
                    wish.matches.push(WishMatch {
                        id,
                        name,
                        size: hit.size,
                        found_at: wish.searched_at,
                        queued,
                    });
                }
                let over = wish.matches.len().saturating_sub(MAX_MATCHES);
                wish.matches.drain(..over);
            }
            Err(e) => {
                if let ClientError::Busy(_) = e {
                    log::info!("wish {n}: the directory limits searches; again later");
                } else {
                    log::warn!("wish {n}: search failed: {e}");
                }
                wish.error = Some(e.to_string());
            }
        }
        self.save(&saved);
    }
}

impl WishControl for Wishlist {
    fn list(&self) -> Vec<Wish> {
        self.saved.locked().wishes.clone()
    }

    fn apply(&self, op: WishOp) -> Result<Wish, String> {
        let mut saved = self.saved.locked();
        let wish = match op {
            WishOp::Add { query, queue } => {
                let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
                if query.is_empty() {
                    return Err("a wish needs words to search for".into());
                }
                if query.len() > MAX_QUERY_BYTES {
                    return Err(format!("a wish is at most {MAX_QUERY_BYTES} bytes"));
                }
                if saved.wishes.len() >= MAX_WISHES {
                    return Err(format!("the wishlist holds {MAX_WISHES} wishes at most"));
                }
                if let Some(w) = saved.wishes.iter().find(|w| w.query == query) {
                    return Err(format!("wish {} already searches for {query:?}", w.n));
                }
                saved.next += 1;
                let wish = Wish {
                    n: saved.next,
                    query,
                    queue,
                    matches: Vec::new(),
                    searched_at: 0,
                    error: None,
                };
                log::info!(
                    "wish {} added: {:?} ({})",
                    wish.n,
                    wish.query,
                    if queue {
                        "queues matches"
                    } else {
                        "shows matches"
                    }
                );
                saved.wishes.push(wish.clone());
                wish
            }
            WishOp::Remove { n } => {
                let i = saved
                    .wishes
                    .iter()
                    .position(|w| w.n == n)
                    .ok_or_else(|| format!("no wish {n}"))?;
                log::info!("wish {n} removed");
                saved.wishes.remove(i)
            }
        };
        self.save(&saved);
        Ok(wish)
    }
}
