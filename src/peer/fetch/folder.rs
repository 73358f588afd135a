//! `PEER:FOLDER`: fetching a folder of another peer. Every path the peer
//! lists under the folder (each path of a file shared at several) ends up
//! at the same path of the download folder: already there, copied from
//! where this peer holds those bytes (verified after the copy), or fetched
//! as a normal verified download. The folder named is checked like any
//! shared path, and so is every listed path.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::download::download;
use super::options::{DownloadOptions, DownloadReport};
use super::part::{make_folders, publish_numbered};
use super::transfer::{browse, io_err, resolve_peer, TransferError};
use crate::fsutil::TEMP_SUFFIX;
use crate::hash::hash_file;
use crate::id::FileId;
use crate::names;
use crate::peer::client::Directory;

/// What a folder fetch tells as it goes.
#[derive(Debug)]
pub enum FolderEvent<'a> {
    /// How many files the peer lists under the folder.
    Listed(usize),
    /// A file already at its path here (`at`): nothing to do.
    Present { path: &'a str, at: &'a Path },
    /// A file this peer held elsewhere (`from`), copied to its path (`to`).
    Copied {
        path: &'a str,
        from: &'a Path,
        to: &'a Path,
    },
    /// A file fetched (or found already in place: `already_had`).
    Done(&'a DownloadReport),
    /// A file that failed; the rest go on.
    Failed { path: &'a str, error: String },
    /// A file handed to the running peer's queue, as its download `n`.
    Queued { path: &'a str, n: u64 },
}

/// How a folder fetch ended.
#[derive(Debug, Default)]
pub struct FolderReport {
    /// Files fetched this run: where each landed, and its id.
    pub fetched: Vec<(PathBuf, FileId)>,
    /// Files copied from elsewhere in this peer, where each landed.
    pub copied: Vec<(PathBuf, FileId)>,
    /// Files already at their path.
    pub present: usize,
    /// Files that failed (each reported as it happened).
    pub failed: usize,
    /// Files listed under the folder.
    pub listed: usize,
    /// Files handed to the running peer's queue: each one's download
    /// number there, its path, and its id.
    pub queued: Vec<(u64, String, FileId)>,
}

/// Where a folder fetch's downloads run: here, or in the running peer's
/// queue (which takes a path and an id, and answers the download's number).
pub enum FolderFetch<'a> {
    Here,
    Queue(&'a dyn Fn(&str, FileId) -> Result<u64, TransferError>),
}

/// Whether `what` names a folder of a peer (`alice:music/a`, `alice:`)
/// rather than a file id: `id:` and hex digits (a whole id or its start,
/// `id:9cd8`) is an id; a folder of a peer named `id` whose name is all
/// hex digits is written `id:/cafe`.
pub fn is_folder_target(what: &str) -> bool {
    let id = what
        .strip_prefix("id:")
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
    what.contains(':') && !id
}

/// Fetches every file `PEER:FOLDER` lists into `dest`, telling `tell` of
/// each. `held` says where this peer already holds an id (`None` to fetch
/// anyway): a file held at its own path is left as it is, one held at
/// another is copied there. The rest are fetched as `how` says. Goes on
/// after a file that fails.
pub fn download_folder(
    dir: &Directory,
    what: &str,
    dest: &Path,
    opts: &DownloadOptions,
    held: &dyn Fn(&FileId) -> Option<PathBuf>,
    how: &FolderFetch<'_>,
    tell: &mut dyn FnMut(FolderEvent<'_>),
) -> Result<FolderReport, TransferError> {
    let bad = |detail: String| TransferError::Protocol {
        url: what.to_string(),
        detail,
    };
    let (peer, folder) = what
        .split_once(':')
        .ok_or_else(|| bad("not PEER:FOLDER".into()))?;
    let folder = folder.trim_matches('/');
    if !folder.is_empty() {
        names::check_shared_path(folder).map_err(|e| bad(e.to_string()))?;
    }
    let listed = browse(&resolve_peer(dir, peer)?)?;
    let under: Vec<(&str, FileId)> = listed
        .iter()
        .flat_map(|f| f.paths().map(move |p| (p, f.id)))
        .filter(|(p, _)| folder.is_empty() || *p == folder || p.starts_with(&format!("{folder}/")))
        .collect();
    if under.is_empty() {
        return Err(bad(format!("{peer} shares nothing under {folder:?}")));
    }
    tell(FolderEvent::Listed(under.len()));
    let mut report = FolderReport {
        listed: under.len(),
        ..FolderReport::default()
    };
    // Where this run put each id, to copy from for its next path.
    let mut here: HashMap<FileId, PathBuf> = HashMap::new();
    for &(path, id) in &under {
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(TransferError::Cancelled { part: None });
        }
        let target = dest.join(path);
        let source = here.get(&id).cloned().or_else(|| held(&id));
        let in_place = || hash_file(&target).is_ok_and(|(got, _)| got == id);
        if source.as_deref() == Some(&target) || source.is_some() && in_place() {
            report.present += 1;
            tell(FolderEvent::Present { path, at: &target });
            continue;
        }
        if let Some(from) = source {
            match copy_held(&from, dest, path, id) {
                Ok(to) => {
                    tell(FolderEvent::Copied {
                        path,
                        from: &from,
                        to: &to,
                    });
                    here.insert(id, to.clone());
                    report.copied.push((to, id));
                    continue;
                }
                // Changed or gone since it was hashed: fetched instead.
                Err(e) => log::info!("cannot copy {} to {path}: {e}", from.display()),
            }
        }
        if let FolderFetch::Queue(queue) = how {
            match queue(path, id) {
                Ok(n) => {
                    tell(FolderEvent::Queued { path, n });
                    report.queued.push((n, path.to_string(), id));
                }
                Err(e) => {
                    report.failed += 1;
                    let error = crate::error::error_chain(&e);
                    tell(FolderEvent::Failed { path, error });
                }
            }
            continue;
        }
        let one = DownloadOptions {
            name: Some(path.to_string()),
            // A file already at its path stays the one there.
            copy: false,
            ..opts.clone()
        };
        match download(dir, id, dest, &one) {
            Ok(r) => {
                tell(FolderEvent::Done(&r));
                here.insert(id, r.path.clone());
                if r.already_had {
                    report.present += 1;
                } else {
                    report.fetched.push((r.path, id));
                }
            }
            // Stopped: the file's part is kept, and so is the rest undone.
            Err(e @ TransferError::Cancelled { .. }) => return Err(e),
            Err(e) => {
                report.failed += 1;
                let error = crate::error::error_chain(&e);
                tell(FolderEvent::Failed { path, error });
            }
        }
    }
    Ok(report)
}

/// Copies the file at `from` (held by this peer as `id`) to `path` below
/// `dest`: a hidden temp copy beside the target, hashed, and published
/// under `path` (numbered if that name is taken) only when it is `id`.
/// The copy is a reflink where the file system makes one (`copy_file_range`
/// shares the blocks on Btrfs and XFS), else a full copy; never a hard
/// link, which would make an edit of one path change the other.
fn copy_held(from: &Path, dest: &Path, path: &str, id: FileId) -> Result<PathBuf, TransferError> {
    make_folders(dest, path)?;
    let target = dest.join(path);
    let folder = target.parent().unwrap_or(dest);
    let tmp = folder.join(format!(
        ".hubshare-copy-{}{TEMP_SUFFIX}",
        crate::random::random_hex(8)
    ));
    let done = (|| -> Result<PathBuf, TransferError> {
        fs::copy(from, &tmp).map_err(io_err(from))?;
        let (got, _) = hash_file(&tmp).map_err(io_err(&tmp))?;
        if got != id {
            return Err(TransferError::Io {
                path: from.to_path_buf(),
                source: io::Error::other(format!("it changed: it is now {got}, not {id}")),
            });
        }
        publish_numbered(&tmp, dest, path)
    })();
    let _ = fs::remove_file(&tmp);
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_prefix_is_not_a_folder_of_a_peer_named_id() {
        for (what, folder) in [
            ("id:9cd8", false),
            (&format!("id:{}", FileId::of(b"x")), false),
            ("9cd8", false),
            ("alice:music", true),
            ("alice:", true),
            ("id:music", true),
            ("id:/cafe", true),
            ("id:", true),
        ] {
            assert_eq!(is_folder_target(what), folder, "{what}");
        }
    }

    #[test]
    fn a_held_file_is_copied_verified_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("held.flac"), b"the track").unwrap();
        let id = FileId::of(b"the track");
        let to = copy_held(&d.join("held.flac"), d, "Music/a/01.flac", id).unwrap();
        assert_eq!(to, d.join("Music/a/01.flac"));
        assert_eq!(fs::read(&to).unwrap(), b"the track");
        // The name is taken by other bytes: beside it, numbered.
        fs::write(&to, b"other bytes").unwrap();
        let again = copy_held(&d.join("held.flac"), d, "Music/a/01.flac", id).unwrap();
        assert_eq!(again, d.join("Music/a/01 (1).flac"));
        // Bytes that are no longer the id: refused, nothing left behind.
        fs::write(d.join("held.flac"), b"edited since").unwrap();
        let err = copy_held(&d.join("held.flac"), d, "Music/b.flac", id).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
        let mut left: Vec<_> = fs::read_dir(d.join("Music"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["a"]);
    }
}
