//! [`ShareTable`]: the files a peer shares, found by id, and what reads
//! them. Rescans are in `rescan.rs`, piece lists in `pieces.rs`.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::cache::{self, Cached};
use super::entries::{Entries, ShareEntry, Slot};
use super::open::open_shared;
use super::scan::{file_name, shared_path, LeftOut, Stat};
use crate::id::FileId;
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::FileList;

/// Folder in the state folder holding piece lists.
pub const PIECES_DIR: &str = "pieces";

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

/// Where a file that is not yet shared stands.
#[derive(Default)]
pub(super) struct ScanState {
    /// Size and mtime of files seen still changing at the last look.
    pub unsettled: HashMap<PathBuf, Stat>,
    /// What the last full scan left out.
    pub left_out: LeftOut,
    /// The hash cache as loaded, until the first full scan has used it.
    /// From then on the table is the cache: it is saved from the entries
    /// (one copy of each path, not two).
    pub loaded: HashMap<PathBuf, Cached>,
}

/// The files a peer shares, found by id.
pub struct ShareTable {
    pub(super) dir: PathBuf,
    /// Further shared folders, each under a top folder of its own name
    /// (config `share_dirs`): (name, folder).
    pub(super) extra: Vec<(String, PathBuf)>,
    /// Replaced as a whole by a change (copied first only while a
    /// listing still reads the one before): readers share it.
    pub(super) entries: RwLock<Arc<Entries>>,
    /// Held for a whole rescan so two never interleave.
    pub(super) scan: Mutex<ScanState>,
    /// Whether the entries changed since the hash cache was last saved.
    pub(super) cache_dirty: AtomicBool,
    pub(super) bytes_hashed: AtomicU64,
    pub(super) cache_file: Option<PathBuf>,
    /// Piece chaining values, one file per id (too large for the cache).
    pub(super) pieces_dir: Option<PathBuf>,
    pub(super) settle: Duration,
    /// Whether symbolic links in the folder are followed (config
    /// `follow_symlinks`); when not, they are neither listed nor opened.
    pub(super) follow_symlinks: bool,
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
        let loaded = cache_file
            .as_deref()
            .map(|f| cache::load(f, dir, &[]))
            .unwrap_or_default();
        ShareTable {
            dir: dir.to_path_buf(),
            extra: Vec::new(),
            entries: RwLock::new(Arc::new(Entries::default())),
            scan: Mutex::new(ScanState {
                unsettled: HashMap::new(),
                left_out: LeftOut::default(),
                loaded,
            }),
            cache_dirty: AtomicBool::new(false),
            bytes_hashed: AtomicU64::new(0),
            cache_file,
            pieces_dir,
            settle,
            follow_symlinks: false,
        }
    }

    /// Shares further folders, each under a top folder named as given
    /// (`Music` for `("Music", "/home/me/Music")`): its files are
    /// `Music/...`. The hash cache is read again to keep their entries.
    pub fn with_extra(mut self, extra: Vec<(String, PathBuf)>) -> ShareTable {
        let dirs: Vec<PathBuf> = extra.iter().map(|(_, d)| d.clone()).collect();
        if let Some(f) = &self.cache_file {
            self.scan.locked().loaded = cache::load(f, &self.dir, &dirs);
        }
        self.extra = extra;
        self
    }

    /// Every shared folder with the top folder its files are shared under
    /// (`""` for the share folder itself).
    pub fn roots(&self) -> impl Iterator<Item = (&str, &Path)> {
        std::iter::once(("", self.dir.as_path()))
            .chain(self.extra.iter().map(|(n, d)| (n.as_str(), d.as_path())))
    }

    /// The shared folder `path` is in, with its top folder name.
    pub(super) fn root_of(&self, path: &Path) -> Option<(&str, &Path)> {
        // The deepest, should one folder hold another (the first of equals).
        // Called for every file scanned and served: no allocation.
        self.roots()
            .filter(|(_, d)| path.starts_with(d))
            .min_by_key(|(_, d)| std::cmp::Reverse(d.components().count()))
    }

    /// The path `path` is shared under (`Music/a/x.flac` in a folder of
    /// `share_dirs`), when it is one the directory accepts.
    pub(super) fn shared_name(&self, path: &Path) -> Option<String> {
        let (top, root) = self.root_of(path)?;
        let rel = shared_path(root, path)?;
        Some(if top.is_empty() {
            rel
        } else {
            format!("{top}/{rel}")
        })
    }

    /// What the table keeps of the file at `path`.
    pub(super) fn entry(&self, path: &Path, id: FileId, stat: Stat) -> Slot {
        let name = self
            .shared_name(path)
            .or_else(|| file_name(path))
            .unwrap_or_default();
        Slot::new(name, id, stat)
    }

    /// Follows symbolic links in the folder (to files and folders, wherever
    /// they point) when `follow` is set; by default they are left out.
    pub fn following_symlinks(mut self, follow: bool) -> ShareTable {
        self.follow_symlinks = follow;
        self
    }

    /// Opens a shared file's path for reading, by the table's symlink rule
    /// (see `open_shared`); with its metadata as opened.
    pub fn open(&self, path: &Path) -> io::Result<(File, std::fs::Metadata)> {
        let root = self.root_of(path).map_or(self.dir.as_path(), |(_, d)| d);
        open_shared(root, path, self.follow_symlinks)
    }

    /// How many files were left out at the last rescan because they were
    /// still changing.
    pub fn unsettled(&self) -> usize {
        self.scan.locked().unsettled.len()
    }

    /// What the last full scan left out of the share, by reason.
    pub fn left_out(&self) -> LeftOut {
        self.scan.locked().left_out
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `id`, if this peer shares it.
    pub fn get(&self, id: &FileId) -> Option<ShareEntry> {
        self.entries.reading().shared(id)
    }

    /// What is announced and listed for `id`, if this peer shares it.
    pub fn file(&self, id: &FileId) -> Option<crate::wire::SharedFile> {
        self.entries.reading().file(id)
    }

    /// Every shared file, by name: what is announced to the directory and
    /// listed at `GET /files`. A snapshot of the table that every reader
    /// shares: listing a big share costs no copy of it, and a change made
    /// meanwhile is in the next one.
    pub fn files(&self) -> Arc<dyn FileList> {
        self.entries.reading().clone()
    }

    /// Changes the entries (see [`Entries::update`]).
    pub(super) fn update(
        &self,
        gone: impl IntoIterator<Item = PathBuf>,
        put: impl IntoIterator<Item = (PathBuf, Slot)>,
    ) -> super::Change {
        let gone: Vec<PathBuf> = gone.into_iter().collect();
        let put: Vec<(PathBuf, Slot)> = put.into_iter().collect();
        if gone.is_empty() && put.is_empty() {
            // Nothing to do: the snapshot handed out stays current.
            return super::Change::default();
        }
        Arc::make_mut(&mut *self.entries.writing()).update(gone, put)
    }

    /// Bytes hashed since this table was made (what a rescan cost).
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes_hashed.load(Ordering::Relaxed)
    }

    /// The paths held back at the last look because they were still
    /// changing (to look at again when they should have settled).
    pub fn unsettled_paths(&self) -> Vec<PathBuf> {
        self.scan.locked().unsettled.keys().cloned().collect()
    }
}
