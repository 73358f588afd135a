//! The share as a tree on the web page: folders first, then files, in the
//! order people read names (case-insensitive), with counts and sizes; a
//! big share a folder at a time, with the way back up.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::html::Esc;
use crate::units::human_size;
use crate::wire::{percent_encode, SharedFile};

/// Most files drawn directly in one folder of a big tree.
pub const FOLDER_FILES: usize = 2000;

/// One folder of the share, for the tree.
#[derive(Default)]
pub(super) struct Folder<'a> {
    pub(super) folders: BTreeMap<&'a str, Folder<'a>>,
    /// (name in this folder, the file).
    pub(super) files: Vec<(&'a str, &'a SharedFile)>,
    /// Files under it, at any depth, and their bytes.
    pub(super) count: usize,
    pub(super) bytes: u64,
}

impl<'a> Folder<'a> {
    /// The folder at `path` (`""`: the whole share) as a tree of every
    /// shared path under it (a file shared under several paths is listed
    /// under each), or `None` when no shared file is under it (the whole
    /// share is always there, empty or not). Only what is under `path` is
    /// built, and files are in listing order until drawn: only the folders
    /// a page draws are sorted ([`sorted_files`](Self::sorted_files)).
    pub(super) fn at(files: &'a [SharedFile], path: &str) -> Option<Folder<'a>> {
        let want: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut root = Folder::default();
        for file in files {
            for name in std::iter::once(&file.name).chain(&file.other_names) {
                let mut parts = name.split('/').filter(|p| !p.is_empty());
                if !want.iter().all(|w| parts.next() == Some(*w)) {
                    continue;
                }
                // A file at `path` itself is not a folder's content.
                let Some(mut part) = parts.next() else {
                    continue;
                };
                let mut at = &mut root;
                at.count += 1;
                at.bytes += file.size;
                for next in parts {
                    at = at.folders.entry(part).or_default();
                    at.count += 1;
                    at.bytes += file.size;
                    part = next;
                }
                at.files.push((part, file));
            }
        }
        (root.count > 0 || want.is_empty()).then_some(root)
    }

    /// Its own files in the order people read names.
    fn sorted_files(&self) -> Vec<(&'a str, &'a SharedFile)> {
        let mut files = self.files.clone();
        // Each name lower-cased once, not at every comparison (a folder of
        // thousands of files).
        files.sort_by_cached_key(|(name, file)| (reading_key(name), file.id));
        files
    }

    /// Its subfolders in the order people read names: `Beatles` beside
    /// `beach`, not every capital first.
    fn subfolders(&self) -> Vec<(&'a str, &Folder<'a>)> {
        let mut subs: Vec<(&'a str, &Folder<'a>)> =
            self.folders.iter().map(|(n, f)| (*n, f)).collect();
        subs.sort_by_cached_key(|(name, _)| reading_key(name));
        subs
    }
}

/// What names sort by, in reading order: case-insensitive, then exact (so
/// the order is total).
fn reading_key(name: &str) -> (String, &str) {
    (name.to_lowercase(), name)
}

pub(super) fn summary(count: usize, bytes: u64) -> String {
    match count {
        1 => format!("1 file, {}", human_size(bytes)),
        n => format!("{n} files, {}", human_size(bytes)),
    }
}

/// Where a tree's links go: its files (this peer's `/files/{id}`, or
/// straight to the peer whose share is shown) and its folders (this page,
/// for that peer).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Links<'a> {
    /// Base URL of the files (`""`: this peer; else `http://host:port`).
    pub files: &'a str,
    /// The other peer whose share is shown (`?peer=`), if any.
    pub peer: Option<&'a str>,
}

impl Links<'_> {
    /// A link to this page showing `folder` of the share.
    pub(super) fn folder(&self, folder: &str) -> String {
        let mut query = Vec::new();
        if let Some(p) = self.peer {
            query.push(format!("peer={}", percent_encode(p)));
        }
        if !folder.is_empty() {
            query.push(format!("in={}", percent_encode(folder)));
        }
        match query.is_empty() {
            true => "/".to_string(),
            false => format!("/?{}", query.join("&")),
        }
    }

    fn file_row(&self, out: &mut String, name: &str, file: &SharedFile) {
        let _ = write!(
            out,
            "<li class=\"file\"><a href=\"{href}\">{name}</a> <span class=\"size\">{size}</span></li>",
            href = Esc(&format!("{}/files/{}", self.files, file.id)),
            name = Esc(name),
            size = human_size(file.size),
        );
    }
}

/// Draws `folder` (whose path is `path`) whole: every subfolder open.
pub(super) fn whole_tree(out: &mut String, folder: &Folder<'_>, links: &Links<'_>) {
    out.push_str("<ul class=\"tree\">");
    for (name, sub) in folder.subfolders() {
        let _ = write!(
            out,
            "<li class=\"folder\"><details open><summary>{}/ <span class=\"size\">{}</span></summary>",
            Esc(name),
            summary(sub.count, sub.bytes)
        );
        whole_tree(out, sub, links);
        out.push_str("</details></li>");
    }
    for (name, file) in folder.sorted_files() {
        links.file_row(out, name, file);
    }
    out.push_str("</ul>");
}

/// Draws one level of a big `folder`: subfolders as links, then its own
/// files up to [`FOLDER_FILES`].
pub(super) fn one_level(out: &mut String, folder: &Folder<'_>, path: &str, links: &Links<'_>) {
    out.push_str("<ul class=\"tree\">");
    for (name, sub) in folder.subfolders() {
        let sub_path = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}/{name}")
        };
        let _ = write!(
            out,
            "<li class=\"folder\"><a href=\"{}\">{}/</a> <span class=\"size\">{}</span></li>",
            Esc(&links.folder(&sub_path)),
            Esc(name),
            summary(sub.count, sub.bytes)
        );
    }
    for (name, file) in folder.sorted_files().into_iter().take(FOLDER_FILES) {
        links.file_row(out, name, file);
    }
    out.push_str("</ul>");
    if folder.files.len() > FOLDER_FILES {
        let _ = write!(
            out,
            "<p class=\"note\">and {} more files in this folder: search for them by name.</p>",
            folder.files.len() - FOLDER_FILES
        );
    }
}

/// The folder path as links, from the share's top.
pub(super) fn breadcrumbs(out: &mut String, path: &str, links: &Links<'_>) {
    let _ = write!(
        out,
        "<nav class=\"crumbs\"><a href=\"{}\">share</a>",
        Esc(&links.folder(""))
    );
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        let _ = write!(
            out,
            " / <a href=\"{}\">{}</a>",
            Esc(&links.folder(&at)),
            Esc(part)
        );
    }
    out.push_str("</nav>");
}
