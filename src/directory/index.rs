//! The directory's search index, built for lookups rather than scans:
//!
//! - file id -> file record (the size most sources claim, and its sources
//!   as compact (peer, name) index pairs); a source claiming another size
//!   is listed apart, in a small map of disputed files;
//! - each distinct name is interned once; each distinct token (a case-folded
//!   run of letters and digits) is interned once, with the list of names
//!   that contain it (postings);
//! - each token's trigrams point back to it, so a query fragment finds the
//!   tokens that contain it (`port` finds `report`) without scanning them;
//! - extensions point to the names that end in them.
//!
//! A query touches only the postings of its most selective term, then checks
//! each candidate with [`NameQuery::matches`]. Names whose last file left are
//! marked dead and skipped; once they outnumber the live ones the token side
//! is rebuilt. Pure data: no I/O, no clock, no locks (the store holds one).

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::query::{extension, normalise, tokens, NameQuery, Query};
use crate::id::FileId;

/// A peer's slot number in the store.
pub type PeerIdx = u32;

struct FileRec {
    id: FileId,
    /// The size most sources claim (ties keep the earlier one); sources
    /// claiming another size are in [`Index::disputed`].
    size: u64,
    /// (peer, name) of every source.
    sources: Sources,
    /// How many names link to this file: a search needs to watch for
    /// counting it twice only when more than one does.
    linked_names: u32,
}

/// No peer: marks an empty [`Sources`].
const NO_PEER: PeerIdx = PeerIdx::MAX;

/// The (peer, name) pairs of a file's sources. Most files have one: it sits
/// inline, and only a second source allocates (16 bytes in all, against a
/// `Vec`'s 24 plus a heap block for every file).
struct Sources {
    first: (PeerIdx, u32),
    // Boxed on purpose: 8 bytes in every record instead of a Vec's 24,
    // for the few files with more than one source.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<(PeerIdx, u32)>>>,
}

impl Sources {
    fn new() -> Sources {
        Sources {
            first: (NO_PEER, 0),
            rest: None,
        }
    }

    fn len(&self) -> usize {
        match self.first.0 {
            NO_PEER => 0,
            _ => 1 + self.rest.as_ref().map_or(0, |r| r.len()),
        }
    }

    fn is_empty(&self) -> bool {
        self.first.0 == NO_PEER
    }

    fn iter(&self) -> impl Iterator<Item = &(PeerIdx, u32)> {
        let first = (!self.is_empty()).then_some(&self.first);
        first
            .into_iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut (PeerIdx, u32)> {
        let first = (self.first.0 != NO_PEER).then_some(&mut self.first);
        first
            .into_iter()
            .chain(self.rest.iter_mut().flat_map(|r| r.iter_mut()))
    }

    fn push(&mut self, source: (PeerIdx, u32)) {
        if self.is_empty() {
            self.first = source;
        } else {
            self.rest.get_or_insert_with(Default::default).push(source);
        }
    }

    /// Removes `peer`'s entry; returns it.
    fn remove(&mut self, peer: PeerIdx) -> Option<(PeerIdx, u32)> {
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

/// What a search reads of a name, kept dense (16 bytes a name) so that
/// walking tens of thousands of candidates stays in cache; the text lives
/// apart in [`Index::names`].
#[derive(Clone, Copy)]
struct NameHot {
    /// The first eight bytes of the text, big-endian: orders names by
    /// integer compare, with the text needed only when these are equal.
    prefix: u64,
    /// A live file shared under this name, or [`NO_FILE`] when none is
    /// (the name is dead).
    first: u32,
    /// Whether more files share this name (listed in [`NameFiles::more`]).
    more: bool,
}

/// No file: marks a dead name in [`NameHot::first`].
const NO_FILE: u32 = u32::MAX;

/// The live files shared under each name: most names belong to one file,
/// which sits inline in the dense array; the rare others go to a side map.
#[derive(Default)]
struct NameFiles {
    hot: Vec<NameHot>,
    more: HashMap<u32, Vec<u32>>,
}

impl NameFiles {
    fn add_name(&mut self, text: &str) {
        self.hot.push(NameHot {
            prefix: name_prefix(text),
            first: NO_FILE,
            more: false,
        });
    }

    fn is_empty(&self, name: u32) -> bool {
        self.hot[name as usize].first == NO_FILE
    }

    fn contains(&self, name: u32, f: u32) -> bool {
        let h = self.hot[name as usize];
        h.first == f || (h.more && self.more.get(&name).is_some_and(|m| m.contains(&f)))
    }

    fn push(&mut self, name: u32, f: u32) {
        let h = &mut self.hot[name as usize];
        if h.first == NO_FILE {
            h.first = f;
        } else {
            h.more = true;
            self.more.entry(name).or_default().push(f);
        }
    }

    /// Removes `f` from the name's files; returns whether it was there.
    fn remove(&mut self, name: u32, f: u32) -> bool {
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

    fn iter(&self, name: u32) -> impl Iterator<Item = u32> + '_ {
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

struct TokenRec {
    text: Box<str>,
    /// Names containing this token, ascending (may include dead names).
    names: Vec<u32>,
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

/// The index. See the module documentation.
#[derive(Default)]
pub struct Index {
    files: Vec<FileRec>,
    /// Beside each file record, what ranking reads of it: the number of
    /// sources, with [`MULTI_NAME`] set when more than one name links to
    /// the file. Dense (4 bytes a file), so a search over tens of thousands
    /// of candidates stays in cache instead of visiting every record.
    rank: Vec<u32>,
    free_files: Vec<u32>,
    /// File index by id: holds the 4-byte index only, hashed and compared
    /// through the record (the id is not stored twice).
    by_id: HashTable<u32>,
    /// Each distinct name's text, by name index.
    names: Vec<Box<str>>,
    name_files: NameFiles,
    /// Name index by text (the index only, hashed through `names`).
    name_ids: HashTable<u32>,
    /// Keyed SipHash: ids and names come from remote peers.
    hasher: RandomState,
    dead_names: usize,
    tokens: Vec<TokenRec>,
    token_ids: HashMap<Box<str>, u32>,
    trigrams: HashMap<u64, Vec<u32>>,
    exts: HashMap<Box<str>, Vec<u32>>,
    /// The files each peer is a source of.
    peer_files: Vec<Vec<u32>>,
    /// Files whose sources disagree on the size: the sources whose claim
    /// is not the record's size, with their claims. Empty while everyone
    /// agrees, which is the rule (so it costs nothing per source).
    disputed: HashMap<u32, Vec<(PeerIdx, u64)>>,
    /// Files some source shares under further names (the same bytes at
    /// several paths of its share): (peer, name) pairs beside the name in
    /// [`Sources`]. Empty for most shares, so it costs nothing per source.
    other_names: HashMap<u32, Vec<(PeerIdx, u32)>>,
}

/// Flag in [`Index::rank`]: the file is linked from more than one name.
const MULTI_NAME: u32 = 1 << 31;

fn trigram_keys(token: &str) -> Vec<u64> {
    let chars: Vec<char> = token.chars().collect();
    let mut keys: Vec<u64> = chars
        .windows(3)
        .map(|w| (w[0] as u64) << 42 | (w[1] as u64) << 21 | w[2] as u64)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Intersects two ascending lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

impl Index {
    /// Number of distinct files.
    #[cfg(test)]
    pub fn file_count(&self) -> usize {
        self.by_id.len()
    }

    /// Adds `peer` as a source of `id`, shared under `name` (and the
    /// further names `other_names`), claiming `size` bytes. Returns false
    /// if it already was (its names and claim are updated).
    pub fn add(
        &mut self,
        peer: PeerIdx,
        id: FileId,
        size: u64,
        name: &str,
        other_names: &[String],
    ) -> bool {
        let name_idx = self.intern_name(name);
        let file_idx = match self.file_of(&id) {
            Some(f) => f,
            None => {
                let rec = FileRec {
                    id,
                    size,
                    sources: Sources::new(),
                    linked_names: 0,
                };
                let f = match self.free_files.pop() {
                    Some(f) => {
                        self.files[f as usize] = rec;
                        f
                    }
                    None => {
                        self.files.push(rec);
                        self.rank.push(0);
                        (self.files.len() - 1) as u32
                    }
                };
                let (files, hasher) = (&self.files, &self.hasher);
                self.by_id.insert_unique(hasher.hash_one(id), f, |&g| {
                    hasher.hash_one(files[g as usize].id)
                });
                f
            }
        };
        // Whether the peer is already a source: scan the shorter of the
        // file's sources and the peer's files (a popular file has many).
        let peer_list = self
            .peer_files
            .get(peer as usize)
            .map_or(&[][..], Vec::as_slice);
        let rec = &mut self.files[file_idx as usize];
        let known = if rec.sources.len() <= peer_list.len() {
            rec.sources.iter().any(|(p, _)| *p == peer)
        } else {
            peer_list.contains(&file_idx)
        };
        let existing = if known {
            rec.sources.iter_mut().find(|(p, _)| *p == peer)
        } else {
            None
        };
        let fresh = match existing {
            Some(slot) => {
                let old = std::mem::replace(&mut slot.1, name_idx);
                if old != name_idx {
                    self.unlink_name(old, file_idx);
                }
                false
            }
            None => {
                rec.sources.push((peer, name_idx));
                let p = peer as usize;
                if self.peer_files.len() <= p {
                    self.peer_files.resize_with(p + 1, Vec::new);
                }
                self.peer_files[p].push(file_idx);
                true
            }
        };
        self.link_name(name_idx, file_idx);
        if !other_names.is_empty() || !self.other_names.is_empty() {
            self.set_other_names(peer, file_idx, name_idx, other_names);
        }
        self.set_claim(file_idx, peer, size);
        self.refresh_rank(file_idx);
        fresh
    }

    /// Links a name to a file (a search for the name finds the file).
    fn link_name(&mut self, name_idx: u32, file_idx: u32) {
        let files = &mut self.name_files;
        if !files.contains(name_idx, file_idx) {
            if files.is_empty(name_idx) {
                self.dead_names = self.dead_names.saturating_sub(1);
            }
            files.push(name_idx, file_idx);
            self.files[file_idx as usize].linked_names += 1;
        }
    }

    /// Makes `names` (less `primary`, the name in [`Sources`]) the further
    /// names `peer` shares the file under, in place of the ones it had.
    fn set_other_names(&mut self, peer: PeerIdx, file_idx: u32, primary: u32, names: &[String]) {
        let mut new: Vec<u32> = names.iter().map(|n| self.intern_name(n)).collect();
        new.retain(|n| *n != primary);
        new.sort_unstable();
        new.dedup();
        let old = self.take_other_names(peer, file_idx);
        if !new.is_empty() {
            let list = self.other_names.entry(file_idx).or_default();
            list.extend(new.iter().map(|n| (peer, *n)));
        }
        for n in new {
            self.link_name(n, file_idx);
        }
        for n in old {
            self.unlink_name(n, file_idx);
        }
    }

    /// Removes `peer`'s further names for the file from the side map (they
    /// stay linked until [`unlink_name`](Self::unlink_name)); returns them.
    fn take_other_names(&mut self, peer: PeerIdx, file_idx: u32) -> Vec<u32> {
        let Some(list) = self.other_names.get_mut(&file_idx) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        list.retain(|&(p, n)| {
            let mine = p == peer;
            if mine {
                taken.push(n);
            }
            !mine
        });
        if list.is_empty() {
            self.other_names.remove(&file_idx);
        }
        taken
    }

    /// Records `peer`'s size claim for the file, then lets the size most
    /// sources claim become the record's.
    fn set_claim(&mut self, file_idx: u32, peer: PeerIdx, size: u64) {
        let agrees = self.files[file_idx as usize].size == size;
        if agrees && !self.disputed.contains_key(&file_idx) {
            return;
        }
        let odd = self.disputed.entry(file_idx).or_default();
        odd.retain(|(p, _)| *p != peer);
        if !agrees {
            odd.push((peer, size));
        }
        self.settle_size(file_idx);
    }

    /// Forgets `peer`'s claim (it is no longer a source of the file).
    fn drop_claim(&mut self, file_idx: u32, peer: PeerIdx) {
        if let Some(odd) = self.disputed.get_mut(&file_idx) {
            odd.retain(|(p, _)| *p != peer);
            self.settle_size(file_idx);
        }
    }

    /// Makes the size most sources claim the record's (a tie keeps the
    /// current one), and the disputed list the sources that claim another.
    fn settle_size(&mut self, file_idx: u32) {
        let Some(odd) = self.disputed.get(&file_idx) else {
            return;
        };
        let rec = &self.files[file_idx as usize];
        if odd.is_empty() || rec.sources.is_empty() {
            self.disputed.remove(&file_idx);
            return;
        }
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for (_, size) in odd {
            *counts.entry(*size).or_default() += 1;
        }
        let agreeing = rec.sources.len() - odd.len();
        let Some((best, n)) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            return;
        };
        if n <= agreeing {
            return;
        }
        let claims: Vec<(PeerIdx, u64)> = rec
            .sources
            .iter()
            .map(|(p, _)| (*p, self.claim_of(file_idx, *p)))
            .collect();
        self.files[file_idx as usize].size = best;
        let odd: Vec<(PeerIdx, u64)> = claims.into_iter().filter(|(_, s)| *s != best).collect();
        self.disputed.insert(file_idx, odd);
    }

    /// The size `peer` claims for the file.
    fn claim_of(&self, file_idx: u32, peer: PeerIdx) -> u64 {
        if self.disputed.is_empty() {
            // The rule: nobody disputes any size, and nothing is hashed.
            return self.files[file_idx as usize].size;
        }
        self.disputed
            .get(&file_idx)
            .and_then(|odd| odd.iter().find(|(p, _)| *p == peer))
            .map_or(self.files[file_idx as usize].size, |(_, s)| *s)
    }

    /// Recomputes the file's entry in [`Index::rank`] from its record.
    fn refresh_rank(&mut self, file_idx: u32) {
        let rec = &self.files[file_idx as usize];
        let multi = if rec.linked_names > 1 { MULTI_NAME } else { 0 };
        self.rank[file_idx as usize] = (rec.sources.len() as u32).min(MULTI_NAME - 1) | multi;
    }

    /// Removes `peer` as a source of `id`. Returns whether it was one.
    pub fn remove(&mut self, peer: PeerIdx, id: &FileId) -> bool {
        let Some(file_idx) = self.file_of(id) else {
            return false;
        };
        let list = self.peer_files.get_mut(peer as usize);
        let Some(pos) = list
            .as_ref()
            .and_then(|l| l.iter().position(|f| *f == file_idx))
        else {
            return false;
        };
        if let Some(l) = list {
            l.swap_remove(pos);
        }
        self.drop_source(peer, file_idx);
        self.maybe_compact();
        true
    }

    /// Removes `peer` as a source of everything; returns how many files.
    pub fn remove_peer(&mut self, peer: PeerIdx) -> usize {
        let files = match self.peer_files.get_mut(peer as usize) {
            Some(l) => std::mem::take(l),
            None => return 0,
        };
        for &f in &files {
            self.drop_source(peer, f);
        }
        self.maybe_compact();
        files.len()
    }

    /// How many files `peer` is a source of.
    pub fn peer_file_count(&self, peer: PeerIdx) -> usize {
        self.peer_files.get(peer as usize).map_or(0, Vec::len)
    }

    fn drop_source(&mut self, peer: PeerIdx, file_idx: u32) {
        let rec = &mut self.files[file_idx as usize];
        let Some((_, name_idx)) = rec.sources.remove(peer) else {
            return;
        };
        let last = rec.sources.is_empty();
        let others = self.take_other_names(peer, file_idx);
        self.unlink_name(name_idx, file_idx);
        for n in others {
            self.unlink_name(n, file_idx);
        }
        self.drop_claim(file_idx, peer);
        self.refresh_rank(file_idx);
        if last {
            let id = self.files[file_idx as usize].id;
            let files = &self.files;
            if let Ok(entry) = self
                .by_id
                .find_entry(self.hasher.hash_one(id), |&g| files[g as usize].id == id)
            {
                entry.remove();
            }
            self.free_files.push(file_idx);
        }
    }

    fn maybe_compact(&mut self) {
        if self.dead_names > 1024 && self.dead_names * 2 > self.names.len() {
            self.compact();
        }
    }

    /// Size and up to `max_sources` sources of a file.
    pub fn sources(&self, id: &FileId, max_sources: usize) -> Option<Found<'_>> {
        let f = self.file_of(id)?;
        Some(self.found(f, max_sources))
    }

    fn found(&self, file_idx: u32, max_sources: usize) -> Found<'_> {
        let rec = &self.files[file_idx as usize];
        let sources: Vec<(PeerIdx, &str, u64)> = rec
            .sources
            .iter()
            .take(max_sources)
            .map(|(p, n)| (*p, &*self.names[*n as usize], self.claim_of(file_idx, *p)))
            .collect();
        let other_names = match self.other_names.get(&file_idx) {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .filter(|(p, _)| sources.iter().any(|s| s.0 == *p))
                .map(|(p, n)| (*p, &*self.names[*n as usize]))
                .collect(),
        };
        Found {
            id: rec.id,
            size: rec.size,
            sources,
            other_names,
            source_count: rec.sources.len(),
        }
    }

    /// Drops the link from a name to a file if no source of the file still
    /// uses that name.
    fn unlink_name(&mut self, name_idx: u32, file_idx: u32) {
        let still_used = self.files[file_idx as usize]
            .sources
            .iter()
            .any(|(_, n)| *n == name_idx)
            || self
                .other_names
                .get(&file_idx)
                .is_some_and(|l| l.iter().any(|(_, n)| *n == name_idx));
        if still_used {
            return;
        }
        let files = &mut self.name_files;
        if files.remove(name_idx, file_idx) {
            if files.is_empty(name_idx) {
                self.dead_names += 1;
            }
            let linked = &mut self.files[file_idx as usize].linked_names;
            *linked = linked.saturating_sub(1);
        }
    }

    /// The index of the file with this id.
    fn file_of(&self, id: &FileId) -> Option<u32> {
        self.by_id
            .find(self.hasher.hash_one(id), |&f| {
                self.files[f as usize].id == *id
            })
            .copied()
    }

    /// Adds name `idx` (already in `names`) to the name table.
    fn remember_name(&mut self, idx: u32) {
        let (names, hasher) = (&self.names, &self.hasher);
        self.name_ids
            .insert_unique(hasher.hash_one(&*names[idx as usize]), idx, |&n| {
                hasher.hash_one(&*names[n as usize])
            });
    }

    fn intern_name(&mut self, name: &str) -> u32 {
        let names = &self.names;
        if let Some(&n) = self
            .name_ids
            .find(self.hasher.hash_one(name), |&n| &*names[n as usize] == name)
        {
            return n;
        }
        let idx = self.names.len() as u32;
        self.names.push(Box::from(name));
        self.name_files.add_name(name);
        self.remember_name(idx);
        // A new name starts dead until a file links it.
        self.dead_names += 1;
        self.index_name(idx, name);
        idx
    }

    fn index_name(&mut self, idx: u32, name: &str) {
        let mut toks: Vec<String> = tokens(name).collect();
        toks.sort_unstable();
        toks.dedup();
        for t in toks {
            let t_idx = match self.token_ids.get(t.as_str()) {
                Some(&i) => i,
                None => {
                    let i = self.tokens.len() as u32;
                    for key in trigram_keys(&t) {
                        self.trigrams.entry(key).or_default().push(i);
                    }
                    self.tokens.push(TokenRec {
                        text: t.clone().into_boxed_str(),
                        names: Vec::new(),
                    });
                    self.token_ids.insert(t.into_boxed_str(), i);
                    i
                }
            };
            self.tokens[t_idx as usize].names.push(idx);
        }
        if let Some(ext) = extension(name) {
            self.exts.entry(ext.into_boxed_str()).or_default().push(idx);
        }
    }

    /// Rebuilds names, tokens, trigrams and extensions from the live names.
    fn compact(&mut self) {
        let old_names = std::mem::take(&mut self.names);
        let old_files = std::mem::take(&mut self.name_files);
        self.name_ids.clear();
        self.tokens.clear();
        self.token_ids.clear();
        self.trigrams.clear();
        self.exts.clear();
        self.dead_names = 0;
        let mut remap = vec![u32::MAX; old_names.len()];
        for (old, text) in old_names.into_iter().enumerate() {
            if old_files.is_empty(old as u32) {
                continue;
            }
            let idx = self.names.len() as u32;
            remap[old] = idx;
            self.name_files.add_name(&text);
            self.names.push(text.clone());
            self.remember_name(idx);
            for f in old_files.iter(old as u32) {
                self.name_files.push(idx, f);
            }
            self.index_name(idx, &text);
        }
        for f in &mut self.files {
            for (_, n) in f.sources.iter_mut() {
                *n = remap[*n as usize];
            }
        }
        for list in self.other_names.values_mut() {
            for (_, n) in list.iter_mut() {
                *n = remap[*n as usize];
            }
        }
    }

    /// Token indices whose text contains `fragment`.
    fn tokens_containing(&self, fragment: &str) -> Vec<u32> {
        let keys = trigram_keys(fragment);
        if keys.is_empty() {
            // Shorter than three characters: the token dictionary is small
            // next to the names, so a scan of it is acceptable.
            return (0..self.tokens.len() as u32)
                .filter(|t| self.tokens[*t as usize].text.contains(fragment))
                .collect();
        }
        let mut lists: Vec<&Vec<u32>> = Vec::with_capacity(keys.len());
        for k in &keys {
            match self.trigrams.get(k) {
                Some(l) => lists.push(l),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let mut acc = lists[0].clone();
        for l in &lists[1..] {
            acc = intersect(&acc, l);
            if acc.is_empty() {
                break;
            }
        }
        acc.retain(|t| self.tokens[*t as usize].text.contains(fragment));
        acc
    }

    /// Names (ascending) that contain a token containing `fragment`: the
    /// union of those tokens' postings. Borrowed when one token matches.
    fn names_with(&self, fragment: &str) -> Cow<'_, [u32]> {
        let toks = self.tokens_containing(fragment);
        match toks.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(&self.tokens[*one as usize].names),
            many => {
                let mut names: Vec<u32> = many
                    .iter()
                    .flat_map(|t| self.tokens[*t as usize].names.iter().copied())
                    .collect();
                names.sort_unstable();
                names.dedup();
                Cow::Owned(names)
            }
        }
    }

    /// Names that satisfy every word, phrase token, extension and exclusion
    /// of `q`, by merging sorted postings: integers only, no string work.
    /// Phrase order and sizes are checked by the caller.
    fn candidates(&self, q: &NameQuery) -> Cow<'_, [u32]> {
        let mut sets: Vec<Cow<'_, [u32]>> = q
            .words
            .iter()
            .map(String::as_str)
            .chain(q.phrases.iter().flat_map(|p| p.split(' ')))
            .map(|f| self.names_with(f))
            .collect();
        if let Some(ext) = &q.ext {
            sets.push(Cow::Borrowed(
                self.exts
                    .get(ext.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            ));
        }
        sets.sort_by_key(|s| s.len());
        let mut sets = sets.into_iter();
        // No word, phrase or extension: filters alone start from every name.
        let mut acc = sets
            .next()
            .unwrap_or_else(|| Cow::Owned((0..self.names.len() as u32).collect()));
        for s in sets {
            if acc.is_empty() {
                break;
            }
            acc = Cow::Owned(intersect(&acc, &s));
        }
        for x in q.excluded.iter().filter(|x| !x.contains(' ')) {
            if acc.is_empty() {
                break;
            }
            let out = self.names_with(x);
            acc = Cow::Owned(difference(&acc, &out));
        }
        acc
    }

    /// Files matching `query`: the `limit` best (most sources, then by name)
    /// and the number that matched in all.
    pub fn search(
        &self,
        query: &Query,
        limit: usize,
        max_sources: usize,
    ) -> (Vec<Found<'_>>, usize) {
        let q = match query {
            Query::Id(id) => {
                return match self.sources(id, max_sources) {
                    Some(f) => (vec![f], 1),
                    None => (Vec::new(), 0),
                }
            }
            Query::Name(q) => q,
        };
        let needs_text = !q.phrases.is_empty() || q.excluded.iter().any(|x| x.contains(' '));
        let sized = q.min_size.is_some() || q.max_size.is_some();
        // (rank key, file, the name it matched under); a file shared under
        // several matching names counts once (marked in a per-thread array).
        // The key (most sources first, then the name's first bytes) sits
        // beside the hit, so ranking reads one contiguous array.
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            let stamp = seen.next_stamp(self.files.len());
            // The hit buffer is reused from search to search on this thread.
            let mut hits = std::mem::take(&mut seen.hits);
            hits.clear();
            let candidates = self.candidates(q);
            hits.reserve(candidates.len());
            for &name_idx in candidates.iter() {
                let h = self.name_files.hot[name_idx as usize];
                if h.first == NO_FILE {
                    continue;
                }
                // Words, extension and single-word exclusions are settled by
                // the postings; only phrase order needs the text.
                if needs_text && !q.phrases_match(&normalise(&self.names[name_idx as usize])) {
                    continue;
                }
                for f in self.name_files.iter(name_idx) {
                    let rank = self.rank[f as usize];
                    if (!sized || q.size_fits(self.files[f as usize].size))
                        && (rank & MULTI_NAME == 0 || seen.first(f, stamp))
                    {
                        let key = (u32::MAX - (rank & !MULTI_NAME), h.prefix);
                        hits.push((key, f, name_idx));
                    }
                }
            }
            let found = self.best(&mut hits, limit, max_sources);
            // Keep the buffer for the next search unless it grew huge.
            if hits.capacity() <= KEEP_HITS {
                seen.hits = hits;
            }
            found
        })
    }

    /// Ranks `hits`: the `limit` best as results, and how many there were.
    fn best(
        &self,
        hits: &mut Vec<(Key, u32, u32)>,
        limit: usize,
        max_sources: usize,
    ) -> (Vec<Found<'_>>, usize) {
        let total = hits.len();
        if limit == 0 {
            return (Vec::new(), total);
        }
        if limit < hits.len() {
            // Select by key alone, then keep everything that ties with the
            // last kept key, so the exact order below decides among them.
            hits.select_nth_unstable_by_key(limit - 1, |h| h.0);
            let boundary = hits[limit - 1].0;
            hits.retain(|h| h.0 <= boundary);
        }
        // Exact order: the key, then the whole name, then the id.
        hits.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.names[a.2 as usize].cmp(&self.names[b.2 as usize]))
                .then_with(|| {
                    self.files[a.1 as usize]
                        .id
                        .cmp(&self.files[b.1 as usize].id)
                })
        });
        hits.truncate(limit);
        (
            hits.iter()
                .map(|&(_, f, _)| self.found(f, max_sources))
                .collect(),
            total,
        )
    }
}

/// A search thread keeps its hit buffer between searches up to this many
/// entries (6 MiB).
const KEEP_HITS: usize = 256 * 1024;

/// Rank key: (u32::MAX - sources, name prefix); smaller ranks first.
type Key = (u32, u64);

/// Orders like the text's bytes for the first eight of them.
fn name_prefix(text: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = text.len().min(8);
    b[..n].copy_from_slice(&text.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// Marks files already counted in the current search: one slot per file,
/// stamped with the search's number, so no clearing between searches.
#[derive(Default)]
struct Seen {
    stamps: Vec<u32>,
    current: u32,
    /// The last search's hit buffer, kept for its capacity.
    hits: Vec<(Key, u32, u32)>,
}

impl Seen {
    fn next_stamp(&mut self, files: usize) -> u32 {
        if self.stamps.len() < files {
            self.stamps.resize(files, 0);
        }
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.current = 1;
        }
        self.current
    }

    /// True the first time `file` is seen with this stamp.
    fn first(&mut self, file: u32, stamp: u32) -> bool {
        let slot = &mut self.stamps[file as usize];
        let fresh = *slot != stamp;
        *slot = stamp;
        fresh
    }
}

thread_local! {
    static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::default());
}

/// What is in `a` but not in `b` (both ascending).
fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|x| {
            while j < b.len() && b[j] < *x {
                j += 1;
            }
            !(j < b.len() && b[j] == *x)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> FileId {
        FileId::of(s.as_bytes())
    }

    fn search(ix: &Index, q: &str) -> Vec<String> {
        let (found, _) = ix.search(&Query::parse(q).unwrap(), 100, 10);
        found.iter().map(|f| f.sources[0].1.to_string()).collect()
    }

    #[test]
    fn fragments_find_tokens_through_trigrams() {
        let mut ix = Index::default();
        ix.add(0, id("a"), 10, "annual_report.pdf", &[]);
        ix.add(0, id("b"), 10, "Support Group.txt", &[]);
        ix.add(0, id("c"), 10, "passport.jpg", &[]);
        ix.add(0, id("d"), 10, "holiday.mp4", &[]);
        assert_eq!(
            search(&ix, "port"),
            vec!["Support Group.txt", "annual_report.pdf", "passport.jpg"]
        );
        assert_eq!(search(&ix, "port ext:pdf"), vec!["annual_report.pdf"]);
        assert_eq!(
            search(&ix, "po"),
            vec!["Support Group.txt", "annual_report.pdf", "passport.jpg"]
        );
        assert_eq!(search(&ix, "ext:mp4"), vec!["holiday.mp4"]);
        assert!(search(&ix, "xyz").is_empty());
    }

    #[test]
    fn removal_and_compaction_keep_results_exact() {
        let mut ix = Index::default();
        for i in 0..3000u32 {
            ix.add(
                i % 7,
                id(&i.to_string()),
                i as u64,
                &format!("track {i} remix.mp3"),
                &[],
            );
        }
        assert_eq!(ix.search(&Query::parse("remix").unwrap(), 10, 10).1, 3000);
        // Remove most: compaction kicks in, and what is left is still found.
        for i in 0..2900u32 {
            assert!(ix.remove(i % 7, &id(&i.to_string())));
        }
        assert!(!ix.remove(0, &id("0")));
        assert_eq!((0..7).map(|p| ix.peer_file_count(p)).sum::<usize>(), 100);
        assert!(ix.names.len() < 3000, "compaction did not run");
        let (found, total) = ix.search(&Query::parse("remix size>2950").unwrap(), 100, 10);
        assert_eq!(total, 49);
        assert!(found.iter().all(|f| f.size > 2950));
        assert_eq!(search(&ix, "2999"), vec!["track 2999 remix.mp3"]);
        assert!(search(&ix, "\"track 5 remix\"").is_empty());
        // A name that died can come back.
        ix.add(1, id("back"), 1, "track 5 remix.mp3", &[]);
        assert_eq!(search(&ix, "\"track 5 remix\""), vec!["track 5 remix.mp3"]);
    }

    #[test]
    fn sources_group_by_id_and_rank_by_count_then_name() {
        let mut ix = Index::default();
        ix.add(0, id("pop"), 5, "b popular.ogg", &[]);
        ix.add(1, id("pop"), 5, "popular copy.ogg", &[]);
        ix.add(2, id("pop"), 5, "b popular.ogg", &[]);
        ix.add(0, id("rare"), 5, "a rare.ogg", &[]);
        ix.add(0, id("rare2"), 5, "c rare.ogg", &[]);
        let (found, total) = ix.search(&Query::parse("ogg").unwrap(), 10, 10);
        assert_eq!(total, 3);
        assert_eq!(found[0].id, id("pop"));
        assert_eq!(found[0].sources.len(), 3);
        assert_eq!(found[1].id, id("rare"));
        assert_eq!(found[2].id, id("rare2"));
        // Re-adding the same source changes nothing but its name.
        assert!(!ix.add(1, id("pop"), 5, "renamed.ogg", &[]));
        assert_eq!(ix.sources(&id("pop"), 10).unwrap().sources.len(), 3);
        assert!(search(&ix, "copy").is_empty());
        assert_eq!(search(&ix, "renamed"), vec!["b popular.ogg"]);
        // A peer that leaves takes only its own sources along.
        assert_eq!(ix.remove_peer(0), 3);
        assert_eq!(ix.sources(&id("pop"), 10).unwrap().sources.len(), 2);
        assert!(ix.sources(&id("rare"), 10).is_none());
        assert_eq!(ix.file_count(), 1);
        ix.add(0, id("rare"), 5, "a rare.ogg", &[]);
        ix.add(0, id("rare2"), 5, "c rare.ogg", &[]);
        // Names that share their first eight bytes still rank by the whole name.
        let mut ix2 = Index::default();
        for (i, n) in ["holidays_b.jpg", "holidays_a.jpg", "holidays_c.jpg"]
            .iter()
            .enumerate()
        {
            ix2.add(i as u32, id(n), 1, n, &[]);
        }
        let (found, total) = ix2.search(&Query::parse("holidays").unwrap(), 2, 10);
        let names: Vec<&str> = found.iter().map(|f| f.sources[0].1).collect();
        assert_eq!(
            (names, total),
            (vec!["holidays_a.jpg", "holidays_b.jpg"], 3)
        );
        // Limit keeps the best, total keeps counting.
        let (found, total) = ix.search(&Query::parse("ogg").unwrap(), 1, 10);
        assert_eq!((found.len(), total, found[0].id), (1, 3, id("pop")));
    }

    #[test]
    fn many_files_under_one_name_and_one_file_under_many_names() {
        let mut ix = Index::default();
        // Three different files all called "notes.txt".
        for (p, f) in [(0, "x"), (1, "y"), (2, "z")] {
            ix.add(p, id(f), 1, "notes.txt", &[]);
        }
        let ids = |ix: &Index, q: &str| {
            let (found, total) = ix.search(&Query::parse(q).unwrap(), 10, 10);
            let mut ids: Vec<FileId> = found.iter().map(|f| f.id).collect();
            ids.sort();
            (ids, total)
        };
        let mut all = vec![id("x"), id("y"), id("z")];
        all.sort();
        assert_eq!(ids(&ix, "notes"), (all.clone(), 3));
        // Removing the one held inline promotes another; the rest stay.
        assert!(ix.remove(0, &id("x")));
        assert_eq!(ids(&ix, "notes").1, 2);
        assert!(ix.remove(2, &id("z")));
        assert_eq!(ids(&ix, "notes"), (vec![id("y")], 1));
        assert!(ix.remove(1, &id("y")));
        assert_eq!(ids(&ix, "notes").1, 0);
        assert!(ix.name_files.more.is_empty());
        // One file under two matching names counts once, with both sources.
        ix.add(0, id("w"), 1, "notes a.txt", &[]);
        ix.add(1, id("w"), 1, "notes b.txt", &[]);
        let (found, total) = ix.search(&Query::parse("notes").unwrap(), 10, 10);
        assert_eq!((found.len(), total, found[0].source_count), (1, 1, 2));
        // Once one source leaves, the file is linked from one name again.
        assert!(ix.remove(0, &id("w")));
        assert_eq!(ix.rank[ix.file_of(&id("w")).unwrap() as usize], 1);
        assert_eq!(search(&ix, "notes"), vec!["notes b.txt"]);
    }

    #[test]
    fn a_source_with_the_same_bytes_at_two_paths_is_found_by_both_and_counted_once() {
        let mut ix = Index::default();
        let both = ["music/b/cover.txt".to_string()];
        assert!(ix.add(0, id("c"), 4, "music/a/cover.txt", &both));
        ix.add(1, id("c"), 4, "cover.txt", &[]);
        for q in ["a cover", "b cover", "music"] {
            let (found, total) = ix.search(&Query::parse(q).unwrap(), 10, 10);
            assert_eq!((found.len(), total), (1, 1), "{q}");
            assert_eq!(found[0].source_count, 2, "{q}");
            assert_eq!(found[0].other_names, vec![(0, "music/b/cover.txt")]);
        }
        // Announced again without it: the second path is gone from search.
        assert!(!ix.add(0, id("c"), 4, "music/a/cover.txt", &[]));
        assert_eq!(ix.search(&Query::parse("b cover").unwrap(), 10, 10).1, 0);
        assert!(ix.other_names.is_empty());
        // The two names swapped: both still find it, each once.
        ix.add(0, id("c"), 4, "music/a/cover.txt", &both);
        ix.add(
            0,
            id("c"),
            4,
            "music/b/cover.txt",
            &["music/a/cover.txt".into()],
        );
        assert_eq!(ix.search(&Query::parse("a cover").unwrap(), 10, 10).1, 1);
        assert_eq!(ix.search(&Query::parse("b cover").unwrap(), 10, 10).1, 1);
        // Many dead names force a compaction; the further name survives it.
        for i in 0..3000u32 {
            ix.add(2, id(&i.to_string()), 1, &format!("junk {i}.bin"), &[]);
        }
        assert_eq!(ix.remove_peer(2), 3000);
        let found = ix.sources(&id("c"), 10).unwrap();
        assert_eq!(found.other_names, vec![(0, "music/a/cover.txt")]);
        assert_eq!(ix.search(&Query::parse("a cover").unwrap(), 10, 10).1, 1);
        // The peer leaves: its further names go with it.
        assert_eq!(ix.remove_peer(0), 1);
        assert!(ix.other_names.is_empty());
        assert_eq!(ix.search(&Query::parse("music").unwrap(), 10, 10).1, 0);
        assert_eq!(search(&ix, "cover"), vec!["cover.txt"]);
    }

    /// The index against a brute-force filter: the same names, peers and
    /// removals kept in plain maps, and the same random queries answered by
    /// checking every name with [`NameQuery::matches`]. Totals, the files
    /// found and the ranking by source count must agree, before and after
    /// removals that leave most names dead (which compacts the index).
    #[test]
    fn random_queries_find_what_a_brute_force_filter_finds() {
        use crate::fuzz::Rng;
        use std::collections::{BTreeMap, BTreeSet};

        const WORDS: [&str; 18] = [
            "report", "Report", "annual", "port", "sport", "draft", "über", "ÜBER", "東京", "2020",
            "a", "ab", "x1", "the", "notes", "holiday", "photo", "mix",
        ];
        const SEPARATORS: [&str; 6] = [" ", "_", "-", ".", " (", ") "];
        const EXTS: [&str; 6] = ["pdf", "PDF", "txt", "mp3", "gz", ""];
        let mut rng = Rng(0xd1ff_e7e4_7a1b_1e55);
        let name = |rng: &mut Rng| {
            let mut n = String::new();
            for k in 0..1 + rng.below(4) {
                if k > 0 {
                    n.push_str(SEPARATORS[rng.below(SEPARATORS.len())]);
                }
                n.push_str(WORDS[rng.below(WORDS.len())]);
            }
            match EXTS[rng.below(EXTS.len())] {
                "" => n,
                ext => format!("{n}.{ext}"),
            }
        };
        let query = |rng: &mut Rng| -> String {
            let fragment = |rng: &mut Rng| {
                let w: Vec<char> = WORDS[rng.below(WORDS.len())].chars().collect();
                let a = rng.below(w.len());
                let b = a + 1 + rng.below(w.len() - a);
                w[a..b].iter().collect::<String>()
            };
            let mut terms = Vec::new();
            for _ in 0..1 + rng.below(3) {
                terms.push(match rng.below(9) {
                    0 => format!("-{}", fragment(rng)),
                    1 => format!("\"{} {}\"", fragment(rng), WORDS[rng.below(WORDS.len())]),
                    2 => format!("-\"{} {}\"", WORDS[rng.below(WORDS.len())], fragment(rng)),
                    3 => format!("ext:{}", EXTS[rng.below(EXTS.len() - 1)]),
                    4 => format!("size>{}", rng.below(300)),
                    5 => format!("size<{}", rng.below(300)),
                    // Text the parser trips on; kept when it parses.
                    6 => rng.text(&WORDS),
                    _ => fragment(rng),
                });
            }
            terms.join(" ")
        };

        // (peer, file) -> name; file -> size; as the brute force sees them.
        let mut shares: BTreeMap<(PeerIdx, u32), String> = BTreeMap::new();
        let mut ix = Index::default();
        let file_id = |f: u32| FileId::of(&f.to_le_bytes());
        let size_of = |f: u32| (f as u64 * 7919) % 300;
        let add = |ix: &mut Index, shares: &mut BTreeMap<_, _>, peer, f: u32, n: String| {
            ix.add(peer, file_id(f), size_of(f), &n, &[]);
            shares.insert((peer, f), n);
        };
        // Popular files under a few names each; then many files under
        // unique names, most of which go again below.
        for _ in 0..1500 {
            let (peer, f) = (rng.below(40) as PeerIdx, rng.below(400) as u32);
            add(&mut ix, &mut shares, peer, f, name(&mut rng));
        }
        for f in 400..3400u32 {
            let n = format!("{} z{f}", name(&mut rng));
            add(&mut ix, &mut shares, 40 + f % 7, f, n);
        }

        let check = |ix: &Index, shares: &BTreeMap<(PeerIdx, u32), String>, rng: &mut Rng| {
            let named: Vec<(u32, &str, String)> = shares
                .iter()
                .map(|((_, f), n)| (*f, n.as_str(), normalise(n)))
                .collect();
            let mut sources: BTreeMap<u32, usize> = BTreeMap::new();
            for (f, _, _) in &named {
                *sources.entry(*f).or_default() += 1;
            }
            let mut compared = 0;
            while compared < 200 {
                let text = query(rng);
                let Ok(Query::Name(q)) = Query::parse(&text) else {
                    continue;
                };
                compared += 1;
                let matched: BTreeSet<u32> = named
                    .iter()
                    .filter(|(f, n, norm)| q.matches(n, norm, size_of(*f)))
                    .map(|(f, _, _)| *f)
                    .collect();
                let want: BTreeSet<FileId> = matched.iter().map(|f| file_id(*f)).collect();
                let (found, total) = ix.search(&Query::Name(q.clone()), 100_000, 3);
                let got: BTreeSet<FileId> = found.iter().map(|h| h.id).collect();
                assert_eq!(total, want.len(), "total of {text:?}");
                assert_eq!(got, want, "files of {text:?}");
                // The best ten have the most sources.
                let mut counts: Vec<usize> = matched.iter().map(|f| sources[f]).collect();
                counts.sort_unstable_by(|a, b| b.cmp(a));
                counts.truncate(10);
                let (top, _) = ix.search(&Query::Name(q), 10, 3);
                let top: Vec<usize> = top.iter().map(|h| h.source_count).collect();
                assert_eq!(top, counts, "ranking of {text:?}");
            }
        };
        check(&ix, &shares, &mut rng);
        let names_before = ix.names.len();

        // Peers leave, single files go, names change: most unique names die.
        for peer in [3, 17, 41, 42, 43, 44, 45] {
            ix.remove_peer(peer);
            shares.retain(|(p, _), _| *p != peer);
        }
        let keys: Vec<(PeerIdx, u32)> = shares.keys().copied().collect();
        for (peer, f) in keys {
            match rng.below(4) {
                0 => {
                    assert!(ix.remove(peer, &file_id(f)));
                    shares.remove(&(peer, f));
                }
                1 if f < 400 => add(&mut ix, &mut shares, peer, f, name(&mut rng)),
                _ => {}
            }
        }
        assert!(ix.names.len() < names_before, "the index was not compacted");
        check(&ix, &shares, &mut rng);
    }
}
