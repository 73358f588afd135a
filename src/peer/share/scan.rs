//! Walking the share folder: which files are candidates for sharing, with
//! their size and modification time. Hidden files, partial downloads (and
//! the state beside them), names the directory would refuse, and, unless
//! `follow_symlinks` is set, symbolic links are left out.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::fsutil::TEMP_SUFFIX;
use crate::names;

/// Folders nested deeper than this below the share folder are not scanned.
pub const MAX_SCAN_DEPTH: usize = 16;
/// Suffix of files being downloaded: never shared.
pub const PART_SUFFIX: &str = ".part";
/// Suffix of the file beside a `.part` that says which pieces are verified.
pub const STATE_SUFFIX: &str = ".part.state";

/// The last component of `path`, when it is UTF-8.
pub fn file_name(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
}

/// The shared path of `path` below `root` (`folder/sub/name.ext`), when
/// it is one the directory accepts.
pub fn shared_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let joined = parts?.join("/");
    names::check_shared_path(&joined).ok().map(|()| joined)
}

/// Whether a directory entry named `name` is left out of the share: hidden
/// files, partial downloads with their state (and its temp file), and names
/// the directory would refuse.
pub fn skipped(name: &str) -> bool {
    let partial = |n: &str| n.ends_with(PART_SUFFIX) || n.ends_with(STATE_SUFFIX);
    partial(name)
        || name.strip_suffix(TEMP_SUFFIX).is_some_and(partial)
        || names::check_file_name(name).is_err()
}

/// What a scan records of a file: enough to tell it unchanged (size and
/// modification time) or moved (the same file-system node, size and time
/// under another path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime: Option<SystemTime>,
    /// (device, inode); (0, 0) when unknown.
    pub node: (u64, u64),
}

impl Stat {
    pub fn of(m: &Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            size: m.len(),
            mtime: m.modified().ok(),
            node: (m.dev(), m.ino()),
        }
    }
}

/// Collects the path and [`Stat`] of the regular files below a folder.
pub struct Walker<'a> {
    /// The share folder: a file is listed only if its path below it is one
    /// the directory accepts.
    pub root: &'a Path,
    /// Follow symbolic links; when false they are skipped, so nothing
    /// outside the folder is shared through one.
    pub follow: bool,
    /// Folders already walked (canonical paths, kept when following links),
    /// so a link back up the tree does not list the same files again.
    pub seen_dirs: HashSet<PathBuf>,
    pub out: &'a mut Vec<(PathBuf, Stat)>,
}

impl Walker<'_> {
    pub fn walk(&mut self, dir: &Path, depth: usize) -> io::Result<()> {
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
                self.folder(&path, depth + 1);
            } else if kind.is_file() {
                self.file(path, &name, || {
                    followed.map_or_else(|| entry.metadata(), Ok)
                });
            }
        }
        Ok(())
    }

    /// Walks a folder found at `depth` below the root, unless that is too
    /// deep; a folder that cannot be read is skipped with a warning.
    fn folder(&mut self, path: &Path, depth: usize) {
        if depth < MAX_SCAN_DEPTH {
            if let Err(e) = self.walk(path, depth) {
                log::warn!("skipping folder {}: {e}", path.display());
            }
        }
    }

    /// Lists a regular file unless it is one never shared.
    fn file(&mut self, path: PathBuf, name: &str, meta: impl FnOnce() -> io::Result<Metadata>) {
        if skipped(name) {
            return;
        }
        if shared_path(self.root, &path).is_none() {
            log::debug!("not sharing {}: not a shareable path", path.display());
            return;
        }
        match meta() {
            Ok(m) => self.out.push((path, Stat::of(&m))),
            Err(e) => log::warn!("not sharing {}: {e}", path.display()),
        }
    }

    /// Lists what the full walk would list at `path` (a file, or a folder
    /// and everything below it), a path below the root; nothing when it is
    /// gone, hidden, or on a path through a symbolic link. Only for walks
    /// that do not follow links (where a folder has one path).
    pub fn visit(&mut self, path: &Path) {
        debug_assert!(
            !self.follow,
            "a walk that follows links must start at the root"
        );
        let Ok(rel) = path.strip_prefix(self.root) else {
            return;
        };
        let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
        let Some(name) = parts.last().and_then(|n| n.to_str()) else {
            return;
        };
        if parts
            .iter()
            .any(|p| p.to_str().is_none_or(|p| p.starts_with('.')))
        {
            return;
        }
        // Every folder on the way must be a real folder, as the walk from
        // the root would have entered it.
        let mut at = self.root.to_path_buf();
        for part in &parts[..parts.len() - 1] {
            at.push(part);
            if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                return;
            }
        }
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_dir() {
            self.folder(path, parts.len());
        } else if meta.is_file() {
            self.file(path.to_path_buf(), name, || Ok(meta));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_downloads_and_their_state_are_never_shared() {
        for name in [
            "film.mkv.part",
            "film.mkv.part.state",
            "film.mkv.part.state.tmp",
            ".hidden",
        ] {
            assert!(skipped(name), "{name:?} would be shared");
        }
        for name in ["film.mkv", "notes.tmp", "part", "state.txt", "x.partial"] {
            assert!(!skipped(name), "{name:?} would be left out");
        }
    }
}
