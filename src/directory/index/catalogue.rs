//! [`Index`]: the file catalogue and its interned names and tokens, and
//! what changes them (a source added or removed, size claims, other names,
//! compaction). Searching it is in `search.rs`.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::super::query::{extension, tokens};
use super::files::{FileRec, Found, NameFiles, PeerIdx, SourceLists, Sources};
use super::names::{name_prefix, trigram_keys, NameTexts, MULTI_NAME};
use super::postings::{bucket, Postings, TokenRec};
use crate::id::FileId;

/// The index. See the module documentation.
#[derive(Default)]
pub struct Index {
    pub(super) files: Vec<FileRec>,
    /// The further sources of the files with more than one.
    pub(super) lists: SourceLists,
    /// Beside each file record, what ranking reads of it: the number of
    /// sources, with [`MULTI_NAME`] set when more than one name links to
    /// the file. Dense (4 bytes a file), so a search over tens of thousands
    /// of candidates stays in cache instead of visiting every record.
    pub(super) rank: Vec<u32>,
    pub(super) free_files: Vec<u32>,
    /// File index by id: holds the 4-byte index only, hashed and compared
    /// through the record (the id is not stored twice).
    pub(super) by_id: HashTable<u32>,
    /// Each distinct name's text, by name index.
    pub(super) names: NameTexts,
    pub(super) name_files: NameFiles,
    /// By name index: a source bucket every block bound of the name's
    /// lists already allows, so raising them to it again is skipped
    /// (a login adding a source to a known file under a known name
    /// touches none of the name's lists). Bounds only rise between
    /// compactions, which index every name again.
    pub(super) raised: Vec<u8>,
    /// Name index by text (the index only, hashed through `names`).
    pub(super) name_ids: HashTable<u32>,
    /// Keyed SipHash: ids and names come from remote peers.
    pub(super) hasher: RandomState,
    pub(super) dead_names: usize,
    pub(super) tokens: Vec<TokenRec>,
    pub(super) token_ids: HashMap<Box<str>, u32>,
    pub(super) trigrams: HashMap<u64, Vec<u32>>,
    pub(super) exts: HashMap<Box<str>, Postings>,
    /// The files each peer is a source of.
    pub(super) peer_files: Vec<Vec<u32>>,
    /// Files whose sources disagree on the size: the sources whose claim
    /// is not the record's size, with their claims. Empty while everyone
    /// agrees, which is the rule (so it costs nothing per source).
    pub(super) disputed: HashMap<u32, Vec<(PeerIdx, u64)>>,
    /// Files some source shares under further names (the same bytes at
    /// several paths of its share): (peer, name) pairs beside the name in
    /// [`Sources`]. Empty for most shares, so it costs nothing per source.
    pub(super) other_names: HashMap<u32, Vec<(PeerIdx, u32)>>,
}

impl Index {
    /// Number of distinct files.
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
        let (rec, lists) = (&mut self.files[file_idx as usize], &mut self.lists);
        let known = if rec.sources.len(lists) <= peer_list.len() {
            rec.sources.iter(lists).any(|(p, _)| p == peer)
        } else {
            peer_list.contains(&file_idx)
        };
        let existing = if known {
            rec.sources.set_name(lists, peer, name_idx)
        } else {
            None
        };
        let fresh = match existing {
            Some(old) => {
                if old != name_idx {
                    self.unlink_name(old, file_idx);
                }
                false
            }
            None => {
                rec.sources.push(lists, peer, name_idx);
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
    pub(super) fn link_name(&mut self, name_idx: u32, file_idx: u32) {
        let files = &mut self.name_files;
        if !files.contains(name_idx, file_idx) {
            if files.is_empty(name_idx) {
                self.dead_names = self.dead_names.saturating_sub(1);
            }
            files.push(name_idx, file_idx);
            self.files[file_idx as usize].linked_names += 1;
            let b = bucket(self.rank[file_idx as usize] & !MULTI_NAME);
            self.raise_bounds(name_idx, b);
        }
    }

    /// Lets every block bound of name `name_idx` allow a file of source
    /// bucket `b` (see [`Postings`]).
    pub(super) fn raise_bounds(&mut self, name_idx: u32, b: u8) {
        let raised = &mut self.raised[name_idx as usize];
        if b <= *raised {
            // Every bound allows it already (all allow one source).
            return;
        }
        *raised = b;
        let name = &self.names[name_idx as usize];
        for t in tokens(name) {
            if let Some(&t_idx) = self.token_ids.get(t.as_str()) {
                self.tokens[t_idx as usize].postings.raise(name_idx, b);
            }
        }
        if let Some(ext) = extension(name) {
            if let Some(p) = self.exts.get_mut(ext.as_str()) {
                p.raise(name_idx, b);
            }
        }
    }

    /// The highest source bucket among the files of a name.
    pub(super) fn name_bucket(&self, name_idx: u32) -> u8 {
        self.name_files
            .iter(name_idx)
            .map(|f| bucket(self.rank[f as usize] & !MULTI_NAME))
            .max()
            .unwrap_or(0)
    }

    /// Makes `names` (less `primary`, the name in [`Sources`]) the further
    /// names `peer` shares the file under, in place of the ones it had.
    pub(super) fn set_other_names(
        &mut self,
        peer: PeerIdx,
        file_idx: u32,
        primary: u32,
        names: &[String],
    ) {
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
    pub(super) fn take_other_names(&mut self, peer: PeerIdx, file_idx: u32) -> Vec<u32> {
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
    pub(super) fn set_claim(&mut self, file_idx: u32, peer: PeerIdx, size: u64) {
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
    pub(super) fn drop_claim(&mut self, file_idx: u32, peer: PeerIdx) {
        if let Some(odd) = self.disputed.get_mut(&file_idx) {
            odd.retain(|(p, _)| *p != peer);
            self.settle_size(file_idx);
        }
    }

    /// Makes the size most sources claim the record's (a tie keeps the
    /// current one), and the disputed list the sources that claim another.
    pub(super) fn settle_size(&mut self, file_idx: u32) {
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
        let agreeing = rec.sources.len(&self.lists) - odd.len();
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
            .iter(&self.lists)
            .map(|(p, _)| (p, self.claim_of(file_idx, p)))
            .collect();
        self.files[file_idx as usize].size = best;
        let odd: Vec<(PeerIdx, u64)> = claims.into_iter().filter(|(_, s)| *s != best).collect();
        self.disputed.insert(file_idx, odd);
    }

    /// The size `peer` claims for the file.
    pub(super) fn claim_of(&self, file_idx: u32, peer: PeerIdx) -> u64 {
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
    /// When the file's source count reaches a higher [`bucket`], raises
    /// the block bounds of every name it is linked from.
    pub(super) fn refresh_rank(&mut self, file_idx: u32) {
        let rec = &self.files[file_idx as usize];
        let multi = if rec.linked_names > 1 { MULTI_NAME } else { 0 };
        let sources = (rec.sources.len(&self.lists) as u32).min(MULTI_NAME - 1);
        let old = std::mem::replace(&mut self.rank[file_idx as usize], sources | multi);
        let b = bucket(sources);
        if b > bucket(old & !MULTI_NAME) {
            let mut names: Vec<u32> = rec.sources.iter(&self.lists).map(|(_, n)| n).collect();
            if let Some(more) = self.other_names.get(&file_idx) {
                names.extend(more.iter().map(|(_, n)| *n));
            }
            names.sort_unstable();
            names.dedup();
            for n in names {
                self.raise_bounds(n, b);
            }
        }
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

    /// Makes room in `peer`'s list for `n` more files (a login's, known
    /// at once: a list grown one file at a time holds up to twice that).
    pub fn reserve(&mut self, peer: PeerIdx, n: usize) {
        let p = peer as usize;
        if self.peer_files.len() <= p {
            self.peer_files.resize_with(p + 1, Vec::new);
        }
        self.peer_files[p].reserve_exact(n);
    }

    /// The files `peer` is a source of, the first `limit` by path: id, the
    /// size it claims, the path it shares it under; and how many in all.
    pub fn peer_shares(&self, peer: PeerIdx, limit: usize) -> (Vec<(FileId, u64, &str)>, usize) {
        let Some(list) = self.peer_files.get(peer as usize) else {
            return (Vec::new(), 0);
        };
        let mut out: Vec<(FileId, u64, &str)> = list
            .iter()
            .filter_map(|&f| {
                let rec = &self.files[f as usize];
                let n = rec.sources.name_of(&self.lists, peer)?;
                let name: &str = &self.names[n as usize];
                Some((rec.id, self.claim_of(f, peer), name))
            })
            .collect();
        let total = out.len();
        if limit < total {
            out.select_nth_unstable_by(limit, |a, b| a.2.cmp(b.2));
            out.truncate(limit);
        }
        out.sort_unstable_by(|a, b| a.2.cmp(b.2));
        (out, total)
    }

    /// How many files `peer` is a source of.
    pub fn peer_file_count(&self, peer: PeerIdx) -> usize {
        self.peer_files.get(peer as usize).map_or(0, Vec::len)
    }

    pub(super) fn drop_source(&mut self, peer: PeerIdx, file_idx: u32) {
        let rec = &mut self.files[file_idx as usize];
        let Some(name_idx) = rec.sources.remove(&mut self.lists, peer) else {
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

    pub(super) fn maybe_compact(&mut self) {
        if self.dead_names > 1024 && self.dead_names * 2 > self.names.len() {
            self.compact();
        }
    }

    /// Size and up to `max_sources` sources of a file.
    pub fn sources(&self, id: &FileId, max_sources: usize) -> Option<Found<'_>> {
        let f = self.file_of(id)?;
        Some(self.found(f, max_sources))
    }

    pub(super) fn found(&self, file_idx: u32, max_sources: usize) -> Found<'_> {
        let rec = &self.files[file_idx as usize];
        let sources: Vec<(PeerIdx, &str, u64)> = rec
            .sources
            .iter(&self.lists)
            .take(max_sources)
            .map(|(p, n)| (p, &self.names[n as usize], self.claim_of(file_idx, p)))
            .collect();
        let other_names = match self.other_names.get(&file_idx) {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .filter(|(p, _)| sources.iter().any(|s| s.0 == *p))
                .map(|(p, n)| (*p, &self.names[*n as usize]))
                .collect(),
        };
        Found {
            id: rec.id,
            size: rec.size,
            sources,
            other_names,
            source_count: rec.sources.len(&self.lists),
        }
    }

    /// Drops the link from a name to a file if no source of the file still
    /// uses that name.
    pub(super) fn unlink_name(&mut self, name_idx: u32, file_idx: u32) {
        let still_used = self.files[file_idx as usize]
            .sources
            .uses(&self.lists, name_idx)
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
    pub(super) fn file_of(&self, id: &FileId) -> Option<u32> {
        self.by_id
            .find(self.hasher.hash_one(id), |&f| {
                self.files[f as usize].id == *id
            })
            .copied()
    }

    /// Adds name `idx` (already in `names`) to the name table.
    pub(super) fn remember_name(&mut self, idx: u32) {
        let (names, hasher) = (&self.names, &self.hasher);
        self.name_ids
            .insert_unique(hasher.hash_one(&names[idx as usize]), idx, |&n| {
                hasher.hash_one(&names[n as usize])
            });
    }

    pub(super) fn intern_name(&mut self, name: &str) -> u32 {
        let names = &self.names;
        if let Some(&n) = self
            .name_ids
            .find(self.hasher.hash_one(name), |&n| &names[n as usize] == name)
        {
            return n;
        }
        let idx = self.names.len() as u32;
        self.names.push(name);
        self.name_files.add_name(name);
        self.remember_name(idx);
        // A new name starts dead until a file links it.
        self.dead_names += 1;
        self.index_name(idx, name);
        idx
    }

    pub(super) fn index_name(&mut self, idx: u32, name: &str) {
        let (prefix, b) = (name_prefix(name), self.name_bucket(idx));
        // Every list below allows `b` for the name once it is pushed.
        if self.raised.len() <= idx as usize {
            self.raised.resize(idx as usize + 1, 0);
        }
        self.raised[idx as usize] = b;
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
                        postings: Postings::default(),
                    });
                    self.token_ids.insert(t.into_boxed_str(), i);
                    i
                }
            };
            self.tokens[t_idx as usize].postings.push(idx, prefix, b);
        }
        if let Some(ext) = extension(name) {
            let list = self.exts.entry(ext.into_boxed_str()).or_default();
            list.push(idx, prefix, b);
        }
    }

    /// Rebuilds names, tokens, trigrams and extensions from the live names.
    pub(super) fn compact(&mut self) {
        let old_names = std::mem::take(&mut self.names);
        let old_files = std::mem::take(&mut self.name_files);
        self.name_ids.clear();
        self.tokens.clear();
        self.token_ids.clear();
        self.trigrams.clear();
        self.exts.clear();
        self.raised.clear();
        self.dead_names = 0;
        let mut remap = vec![u32::MAX; old_names.len()];
        for old in 0..old_names.len() {
            let text = &old_names[old];
            if old_files.is_empty(old as u32) {
                continue;
            }
            let idx = self.names.len() as u32;
            remap[old] = idx;
            self.name_files.add_name(text);
            self.names.push(text);
            self.remember_name(idx);
            for f in old_files.iter(old as u32) {
                self.name_files.push(idx, f);
            }
            self.index_name(idx, text);
        }
        for f in &mut self.files {
            f.sources.remap(&mut self.lists, |n| remap[n as usize]);
        }
        for list in self.other_names.values_mut() {
            for (_, n) in list.iter_mut() {
                *n = remap[*n as usize];
            }
        }
    }
}
