//! The share table: which files this peer offers, by id. It is filled by
//! scanning the share folder and hashing what is new or changed (with the
//! on-disk hash cache, a restart hashes nothing unchanged), and it is the
//! only way the HTTP server finds a file: a URL is never turned into a path.
//! Every rescan yields the difference to announce to the directory. A file
//! still being written is left out until it settles.

mod cache;
mod open;
mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use blake3::hazmat::ChainingValue;

use crate::fsutil;
use crate::hash::hash_pieces;
use crate::id::FileId;
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::SharedFile;
use crate::{names, pieces};
use cache::Cached;
pub use open::open_shared;
use scan::{file_name, shared_path, Stat, Walker};
pub use scan::{skipped, PART_SUFFIX, STATE_SUFFIX};

/// Folder in the state folder holding piece lists.
pub const PIECES_DIR: &str = "pieces";

/// A file the peer shares: what it announces and lists, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEntry {
    /// Id, name (its path below the share folder, `/`-separated) and
    /// size, as announced.
    pub file: SharedFile,
    pub path: PathBuf,
    stat: Stat,
}

impl ShareEntry {
    fn new(root: &Path, path: &Path, id: FileId, stat: Stat) -> ShareEntry {
        ShareEntry {
            file: SharedFile {
                id,
                name: shared_path(root, path)
                    .or_else(|| file_name(path))
                    .unwrap_or_default(),
                size: stat.size,
                other_names: Vec::new(),
            },
            path: path.to_path_buf(),
            stat,
        }
    }
}

/// What changed in the share, as the directory needs to hear it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    /// New files, and files whose names changed.
    pub added: Vec<SharedFile>,
    pub removed: Vec<FileId>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// A failure reading the share folder.
#[derive(Debug)]
pub struct ShareError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}", self.path.display())
    }
}

impl std::error::Error for ShareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Default)]
struct Entries {
    /// Ordered by path, so what is below a folder is one range.
    by_path: BTreeMap<PathBuf, ShareEntry>,
    /// Every path holding each id, sorted (most ids have one). The same
    /// bytes at several paths are shared once, under the first path (the
    /// one read), with the others as its `other_names`.
    by_id: HashMap<FileId, Vec<PathBuf>>,
}

impl Entries {
    /// What is shared for `id`: the first path's entry, with the others'
    /// names as further names.
    fn shared(&self, id: &FileId) -> Option<ShareEntry> {
        let first = &self.by_path[&self.by_id.get(id)?[0]];
        Some(ShareEntry {
            file: self.file(id)?,
            path: first.path.clone(),
            stat: first.stat,
        })
    }

    /// What is announced and listed for `id` (see [`shared`](Self::shared)).
    fn file(&self, id: &FileId) -> Option<SharedFile> {
        let paths = self.by_id.get(id)?;
        let mut file = self.by_path[&paths[0]].file.clone();
        if paths.len() > 1 {
            let mut others: Vec<String> = paths[1..]
                .iter()
                .map(|p| self.by_path[p].file.name.clone())
                .collect();
            others.sort();
            if others.len() > names::MAX_OTHER_NAMES {
                log::debug!(
                    "{} more files have the same bytes as {}; {} of their paths are listed",
                    others.len(),
                    file.name,
                    names::MAX_OTHER_NAMES
                );
                others.truncate(names::MAX_OTHER_NAMES);
            }
            file.other_names = others;
        }
        Some(file)
    }

    /// Drops the entries at `gone`, puts `put` in place (new or changed),
    /// and returns what changed for the directory. Only the ids those
    /// paths had or have are looked at again, so a change to a few files
    /// of a large share costs little.
    fn update(
        &mut self,
        gone: impl IntoIterator<Item = PathBuf>,
        put: impl IntoIterator<Item = (PathBuf, ShareEntry)>,
    ) -> Change {
        if self.by_path.is_empty() {
            return self.fill(put);
        }
        // What each touched id was shared as before.
        let mut before: BTreeMap<FileId, Option<SharedFile>> = BTreeMap::new();
        let mut touch = |this: &Entries, id: FileId| {
            before.entry(id).or_insert_with(|| this.file(&id));
        };
        for path in gone {
            let Some(id) = self.by_path.get(&path).map(|e| e.file.id) else {
                continue;
            };
            touch(self, id);
            self.by_path.remove(&path);
            self.unlink(id, &path);
        }
        for (path, entry) in put {
            let id = entry.file.id;
            let old = self.by_path.get(&path).map(|e| e.file.id);
            if let Some(old) = old {
                touch(self, old);
            }
            touch(self, id);
            self.by_path.insert(path.clone(), entry);
            if old != Some(id) {
                if let Some(old) = old {
                    self.unlink(old, &path);
                }
                let list = self.by_id.entry(id).or_default();
                if let Err(at) = list.binary_search(&path) {
                    list.insert(at, path);
                }
            }
        }
        let mut change = Change::default();
        for (id, was) in before {
            match (was, self.file(&id)) {
                (Some(_), None) => change.removed.push(id),
                (was, Some(now)) if was.as_ref() != Some(&now) => change.added.push(now),
                _ => {}
            }
        }
        change
    }

    /// [`update`](Self::update) of an empty table (the first scan), in
    /// bulk: everything is new.
    fn fill(&mut self, put: impl IntoIterator<Item = (PathBuf, ShareEntry)>) -> Change {
        self.by_path = put.into_iter().collect();
        for (path, e) in &self.by_path {
            // In path order: each list comes out sorted.
            self.by_id.entry(e.file.id).or_default().push(path.clone());
        }
        let mut added = Vec::with_capacity(self.by_id.len());
        for (path, e) in &self.by_path {
            match self.by_id[&e.file.id].as_slice() {
                [_] => added.push(e.file.clone()),
                [first, ..] if first == path => added.extend(self.file(&e.file.id)),
                _ => {}
            }
        }
        added.sort_by_key(|f| f.id);
        Change {
            added,
            removed: Vec::new(),
        }
    }

    fn unlink(&mut self, id: FileId, path: &Path) {
        if let Some(list) = self.by_id.get_mut(&id) {
            list.retain(|p| p != path);
            if list.is_empty() {
                self.by_id.remove(&id);
            }
        }
    }
}

/// The entries of `map` at `root` and below it.
fn under<'a>(
    map: &'a BTreeMap<PathBuf, ShareEntry>,
    root: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a ShareEntry)> {
    map.range::<Path, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(root))
}

/// Where a file that is not yet shared stands.
#[derive(Default)]
struct ScanState {
    /// Size and mtime of files seen still changing at the last look.
    unsettled: HashMap<PathBuf, Stat>,
    /// The hash cache: as loaded, then as the scans left it.
    cache: HashMap<PathBuf, Cached>,
    /// Whether `cache` changed since it was last saved.
    cache_dirty: bool,
}

/// The files a peer shares, found by id.
pub struct ShareTable {
    dir: PathBuf,
    entries: RwLock<Entries>,
    /// Held for a whole rescan so two never interleave.
    scan: Mutex<ScanState>,
    bytes_hashed: AtomicU64,
    cache_file: Option<PathBuf>,
    /// Piece chaining values, one file per id (too large for the cache).
    pieces_dir: Option<PathBuf>,
    settle: Duration,
    /// Whether symbolic links in the folder are followed (config
    /// `follow_symlinks`); when not, they are neither listed nor opened.
    follow_symlinks: bool,
}

impl ShareTable {
    /// An empty table for `dir`, without a cache and with no settle time;
    /// call [`rescan`](Self::rescan) to fill it.
    pub fn new(dir: &Path) -> ShareTable {
        ShareTable::with_state(dir, None, Duration::ZERO)
    }

    /// An empty table for `dir` that keeps its hash cache and piece lists in
    /// `state_dir`, and leaves out files modified less than `settle` ago
    /// until they are seen unchanged twice.
    pub fn with_state(dir: &Path, state_dir: Option<&Path>, settle: Duration) -> ShareTable {
        let cache_file = state_dir.map(|d| d.join(cache::CACHE_FILE));
        let pieces_dir = state_dir.map(|d| d.join(PIECES_DIR));
        let cache = cache_file
            .as_deref()
            .map(|f| cache::load(f, dir))
            .unwrap_or_default();
        ShareTable {
            dir: dir.to_path_buf(),
            entries: RwLock::new(Entries::default()),
            scan: Mutex::new(ScanState {
                unsettled: HashMap::new(),
                cache,
                cache_dirty: false,
            }),
            bytes_hashed: AtomicU64::new(0),
            cache_file,
            pieces_dir,
            settle,
            follow_symlinks: false,
        }
    }

    /// Follows symbolic links in the folder (to files and folders, wherever
    /// they point) when `follow` is set; by default they are left out.
    pub fn following_symlinks(mut self, follow: bool) -> ShareTable {
        self.follow_symlinks = follow;
        self
    }

    /// Opens a shared file's path for reading, by the table's symlink rule
    /// (see `open_shared`).
    pub fn open(&self, path: &Path) -> io::Result<File> {
        open_shared(&self.dir, path, self.follow_symlinks)
    }

    /// How many files were left out at the last rescan because they were
    /// still changing.
    pub fn unsettled(&self) -> usize {
        self.scan.locked().unsettled.len()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `id`, if this peer shares it.
    pub fn get(&self, id: &FileId) -> Option<ShareEntry> {
        self.entries.reading().shared(id)
    }

    /// Every shared file, by name: what is announced to the directory and
    /// listed at `GET /files`.
    pub fn files(&self) -> Vec<SharedFile> {
        let entries = self.entries.reading();
        let mut v: Vec<SharedFile> = entries
            .by_id
            .keys()
            .filter_map(|id| entries.file(id))
            .collect();
        drop(entries);
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    /// Bytes hashed since this table was made (what a rescan cost).
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes_hashed.load(Ordering::Relaxed)
    }

    /// Walks the share folder, hashes files that are new or whose size or
    /// modification time changed (unless the hash cache knows them), drops
    /// files that are gone, and returns the difference. A file modified less
    /// than the settle time ago is left out until a later look finds it
    /// unchanged. Unreadable files are skipped with a warning; an unreadable
    /// share folder is an error.
    pub fn rescan(&self) -> Result<Change, ShareError> {
        let change = self.scan(None)?;
        self.save_cache();
        Ok(change)
    }

    /// Writes the hash cache if a scan changed it. A full
    /// [`rescan`](Self::rescan) does it itself; after
    /// [`rescan_paths`](Self::rescan_paths) the caller does, once the
    /// change is on its way to the directory (saving a large share's cache
    /// takes a while, and losing it costs only hashing again).
    pub fn save_cache(&self) {
        let mut scan = self.scan.locked();
        if !scan.cache_dirty {
            return;
        }
        scan.cache_dirty = false;
        if let Some(file) = &self.cache_file {
            if let Err(e) = cache::save(file, &self.dir, &scan.cache) {
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
            match p.strip_prefix(&self.dir) {
                Ok(rel) if !self.follow_symlinks && rel.components().next().is_some() => {
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

    /// The paths held back at the last look because they were still
    /// changing (to look at again when they should have settled).
    pub fn unsettled_paths(&self) -> Vec<PathBuf> {
        self.scan.locked().unsettled.keys().cloned().collect()
    }

    /// The scan behind both rescans: of everything (`None`), or of the
    /// outermost `roots` and what is below them.
    fn scan(&self, roots: Option<&[PathBuf]>) -> Result<Change, ShareError> {
        let mut scan = self.scan.locked();
        let mut found = Vec::new();
        let mut walker = Walker {
            root: &self.dir,
            follow: self.follow_symlinks,
            seen_dirs: HashSet::new(),
            out: &mut found,
        };
        // Whether a path is in the scanned part, and what the table holds
        // there.
        let covers = |p: &Path| {
            roots.is_none_or(|r| {
                p.ancestors()
                    .any(|a| r.binary_search_by(|x| x.as_path().cmp(a)).is_ok())
            })
        };
        let known: BTreeMap<PathBuf, ShareEntry> = match roots {
            None => {
                walker.walk(&self.dir, 0).map_err(|source| ShareError {
                    path: self.dir.clone(),
                    source,
                })?;
                self.entries.reading().by_path.clone()
            }
            Some(roots) => {
                for r in roots {
                    walker.visit(r);
                }
                let entries = self.entries.reading();
                roots
                    .iter()
                    .flat_map(|r| under(&entries.by_path, r))
                    .map(|(p, e)| (p.clone(), e.clone()))
                    .collect()
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
            if let Some(old) = known.get(&path) {
                if old.stat == stat && stat.mtime.is_some() {
                    by_path.insert(path, old.clone());
                    continue;
                }
            }
            let key = cache::mtime_ns(stat.mtime);
            if let Some(c) = scan.cache.get(&path) {
                if c.size == stat.size && Some(c.mtime_ns) == key {
                    let entry = ShareEntry::new(&self.dir, &path, c.id, stat);
                    by_path.insert(path, entry);
                    continue;
                }
            }
            // (Inode 0: not known, nothing to match.)
            if let (Some(mtime_ns), (dev, ino @ 1..)) = (key, stat.node) {
                let moved = moved.get_or_insert_with(|| {
                    scan.cache
                        .values()
                        .filter(|c| c.ino != 0)
                        .map(|c| ((c.dev, c.ino, c.size, c.mtime_ns), c.id))
                        .collect()
                });
                if let Some(id) = moved.get(&(dev, ino, stat.size, mtime_ns)) {
                    log::debug!("{} was moved here: not hashed again", path.display());
                    by_path.insert(path.clone(), ShareEntry::new(&self.dir, &path, *id, stat));
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
            .keys()
            .filter(|p| !by_path.contains_key(*p))
            .cloned()
            .collect();
        // The hash cache follows the scanned part: what is gone from it
        // leaves (after a full scan, whatever the scan did not find), what
        // was found is (re)written. It is saved by `save_cache`.
        let stale: Vec<PathBuf> = match roots {
            None => scan
                .cache
                .keys()
                .filter(|p| !by_path.contains_key(*p))
                .cloned()
                .collect(),
            Some(_) => gone.clone(),
        };
        for p in stale {
            scan.cache_dirty |= scan.cache.remove(&p).is_some();
        }
        for (p, e) in &by_path {
            let Some(mtime_ns) = cache::mtime_ns(e.stat.mtime) else {
                scan.cache_dirty |= scan.cache.remove(p).is_some();
                continue;
            };
            let c = Cached {
                size: e.file.size,
                mtime_ns,
                id: e.file.id,
                dev: e.stat.node.0,
                ino: e.stat.node.1,
            };
            if scan.cache.get(p) != Some(&c) {
                scan.cache.insert(p.clone(), c);
                scan.cache_dirty = true;
            }
        }
        let put = by_path.into_iter().filter(|(p, e)| known.get(p) != Some(e));
        Ok(self.entries.writing().update(gone, put))
    }

    /// Where this peer already holds `id` in `share_dir`, by the hash cache
    /// in `state_dir` (what the last scan of a running or earlier peer
    /// hashed), when that file is still unchanged (same size and time).
    /// Lets a one-shot `get` see what the peer has without hashing anything.
    pub fn held(share_dir: &Path, state_dir: &Path, id: &FileId) -> Option<PathBuf> {
        let cached = cache::load(&state_dir.join(cache::CACHE_FILE), share_dir);
        let mut paths: Vec<(PathBuf, Cached)> =
            cached.into_iter().filter(|(_, c)| c.id == *id).collect();
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths.into_iter().find_map(|(path, c)| {
            let meta = std::fs::symlink_metadata(&path).ok()?;
            let same = meta.is_file()
                && meta.len() == c.size
                && cache::mtime_ns(meta.modified().ok()) == Some(c.mtime_ns);
            same.then_some(path)
        })
    }

    /// Adds a file that was just written into the share folder (an upload or a
    /// download) without rescanning everything; `id` is its verified hash.
    pub fn add_verified(&self, path: &Path, id: FileId) -> io::Result<Change> {
        let meta = std::fs::metadata(path)?;
        let entry = ShareEntry::new(&self.dir, path, id, Stat::of(&meta));
        let put = [(path.to_path_buf(), entry)];
        Ok(self.entries.writing().update([], put))
    }

    /// Hashes a file (its id and piece list in one pass) and keeps the piece
    /// list; `None` if it changed while it was being read.
    fn hash_file(&self, path: &Path) -> io::Result<Option<ShareEntry>> {
        let mut file = self.open(path)?;
        let before = file.metadata()?;
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
        Ok(Some(ShareEntry::new(
            &self.dir,
            path,
            hashed.id,
            Stat::of(&before),
        )))
    }

    fn pieces_file(&self, id: &FileId) -> Option<PathBuf> {
        self.pieces_dir.as_ref().map(|d| d.join(id.to_string()))
    }

    fn store_pieces(&self, id: &FileId, cvs: &[ChainingValue]) {
        let (Some(file), false) = (self.pieces_file(id), cvs.is_empty()) else {
            return;
        };
        let write = || -> io::Result<()> {
            std::fs::create_dir_all(file.parent().expect("pieces file has a folder"))?;
            fsutil::write_atomic(&file, &cvs.concat())
        };
        if let Err(e) = write() {
            log::warn!("cannot keep the piece list of {id}: {e}");
        }
    }

    /// The piece chaining values of a shared file (empty for a one-piece
    /// file). Read from the state folder when a stored list merges to the id,
    /// otherwise computed from the file and stored; never served unchecked.
    pub fn pieces(&self, id: &FileId) -> io::Result<Vec<ChainingValue>> {
        let entry = self.get(id).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{id} is not shared"))
        })?;
        let size = entry.file.size;
        if pieces::piece_count(size) == 1 {
            return Ok(Vec::new());
        }
        if let Some(file) = self.pieces_file(id) {
            if let Ok(bytes) = std::fs::read(&file) {
                let cvs: Vec<ChainingValue> = bytes
                    .chunks_exact(32)
                    .map(|c| c.try_into().expect("32-byte chunks"))
                    .collect();
                if bytes.len() % 32 == 0 && pieces::merge(size, &cvs) == Some(*id) {
                    return Ok(cvs);
                }
                log::warn!(
                    "piece list {} does not match; recomputing it",
                    file.display()
                );
            }
        }
        let mut f = self.open(&entry.path)?;
        match hash_pieces(&mut f, size)? {
            Some(h) if h.id == *id => {
                self.bytes_hashed.fetch_add(h.size, Ordering::Relaxed);
                self.store_pieces(id, &h.cvs);
                Ok(h.cvs)
            }
            _ => Err(io::Error::other(format!(
                "{} changed since it was hashed",
                entry.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn scan_hashes_files_and_reports_changes() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"alpha").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b.txt"), b"beta").unwrap();
        fs::write(dir.path().join(".hidden"), b"secret").unwrap();
        fs::write(dir.path().join("c.bin.part"), b"partial").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();

        let table = ShareTable::new(dir.path());
        let first = table.rescan().unwrap();
        let mut names: Vec<_> = first.added.iter().map(|f| f.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["a.txt", "sub/b.txt"]);
        let a = table.get(&FileId::of(b"alpha")).unwrap();
        assert_eq!((a.file.name.as_str(), a.file.size), ("a.txt", 5));
        assert_eq!(table.bytes_hashed(), 9);

        // Nothing changed: nothing hashed, nothing to announce.
        assert!(table.rescan().unwrap().is_empty());
        assert_eq!(table.bytes_hashed(), 9);

        fs::remove_file(dir.path().join("sub/b.txt")).unwrap();
        fs::rename(dir.path().join("a.txt"), dir.path().join("renamed.txt")).unwrap();
        let change = table.rescan().unwrap();
        assert_eq!(change.removed, vec![FileId::of(b"beta")]);
        assert_eq!(change.added.len(), 1);
        assert_eq!(change.added[0].name, "renamed.txt");
    }

    #[test]
    fn same_bytes_twice_are_shared_once_under_both_paths_until_both_go() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("one"), b"same").unwrap();
        fs::write(dir.path().join("two"), b"same").unwrap();
        let table = ShareTable::new(dir.path());
        let added = table.rescan().unwrap().added;
        assert_eq!(added.len(), 1);
        assert_eq!(
            (added[0].name.as_str(), &added[0].other_names[..]),
            ("one", &["two".to_string()][..])
        );
        fs::remove_file(dir.path().join("one")).unwrap();
        let change = table.rescan().unwrap();
        assert!(change.removed.is_empty());
        // Announced again with its one name left.
        assert_eq!(change.added.len(), 1);
        assert_eq!(table.files()[0].name, "two");
        assert!(table.files()[0].other_names.is_empty());
    }

    /// A rescan of named paths sees what changed there, and only there;
    /// a full rescan afterwards finds nothing more to say about them.
    #[test]
    fn a_rescan_of_named_paths_looks_only_there_and_agrees_with_a_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, body) in [
            ("keep/a.txt", "a"),
            ("old/b.txt", "b"),
            ("old/deep/c.txt", "c"),
            ("gone.txt", "g"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), body).unwrap();
        }
        let table = ShareTable::new(root);
        assert_eq!(table.rescan().unwrap().added.len(), 4);
        let names = |t: &ShareTable| t.files().into_iter().map(|f| f.name).collect::<Vec<_>>();

        // A folder renamed, a file removed, a new folder copied in, and a
        // file added where nobody reports it.
        fs::rename(root.join("old"), root.join("new")).unwrap();
        fs::remove_file(root.join("gone.txt")).unwrap();
        fs::create_dir_all(root.join("fresh/inner")).unwrap();
        fs::write(root.join("fresh/inner/d.txt"), "d").unwrap();
        fs::write(root.join("keep/unreported.txt"), "u").unwrap();
        let reported: Vec<PathBuf> = ["old", "new", "gone.txt", "fresh", "fresh/inner/d.txt"]
            .iter()
            .map(|p| root.join(p))
            .collect();
        let change = table.rescan_paths(&reported).unwrap();
        let mut added: Vec<&str> = change.added.iter().map(|f| f.name.as_str()).collect();
        added.sort();
        assert_eq!(
            added,
            vec!["fresh/inner/d.txt", "new/b.txt", "new/deep/c.txt"]
        );
        assert_eq!(change.removed, vec![FileId::of(b"g")]);
        assert_eq!(
            names(&table),
            vec![
                "fresh/inner/d.txt",
                "keep/a.txt",
                "new/b.txt",
                "new/deep/c.txt"
            ]
        );
        // The full rescan adds only what was not reported.
        let change = table.rescan().unwrap();
        assert_eq!(change.added.len(), 1);
        assert_eq!(change.added[0].name, "keep/unreported.txt");
        assert!(change.removed.is_empty());

        // A copy of a shared file: the same file, now under two names.
        fs::write(root.join("new/a copy.txt"), "a").unwrap();
        let change = table.rescan_paths(&[root.join("new/a copy.txt")]).unwrap();
        assert_eq!(change.added.len(), 1);
        assert_eq!(change.added[0].name, "keep/a.txt");
        assert_eq!(change.added[0].other_names, vec!["new/a copy.txt"]);
        fs::remove_file(root.join("keep/a.txt")).unwrap();
        let change = table.rescan_paths(&[root.join("keep/a.txt")]).unwrap();
        assert!(change.removed.is_empty());
        assert_eq!(change.added[0].name, "new/a copy.txt");
        assert!(change.added[0].other_names.is_empty());
        fs::write(root.join("keep/a.txt"), "a").unwrap();
        table.rescan_paths(&[root.join("keep/a.txt")]).unwrap();

        // Hidden paths, part files and paths through a link add nothing.
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/x"), "x").unwrap();
        fs::write(root.join("keep/e.bin.part"), "p").unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let reported: Vec<PathBuf> = [".git/x", "keep/e.bin.part", "link", "link/secret.txt"]
            .iter()
            .map(|p| root.join(p))
            .collect();
        assert!(table.rescan_paths(&reported).unwrap().is_empty());
        // A path outside the folder falls back to a full rescan, which
        // agrees.
        assert!(table
            .rescan_paths(&[outside.path().join("secret.txt")])
            .unwrap()
            .is_empty());
        assert_eq!(table.files().len(), 5);
    }

    #[test]
    fn moved_files_are_not_hashed_again_while_running_or_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (share, state) = (dir.path().join("share"), dir.path().join("state"));
        fs::create_dir_all(share.join("films")).unwrap();
        fs::create_dir_all(&state).unwrap();
        fs::write(share.join("films/a.mkv"), vec![1u8; 300_000]).unwrap();
        fs::write(share.join("films/b.mkv"), vec![2u8; 200_000]).unwrap();
        let table = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        table.rescan().unwrap();
        assert_eq!(table.bytes_hashed(), 500_000);
        // A folder renamed while the peer runs: the new paths, nothing hashed.
        fs::rename(share.join("films"), share.join("movies")).unwrap();
        let change = table
            .rescan_paths(&[share.join("films"), share.join("movies")])
            .unwrap();
        let mut names: Vec<&str> = change.added.iter().map(|f| f.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["movies/a.mkv", "movies/b.mkv"]);
        assert!(change.removed.is_empty());
        assert_eq!(table.bytes_hashed(), 500_000);
        table.save_cache();
        // Moved while it was not running: a restart hashes nothing either.
        fs::rename(share.join("movies/a.mkv"), share.join("a.mkv")).unwrap();
        let restarted = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        restarted.rescan().unwrap();
        assert_eq!(restarted.bytes_hashed(), 0);
        assert_eq!(
            restarted
                .get(&FileId::of(&[1u8; 300_000]))
                .unwrap()
                .file
                .name,
            "a.mkv"
        );
        // A different file that took the old place is hashed.
        fs::write(share.join("movies/a.mkv"), vec![3u8; 300_000]).unwrap();
        restarted.rescan().unwrap();
        assert_eq!(restarted.bytes_hashed(), 300_000);
        assert!(restarted.get(&FileId::of(&[3u8; 300_000])).is_some());
    }

    #[test]
    fn a_file_still_being_written_waits_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let table = ShareTable::with_state(dir.path(), None, Duration::from_secs(3600));
        let path = dir.path().join("growing.iso");
        fs::write(&path, b"first part").unwrap();
        assert!(table.rescan().unwrap().is_empty());
        assert_eq!((table.unsettled(), table.bytes_hashed()), (1, 0));
        // It grew between the two looks: still not shared.
        fs::write(&path, b"first part, second part").unwrap();
        assert!(table.rescan().unwrap().is_empty());
        assert_eq!(table.unsettled(), 1);
        // Unchanged since the last look (a look at the held-back paths
        // alone, as the watcher's thread takes it): shared now.
        fs::write(dir.path().join("unrelated.txt"), b"not looked at").unwrap();
        let change = table.rescan_paths(&table.unsettled_paths()).unwrap();
        assert_eq!(change.added.len(), 1);
        assert_eq!(change.added[0].id, FileId::of(b"first part, second part"));
        assert_eq!(table.unsettled(), 0);
    }

    #[test]
    fn the_hash_cache_spares_rehashing_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        fs::create_dir(&share).unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let cache = state.join(cache::CACHE_FILE);
        fs::write(share.join("a.bin"), vec![1u8; 5000]).unwrap();
        fs::write(share.join("b.bin"), vec![2u8; 7000]).unwrap();

        let first = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        first.rescan().unwrap();
        assert_eq!(first.bytes_hashed(), 12_000);

        let second = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        let change = second.rescan().unwrap();
        assert_eq!(second.bytes_hashed(), 0);
        assert_eq!(change.added.len(), 2);
        assert_eq!(second.files(), first.files());

        // A changed file is rehashed, and only it.
        fs::write(share.join("b.bin"), vec![3u8; 6000]).unwrap();
        let third = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        third.rescan().unwrap();
        assert_eq!(third.bytes_hashed(), 6000);
        assert!(third.get(&FileId::of(&[3u8; 6000])).is_some());

        // A garbage cache is rebuilt, not trusted and not fatal.
        fs::write(&cache, b"{ not json").unwrap();
        let fourth = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        fourth.rescan().unwrap();
        assert_eq!(fourth.bytes_hashed(), 11_000);
        let fifth = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        fifth.rescan().unwrap();
        assert_eq!(fifth.bytes_hashed(), 0);
    }

    #[test]
    fn piece_lists_are_kept_checked_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (share, state) = (dir.path().join("share"), dir.path().join("state"));
        fs::create_dir_all(&share).unwrap();
        let data = crate::fuzz::noise(3_000_000, 2);
        fs::write(share.join("big.bin"), &data).unwrap();
        fs::write(share.join("small.txt"), b"small").unwrap();
        let table = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
        table.rescan().unwrap();
        let id = FileId::of(&data);
        let cvs = table.pieces(&id).unwrap();
        assert_eq!(pieces::merge(data.len() as u64, &cvs), Some(id));
        assert!(table.pieces(&FileId::of(b"small")).unwrap().is_empty());
        assert!(table.pieces(&FileId::of(b"absent")).is_err());
        // A damaged stored list is not served: it is recomputed from the file.
        let stored = state.join(PIECES_DIR).join(id.to_string());
        let mut bytes = fs::read(&stored).unwrap();
        bytes[5] ^= 1;
        fs::write(&stored, &bytes).unwrap();
        let hashed = table.bytes_hashed();
        assert_eq!(table.pieces(&id).unwrap(), cvs);
        assert_eq!(table.bytes_hashed(), hashed + data.len() as u64);
        assert_eq!(fs::read(&stored).unwrap(), cvs.concat());
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let table = ShareTable::new(Path::new("/nonexistent/hubshare"));
        let err = table.rescan().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hubshare"));
    }

    #[test]
    fn symbolic_links_are_skipped_unless_followed_and_never_opened_by_default() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let (share, outside) = (root.path().join("share"), root.path().join("outside"));
        fs::create_dir_all(share.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(share.join("own.txt"), b"own").unwrap();
        fs::write(outside.join("private.txt"), b"private").unwrap();
        fs::write(outside.join("other.txt"), b"other").unwrap();
        symlink(outside.join("private.txt"), share.join("leak.txt")).unwrap();
        symlink(&outside, share.join("leakdir")).unwrap();
        // A loop back up the tree.
        symlink(&share, share.join("sub/loop")).unwrap();

        let table = ShareTable::new(&share);
        let names = |t: &ShareTable| {
            let mut n: Vec<String> = t.files().into_iter().map(|e| e.name).collect();
            n.sort();
            n
        };
        table.rescan().unwrap();
        assert_eq!(names(&table), vec!["own.txt"]);
        assert!(table.get(&FileId::of(b"private")).is_none());
        assert!(table.get(&FileId::of(b"other")).is_none());
        // A shared file swapped for a link after the scan is not read through it.
        let own = share.join("own.txt");
        fs::remove_file(&own).unwrap();
        symlink(outside.join("private.txt"), &own).unwrap();
        assert!(table.open(&own).is_err());
        // Nor a file below a folder that was swapped for a link.
        fs::write(share.join("sub/inner.txt"), b"inner").unwrap();
        fs::write(outside.join("inner.txt"), b"INNER").unwrap();
        let inner = share.join("sub/inner.txt");
        assert!(table.open(&inner).is_ok());
        fs::rename(share.join("sub"), root.path().join("sub-moved")).unwrap();
        symlink(&outside, share.join("sub")).unwrap();
        let err = table.open(&inner).unwrap_err();
        // (A link where a folder is expected: ENOTDIR; as the file: ELOOP.)
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)),
            "{err}"
        );
        fs::remove_file(share.join("sub")).unwrap();
        fs::rename(root.path().join("sub-moved"), share.join("sub")).unwrap();
        fs::remove_file(&inner).unwrap();
        fs::remove_file(outside.join("inner.txt")).unwrap();
        // Nor is a FIFO put in its place (it would block the reader).
        fs::remove_file(&own).unwrap();
        let status = std::process::Command::new("mkfifo").arg(&own).status();
        if status.is_ok_and(|s| s.success()) {
            let err = table.open(&own).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        fs::remove_file(&own).unwrap();
        fs::write(&own, b"own").unwrap();

        // Followed on request: what the links point to is shared, once each,
        // and the loop adds nothing twice.
        let following = ShareTable::new(&share).following_symlinks(true);
        following.rescan().unwrap();
        assert_eq!(following.files().len(), 3, "{:?}", names(&following));
        assert!(following.get(&FileId::of(b"other")).is_some());
        let private = following.get(&FileId::of(b"private")).unwrap();
        assert!(following.open(&private.path).is_ok());
    }
}
