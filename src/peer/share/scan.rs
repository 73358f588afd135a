//! Walking the share folder: which files are candidates for sharing, with
//! their size and modification time. Hidden files, partial downloads (and
//! the state and lock beside them), any peer's state folder (marked by
//! [`STATE_TAG`]), names the directory would refuse, and, unless
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
/// Suffix of the lock a download holds beside its part.
pub const LOCK_SUFFIX: &str = ".part.lock";
/// The file that marks a peer's state folder: a folder holding it is never
/// shared, whoever's share it is in (another peer's state kept inside this
/// share, say).
pub const STATE_TAG: &str = ".hubshare-state";

/// Makes a peer's state folder when missing, and marks it with
/// [`STATE_TAG`] so that no peer shares it, even one whose share holds it.
pub fn make_state_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tag = dir.join(STATE_TAG);
    if !tag.exists() {
        crate::fsutil::write_atomic(
            &tag,
            b"This folder holds a hubshare peer's state (its identity key among it).\nhubshare never shares a folder holding this file.\n",
        )?;
    }
    Ok(())
}

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
    let partial =
        |n: &str| n.ends_with(PART_SUFFIX) || n.ends_with(STATE_SUFFIX) || n.ends_with(LOCK_SUFFIX);
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

/// What a scan left out, by reason (hubshare's own partial downloads are
/// not counted: they are no user's files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Names starting with `.`.
    pub hidden: usize,
    /// Symbolic links (not followed: `follow_symlinks = false`).
    pub links: usize,
    /// Names the directory would refuse (a tab or other control
    /// character, not UTF-8, too long).
    pub names: usize,
    /// Folders nested deeper than [`MAX_SCAN_DEPTH`].
    pub too_deep: usize,
    /// Peers' state folders.
    pub state_folders: usize,
}

impl std::fmt::Display for LeftOut {
    /// `3 hidden, 1 symbolic link, ...`: only the reasons that count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (self.hidden, "hidden", "hidden"),
            (self.links, "symbolic link", "symbolic links"),
            (
                self.names,
                "name the directory refuses",
                "names the directory refuses",
            ),
            (
                self.too_deep,
                "folder nested too deep",
                "folders nested too deep",
            ),
            (
                self.state_folders,
                "peer state folder",
                "peer state folders",
            ),
        ];
        let said: Vec<String> = parts
            .iter()
            .filter(|(n, ..)| *n > 0)
            .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
            .collect();
        f.write_str(&said.join(", "))
    }
}

impl LeftOut {
    pub fn is_empty(&self) -> bool {
        *self == LeftOut::default()
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
    /// What was left out, and why.
    pub left_out: LeftOut,
}

impl Walker<'_> {
    pub fn walk(&mut self, dir: &Path, depth: usize) -> io::Result<()> {
        if dir.join(STATE_TAG).exists() {
            self.left_out.state_folders += 1;
            log::info!(
                "not sharing {}: it is a hubshare peer's state folder",
                dir.display()
            );
            return Ok(());
        }
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
                self.left_out.names += 1;
                log::warn!("not sharing {}: its name is not UTF-8", path.display());
                continue;
            };
            if name.starts_with('.') {
                self.left_out.hidden += 1;
                continue;
            }
            let Ok(mut kind) = entry.file_type() else {
                continue;
            };
            let mut followed = None;
            if kind.is_symlink() {
                if !self.follow {
                    self.left_out.links += 1;
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
        } else {
            self.left_out.too_deep += 1;
        }
    }

    /// Lists a regular file unless it is one never shared.
    fn file(&mut self, path: PathBuf, name: &str, meta: impl FnOnce() -> io::Result<Metadata>) {
        if skipped(name) {
            if names::check_file_name(name).is_err() {
                self.left_out.names += 1;
            }
            return;
        }
        if shared_path(self.root, &path).is_none() {
            self.left_out.names += 1;
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
    fn what_a_scan_leaves_out_is_counted_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("ok.txt"), b"x").unwrap();
        std::fs::write(root.join("tab\there.txt"), b"x").unwrap();
        std::fs::write(root.join(".hidden"), b"x").unwrap();
        std::fs::write(root.join("film.mkv.part"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("ok.txt"), root.join("link.txt")).unwrap();
        make_state_dir(&root.join("state")).unwrap();
        std::fs::write(root.join("state/identity.key"), b"secret").unwrap();
        let mut out = Vec::new();
        let mut w = Walker {
            root,
            follow: false,
            seen_dirs: HashSet::new(),
            out: &mut out,
            left_out: LeftOut::default(),
        };
        w.walk(root, 0).unwrap();
        let left = w.left_out;
        let listed: Vec<_> = out
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap())
            .collect();
        assert_eq!(listed, vec![Path::new("ok.txt")]);
        assert_eq!(
            left,
            LeftOut {
                hidden: 1,
                links: 1,
                names: 1,
                too_deep: 0,
                state_folders: 1
            }
        );
        assert_eq!(
            left.to_string(),
            "1 hidden, 1 symbolic link, 1 name the directory refuses, 1 peer state folder"
        );
    }

    #[test]
    fn partial_downloads_and_their_state_are_never_shared() {
        for name in [
            "film.mkv.part",
            "film.mkv.part.state",
            "film.mkv.part.state.tmp",
            "film.mkv.part.lock",
            ".hidden",
        ] {
            assert!(skipped(name), "{name:?} would be shared");
        }
        for name in ["film.mkv", "notes.tmp", "part", "state.txt", "x.partial"] {
            assert!(!skipped(name), "{name:?} would be left out");
        }
    }
}
