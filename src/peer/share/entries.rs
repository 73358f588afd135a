//! The table's entries: a shared file by path and by id, the same bytes at
//! several paths being one entry whose other paths are `other_names`, and
//! the difference an update makes (`Change`).
//!
//! Held densely, for shares of hundreds of thousands of files: every path
//! and name is in one buffer (`text`, a name that ends its path is not
//! stored twice), the records are one array sorted by path, and the index
//! by id is an array of record numbers. A change rebuilds the arrays in one
//! pass; a [`View`] of a record borrows its strings. What is listed is made
//! from a record when asked for.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::scan::Stat;
use crate::id::FileId;
use crate::names;
use crate::wire::{is_below, FileList, SharedFile};

/// A file the peer shares: what it announces and lists, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEntry {
    /// Id, name (its path below the share folder, `/`-separated) and
    /// size, as announced.
    pub file: SharedFile,
    pub path: PathBuf,
    pub(super) stat: Stat,
}

/// What a scan makes of a file before it is in the table: the name it is
/// shared as, its id and what the scan saw of it.
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

/// A record of the table, borrowed.
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub id: FileId,
    pub stat: Stat,
}

impl View<'_> {
    pub(super) fn to_slot(self) -> Slot {
        Slot::new(self.name.to_string(), self.id, self.stat)
    }

    /// Whether `slot` says the same as this record.
    pub(super) fn is(&self, slot: &Slot) -> bool {
        self.id == slot.id && self.stat == slot.stat && *self.name == *slot.name
    }
}

/// Where a record's strings are in `text`.
#[derive(Debug, Clone, Copy)]
struct Rec {
    path_at: u32,
    /// The path's length, and [`MANY`] when further paths hold its id.
    path_len: u32,
    name_at: u32,
    name_len: u32,
    id: FileId,
    stat: Stat,
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

#[derive(Default, Clone)]
pub(super) struct Entries {
    /// Every record's path and name, back to back.
    text: Vec<u8>,
    /// Bytes of `text` that no record points at any more; compacted away
    /// when they are half of it.
    dead: usize,
    /// Sorted by path, so what is below a folder is one run.
    recs: Vec<Rec>,
    /// Record numbers sorted by (id, number): the paths holding one id are
    /// one run, in path order. The same bytes at several paths are shared
    /// once, under the first path (the one read), with the others as its
    /// `other_names`.
    by_id: Vec<u32>,
    /// What is listed: each id's first record, by (name, id).
    listed: Vec<u32>,
    /// The listed files' sizes, added up.
    bytes: u64,
}

/// `slots` sorted by path, each path once (the last given wins).
fn sorted(slots: impl IntoIterator<Item = (PathBuf, Slot)>) -> Vec<(PathBuf, Slot)> {
    let mut put: Vec<(PathBuf, Slot)> = slots.into_iter().collect();
    // Stable: of one path, the last given comes last.
    put.sort_by(|a, b| a.0.cmp(&b.0));
    put.reverse();
    put.dedup_by(|later, kept| later.0 == kept.0);
    put.reverse();
    put
}

/// The bit of `Rec::path_len` that says further paths hold the same id (a
/// listing of a file held once then needs no look in the index by id).
const MANY: u32 = 1 << 31;

impl Rec {
    fn path_end(&self) -> usize {
        (self.path_at + (self.path_len & !MANY)) as usize
    }

    fn many(&self) -> bool {
        self.path_len & MANY != 0
    }
}

fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// The path and name of `r` in `text`.
fn strings<'a>(text: &'a [u8], r: &Rec) -> (&'a Path, &'a str) {
    let name = &text[r.name_at as usize..(r.name_at + r.name_len) as usize];
    (
        path_of(&text[r.path_at as usize..r.path_end()]),
        // Only ever stored from a `str`.
        std::str::from_utf8(name).unwrap_or_default(),
    )
}

/// A record number (the table is far below 4 billion files).
fn number(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 shared files")
}

impl Entries {
    /// The table of `slots` (paths in any order, each once).
    pub(super) fn of(slots: impl IntoIterator<Item = (PathBuf, Slot)>) -> Entries {
        let mut e = Entries::default();
        e.merge(&[], sorted(slots), &[]);
        e
    }

    fn view(&self, r: &Rec) -> View<'_> {
        let (path, name) = strings(&self.text, r);
        View {
            path,
            name,
            id: r.id,
            stat: r.stat,
        }
    }

    /// Every record, in path order.
    pub(super) fn iter(&self) -> impl Iterator<Item = View<'_>> {
        self.recs.iter().map(|r| self.view(r))
    }

    fn find(&self, path: &Path) -> Result<usize, usize> {
        self.recs.binary_search_by(|r| self.view(r).path.cmp(path))
    }

    /// The record at `path`.
    pub(super) fn get(&self, path: &Path) -> Option<View<'_>> {
        self.find(path).ok().map(|i| self.view(&self.recs[i]))
    }

    /// The records at `root` and below it.
    pub(super) fn under<'a>(&'a self, root: &'a Path) -> impl Iterator<Item = View<'a>> {
        let start = self.find(root).unwrap_or_else(|at| at);
        self.recs[start..]
            .iter()
            .map(|r| self.view(r))
            .take_while(move |v| v.path.starts_with(root))
    }

    /// Where in `by_id` the run holding `id` is.
    fn run_at(&self, id: &FileId) -> std::ops::Range<usize> {
        let id_of = |n: &u32| &self.recs[*n as usize].id;
        let start = self.by_id.partition_point(|n| id_of(n) < id);
        let len = self.by_id[start..].partition_point(|n| id_of(n) == id);
        start..start + len
    }

    /// The run of `by_id` holding `id`.
    fn run(&self, id: &FileId) -> &[u32] {
        &self.by_id[self.run_at(id)]
    }

    /// Every id once, in id order.
    pub(super) fn ids(&self) -> impl Iterator<Item = FileId> + '_ {
        let mut last = None;
        self.by_id.iter().filter_map(move |n| {
            let id = self.recs[*n as usize].id;
            (last.replace(id) != Some(id)).then_some(id)
        })
    }

    /// What is shared for `id`: the first path's entry, with the others'
    /// names as further names.
    pub(super) fn shared(&self, id: &FileId) -> Option<ShareEntry> {
        let first = self.view(&self.recs[*self.run(id).first()? as usize]);
        Some(ShareEntry {
            file: self.file(id)?,
            path: first.path.to_path_buf(),
            stat: first.stat,
        })
    }

    /// What is announced and listed for `id` (see [`shared`](Self::shared)).
    pub(super) fn file(&self, id: &FileId) -> Option<SharedFile> {
        let run = self.run(id);
        let first = self.view(&self.recs[*run.first()? as usize]);
        let mut file = SharedFile {
            id: first.id,
            name: first.name.to_string(),
            size: first.stat.size,
            other_names: Vec::new(),
        };
        if run.len() > 1 {
            let mut others: Vec<String> = run[1..]
                .iter()
                .map(|n| self.view(&self.recs[*n as usize]).name.to_string())
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

    /// Appends a record's strings to `buf`, which goes into `text` at
    /// `base`.
    fn store(
        buf: &mut Vec<u8>,
        base: usize,
        path: &Path,
        name: &str,
        id: FileId,
        stat: Stat,
    ) -> Rec {
        let path = path.as_os_str().as_bytes();
        let path_at = base + buf.len();
        buf.extend_from_slice(path);
        // A name that ends its path (`a/b.txt` of `/share/a/b.txt`) is
        // that end.
        let name_at = if path.ends_with(name.as_bytes()) {
            path_at + path.len() - name.len()
        } else {
            let at = base + buf.len();
            buf.extend_from_slice(name.as_bytes());
            at
        };
        Rec {
            path_at: number(path_at),
            path_len: number(path.len()),
            name_at: number(name_at),
            name_len: number(name.len()),
            id,
            stat,
        }
    }

    /// Bytes of `text` that `r` holds.
    fn held(r: &Rec) -> usize {
        let own_name = r.name_at as usize >= r.path_end();
        (r.path_end() - r.path_at as usize) + if own_name { r.name_len as usize } else { 0 }
    }

    /// Drops the entries at `gone`, puts `put` in place (new or changed),
    /// and returns what changed for the directory. Only the ids those
    /// paths had or have are looked at again.
    pub(super) fn update(
        &mut self,
        gone: impl IntoIterator<Item = PathBuf>,
        put: impl IntoIterator<Item = (PathBuf, Slot)>,
    ) -> Change {
        let put = sorted(put);
        let fill = self.recs.is_empty();
        // What each touched id was shared as before.
        let mut before: BTreeMap<FileId, Option<SharedFile>> = BTreeMap::new();
        // Record numbers leaving the table (gone, or put anew).
        let mut leaving: Vec<usize> = Vec::new();
        if !fill {
            for path in gone {
                if let Ok(i) = self.find(&path) {
                    leaving.push(i);
                }
            }
            for (path, slot) in &put {
                if let Ok(i) = self.find(path) {
                    leaving.push(i);
                }
                before.entry(slot.id).or_insert(None);
            }
            leaving.sort_unstable();
            leaving.dedup();
            for i in &leaving {
                before.entry(self.recs[*i].id).or_insert(None);
            }
            for (id, was) in before.iter_mut() {
                *was = self.file(id);
            }
        }
        let touched: Vec<FileId> = before.keys().copied().collect();
        self.merge(&leaving, put, &touched);
        let mut change = Change::default();
        if fill {
            change.added = self.ids().filter_map(|id| self.file(&id)).collect();
        } else {
            for (id, was) in before {
                match (was, self.file(&id)) {
                    (Some(_), None) => change.removed.push(id),
                    (was, Some(now)) if was.as_ref() != Some(&now) => change.added.push(now),
                    _ => {}
                }
            }
        }
        change
    }

    /// Makes the records: those not `leaving` (sorted numbers), and `put`
    /// (sorted by path, each once), in path order; then the index by id
    /// and the listing (where only the `touched` ids, sorted, can have
    /// moved).
    fn merge(&mut self, leaving: &[usize], put: Vec<(PathBuf, Slot)>, touched: &[FileId]) {
        let old = std::mem::take(&mut self.recs);
        let small = put.len() + leaving.len() < old.len() / 8;
        let mut recs = Vec::with_capacity(old.len() - leaving.len() + put.len());
        // Where each old record went (u32::MAX: gone), for a small change.
        let mut moved_to = if small {
            vec![u32::MAX; old.len()]
        } else {
            Vec::new()
        };
        let mut new_numbers = Vec::with_capacity(put.len());
        let mut leaving = leaving.iter().peekable();
        let mut put = put.into_iter().peekable();
        let text = &self.text;
        let mut added = Vec::new();
        for (i, r) in old.iter().enumerate() {
            let path = path_of(&text[r.path_at as usize..r.path_end()]);
            while let Some((p, slot)) = put.next_if(|(p, _)| p.as_path() < path) {
                new_numbers.push(recs.len());
                let rec = Self::store(&mut added, text.len(), &p, &slot.name, slot.id, slot.stat);
                recs.push(rec);
            }
            if leaving.next_if_eq(&&i).is_some() {
                self.dead += Self::held(r);
                continue;
            }
            if small {
                moved_to[i] = number(recs.len());
            }
            recs.push(*r);
        }
        for (p, slot) in put {
            new_numbers.push(recs.len());
            let rec = Self::store(&mut added, text.len(), &p, &slot.name, slot.id, slot.stat);
            recs.push(rec);
        }
        self.text.extend_from_slice(&added);
        self.recs = recs;
        if small {
            // The old order stands for the records that stayed; the new
            // ones go in where their ids sort.
            let mut by_id: Vec<u32> = std::mem::take(&mut self.by_id)
                .into_iter()
                .filter_map(|n| Some(moved_to[n as usize]).filter(|m| *m != u32::MAX))
                .collect();
            for n in new_numbers {
                let key = (self.recs[n].id, number(n));
                let at = by_id.partition_point(|m| (self.recs[*m as usize].id, *m) < key);
                by_id.insert(at, number(n));
            }
            self.by_id = by_id;
            let mut listed: Vec<u32> = std::mem::take(&mut self.listed)
                .into_iter()
                .filter_map(|n| Some(moved_to[n as usize]).filter(|m| *m != u32::MAX))
                .filter(|m| touched.binary_search(&self.recs[*m as usize].id).is_err())
                .collect();
            for id in touched {
                self.mark(id);
                if let Some(first) = self.run(id).first().copied() {
                    let at = listed.partition_point(|m| self.listing_order(*m, first).is_lt());
                    listed.insert(at, first);
                }
            }
            self.listed = listed;
        } else {
            let mut by_id: Vec<u32> = (0..number(self.recs.len())).collect();
            by_id.sort_unstable_by_key(|n| (self.recs[*n as usize].id, *n));
            self.by_id = by_id;
            let mut listed = Vec::with_capacity(self.by_id.len());
            let mut last = None;
            for n in &self.by_id {
                let id = self.recs[*n as usize].id;
                if last.replace(id) != Some(id) {
                    listed.push(*n);
                }
            }
            listed.sort_unstable_by(|a, b| self.listing_order(*a, *b));
            self.listed = listed;
            for i in 0..self.listed.len() {
                let id = self.recs[self.listed[i] as usize].id;
                self.mark(&id);
            }
        }
        self.bytes = self
            .listed
            .iter()
            .map(|n| self.recs[*n as usize].stat.size)
            .sum();
        if self.dead > self.text.len() / 2 {
            self.compact();
        }
    }

    /// Sets or clears [`MANY`] on the records of `id`.
    fn mark(&mut self, id: &FileId) {
        let run = self.run_at(id);
        let many = if run.len() > 1 { MANY } else { 0 };
        for n in &self.by_id[run] {
            let r = &mut self.recs[*n as usize];
            r.path_len = r.path_len & !MANY | many;
        }
    }

    /// The order of the listing: by name, then id.
    fn listing_order(&self, a: u32, b: u32) -> std::cmp::Ordering {
        let (a, b) = (
            self.view(&self.recs[a as usize]),
            self.view(&self.recs[b as usize]),
        );
        a.name.cmp(b.name).then(a.id.cmp(&b.id))
    }

    /// Writes `text` again with only what the records point at.
    fn compact(&mut self) {
        let mut text = Vec::with_capacity(self.text.len() - self.dead);
        for r in &mut self.recs {
            let (path, name) = strings(&self.text, r);
            let many = r.path_len & MANY;
            *r = Self::store(&mut text, 0, path, name, r.id, r.stat);
            r.path_len |= many;
        }
        self.text = text;
        self.dead = 0;
    }
}

impl FileList for Entries {
    fn count(&self) -> usize {
        self.listed.len()
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn nth(&self, i: usize) -> Option<SharedFile> {
        let r = &self.recs[*self.listed.get(i)? as usize];
        if r.many() {
            return self.file(&r.id);
        }
        let v = self.view(r);
        Some(SharedFile {
            id: v.id,
            name: v.name.to_string(),
            size: v.stat.size,
            other_names: Vec::new(),
        })
    }

    fn has(&self, id: &FileId) -> bool {
        !self.run(id).is_empty()
    }

    fn under(&self, folder: &str) -> Vec<SharedFile> {
        let mut ids: Vec<FileId> = self
            .iter()
            .filter(|v| is_below(v.name, folder))
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        // In listing order, as it stands.
        self.listed
            .iter()
            .map(|n| &self.recs[*n as usize].id)
            .filter(|id| ids.binary_search(id).is_ok())
            .filter_map(|id| self.file(id))
            .collect()
    }
}
