//! Rescans: the whole share folder, or only the paths a watcher named,
//! hashing what is new or changed (unless the hash cache knows it), and
//! adding a file just written and verified.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::cache::{self, Cached};
use super::entries::{Change, Entries, Slot};
use super::scan::{LeftOut, Stat, Walker};
use super::table::{ShareError, ShareTable};
use crate::hash::hash_pieces;
use crate::id::FileId;
use crate::sync::{MutexExt, RwLockExt};

impl ShareTable {
    /// Walks the share folder, hashes files that are new or whose size or
    /// modification time changed (unless the hash cache knows them), drops
    /// files that are gone, and returns the difference. A file modified less
    /// than the settle time ago is left out until a later look finds it
    /// unchanged. Unreadable files are skipped with a warning; an unreadable
    /// share folder is an error.
    pub fn rescan(&self) -> Result<Change, ShareError> {
        let change = self.scan(None)?;
        self.save_cache();
        release_free_memory();
        Ok(change)
    }

    /// Writes the hash cache if a scan changed it. A full
    /// [`rescan`](Self::rescan) does it itself; after
    /// [`rescan_paths`](Self::rescan_paths) the caller does, once the
    /// change is on its way to the directory (saving a large share's cache
    /// takes a while, and losing it costs only hashing again).
    pub fn save_cache(&self) {
        // Saves one at a time, none during a scan.
        let _scan = self.scan.locked();
        if !self.cache_dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Some(file) = &self.cache_file {
            let entries = self.entries.reading();
            let cached = entries
                .iter()
                .filter_map(|v| Some((v.path, cached(v.id, v.stat)?)));
            if let Err(e) = cache::save(file, &self.dir, cached) {
                log::warn!("cannot write the hash cache {}: {e}", file.display());
            }
        }
    }

    /// [`rescan`](Self::rescan) of only `paths` (files or folders below
    /// the share folder, whether still there or gone) and what is below
    /// them: what a watcher reported. The rest of the table stands as it
    /// is. A path outside the folder, the folder itself, or a table that
    /// follows links (where one folder can have several paths) makes it a
    /// full rescan. The hash cache is left for [`save_cache`](Self::save_cache).
    pub fn rescan_paths(&self, paths: &[PathBuf]) -> Result<Change, ShareError> {
        let mut roots = Vec::with_capacity(paths.len());
        for p in paths {
            let rel = self
                .root_of(p)
                .and_then(|(_, root)| p.strip_prefix(root).ok());
            match rel {
                Some(rel) if !self.follow_symlinks && rel.components().next().is_some() => {
                    roots.push(p.clone())
                }
                _ => return self.rescan(),
            }
        }
        // The outermost paths only: what is below one is walked with it.
        // (Paths sort component by component, so what is below a path
        // comes right after it.)
        roots.sort();
        roots.dedup_by(|later, kept| later.starts_with(kept));
        self.scan(Some(&roots))
    }

    /// The scan behind both rescans: of everything (`None`), or of the
    /// outermost `roots` and what is below them.
    pub(super) fn scan(&self, roots: Option<&[PathBuf]>) -> Result<Change, ShareError> {
        let mut scan = self.scan.locked();
        let mut found = Vec::new();
        let mut left_out = LeftOut::default();
        let mut seen_dirs = HashSet::new();
        let mut walk = |root: &Path, what: &dyn Fn(&mut Walker<'_>) -> io::Result<()>| {
            let mut walker = Walker {
                root,
                follow: self.follow_symlinks,
                seen_dirs: std::mem::take(&mut seen_dirs),
                out: &mut found,
                left_out,
            };
            let done = what(&mut walker);
            (left_out, seen_dirs) = (walker.left_out, walker.seen_dirs);
            done
        };
        // Whether a path is in the scanned part, and what the table holds
        // there.
        let covers = |p: &Path| {
            roots.is_none_or(|r| {
                p.ancestors()
                    .any(|a| r.binary_search_by(|x| x.as_path().cmp(a)).is_ok())
            })
        };
        let known: Arc<Entries> = match roots {
            None => {
                for (_, root) in self.roots() {
                    walk(root, &|w| w.walk(root, 0)).map_err(|source| ShareError {
                        path: root.to_path_buf(),
                        source,
                    })?;
                }
                scan.left_out = left_out;
                self.entries.reading().clone()
            }
            Some(roots) => {
                for r in roots {
                    if let Some((_, root)) = self.root_of(r) {
                        let _ = walk(root, &|w| {
                            w.visit(r);
                            Ok(())
                        });
                    }
                }
                let entries = self.entries.reading();
                Arc::new(Entries::of(
                    roots
                        .iter()
                        .flat_map(|r| entries.under(r))
                        .map(|v| (v.path.to_path_buf(), v.to_slot())),
                ))
            }
        };
        let now = SystemTime::now();
        let mut by_path = HashMap::with_capacity(found.len());
        // Held back files outside the scanned part stay held back.
        let mut unsettled: HashMap<PathBuf, Stat> = scan
            .unsettled
            .iter()
            .filter(|(p, _)| !covers(p))
            .map(|(p, v)| (p.clone(), *v))
            .collect();
        // Files known by their node, size and time: found again under
        // another path (a rename, a folder moved) they are not hashed
        // again. Made at the first path the cache does not know.
        let mut moved: Option<HashMap<(u64, u64, u64, u64), FileId>> = None;
        for (path, stat) in found {
            if let Some(old) = known.get(path.as_path()) {
                if old.stat == stat && stat.mtime.is_some() {
                    by_path.insert(path, old.to_slot());
                    continue;
                }
            }
            let key = cache::mtime_ns(stat.mtime);
            if let Some(c) = scan.loaded.get(&path) {
                if c.size == stat.size && Some(c.mtime_ns) == key {
                    let entry = self.entry(&path, c.id, stat);
                    by_path.insert(path, entry);
                    continue;
                }
            }
            // (Inode 0: not known, nothing to match.)
            if let (Some(mtime_ns), (dev, ino @ 1..)) = (key, stat.node) {
                let moved = moved.get_or_insert_with(|| {
                    let entries = self.entries.reading();
                    scan.loaded
                        .values()
                        .copied()
                        .chain(entries.iter().filter_map(|v| cached(v.id, v.stat)))
                        .filter(|c| c.ino != 0)
                        .map(|c| ((c.dev, c.ino, c.size, c.mtime_ns), c.id))
                        .collect()
                });
                if let Some(id) = moved.get(&(dev, ino, stat.size, mtime_ns)) {
                    log::debug!("{} was moved here: not hashed again", path.display());
                    by_path.insert(path.clone(), self.entry(&path, *id, stat));
                    continue;
                }
            }
            let seen_still = scan.unsettled.get(&path) == Some(&stat);
            if cache::age(stat.mtime, now) < self.settle && !seen_still {
                unsettled.insert(path, stat);
                continue;
            }
            match self.hash_file(&path) {
                Ok(Some(entry)) => {
                    by_path.insert(path, entry);
                }
                Ok(None) => {
                    unsettled.insert(path, stat);
                }
                Err(e) => log::warn!("not sharing {}: {e}", path.display()),
            }
        }
        let held_back = unsettled.len();
        if held_back > 0 && held_back != scan.unsettled.len() {
            log::info!(
                "{held_back} file(s) still being written; they will be shared when they settle"
            );
        }
        scan.unsettled = unsettled;
        let gone: Vec<PathBuf> = known
            .iter()
            .filter(|v| !by_path.contains_key(v.path))
            .map(|v| v.path.to_path_buf())
            .collect();
        let put: Vec<(PathBuf, Slot)> = by_path
            .into_iter()
            .filter(|(p, e)| !known.get(p).is_some_and(|v| v.is(e)))
            .collect();
        drop(known);
        // The table is the hash cache: it needs saving when the entries
        // change, unless (at the first scan) they are what was loaded.
        let same_as_loaded = put
            .iter()
            .all(|(p, e)| cached(e.id, e.stat) == scan.loaded.get(p).copied());
        let matched = put
            .iter()
            .filter(|(p, _)| scan.loaded.contains_key(p))
            .count();
        let dirty = !(gone.is_empty() && same_as_loaded && matched == scan.loaded.len());
        if roots.is_none() {
            // Used: from now on the table is the cache.
            scan.loaded = HashMap::new();
        }
        let change = self.update(gone, put);
        if dirty {
            self.cache_dirty.store(true, Ordering::Relaxed);
        }
        Ok(change)
    }

    /// Adds a file that was just written into the share folder (an upload or a
    /// download) without rescanning everything; `id` is its verified hash.
    pub fn add_verified(&self, path: &Path, id: FileId) -> io::Result<Change> {
        let meta = std::fs::metadata(path)?;
        let entry = self.entry(path, id, Stat::of(&meta));
        let put = [(path.to_path_buf(), entry)];
        let change = self.update([], put);
        self.cache_dirty.store(true, Ordering::Relaxed);
        Ok(change)
    }

    /// Hashes a file (its id and piece list in one pass) and keeps the piece
    /// list; `None` if it changed while it was being read.
    pub(super) fn hash_file(&self, path: &Path) -> io::Result<Option<Slot>> {
        let (mut file, before) = self.open(path)?;
        let hashed = hash_pieces(&mut file, before.len())?;
        self.bytes_hashed.fetch_add(
            hashed.as_ref().map_or(before.len(), |h| h.size),
            Ordering::Relaxed,
        );
        let after = std::fs::metadata(path)?;
        let Some(hashed) = hashed else {
            return Ok(None);
        };
        if after.len() != hashed.size || after.modified().ok() != before.modified().ok() {
            return Ok(None);
        }
        self.store_pieces(&hashed.id, &hashed.cvs);
        Ok(Some(self.entry(path, hashed.id, Stat::of(&before))))
    }
}

/// What the hash cache keeps of an entry (nothing without a modification
/// time: it could not tell the file unchanged).
fn cached(id: FileId, stat: Stat) -> Option<Cached> {
    Some(Cached {
        size: stat.size,
        mtime_ns: cache::mtime_ns(stat.mtime)?,
        id,
        dev: stat.node.0,
        ino: stat.node.1,
    })
}

/// Has the allocator map every allocation of 4 MiB or more on its own,
/// given back to the system when freed; for a process's start, before its
/// threads. glibc would otherwise raise that bound to the largest block
/// freed so far (up to 32 MiB), and a big share's tables, made again at
/// each change, would then come from the heap and leave it fragmented
/// (`bench_share.sh` at 300,000 files, settled after a cold start: 309 B
/// a file with the moving bound, 243 B with this).
pub fn map_big_allocations_apart() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a tunable of the allocator; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Hands the allocator's free memory back to the system. A full scan of a
/// big share (what it found, the copy it compared with, the cache as
/// loaded) and a first announce of it leave several times the table's size
/// free, which glibc's allocator would otherwise keep as the peer's RSS.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
