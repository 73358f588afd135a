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

/// The (peer, name) pairs of a file's sources. Most files have one: it sits
/// inline, and only a second source allocates (16 bytes in all, against a
/// `Vec`'s 24 plus a heap block for every file).
pub(super) struct Sources {
    pub(super) first: (PeerIdx, u32),
    // Boxed on purpose: 8 bytes in every record instead of a Vec's 24,
    // for the few files with more than one source.
    #[allow(clippy::box_collection)]
    pub(super) rest: Option<Box<Vec<(PeerIdx, u32)>>>,
}

impl Sources {
    pub(super) fn new() -> Sources {
        Sources {
            first: (NO_PEER, 0),
            rest: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        match self.first.0 {
            NO_PEER => 0,
            _ => 1 + self.rest.as_ref().map_or(0, |r| r.len()),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.0 == NO_PEER
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &(PeerIdx, u32)> {
        let first = (!self.is_empty()).then_some(&self.first);
        first
            .into_iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut (PeerIdx, u32)> {
        let first = (self.first.0 != NO_PEER).then_some(&mut self.first);
        first
            .into_iter()
            .chain(self.rest.iter_mut().flat_map(|r| r.iter_mut()))
    }

    pub(super) fn push(&mut self, source: (PeerIdx, u32)) {
        if self.is_empty() {
            self.first = source;
        } else {
            self.rest.get_or_insert_with(Default::default).push(source);
        }
    }

    /// Removes `peer`'s entry; returns it.
    pub(super) fn remove(&mut self, peer: PeerIdx) -> Option<(PeerIdx, u32)> {
        if self.is_empty() {
            return None;
        }
        let removed = if self.first.0 == peer {
            let gone = self.first;
            self.first = match self.rest.as_mut().and_then(|r| r.pop()) {
                Some(next) => next,
                None => (NO_PEER, 0),
            };
            gone
        } else {
            let rest = self.rest.as_mut()?;
            let pos = rest.iter().position(|(p, _)| *p == peer)?;
            rest.swap_remove(pos)
        };
        if self.rest.as_ref().is_some_and(|r| r.is_empty()) {
            self.rest = None;
        }
        Some(removed)
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
