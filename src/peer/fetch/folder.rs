//! `PEER:FOLDER`: fetching a folder of another peer. Every path the peer
//! lists under the folder (each path of a file shared at several) is
//! fetched into the same path of the download folder, each a normal
//! verified download; the folder named is checked like any shared path,
//! and so is every listed path (by the download).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::download::download;
use super::options::{DownloadOptions, DownloadReport};
use super::transfer::{browse, resolve_peer, TransferError};
use crate::id::FileId;
use crate::names;
use crate::peer::client::Directory;

/// What a folder fetch tells as it goes.
#[derive(Debug)]
pub enum FolderEvent<'a> {
    /// How many files the peer lists under the folder.
    Listed(usize),
    /// A file this peer already holds (at `at`): nothing fetched.
    Held { path: &'a str, at: &'a Path },
    /// A file fetched (or found already in place: `already_had`).
    Done(&'a DownloadReport),
    /// A file that failed; the rest go on.
    Failed { path: &'a str, error: String },
}

/// How a folder fetch ended.
#[derive(Debug, Default)]
pub struct FolderReport {
    /// Files fetched this run: where each landed, and its id.
    pub fetched: Vec<(PathBuf, FileId)>,
    /// Files that failed (each reported as it happened).
    pub failed: usize,
    /// Files listed under the folder.
    pub listed: usize,
}

/// Whether `what` names a folder of a peer (`alice:music/a`, `alice:`)
/// rather than a file id (`id:` and 64 hex digits is an id).
pub fn is_folder_target(what: &str) -> bool {
    let id = what
        .strip_prefix("id:")
        .is_some_and(|hex| FileId::parse(hex).is_ok());
    what.contains(':') && !id
}

/// Fetches every file `PEER:FOLDER` lists into `dest`, telling `tell` of
/// each. `held` says where this peer already holds an id (then nothing is
/// fetched for it; `None` to fetch anyway). Goes on after a file that fails.
pub fn download_folder(
    dir: &Directory,
    what: &str,
    dest: &Path,
    opts: &DownloadOptions,
    held: &dyn Fn(&FileId) -> Option<PathBuf>,
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
    let mut seen = HashSet::new();
    for &(path, id) in &under {
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(bad("stopped; running it again resumes".into()));
        }
        // The same bytes at a second path of the folder are fetched again
        // for that path (not taken for "already here" by the first).
        if seen.insert(id) {
            if let Some(at) = held(&id) {
                tell(FolderEvent::Held { path, at: &at });
                continue;
            }
        }
        let one = DownloadOptions {
            name: Some(path.to_string()),
            ..opts.clone()
        };
        match download(dir, id, dest, &one) {
            Ok(r) => {
                tell(FolderEvent::Done(&r));
                if !r.already_had {
                    report.fetched.push((r.path, id));
                }
            }
            Err(e) => {
                report.failed += 1;
                let error = crate::error::error_chain(&e);
                tell(FolderEvent::Failed { path, error });
            }
        }
    }
    Ok(report)
}
