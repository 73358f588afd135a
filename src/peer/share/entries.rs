//! The table's entries: a shared file by path and by id, the same bytes at
//! several paths being one entry whose other paths are `other_names`, and
//! the difference an update makes (`Change`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::scan::Stat;
use crate::id::FileId;
use crate::names;
use crate::wire::SharedFile;

/// A file the peer shares: what it announces and lists, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEntry {
    /// Id, name (its path below the share folder, `/`-separated) and
    /// size, as announced.
    pub file: SharedFile,
    pub path: PathBuf,
    pub(super) stat: Stat,
}

impl ShareEntry {
    /// The entry of the file at `path`, shared as `name`.
    pub(super) fn new(name: String, path: &Path, id: FileId, stat: Stat) -> ShareEntry {
        ShareEntry {
            file: SharedFile {
                id,
                name,
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

#[derive(Default)]
pub(super) struct Entries {
    /// Ordered by path, so what is below a folder is one range.
    pub by_path: BTreeMap<PathBuf, ShareEntry>,
    /// Every path holding each id, sorted (most ids have one). The same
    /// bytes at several paths are shared once, under the first path (the
    /// one read), with the others as its `other_names`.
    pub by_id: HashMap<FileId, Vec<PathBuf>>,
    /// Counts the updates that changed what is listed: a listing made at
    /// one generation is current while it stands.
    pub generation: u64,
}

impl Entries {
    /// What is shared for `id`: the first path's entry, with the others'
    /// names as further names.
    pub(super) fn shared(&self, id: &FileId) -> Option<ShareEntry> {
        let first = &self.by_path[&self.by_id.get(id)?[0]];
        Some(ShareEntry {
            file: self.file(id)?,
            path: first.path.clone(),
            stat: first.stat,
        })
    }

    /// What is announced and listed for `id` (see [`shared`](Self::shared)).
    pub(super) fn file(&self, id: &FileId) -> Option<SharedFile> {
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
    pub(super) fn update(
        &mut self,
        gone: impl IntoIterator<Item = PathBuf>,
        put: impl IntoIterator<Item = (PathBuf, ShareEntry)>,
    ) -> Change {
        let change = if self.by_path.is_empty() {
            self.fill(put)
        } else {
            self.apply(gone, put)
        };
        // What is listed is each id's `file`: unchanged unless `change`
        // says so.
        if !change.is_empty() {
            self.generation += 1;
        }
        change
    }

    /// [`update`](Self::update) of a table that holds entries.
    fn apply(
        &mut self,
        gone: impl IntoIterator<Item = PathBuf>,
        put: impl IntoIterator<Item = (PathBuf, ShareEntry)>,
    ) -> Change {
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

    pub(super) fn unlink(&mut self, id: FileId, path: &Path) {
        if let Some(list) = self.by_id.get_mut(&id) {
            list.retain(|p| p != path);
            if list.is_empty() {
                self.by_id.remove(&id);
            }
        }
    }
}

/// The entries of `map` at `root` and below it.
pub(super) fn under<'a>(
    map: &'a BTreeMap<PathBuf, ShareEntry>,
    root: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a ShareEntry)> {
    map.range::<Path, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(root))
}
