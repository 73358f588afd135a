//! The catalogue's records: a file (its id, the size most sources claim,
//! its (peer, name) sources, inline for the usual one), what ranking reads
//! of each name, the files each name links to, and a search result.

use std::collections::HashMap;

use super::names::{name_prefix, Prefix};
use crate::id::FileId;

/// A peer's slot number in the store.
pub type PeerIdx = u32;

pub(super) struct FileRec {
    pub(super) id: FileId,
    /// The size most sources claim (ties keep the earlier one); sources
    /// claiming another size are in [`Index::disputed`].
    pub(super) size: u64,
    /// (peer, name) of every source.
    pub(super) sources: Sources,
    /// How many names link to this file: a search needs to watch for
    /// counting it twice only when more than one does.
    pub(super) linked_names: u32,
}

/// No peer: marks an empty [`Sources`].
pub(super) const NO_PEER: PeerIdx = PeerIdx::MAX;

/// Marks, in a file's list of further sources, a peer that shares the
/// file under a name of its own: the element after it is that name.
const OWN_NAME: u32 = 1 << 31;

/// No list: a [`Sources`] of at most one source.
const NO_LIST: u32 = u32::MAX;

/// The (peer, name) pairs of a file's sources. Most files have one, and
/// most sources of a file share it under the same name: the first source
/// and that name sit inline (12 bytes in the record), and the others are a
/// list of peers in [`SourceLists`], 4 bytes each, where a peer with
/// another name is followed by it (against 8 bytes a source for a list of
/// pairs, and a boxed `Vec`'s 8 bytes in every record).
pub(super) struct Sources {
    /// The first source's name, and every other's not listed with one.
    name: u32,
    /// The first source, or [`NO_PEER`].
    first: PeerIdx,
    /// The other sources' list in [`SourceLists`], or [`NO_LIST`].
    rest: u32,
}

/// The lists of further sources of every file with more than one, each
/// its count then its entries, in slots that are reused.
#[derive(Default)]
pub(super) struct SourceLists {
    lists: Vec<Vec<u32>>,
    free: Vec<u32>,
}

impl SourceLists {
    fn get(&self, slot: u32) -> &[u32] {
        match slot {
            NO_LIST => &[],
            s => &self.lists[s as usize][1..],
        }
    }

    /// A new list, counting no source yet.
    fn open(&mut self) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.lists[s as usize].push(0);
                s
            }
            None => {
                self.lists.push(vec![0]);
                (self.lists.len() - 1) as u32
            }
        }
    }

    fn close(&mut self, slot: u32) {
        self.lists[slot as usize] = Vec::new();
        self.free.push(slot);
    }
}

impl Sources {
    pub(super) fn new() -> Sources {
        Sources {
            name: 0,
            first: NO_PEER,
            rest: NO_LIST,
        }
    }

    pub(super) fn len(&self, lists: &SourceLists) -> usize {
        match self.rest {
            NO_LIST => usize::from(!self.is_empty()),
            s => 1 + lists.lists[s as usize][0] as usize,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first == NO_PEER
    }

    /// Every (peer, name), the first source first.
    pub(super) fn iter<'a>(
        &self,
        lists: &'a SourceLists,
    ) -> impl Iterator<Item = (PeerIdx, u32)> + 'a {
        let (first, name) = ((!self.is_empty()).then_some(self.first), self.name);
        first.map(|p| (p, name)).into_iter().chain(
            self.entries(lists)
                .map(move |(_, p, own)| (p, own.unwrap_or(name))),
        )
    }

    /// The name `peer` shares the file under, if it is a source.
    pub(super) fn name_of(&self, lists: &SourceLists, peer: PeerIdx) -> Option<u32> {
        self.iter(lists).find(|(p, _)| *p == peer).map(|(_, n)| n)
    }

    /// Whether some source shares the file under `name`: at once for the
    /// shared name, by reading the list for another.
    pub(super) fn uses(&self, lists: &SourceLists, name: u32) -> bool {
        if self.is_empty() {
            return false;
        }
        name == self.name || self.entries(lists).any(|(_, _, own)| own == Some(name))
    }

    /// Adds `peer` (not yet a source) under `name`.
    pub(super) fn push(&mut self, lists: &mut SourceLists, peer: PeerIdx, name: u32) {
        debug_assert!(peer & OWN_NAME == 0, "peer slots stay below 2^31");
        if self.is_empty() {
            (self.first, self.name) = (peer, name);
            return;
        }
        let shared = self.name;
        let rest = self.rest_mut(lists);
        rest[0] += 1;
        if name == shared {
            grow(rest, 1);
            rest.push(peer);
        } else {
            grow(rest, 2);
            rest.extend([peer | OWN_NAME, name]);
        }
    }

    /// Where each entry of the list starts (in the slot, after its
    /// count), with its peer and own name.
    fn entries<'a>(
        &self,
        lists: &'a SourceLists,
    ) -> impl Iterator<Item = (usize, PeerIdx, Option<u32>)> + 'a {
        let rest = lists.get(self.rest);
        let mut i = 0;
        std::iter::from_fn(move || {
            let e = *rest.get(i)?;
            let at = i;
            if e & OWN_NAME != 0 {
                i += 2;
                Some((at + 1, e & !OWN_NAME, Some(rest[at + 1])))
            } else {
                i += 1;
                Some((at + 1, e, None))
            }
        })
    }

    /// Takes the entry at `at` (`len` elements) out of the list.
    fn take(&mut self, lists: &mut SourceLists, at: usize, len: usize) {
        let rest = self.rest_mut(lists);
        rest.drain(at..at + len);
        rest[0] -= 1;
    }

    /// Takes the first entry of the list without a name of its own out;
    /// returns its peer.
    fn take_plain(&mut self, lists: &mut SourceLists) -> Option<PeerIdx> {
        let (at, peer, _) = self.entries(lists).find(|(_, _, own)| own.is_none())?;
        self.take(lists, at, 1);
        Some(peer)
    }

    /// The list, its count first (opened if there is none).
    fn rest_mut<'a>(&mut self, lists: &'a mut SourceLists) -> &'a mut Vec<u32> {
        if self.rest == NO_LIST {
            self.rest = lists.open();
        }
        &mut lists.lists[self.rest as usize]
    }

    /// Shares the file of source `peer` under `name` now; returns the name
    /// it had (`None` if `peer` is not a source).
    pub(super) fn set_name(
        &mut self,
        lists: &mut SourceLists,
        peer: PeerIdx,
        name: u32,
    ) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        if peer == self.first {
            let old = self.name;
            if name != old {
                match self.take_plain(lists) {
                    // Another source under the shared name goes first;
                    // this one keeps its own.
                    Some(next) => {
                        self.first = next;
                        self.push(lists, peer, name);
                    }
                    // Nobody else uses the shared name: it becomes this.
                    None => self.name = name,
                }
            }
            return Some(old);
        }
        let (at, _, own) = self.entries(lists).find(|(_, p, _)| *p == peer)?;
        let shared = self.name;
        let rest = self.rest_mut(lists);
        match own {
            Some(old) if name == shared => {
                rest[at] = peer;
                rest.remove(at + 1);
                Some(old)
            }
            Some(old) => {
                rest[at + 1] = name;
                Some(old)
            }
            None if name != shared => {
                grow(rest, 1);
                rest[at] = peer | OWN_NAME;
                rest.insert(at + 1, name);
                Some(shared)
            }
            None => Some(shared),
        }
    }

    /// Removes source `peer`; returns the name it shared the file under.
    pub(super) fn remove(&mut self, lists: &mut SourceLists, peer: PeerIdx) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        let gone = if peer == self.first {
            let gone = self.name;
            if self.rest == NO_LIST {
                self.first = NO_PEER;
            } else if let Some(next) = self.take_plain(lists) {
                self.first = next;
            } else {
                // Everyone left has a name of their own: the first of them
                // goes first, with its name the shared one.
                let rest = self.rest_mut(lists);
                let (first, name) = (rest[1] & !OWN_NAME, rest[2]);
                self.take(lists, 1, 2);
                (self.first, self.name) = (first, name);
            }
            gone
        } else {
            let (at, _, own) = self.entries(lists).find(|(_, p, _)| *p == peer)?;
            self.take(lists, at, if own.is_some() { 2 } else { 1 });
            own.unwrap_or(self.name)
        };
        if self.rest != NO_LIST && lists.lists[self.rest as usize][0] == 0 {
            lists.close(self.rest);
            self.rest = NO_LIST;
        }
        Some(gone)
    }

    /// Renames every name through `remap` (after a compaction).
    pub(super) fn remap(&mut self, lists: &mut SourceLists, remap: impl Fn(u32) -> u32) {
        if self.is_empty() {
            // A freed record's name is stale: nothing reads it.
            return;
        }
        self.name = remap(self.name);
        let starts: Vec<usize> = self
            .entries(lists)
            .filter(|(_, _, own)| own.is_some())
            .map(|(at, _, _)| at)
            .collect();
        if self.rest != NO_LIST {
            let rest = &mut lists.lists[self.rest as usize];
            for at in starts {
                rest[at + 1] = remap(rest[at + 1]);
            }
        }
    }
}

/// Makes room in a source list for `extra` more elements, growing it by
/// half (a doubling `Vec` leaves a quarter of every list empty on average,
/// and these lists hold most of a big directory's entries).
fn grow(list: &mut Vec<u32>, extra: usize) {
    if list.capacity() - list.len() < extra {
        list.reserve_exact((list.len() / 2).max(extra).max(3));
    }
}

/// What a search reads of a name, kept dense (24 bytes a name) so that
/// walking thousands of candidates stays in cache; the text lives apart
/// in [`Index::names`].
#[derive(Clone, Copy)]
pub(super) struct NameHot {
    /// The first sixteen bytes of the text: orders names by integer
    /// compare, with the text needed only when these are equal.
    pub(super) prefix: Prefix,
    /// A live file shared under this name, or [`NO_FILE`] when none is
    /// (the name is dead).
    pub(super) first: u32,
    /// Whether more files share this name (listed in [`NameFiles::more`]).
    pub(super) more: bool,
}

/// No file: marks a dead name in [`NameHot::first`].
pub(super) const NO_FILE: u32 = u32::MAX;

/// The live files shared under each name: most names belong to one file,
/// which sits inline in the dense array; the rare others go to a side map.
#[derive(Default)]
pub(super) struct NameFiles {
    pub(super) hot: Vec<NameHot>,
    pub(super) more: HashMap<u32, Vec<u32>>,
}

impl NameFiles {
    pub(super) fn add_name(&mut self, text: &str) {
        self.hot.push(NameHot {
            prefix: name_prefix(text),
            first: NO_FILE,
            more: false,
        });
    }

    pub(super) fn is_empty(&self, name: u32) -> bool {
        self.hot[name as usize].first == NO_FILE
    }

    pub(super) fn contains(&self, name: u32, f: u32) -> bool {
        let h = self.hot[name as usize];
        h.first == f || (h.more && self.more.get(&name).is_some_and(|m| m.contains(&f)))
    }

    pub(super) fn push(&mut self, name: u32, f: u32) {
        let h = &mut self.hot[name as usize];
        if h.first == NO_FILE {
            h.first = f;
        } else {
            h.more = true;
            self.more.entry(name).or_default().push(f);
        }
    }

    /// Removes `f` from the name's files; returns whether it was there.
    pub(super) fn remove(&mut self, name: u32, f: u32) -> bool {
        let h = &mut self.hot[name as usize];
        let removed = if h.first == f {
            h.first = match self.more.get_mut(&name) {
                Some(m) if h.more => m.pop().unwrap_or(NO_FILE),
                _ => NO_FILE,
            };
            true
        } else if h.more {
            let m = self
                .more
                .get_mut(&name)
                .expect("a name marked with more files has them");
            match m.iter().position(|x| *x == f) {
                Some(i) => {
                    m.swap_remove(i);
                    true
                }
                None => false,
            }
        } else {
            false
        };
        if h.more && self.more.get(&name).is_none_or(Vec::is_empty) {
            h.more = false;
            self.more.remove(&name);
        }
        removed
    }

    pub(super) fn iter(&self, name: u32) -> impl Iterator<Item = u32> + '_ {
        let h = self.hot[name as usize];
        let first = (h.first != NO_FILE).then_some(h.first);
        let more = if h.more {
            self.more.get(&name).map_or(&[][..], Vec::as_slice)
        } else {
            &[]
        };
        first.into_iter().chain(more.iter().copied())
    }
}

/// One file that matched, with what the caller needs to present it.
#[derive(Debug, Clone)]
pub struct Found<'a> {
    pub id: FileId,
    /// The size most of its sources claim.
    pub size: u64,
    /// (peer, name, claimed size) of some sources (as many as asked for).
    pub sources: Vec<(PeerIdx, &'a str, u64)>,
    /// Further names those sources share the file under (the same bytes
    /// at several paths of one share), with their peer.
    pub other_names: Vec<(PeerIdx, &'a str)>,
    /// How many sources the file has in all.
    pub source_count: usize,
}
