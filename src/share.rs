//! The share table: which files this peer offers, by id. It is filled by
//! scanning the share folder and hashing what is new or changed (with the
//! on-disk hash cache, a restart hashes nothing unchanged), and it is the
//! only way the HTTP server finds a file: a URL is never turned into a path.
//! Every rescan yields the difference to announce to the directory. A file
//! still being written is left out until it settles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use blake3::hazmat::ChainingValue;

use crate::cache::{self, Cached};
use crate::directory::SharedFile;
use crate::id::FileId;
use crate::names;
use crate::pieces::{self, PieceHasher};

/// Folders nested deeper than this below the share folder are not scanned.
pub const MAX_SCAN_DEPTH: usize = 16;
/// Suffix of files being downloaded: never shared.
pub const PART_SUFFIX: &str = ".part";
/// Files at least this large are hashed on all cores.
pub const PARALLEL_HASH_MIN: u64 = 4 << 20;
/// Folder in the state folder holding piece lists.
pub const PIECES_DIR: &str = "pieces";
/// Bytes per step in the hashing tests (chunk-boundary sizes).
#[cfg(test)]
const HASH_CHUNK: usize = 8 << 20;

/// A file the peer shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEntry {
    pub id: FileId,
    pub path: PathBuf,
    /// The file name (no folder part), as announced.
    pub name: String,
    pub size: u64,
    mtime: Option<SystemTime>,
}

impl ShareEntry {
    fn shared(&self) -> SharedFile {
        SharedFile {
            id: self.id,
            size: self.size,
            name: self.name.clone(),
        }
    }
}

/// What changed in the share, as the directory needs to hear it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    /// New files, and files whose name changed.
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
    by_path: HashMap<PathBuf, ShareEntry>,
    /// One entry per id (the same bytes under two names are shared once).
    by_id: BTreeMap<FileId, ShareEntry>,
}

impl Entries {
    /// Recomputes `by_id` and returns what changed for the directory.
    fn reindex(&mut self) -> Change {
        let mut by_id: BTreeMap<FileId, ShareEntry> = BTreeMap::new();
        let mut paths: Vec<&ShareEntry> = self.by_path.values().collect();
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        for e in paths {
            by_id.entry(e.id).or_insert_with(|| e.clone());
        }
        let mut change = Change::default();
        for (id, e) in &by_id {
            match self.by_id.get(id) {
                Some(old) if old.name == e.name && old.size == e.size => {}
                _ => change.added.push(e.shared()),
            }
        }
        change.removed = self
            .by_id
            .keys()
            .filter(|id| !by_id.contains_key(id))
            .copied()
            .collect();
        self.by_id = by_id;
        change
    }
}

/// Where a file that is not yet shared stands.
#[derive(Default)]
struct ScanState {
    /// Size and mtime of files seen still changing at the last look.
    unsettled: HashMap<PathBuf, (u64, Option<SystemTime>)>,
    /// The on-disk cache, as loaded or last saved.
    cache: HashMap<PathBuf, Cached>,
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

/// Opens a shared file below `root` for reading: a regular file only (a
/// FIFO or device put in its place is refused rather than blocking a
/// reader), and, unless `follow` is set, without passing through a symbolic
/// link anywhere below `root`: each folder on the way is opened relative to
/// the last with `O_NOFOLLOW`, so a file or a folder swapped for a link after
/// the scan is not read through it.
pub fn open_shared(root: &Path, path: &Path, follow: bool) -> io::Result<File> {
    let file = if follow {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?
    } else {
        open_beneath(root, path)?
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// Opens `path` (which must lie below `root`) one component at a time from
/// `root`, never following a symbolic link on the way.
fn open_beneath(root: &Path, path: &Path) -> io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;

    let outside = || {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not below {}", path.display(), root.display()),
        )
    };
    let rel = path.strip_prefix(root).map_err(|_| outside())?;
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(p) => Ok(p),
            _ => Err(outside()),
        })
        .collect::<io::Result<_>>()?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(outside());
    };
    let mut dir = File::open(root)?;
    let open_at = |dir: &File, name: &std::ffi::OsStr, flags: libc::c_int| -> io::Result<File> {
        let name = CString::new(name.as_bytes()).map_err(|_| outside())?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name;
        // the returned descriptor is owned by the File made from it.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    for part in dirs {
        dir = open_at(&dir, part, libc::O_RDONLY | libc::O_DIRECTORY)?;
    }
    open_at(&dir, last, libc::O_RDONLY | libc::O_NONBLOCK)
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
    /// (see [`open_shared`]).
    pub fn open(&self, path: &Path) -> io::Result<File> {
        open_shared(&self.dir, path, self.follow_symlinks)
    }

    /// How many files were left out at the last rescan because they were
    /// still changing.
    pub fn unsettled(&self) -> usize {
        self.scan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unsettled
            .len()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `id`, if this peer shares it.
    pub fn get(&self, id: &FileId) -> Option<ShareEntry> {
        self.read().by_id.get(id).cloned()
    }

    /// Every shared file, by name.
    pub fn list(&self) -> Vec<ShareEntry> {
        let mut v: Vec<ShareEntry> = self.read().by_id.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    /// Every shared file, as the directory wants it.
    pub fn files(&self) -> Vec<SharedFile> {
        self.read().by_id.values().map(ShareEntry::shared).collect()
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
        let mut scan = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = Vec::new();
        let mut walker = Walker {
            follow: self.follow_symlinks,
            seen_dirs: HashSet::new(),
            out: &mut found,
        };
        walker.walk(&self.dir, 0).map_err(|source| ShareError {
            path: self.dir.clone(),
            source,
        })?;
        let known = self.read().by_path.clone();
        let now = SystemTime::now();
        let mut by_path = HashMap::with_capacity(found.len());
        let mut unsettled = HashMap::new();
        for (path, size, mtime) in found {
            if let Some(old) = known.get(&path) {
                if old.size == size && old.mtime == mtime && mtime.is_some() {
                    by_path.insert(path, old.clone());
                    continue;
                }
            }
            let key = cache::mtime_ns(mtime);
            if let Some(c) = scan.cache.get(&path) {
                if c.size == size && Some(c.mtime_ns) == key {
                    let entry = ShareEntry {
                        id: c.id,
                        name: file_name(&path).unwrap_or_default(),
                        path: path.clone(),
                        size,
                        mtime,
                    };
                    by_path.insert(path, entry);
                    continue;
                }
            }
            let seen_still = scan.unsettled.get(&path) == Some(&(size, mtime));
            if cache::age(mtime, now) < self.settle && !seen_still {
                unsettled.insert(path, (size, mtime));
                continue;
            }
            match self.hash_file(&path) {
                Ok(Some(entry)) => {
                    by_path.insert(path, entry);
                }
                Ok(None) => {
                    unsettled.insert(path, (size, mtime));
                }
                Err(e) => log::warn!("not sharing {}: {e}", path.display()),
            }
        }
        if !unsettled.is_empty() {
            log::info!(
                "{} file(s) still being written; they will be shared when they settle",
                unsettled.len()
            );
        }
        scan.unsettled = unsettled;
        let fresh: HashMap<PathBuf, Cached> = by_path
            .iter()
            .filter_map(|(p, e): (&PathBuf, &ShareEntry)| {
                Some((
                    p.clone(),
                    Cached {
                        size: e.size,
                        mtime_ns: cache::mtime_ns(e.mtime)?,
                        id: e.id,
                    },
                ))
            })
            .collect();
        if fresh != scan.cache {
            if let Some(file) = &self.cache_file {
                if let Err(e) = cache::save(file, &self.dir, &fresh) {
                    log::warn!("cannot write the hash cache {}: {e}", file.display());
                }
            }
            scan.cache = fresh;
        }
        let mut entries = self.write();
        entries.by_path = by_path;
        Ok(entries.reindex())
    }

    /// Adds a file that was just written into the share folder (an upload or a
    /// download) without rescanning everything; `id` is its verified hash.
    pub fn add_verified(&self, path: &Path, id: FileId) -> io::Result<Change> {
        let meta = std::fs::metadata(path)?;
        let entry = ShareEntry {
            id,
            path: path.to_path_buf(),
            name: file_name(path).unwrap_or_default(),
            size: meta.len(),
            mtime: meta.modified().ok(),
        };
        let mut entries = self.write();
        entries.by_path.insert(path.to_path_buf(), entry);
        Ok(entries.reindex())
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
        Ok(Some(ShareEntry {
            id: hashed.id,
            path: path.to_path_buf(),
            name: file_name(path).unwrap_or_default(),
            size: hashed.size,
            mtime: before.modified().ok(),
        }))
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
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, cvs.concat())?;
            std::fs::rename(&tmp, &file)
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
        if pieces::piece_count(entry.size) == 1 {
            return Ok(Vec::new());
        }
        if let Some(file) = self.pieces_file(id) {
            if let Ok(bytes) = std::fs::read(&file) {
                let cvs: Vec<ChainingValue> = bytes
                    .chunks_exact(32)
                    .map(|c| c.try_into().expect("32-byte chunks"))
                    .collect();
                if bytes.len() % 32 == 0 && pieces::merge(entry.size, &cvs) == Some(*id) {
                    return Ok(cvs);
                }
                log::warn!(
                    "piece list {} does not match; recomputing it",
                    file.display()
                );
            }
        }
        let mut f = self.open(&entry.path)?;
        match hash_pieces(&mut f, entry.size)? {
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A file's id and piece list, as hashed.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub id: FileId,
    pub size: u64,
    /// Piece chaining values; empty for a one-piece file.
    pub cvs: Vec<ChainingValue>,
}

/// Hashes an open file expected to be `len` bytes: its id and its piece
/// chaining values in one pass. A file of many pieces is split between the
/// cores, each reading (`pread`) and hashing its own run of pieces, so the
/// copying out of the page cache is shared out too; the piece values then
/// merge into the id. `None` when the file did not have `len` bytes (it
/// changed meanwhile).
pub fn hash_pieces(file: &mut File, len: u64) -> io::Result<Option<Hashed>> {
    let count = pieces::piece_count(len);
    if len < PARALLEL_HASH_MIN || count < 2 {
        let mut hasher = PieceHasher::new(len);
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = fill(file, &mut buf)?;
            hasher.update(&buf[..n]);
            total += n as u64;
            if n < buf.len() {
                break;
            }
        }
        if total != len {
            return Ok(None);
        }
        return Ok(hasher
            .finish()
            .map(|(id, cvs)| Hashed { id, size: len, cvs }));
    }
    use std::os::unix::fs::FileExt;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(count);
    let per = count.div_ceil(threads);
    let mut cvs: Vec<ChainingValue> = vec![[0u8; 32]; count];
    let file: &File = file;
    let outcome: io::Result<bool> = std::thread::scope(|scope| {
        let workers: Vec<_> = cvs
            .chunks_mut(per)
            .enumerate()
            .map(|(t, out)| {
                scope.spawn(move || -> io::Result<bool> {
                    let mut buf = vec![0u8; pieces::piece_size(len) as usize];
                    for (k, cv) in out.iter_mut().enumerate() {
                        let i = t * per + k;
                        let (offset, plen) = pieces::piece_range(len, i);
                        let buf = &mut buf[..plen as usize];
                        match file.read_exact_at(buf, offset) {
                            Ok(()) => {}
                            // Shorter than it was: it changed.
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                            Err(e) => return Err(e),
                        }
                        *cv = pieces::piece_cv(len, i, buf);
                    }
                    Ok(true)
                })
            })
            .collect();
        let mut whole = true;
        for w in workers {
            whole &= w.join().expect("a hashing thread panicked")?;
        }
        Ok(whole)
    });
    if !outcome? {
        return Ok(None);
    }
    Ok(pieces::merge(len, &cvs).map(|id| Hashed { id, size: len, cvs }))
}

/// Hashes a file on disk; used where a file's id is needed once.
pub fn hash_file(path: &Path) -> io::Result<(FileId, u64)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    match hash_pieces(&mut f, len)? {
        Some(h) => Ok((h.id, h.size)),
        None => Err(io::Error::other(format!(
            "{} changed while it was read",
            path.display()
        ))),
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
}

/// Whether a directory entry named `name` is left out of the share: hidden
/// files, partial downloads and names the directory would refuse.
fn skipped(name: &str) -> bool {
    name.ends_with(PART_SUFFIX) || names::check_file_name(name).is_err()
}

/// Collects (path, size, mtime) of the regular files below a folder.
struct Walker<'a> {
    /// Follow symbolic links; when false they are skipped, so nothing
    /// outside the folder is shared through one.
    follow: bool,
    /// Folders already walked (canonical paths, kept when following links),
    /// so a link back up the tree does not list the same files again.
    seen_dirs: HashSet<PathBuf>,
    out: &'a mut Vec<(PathBuf, u64, Option<SystemTime>)>,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, depth: usize) -> io::Result<()> {
        let entries = std::fs::read_dir(dir)?;
        // Only links can lead back up the tree: without them, no loop and
        // nothing to resolve.
        if self.follow {
            if let Ok(canonical) = dir.canonicalize() {
                if !self.seen_dirs.insert(canonical) {
                    return Ok(());
                }
            }
        }
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    log::warn!("skipping an entry of {}: {e}", dir.display());
                    continue;
                }
            };
            let path = entry.path();
            let Some(name) = file_name(&path) else {
                log::warn!("not sharing {}: its name is not UTF-8", path.display());
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(mut kind) = entry.file_type() else {
                continue;
            };
            let mut followed = None;
            if kind.is_symlink() {
                if !self.follow {
                    log::debug!("not following symbolic link {}", path.display());
                    continue;
                }
                match std::fs::metadata(&path) {
                    Ok(m) => {
                        kind = m.file_type();
                        followed = Some(m);
                    }
                    Err(e) => {
                        log::warn!("not sharing {}: {e}", path.display());
                        continue;
                    }
                }
            }
            if kind.is_dir() {
                if depth + 1 < MAX_SCAN_DEPTH {
                    if let Err(e) = self.walk(&path, depth + 1) {
                        log::warn!("skipping folder {}: {e}", path.display());
                    }
                }
            } else if kind.is_file() {
                if skipped(&name) {
                    continue;
                }
                match followed.map_or_else(|| entry.metadata(), Ok) {
                    Ok(m) => self.out.push((path, m.len(), m.modified().ok())),
                    Err(e) => log::warn!("not sharing {}: {e}", path.display()),
                }
            }
        }
        Ok(())
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
        assert_eq!(names, vec!["a.txt", "b.txt"]);
        let a = table.get(&FileId::of(b"alpha")).unwrap();
        assert_eq!((a.name.as_str(), a.size), ("a.txt", 5));
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
    fn same_bytes_twice_are_shared_once_until_both_go() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("one"), b"same").unwrap();
        fs::write(dir.path().join("two"), b"same").unwrap();
        let table = ShareTable::new(dir.path());
        assert_eq!(table.rescan().unwrap().added.len(), 1);
        fs::remove_file(dir.path().join("one")).unwrap();
        let change = table.rescan().unwrap();
        assert!(change.removed.is_empty());
        assert_eq!(table.list()[0].name, "two");
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
        // Unchanged since the last look: shared now.
        let change = table.rescan().unwrap();
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
        assert_eq!(second.list(), first.list());

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
    fn hashing_gives_the_blake3_id_and_a_piece_list_that_merges_to_it() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            PARALLEL_HASH_MIN as usize - 1,
            PARALLEL_HASH_MIN as usize,
            HASH_CHUNK + 1,
            2 * HASH_CHUNK + 12345,
        ] {
            let data: Vec<u8> = (0..len)
                .map(|i| (i * 7 % 251) as u8 ^ (i >> 18) as u8)
                .collect();
            let path = dir.path().join("f");
            fs::write(&path, &data).unwrap();
            let mut f = File::open(&path).unwrap();
            let h = hash_pieces(&mut f, len as u64).unwrap().unwrap();
            assert_eq!(
                (h.id, h.size),
                (FileId::of(&data), len as u64),
                "length {len}"
            );
            if pieces::piece_count(len as u64) > 1 {
                assert_eq!(pieces::merge(len as u64, &h.cvs), Some(h.id));
            } else {
                assert!(h.cvs.is_empty());
            }
            // A size that does not match what is read gives no answer.
            let mut f = File::open(&path).unwrap();
            assert!(hash_pieces(&mut f, len as u64 + 1).unwrap().is_none());
        }
    }

    #[test]
    fn piece_lists_are_kept_checked_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (share, state) = (dir.path().join("share"), dir.path().join("state"));
        fs::create_dir_all(&share).unwrap();
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i % 253) as u8 ^ (i >> 16) as u8)
            .collect();
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
            let mut n: Vec<String> = t.list().into_iter().map(|e| e.name).collect();
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
        assert_eq!(following.list().len(), 3, "{:?}", names(&following));
        assert!(following.get(&FileId::of(b"other")).is_some());
        let private = following.get(&FileId::of(b"private")).unwrap();
        assert!(following.open(&private.path).is_ok());
    }
}
