//! [`ShareTable`]: the files a peer shares, found by id, and what reads
//! them. Rescans are in `rescan.rs`, piece lists in `pieces.rs`.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use super::cache::{self, Cached};
use super::entries::{Entries, ShareEntry};
use super::open::open_shared;
use super::scan::{LeftOut, Stat};
use crate::id::FileId;
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::SharedFile;

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
    /// The hash cache: as loaded, then as the scans left it.
    pub cache: HashMap<PathBuf, Cached>,
    /// Whether `cache` changed since it was last saved.
    pub cache_dirty: bool,
}

/// The files a peer shares, found by id.
pub struct ShareTable {
    pub(super) dir: PathBuf,
    pub(super) entries: RwLock<Entries>,
    /// Held for a whole rescan so two never interleave.
    pub(super) scan: Mutex<ScanState>,
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
        let cache = cache_file
            .as_deref()
            .map(|f| cache::load(f, dir))
            .unwrap_or_default();
        ShareTable {
            dir: dir.to_path_buf(),
            entries: RwLock::new(Entries::default()),
            scan: Mutex::new(ScanState {
                unsettled: HashMap::new(),
                left_out: LeftOut::default(),
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

    /// The paths held back at the last look because they were still
    /// changing (to look at again when they should have settled).
    pub fn unsettled_paths(&self) -> Vec<PathBuf> {
        self.scan.locked().unsettled.keys().cloned().collect()
    }
}
