//! The share table: which files this peer offers, by id. It is filled by
//! scanning the share folder and hashing what is new or changed, and it is the
//! only way the HTTP server finds a file: a URL is never turned into a path.
//! Every rescan yields the difference to announce to the directory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use crate::directory::SharedFile;
use crate::id::FileId;
use crate::names;

/// Folders nested deeper than this below the share folder are not scanned.
pub const MAX_SCAN_DEPTH: usize = 16;
/// Suffix of files being downloaded: never shared.
pub const PART_SUFFIX: &str = ".part";

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

/// The files a peer shares, found by id.
pub struct ShareTable {
    dir: PathBuf,
    entries: RwLock<Entries>,
    /// Held for a whole rescan so two never interleave.
    scan: Mutex<()>,
    bytes_hashed: AtomicU64,
}

impl ShareTable {
    /// An empty table for `dir`; call [`rescan`](Self::rescan) to fill it.
    pub fn new(dir: &Path) -> ShareTable {
        ShareTable {
            dir: dir.to_path_buf(),
            entries: RwLock::new(Entries::default()),
            scan: Mutex::new(()),
            bytes_hashed: AtomicU64::new(0),
        }
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
    /// modification time changed, drops files that are gone, and returns the
    /// difference. Unreadable files are skipped with a warning; an unreadable
    /// share folder is an error.
    pub fn rescan(&self) -> Result<Change, ShareError> {
        let _one_at_a_time = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = Vec::new();
        walk(&self.dir, 0, &mut found).map_err(|source| ShareError {
            path: self.dir.clone(),
            source,
        })?;
        let known = self.read().by_path.clone();
        let mut by_path = HashMap::with_capacity(found.len());
        for (path, size, mtime) in found {
            if let Some(old) = known.get(&path) {
                if old.size == size && old.mtime == mtime && mtime.is_some() {
                    by_path.insert(path, old.clone());
                    continue;
                }
            }
            match self.hash_file(&path) {
                Ok(entry) => {
                    by_path.insert(path, entry);
                }
                Err(e) => log::warn!("not sharing {}: {e}", path.display()),
            }
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

    fn hash_file(&self, path: &Path) -> io::Result<ShareEntry> {
        let mut file = File::open(path)?;
        let before = file.metadata()?;
        let (id, size) = hash_reader(&mut file)?;
        self.bytes_hashed.fetch_add(size, Ordering::Relaxed);
        Ok(ShareEntry {
            id,
            path: path.to_path_buf(),
            name: file_name(path).unwrap_or_default(),
            size,
            mtime: before.modified().ok(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hashes everything `r` yields; returns the id and the byte count.
pub fn hash_reader(r: &mut impl Read) -> io::Result<(FileId, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
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

/// Collects (path, size, mtime) of regular files below `dir`. Symbolic links
/// are never followed, so nothing outside the folder is shared through one.
fn walk(
    dir: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
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
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth + 1 < MAX_SCAN_DEPTH {
                if let Err(e) = walk(&path, depth + 1, out) {
                    log::warn!("skipping folder {}: {e}", path.display());
                }
            }
        } else if kind.is_file() {
            if skipped(&name) {
                continue;
            }
            match entry.metadata() {
                Ok(m) => out.push((path, m.len(), m.modified().ok())),
                Err(e) => log::warn!("not sharing {}: {e}", path.display()),
            }
        }
    }
    Ok(())
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
    fn missing_folder_is_an_error_naming_it() {
        let table = ShareTable::new(Path::new("/nonexistent/hubshare"));
        let err = table.rescan().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hubshare"));
    }
}
