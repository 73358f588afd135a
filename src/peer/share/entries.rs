//! The table's entries: a shared file by path and by id, the same bytes at
//! several paths being one entry whose other paths are `other_names`, and
//! the difference an update makes (`Change`). Each path is held once (an
//! `Arc<Path>` that both maps share); what is listed is made from a
//! [`Slot`] when asked for.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// What the table keeps of a shared file (its path is its key): the name
/// it is shared as, its id and what a scan saw of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub name: Box<str>,
    pub id: FileId,
    pub stat: Stat,
}

impl Slot {
    /// The slot of the file shared as `name`.
    pub(super) fn new(name: String, id: FileId, stat: Stat) -> Slot {
        Slot {
            name: name.into_boxed_str(),
            id,
            stat,
        }
    }
}

/// The paths holding one id, sorted, without duplicates; most ids have
/// one, kept without a list of its own.
#[derive(Debug, Clone)]
pub(super) enum Paths {
    One(Arc<Path>),
    Many(Vec<Arc<Path>>),
}

impl Paths {
    pub(super) fn as_slice(&self) -> &[Arc<Path>] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    fn insert(&mut self, path: Arc<Path>) {
        let mut list = match std::mem::replace(self, Paths::Many(Vec::new())) {
            Paths::One(p) => vec![p],
            Paths::Many(v) => v,
        };
        if let Err(at) = list.binary_search(&path) {
            list.insert(at, path);
        }
        *self = Paths::Many(list);
    }

    /// Takes `path` out; whether any path is left.
    fn remove(&mut self, path: &Path) -> bool {
        match self {
            Paths::One(p) => **p != *path,
            Paths::Many(v) => {
                v.retain(|p| **p != *path);
                if let [one] = v.as_slice() {
                    *self = Paths::One(one.clone());
                }
                !self.as_slice().is_empty()
            }
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
    pub by_path: BTreeMap<Arc<Path>, Slot>,
    /// Every path holding each id, sorted. The same bytes at several paths
    /// are shared once, under the first path (the one read), with the
    /// others as its `other_names`.
    pub by_id: HashMap<FileId, Paths>,
    /// Counts the updates that changed what is listed: a listing made at
    /// one generation is current while it stands.
    pub generation: u64,
}

impl Entries {
    /// What is shared for `id`: the first path's entry, with the others'
    /// names as further names.
    pub(super) fn shared(&self, id: &FileId) -> Option<ShareEntry> {
        let path = &self.by_id.get(id)?.as_slice()[0];
        Some(ShareEntry {
            file: self.file(id)?,
            path: path.to_path_buf(),
            stat: self.by_path[path].stat,
        })
    }

    /// What is announced and listed for `id` (see [`shared`](Self::shared)).
    pub(super) fn file(&self, id: &FileId) -> Option<SharedFile> {
        let paths = self.by_id.get(id)?.as_slice();
        let first = &self.by_path[&paths[0]];
        let mut file = SharedFile {
            id: first.id,
            name: first.name.to_string(),
            size: first.stat.size,
            other_names: Vec::new(),
        };
        if paths.len() > 1 {
            let mut others: Vec<String> = paths[1..]
                .iter()
                .map(|p| self.by_path[p].name.to_string())
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
        put: impl IntoIterator<Item = (PathBuf, Slot)>,
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
        put: impl IntoIterator<Item = (PathBuf, Slot)>,
    ) -> Change {
        // What each touched id was shared as before.
        let mut before: BTreeMap<FileId, Option<SharedFile>> = BTreeMap::new();
        let mut touch = |this: &Entries, id: FileId| {
            before.entry(id).or_insert_with(|| this.file(&id));
        };
        for path in gone {
            let Some(id) = self.by_path.get(path.as_path()).map(|e| e.id) else {
                continue;
            };
            touch(self, id);
            self.by_path.remove(path.as_path());
            self.unlink(id, &path);
        }
        for (path, slot) in put {
            let id = slot.id;
            let old = self.by_path.get_key_value(path.as_path());
            let (key, old) = match old {
                Some((key, e)) => (key.clone(), Some(e.id)),
                None => (Arc::from(path), None),
            };
            if let Some(old) = old {
                touch(self, old);
            }
            touch(self, id);
            self.by_path.insert(key.clone(), slot);
            if old != Some(id) {
                if let Some(old) = old {
                    self.unlink(old, &key);
                }
                self.link(id, key);
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
    fn fill(&mut self, put: impl IntoIterator<Item = (PathBuf, Slot)>) -> Change {
        self.by_path = put.into_iter().map(|(p, e)| (Arc::from(p), e)).collect();
        let mut by_id = HashMap::with_capacity(self.by_path.len());
        for (path, e) in &self.by_path {
            // In path order: each list comes out sorted.
            link(&mut by_id, e.id, path.clone());
        }
        self.by_id = by_id;
        let mut added = Vec::with_capacity(self.by_id.len());
        for (path, e) in &self.by_path {
            match self.by_id[&e.id].as_slice() {
                [first, ..] if first == path => added.extend(self.file(&e.id)),
                _ => {}
            }
        }
        added.sort_by_key(|f| f.id);
        Change {
            added,
            removed: Vec::new(),
        }
    }

    fn link(&mut self, id: FileId, path: Arc<Path>) {
        link(&mut self.by_id, id, path);
    }

    pub(super) fn unlink(&mut self, id: FileId, path: &Path) {
        if let Some(list) = self.by_id.get_mut(&id) {
            if !list.remove(path) {
                self.by_id.remove(&id);
            }
        }
    }
}

/// Adds `path` to the paths of `id`.
fn link(by_id: &mut HashMap<FileId, Paths>, id: FileId, path: Arc<Path>) {
    match by_id.entry(id) {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(Paths::One(path));
        }
        std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().insert(path),
    }
}

/// The entries of `map` at `root` and below it.
pub(super) fn under<'a>(
    map: &'a BTreeMap<Arc<Path>, Slot>,
    root: &'a Path,
) -> impl Iterator<Item = (&'a Arc<Path>, &'a Slot)> {
    map.range::<Path, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(root))
}
