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
//! A query starts from the postings of its most selective term and merges
//! the others in (integers only). For a common term it does not rank every
//! match: each posting list keeps, per block of 32 names, a bound on the
//! best rank key in it (the highest source count reached, the smallest
//! name prefix), and the search visits blocks best bound first, stopping
//! once no unvisited block can beat its `limit`th result; the total is then
//! an estimate from a sample, marked as such. Names whose last file left
//! are marked dead and skipped; once they outnumber the live ones the token
//! side is rebuilt. Pure data: no I/O, no clock, no locks (the store holds
//! one).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

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

/// What a search reads of a name, kept dense (24 bytes a name) so that
/// walking thousands of candidates stays in cache; the text lives apart
/// in [`Index::names`].
#[derive(Clone, Copy)]
struct NameHot {
    /// The first sixteen bytes of the text: orders names by integer
    /// compare, with the text needed only when these are equal.
    prefix: Prefix,
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
    /// Names containing this token (may include dead names).
    postings: Postings,
}

/// Names per block of a [`Postings`] list.
const BLOCK: usize = 32;

/// The names (ascending, dead ones included) that contain a token or end
/// in an extension, with a bound per block of [`BLOCK`] names on the best
/// rank key any hit from that block can have: the smallest name prefix in
/// it and the highest source count (as a [`bucket`]) any of its names' files
/// has reached. A search for the best few visits blocks best bound first
/// and stops at the first block that cannot beat what it holds, instead of
/// ranking every match (see [`Index::walk`]). About half a byte per
/// posting.
#[derive(Default)]
struct Postings {
    names: Vec<u32>,
    /// Per block: the smallest [`name_prefix`] of its names.
    min_prefix: Vec<Prefix>,
    /// Per block: the highest [`bucket`] of any file of its names. Only
    /// ever raised (a file that loses sources leaves it high), so it stays
    /// an upper bound; compaction recomputes it.
    top_bucket: Vec<u8>,
}

impl Postings {
    fn len(&self) -> usize {
        self.names.len()
    }

    /// Appends `name` (greater than every name already in the list).
    fn push(&mut self, name: u32, prefix: Prefix, bucket: u8) {
        if self.names.len().is_multiple_of(BLOCK) {
            self.min_prefix.push(prefix);
            self.top_bucket.push(bucket);
        } else {
            let b = self.min_prefix.len() - 1;
            self.min_prefix[b] = self.min_prefix[b].min(prefix);
            self.top_bucket[b] = self.top_bucket[b].max(bucket);
        }
        self.names.push(name);
    }

    /// Makes the bound of `name`'s block allow a file of source `bucket`.
    fn raise(&mut self, name: u32, bucket: u8) {
        if let Ok(i) = self.names.binary_search(&name) {
            let top = &mut self.top_bucket[i / BLOCK];
            *top = (*top).max(bucket);
        }
    }

    fn blocks(&self) -> usize {
        self.min_prefix.len()
    }

    fn block(&self, b: usize) -> &[u32] {
        &self.names[b * BLOCK..((b + 1) * BLOCK).min(self.names.len())]
    }

    /// No hit from block `b` has a smaller rank key than this.
    fn bound(&self, b: usize) -> Key {
        (
            u32::MAX - bucket_top(self.top_bucket[b]),
            self.min_prefix[b],
        )
    }
}

/// A source count's bucket: the smallest `b` with `sources <= 2^b`. Block
/// bounds change only when a file's count crosses a power of two.
fn bucket(sources: u32) -> u8 {
    (32 - sources.saturating_sub(1).leading_zeros()) as u8
}

/// The most sources a file in `bucket` can have (as kept in
/// [`Index::rank`]).
fn bucket_top(bucket: u8) -> u32 {
    1u32.checked_shl(u32::from(bucket))
        .unwrap_or(u32::MAX)
        .min(MULTI_NAME - 1)
}

/// The names a query term matches: those in any of its lists (the tokens
/// that contain a fragment, or one extension's names). The union of
/// several is merged only when a merge needs it.
struct Term<'a> {
    /// The fragment the lists' tokens contain (none for an extension).
    fragment: Option<&'a str>,
    lists: Vec<&'a Postings>,
    union: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Term<'a> {
    fn new(fragment: Option<&'a str>, lists: Vec<&'a Postings>) -> Term<'a> {
        Term {
            fragment,
            lists,
            union: std::cell::OnceCell::new(),
        }
    }

    /// The names, ascending.
    fn names(&self) -> &[u32] {
        match self.lists.as_slice() {
            [] => &[],
            [one] => &one.names,
            many => self.union.get_or_init(|| {
                let total: usize = many.iter().map(|p| p.len()).sum();
                let top = many.iter().filter_map(|p| p.names.last()).max();
                let words = top.map_or(0, |&t| t as usize / 64 + 1);
                if words <= total * 8 {
                    // A bit per name up to the largest, then the set bits
                    // in order: linear in the names and their span,
                    // however many lists (a fragment has dozens).
                    let mut bits = NameBits(vec![0u64; words]);
                    bits.set(self);
                    let mut out = Vec::with_capacity(total);
                    for (w, &word) in bits.0.iter().enumerate() {
                        let mut word = word;
                        while word != 0 {
                            out.push(w as u32 * 64 + word.trailing_zeros());
                            word &= word - 1;
                        }
                    }
                    return out;
                }
                // Few names spread wide: merged in pairs, round by round,
                // linear in the names for each doubling of the lists merged.
                let mut round: Vec<Cow<'_, [u32]>> =
                    many.iter().map(|p| Cow::Borrowed(&p.names[..])).collect();
                while round.len() > 1 {
                    round = round
                        .chunks(2)
                        .map(|pair| match pair {
                            [a, b] => Cow::Owned(union(a, b)),
                            [a] => a.clone(),
                            _ => unreachable!("chunks of two"),
                        })
                        .collect();
                }
                round.pop().map(Cow::into_owned).unwrap_or_default()
            }),
        }
    }

    /// At least the number of names (exact for one list).
    fn len(&self) -> usize {
        self.lists.iter().map(|p| p.len()).sum()
    }

    /// A cursor that tells, for ascending names, which are in the term. A
    /// term of a few lists gallops through each of them instead of merging
    /// their union first: a rare word beside a common one then costs about
    /// the rare word's length, not the common one's.
    fn cursor(&self) -> Cursor<'_> {
        if (2..=MAX_GALLOPS).contains(&self.lists.len()) {
            Cursor(self.lists.iter().map(|p| Gallop::new(&p.names)).collect())
        } else {
            Cursor(vec![Gallop::new(self.names())])
        }
    }
}

/// A term of more lists than this merges their union once rather than
/// galloping through each for every name asked about.
const MAX_GALLOPS: usize = 8;

/// Membership of ascending names in a [`Term`] (see [`Term::cursor`]).
struct Cursor<'a>(Vec<Gallop<'a>>);

impl Cursor<'_> {
    /// Whether `n` is in the term (no smaller `n` may follow).
    fn has(&mut self, n: u32) -> bool {
        // Every cursor moves up to `n`, so none falls behind.
        self.0.iter_mut().fold(false, |found, g| g.has(n) | found)
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
    names: NameTexts,
    name_files: NameFiles,
    /// Name index by text (the index only, hashed through `names`).
    name_ids: HashTable<u32>,
    /// Keyed SipHash: ids and names come from remote peers.
    hasher: RandomState,
    dead_names: usize,
    tokens: Vec<TokenRec>,
    token_ids: HashMap<Box<str>, u32>,
    trigrams: HashMap<u64, Vec<u32>>,
    exts: HashMap<Box<str>, Postings>,
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

/// The text of every distinct name, one after another, by name index:
/// 8 bytes besides the text per name, against a `Box<str>`'s 16 plus the
/// allocator's own. Dead names stay until compaction rebuilds it.
#[derive(Default)]
struct NameTexts {
    text: String,
    /// Where each name's text ends in `text`.
    ends: Vec<u64>,
}

impl NameTexts {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u64);
    }
}

impl std::ops::Index<usize> for NameTexts {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
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
            let b = bucket(self.rank[file_idx as usize] & !MULTI_NAME);
            self.raise_bounds(name_idx, b);
        }
    }

    /// Lets every block bound of name `name_idx` allow a file of source
    /// bucket `b` (see [`Postings`]).
    fn raise_bounds(&mut self, name_idx: u32, b: u8) {
        if b == 0 {
            // Every bound allows one source already.
            return;
        }
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
    fn name_bucket(&self, name_idx: u32) -> u8 {
        self.name_files
            .iter(name_idx)
            .map(|f| bucket(self.rank[f as usize] & !MULTI_NAME))
            .max()
            .unwrap_or(0)
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
    /// When the file's source count reaches a higher [`bucket`], raises
    /// the block bounds of every name it is linked from.
    fn refresh_rank(&mut self, file_idx: u32) {
        let rec = &self.files[file_idx as usize];
        let multi = if rec.linked_names > 1 { MULTI_NAME } else { 0 };
        let sources = (rec.sources.len() as u32).min(MULTI_NAME - 1);
        let old = std::mem::replace(&mut self.rank[file_idx as usize], sources | multi);
        let b = bucket(sources);
        if b > bucket(old & !MULTI_NAME) {
            let mut names: Vec<u32> = rec.sources.iter().map(|(_, n)| *n).collect();
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
            .map(|(p, n)| (*p, &self.names[*n as usize], self.claim_of(file_idx, *p)))
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
            .insert_unique(hasher.hash_one(&names[idx as usize]), idx, |&n| {
                hasher.hash_one(&names[n as usize])
            });
    }

    fn intern_name(&mut self, name: &str) -> u32 {
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

    fn index_name(&mut self, idx: u32, name: &str) {
        let (prefix, b) = (name_prefix(name), self.name_bucket(idx));
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

    /// The names that contain a token containing `fragment`.
    fn names_with<'a>(&'a self, fragment: &'a str) -> Term<'a> {
        let toks = self.tokens_containing(fragment);
        let lists = toks.iter().map(|t| &self.tokens[*t as usize].postings);
        Term::new(Some(fragment), lists.collect())
    }

    /// The terms a name must match to match `q` (one per word, phrase
    /// token and extension), shortest first, and the terms it must not
    /// match (single-word exclusions). Phrase order and sizes are checked
    /// per name, by [`Index::collect`].
    fn terms<'a>(&'a self, q: &'a NameQuery) -> (Vec<Term<'a>>, Vec<Term<'a>>) {
        let mut need: Vec<Term<'_>> = q
            .words
            .iter()
            .map(String::as_str)
            .chain(q.phrases.iter().flat_map(|p| p.split(' ')))
            .map(|f| self.names_with(f))
            .collect();
        if let Some(ext) = &q.ext {
            need.push(Term::new(
                None,
                self.exts.get(ext.as_str()).into_iter().collect(),
            ));
        }
        need.sort_by_key(Term::len);
        let refuse = q
            .excluded
            .iter()
            .filter(|x| !x.contains(' '))
            .map(|x| self.names_with(x))
            .collect();
        (need, refuse)
    }

    /// Names in every `need` list and in no `refuse` list, by merging the
    /// sorted lists: integers only, no string work. No `need` list (filters
    /// alone) starts from every name.
    fn candidates<'t>(&self, need: &'t [Term<'_>], refuse: &[Term<'_>]) -> Cow<'t, [u32]> {
        let mut acc: Cow<'t, [u32]> = match need.first() {
            Some(t) => Cow::Borrowed(t.names()),
            None => Cow::Owned((0..self.names.len() as u32).collect()),
        };
        // The shortest term first; each further one keeps what it holds,
        // galloping through its lists (see [`Term::cursor`]).
        for t in need.iter().skip(1) {
            if acc.is_empty() {
                break;
            }
            let mut c = t.cursor();
            acc = Cow::Owned(acc.iter().copied().filter(|&n| c.has(n)).collect());
        }
        for x in refuse {
            if acc.is_empty() {
                break;
            }
            let mut c = x.cursor();
            acc = Cow::Owned(acc.iter().copied().filter(|&n| !c.has(n)).collect());
        }
        acc
    }

    /// Files matching `query`: the `limit` best (most sources, then by name)
    /// and how many matched in all.
    pub fn search(
        &self,
        query: &Query,
        limit: usize,
        max_sources: usize,
    ) -> (Vec<Found<'_>>, Total) {
        self.search_with(query, limit, max_sources, WALK_FROM, REFUSED_LIMIT)
    }

    /// [`Index::search`], walking the blocks of the shortest list when it
    /// has `walk_from` names or more, else ranking every match; a walk
    /// gives up on checking exclusions one by one after `refused_limit`.
    fn search_with(
        &self,
        query: &Query,
        limit: usize,
        max_sources: usize,
        walk_from: usize,
        refused_limit: usize,
    ) -> (Vec<Found<'_>>, Total) {
        let q = match query {
            Query::Id(id) => {
                return match self.sources(id, max_sources) {
                    Some(f) => (vec![f], Total::exact(1)),
                    None => (Vec::new(), Total::exact(0)),
                }
            }
            Query::Name(q) => q,
        };
        let (need, refuse) = self.terms(q);
        // The walk follows the lists of the shortest term.
        let walk = need.first().is_some_and(|t| t.len() >= walk_from) && limit > 0;
        // The hit buffers are reused from search to search on this thread.
        SCRATCH.with(|scratch| {
            let mut hits = std::mem::take(&mut *scratch.borrow_mut());
            hits.clear();
            let estimate = match walk {
                true => match self.follow(q, &need, &refuse, limit, Some(refused_limit), &mut hits)
                {
                    Ok(estimate) => estimate,
                    Err(Refusing) => {
                        // Exclusions turned away most of what the walk met
                        // (`live -live`): merge them out first instead.
                        hits.clear();
                        self.follow(q, &need, &refuse, limit, None, &mut hits)
                            .unwrap_or_else(|Refusing| {
                                unreachable!("no exclusion is left to check")
                            })
                    }
                },
                false => {
                    let names = self.candidates(&need, &refuse);
                    hits.one.reserve(names.len());
                    for &n in names.iter() {
                        self.collect(q, n, &mut hits);
                    }
                    None
                }
            };
            self.merge_multi(&mut hits);
            let total = match estimate {
                // What was found is a floor under any estimate.
                Some(n) => Total {
                    count: n.max(hits.one.len()),
                    estimated: true,
                },
                None => Total::exact(hits.one.len()),
            };
            let found = self.best(&mut hits.one, limit, max_sources);
            // Keep the buffers for the next search unless they grew huge.
            if hits.one.capacity() <= KEEP_HITS {
                *scratch.borrow_mut() = hits;
            }
            (found, total)
        })
    }

    /// The hits of a search whose shortest term is long: walks its lists
    /// (see [`Index::walk`]), testing each name it visits against one
    /// bitmap of the names in every further term. Exclusions are checked
    /// name by name as the walk meets them, up to `refused_limit` of them:
    /// a walk that turns away more gives up with [`Refusing`]. With no limit they are merged
    /// out of the lists first instead, and when few names are left they
    /// are all ranked.
    fn follow(
        &self,
        q: &NameQuery,
        need: &[Term<'_>],
        refuse: &[Term<'_>],
        limit: usize,
        refused_limit: Option<usize>,
        hits: &mut Hits,
    ) -> Result<Option<usize>, Refusing> {
        let eager = refused_limit.is_none();
        // The further terms, a bit per name: the walk tests the names it
        // visits instead of merging whole lists first, so two common words
        // cost about the names visited, not both lists' lengths.
        let must = NameBits::of_all(&need[1..], self.names.len());
        let drivers: Vec<Driver<'_>> = need[0]
            .lists
            .iter()
            .map(|p| Driver {
                list: p,
                picked: Index::positions(p, refuse, eager),
                must: must.as_ref(),
                refuse: if eager { &[] } else { refuse },
            })
            .collect();
        let picked: usize = drivers.iter().map(Driver::len).sum();
        let listed: usize = drivers.iter().map(|d| d.list.len()).sum();
        if picked * SPARSE >= listed {
            return self.walk(q, &drivers, need[0].fragment, limit, refused_limit, hits);
        }
        // Few names passed the exclusions, too scattered for block bounds
        // to tell them apart: rank them all.
        let mut taken = NameSet::default();
        for d in &drivers {
            for &i in d.picked.iter().flatten() {
                let n = d.list.names[i as usize];
                if d.holds(n) && (drivers.len() == 1 || taken.insert(n)) {
                    self.collect(q, n, hits);
                }
            }
        }
        Ok(None)
    }

    /// Adds a hit for each live file of name `n` that `q`'s phrases and
    /// sizes let through (the lists settled words, extension and single-word
    /// exclusions); returns how many. A file linked from more than one name
    /// goes to [`Hits::multi`], to be counted once.
    fn collect(&self, q: &NameQuery, n: u32, hits: &mut Hits) -> usize {
        self.each_hit(q, n, |hit, multi| {
            if multi {
                hits.multi.push(hit);
            } else {
                hits.one.push(hit);
            }
        })
    }

    /// Calls `found` with each hit [`Index::collect`] would add (and
    /// whether its file is linked from several names); returns how many.
    fn each_hit(&self, q: &NameQuery, n: u32, mut found: impl FnMut(Hit, bool)) -> usize {
        let h = self.name_files.hot[n as usize];
        if h.first == NO_FILE {
            return 0;
        }
        let needs_text = !q.phrases.is_empty() || q.excluded.iter().any(|x| x.contains(' '));
        if needs_text && !q.phrases_match(&normalise(&self.names[n as usize])) {
            return 0;
        }
        let sized = q.min_size.is_some() || q.max_size.is_some();
        let mut added = 0;
        for f in self.name_files.iter(n) {
            if sized && !q.size_fits(self.files[f as usize].size) {
                continue;
            }
            let rank = self.rank[f as usize];
            found(
                ((u32::MAX - (rank & !MULTI_NAME), h.prefix), f, n),
                rank & MULTI_NAME != 0,
            );
            added += 1;
        }
        added
    }

    /// Moves the hits of files linked from several names into the others,
    /// one per file: the one whose name ranks best.
    fn merge_multi(&self, hits: &mut Hits) {
        if hits.multi.is_empty() {
            return;
        }
        hits.multi.sort_unstable_by(|a, b| {
            a.1.cmp(&b.1)
                .then(a.0.cmp(&b.0))
                .then_with(|| self.names[a.2 as usize].cmp(&self.names[b.2 as usize]))
        });
        hits.multi.dedup_by_key(|h| h.1);
        hits.one.append(&mut hits.multi);
    }

    /// The hits of the best `limit` files among the names of the drivers
    /// (those of each list, or those at its picked positions): visits
    /// blocks best bound first and stops at the first whose bound is worse
    /// than the `limit`th best key already found. No name there can rank
    /// among the results, so a common word costs about what a rare one
    /// does. A name in several lists is taken from the first. Returns
    /// `None` when every block was visited (the hits are all the matches),
    /// else an estimate of their number.
    fn walk(
        &self,
        q: &NameQuery,
        drivers: &[Driver<'_>],
        fragment: Option<&str>,
        limit: usize,
        refused_limit: Option<usize>,
        hits: &mut Hits,
    ) -> Result<Option<usize>, Refusing> {
        // (bound, driver, block, the range of its picked positions there),
        // in a buffer kept from search to search.
        let mut chunks = std::mem::take(&mut hits.chunks);
        chunks.clear();
        for (d, driver) in drivers.iter().enumerate() {
            let d = d as u32;
            let list = driver.list;
            match &driver.picked {
                None => chunks.extend(
                    (0..list.blocks()).map(|b| Reverse((list.bound(b), d, b as u32, 0, 0))),
                ),
                Some(picked) => {
                    let mut lo = 0;
                    while lo < picked.len() {
                        let b = picked[lo] as usize / BLOCK;
                        let hi = lo + picked[lo..].partition_point(|p| *p as usize / BLOCK == b);
                        chunks.push(Reverse((list.bound(b), d, b as u32, lo as u32, hi as u32)));
                        lo = hi;
                    }
                }
            }
        }
        let mut order = BinaryHeap::from(chunks);
        let stopped = self.visit(q, drivers, &mut order, limit, refused_limit, hits);
        hits.chunks = order.into_vec();
        Ok(stopped?.then(|| self.estimate(q, drivers, fragment)))
    }

    /// The loop of [`Index::walk`]; returns whether it stopped early.
    fn visit(
        &self,
        q: &NameQuery,
        drivers: &[Driver<'_>],
        order: &mut BinaryHeap<Chunk>,
        limit: usize,
        refused_limit: Option<usize>,
        hits: &mut Hits,
    ) -> Result<bool, Refusing> {
        let mut refused = 0;
        // The `limit` best keys so far, worst on top. Only files under one
        // name count: another could be the same file again.
        let mut best: BinaryHeap<Key> = BinaryHeap::with_capacity(limit + 1);
        // Names already taken, when a name can be in more than one list.
        let mut taken = NameSet::default();
        while let Some(Reverse((bound, d, b, lo, hi))) = order.pop() {
            if best.len() == limit && best.peek().is_some_and(|worst| bound > *worst) {
                return Ok(true);
            }
            let driver = &drivers[d as usize];
            let (whole, positions) = match &driver.picked {
                None => (driver.list.block(b as usize), &[][..]),
                Some(p) => (&[][..], &p[lo as usize..hi as usize]),
            };
            let chosen = positions.iter().map(|&i| driver.list.names[i as usize]);
            let names = whole.iter().copied().chain(chosen);
            for n in names {
                if !driver.holds(n) {
                    continue;
                }
                if !driver.keeps(n) {
                    refused += 1;
                    if refused_limit.is_some_and(|most| refused > most) {
                        return Err(Refusing);
                    }
                    continue;
                }
                if drivers.len() > 1 && !taken.insert(n) {
                    continue;
                }
                let from = hits.one.len();
                self.collect(q, n, hits);
                for h in &hits.one[from..] {
                    if best.len() < limit {
                        best.push(h.0);
                    } else if best.peek().is_some_and(|worst| h.0 < *worst) {
                        best.pop();
                        best.push(h.0);
                    }
                }
            }
        }
        Ok(false)
    }

    /// How many files a walk that stopped early would have found: the
    /// matches among about [`SAMPLE`] names spread evenly over the drivers,
    /// scaled to all of them. A name in several lists counts that many
    /// times less each time it is met (`fragment`: what the lists' tokens
    /// contain).
    fn estimate(&self, q: &NameQuery, drivers: &[Driver<'_>], fragment: Option<&str>) -> usize {
        let all: usize = drivers.iter().map(Driver::len).sum();
        // Further terms leave a fraction of the names sampled: look at more
        // (a bit test each) so that about as many matches are counted.
        let further = drivers.first().is_some_and(|d| d.must.is_some());
        let step = (all / (SAMPLE << (3 * usize::from(further)))).max(1);
        let (mut looked, mut matched) = (0usize, 0.0);
        let mut scratch = TokenScratch::default();
        for driver in drivers {
            for i in (0..driver.len()).step_by(step) {
                let n = match &driver.picked {
                    None => driver.list.names[i],
                    Some(p) => driver.list.names[p[i] as usize],
                };
                looked += 1;
                if !driver.holds(n) || !driver.keeps(n) {
                    continue;
                }
                let found = self.each_hit(q, n, |_, _| ());
                if found == 0 {
                    continue;
                }
                let lists = match (drivers.len(), fragment) {
                    (1, _) | (_, None) => 1,
                    (_, Some(f)) => scratch.tokens_containing(&self.names[n as usize], f),
                };
                matched += found as f64 / lists as f64;
            }
        }
        (matched * all as f64 / looked.max(1) as f64).round() as usize
    }

    /// The positions in `list` of its names that match no `refuse` term,
    /// ascending; `None` when not `eager`: every position, the exclusions
    /// left to the walk (see [`Driver::keeps`]), which checks the few it
    /// visits unless it found them refusing too many.
    fn positions(list: &Postings, refuse: &[Term<'_>], eager: bool) -> Option<Vec<u32>> {
        if !eager {
            return None;
        }
        let mut nots: Vec<Cursor<'_>> = refuse.iter().map(Term::cursor).collect();
        Some(
            (0..list.names.len() as u32)
                .filter(|&i| !nots.iter_mut().any(|g| g.has(list.names[i as usize])))
                .collect(),
        )
    }

    /// Ranks `hits`: the `limit` best as results.
    fn best(&self, hits: &mut Vec<Hit>, limit: usize, max_sources: usize) -> Vec<Found<'_>> {
        if limit == 0 {
            return Vec::new();
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
        hits.iter()
            .map(|&(_, f, _)| self.found(f, max_sources))
            .collect()
    }
}

/// How many files a search matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: usize,
    /// The search stopped once its results were certain, and `count` is an
    /// estimate from a sample of the rest.
    pub estimated: bool,
}

impl Total {
    fn exact(count: usize) -> Total {
        Total {
            count,
            estimated: false,
        }
    }
}

/// A search walks block bounds (rather than ranking every match) when its
/// shortest list has at least this many names.
const WALK_FROM: usize = 4096;

/// A list a walk follows, and the positions in it that passed the query's
/// other lists (`None`: all).
struct Driver<'a> {
    list: &'a Postings,
    picked: Option<Vec<u32>>,
    /// The names in every further term of the query, if it has any.
    must: Option<&'a NameBits>,
    /// Exclusions still to check, name by name (when no other list
    /// picked positions).
    refuse: &'a [Term<'a>],
}

impl Driver<'_> {
    /// How many of its names the walk may visit.
    fn len(&self) -> usize {
        self.picked.as_ref().map_or(self.list.len(), Vec::len)
    }

    /// Whether name `n` of the list is in every further term.
    fn holds(&self, n: u32) -> bool {
        self.must.is_none_or(|b| b.has(n))
    }

    /// Whether name `n` of the list is not excluded.
    fn keeps(&self, n: u32) -> bool {
        self.refuse
            .iter()
            .all(|t| t.names().binary_search(&n).is_err())
    }
}

/// The names of a term, one bit each, by name index.
struct NameBits(Vec<u64>);

impl NameBits {
    /// The names in every one of `terms` (a name is in a term when it is
    /// in any of its lists), of an index of `names` names; `None` for no
    /// terms. Two bitmaps at most, however many terms.
    fn of_all(terms: &[Term<'_>], names: usize) -> Option<NameBits> {
        let (first, rest) = terms.split_first()?;
        let mut all = NameBits(vec![0u64; names.div_ceil(64)]);
        all.set(first);
        if !rest.is_empty() {
            let mut one = NameBits(vec![0u64; all.0.len()]);
            for t in rest {
                one.0.fill(0);
                one.set(t);
                all.0.iter_mut().zip(&one.0).for_each(|(a, b)| *a &= b);
            }
        }
        Some(all)
    }

    /// Sets the bits of the names in any of `term`'s lists.
    fn set(&mut self, term: &Term<'_>) {
        for list in &term.lists {
            for &n in &list.names {
                self.0[n as usize / 64] |= 1 << (n % 64);
            }
        }
    }

    fn has(&self, n: u32) -> bool {
        self.0
            .get(n as usize / 64)
            .is_some_and(|w| w >> (n % 64) & 1 == 1)
    }
}

/// Buffers to count a name's distinct tokens that contain a fragment
/// without allocating for every name (see [`Index::estimate`]).
#[derive(Default)]
struct TokenScratch {
    /// The name's tokens that contain the fragment, lower-cased, one
    /// after another.
    text: String,
    /// Where each of them is in `text`.
    spans: Vec<(usize, usize)>,
}

impl TokenScratch {
    /// How many distinct tokens of `name` contain `fragment` (split as
    /// [`tokens`] splits, lower-cased character by character); at least 1.
    fn tokens_containing(&mut self, name: &str, fragment: &str) -> usize {
        self.text.clear();
        self.spans.clear();
        for t in name.split(|c: char| !c.is_alphanumeric()) {
            if t.is_empty() {
                continue;
            }
            let start = self.text.len();
            if t.is_ascii() {
                self.text.push_str(t);
                self.text[start..].make_ascii_lowercase();
            } else {
                self.text.extend(t.chars().flat_map(char::to_lowercase));
            }
            if self.text[start..].contains(fragment) {
                self.spans.push((start, self.text.len()));
            } else {
                self.text.truncate(start);
            }
        }
        let text = &self.text;
        self.spans
            .sort_unstable_by(|a, b| text[a.0..a.1].cmp(&text[b.0..b.1]));
        self.spans.dedup_by(|a, b| text[a.0..a.1] == text[b.0..b.1]);
        self.spans.len().max(1)
    }
}

/// A set of name indices that lives for one search.
type NameSet = HashSet<u32, BuildHasherDefault<NameHash>>;

/// Hashes a name index with one multiplication: indices are dense and
/// handed out by the index, not chosen by a caller, and the set lives for
/// one search, so the default hasher's resistance to chosen keys (a
/// quarter of a walk over several lists) buys nothing here.
#[derive(Default)]
struct NameHash(u64);

impl Hasher for NameHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u32(u32::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A walk that meets more excluded names than this gives up, and the
/// search merges the exclusions out of its lists first (linear in them,
/// where checking each name met costs a binary search).
const REFUSED_LIMIT: usize = 4096;

/// Why a walk gave up: see [`REFUSED_LIMIT`].
#[derive(Debug)]
struct Refusing;

/// A walk follows block bounds only when at least one name in this many
/// of its lists' names passed the exclusions merged out of them.
const SPARSE: usize = 4;

/// Names a stopped walk samples (over all its lists) to estimate its
/// total.
const SAMPLE: usize = 512;

/// A cursor through an ascending list that answers "is `n` in it?" for
/// ascending `n`, skipping ahead in doubling steps.
struct Gallop<'a> {
    list: &'a [u32],
    at: usize,
}

impl<'a> Gallop<'a> {
    fn new(list: &'a [u32]) -> Gallop<'a> {
        Gallop { list, at: 0 }
    }

    /// Whether `n` is in the list (no smaller `n` may follow); leaves the
    /// cursor at the first entry not below `n`. Steps one entry at a time
    /// for a few entries (lists of like length), then in doubling steps.
    fn has(&mut self, n: u32) -> bool {
        let list = self.list;
        let mut at = self.at;
        let near = (at + 8).min(list.len());
        while at < near && list[at] < n {
            at += 1;
        }
        if at == near && at < list.len() && list[at] < n {
            let rest = &list[at..];
            let mut step = 1;
            while step < rest.len() && rest[step - 1] < n {
                step *= 2;
            }
            let span = &rest[step / 2..step.min(rest.len())];
            at += step / 2 + span.partition_point(|x| *x < n);
        }
        self.at = at;
        list.get(at) == Some(&n)
    }
}

/// One hit: (rank key, file, the name it matched under).
type Hit = (Key, u32, u32);

/// A search's hits: files under one name, and files linked from several
/// names (which may be hit more than once).
#[derive(Default)]
struct Hits {
    one: Vec<Hit>,
    multi: Vec<Hit>,
    /// A walk's blocks to visit.
    chunks: Vec<Chunk>,
}

/// A block a walk may visit, best bound first: (bound, driver, block, the
/// range of the driver's picked positions in it).
type Chunk = Reverse<(Key, u32, u32, u32, u32)>;

impl Hits {
    fn clear(&mut self) {
        self.one.clear();
        self.multi.clear();
    }
}

/// A search thread keeps its hit buffer between searches up to this many
/// entries (6 MiB).
const KEEP_HITS: usize = 256 * 1024;

/// Rank key: (u32::MAX - sources, name prefix); smaller ranks first.
type Key = (u32, Prefix);

/// A name's first sixteen bytes as two big-endian integers. Eight were
/// too few: thousands of names can start with the same common word and a
/// separator, and a walk must visit every block where its last key ties.
type Prefix = (u64, u64);

/// Orders like the text's bytes for the first sixteen of them.
fn name_prefix(text: &str) -> Prefix {
    let mut b = [0u8; 16];
    let n = text.len().min(16);
    b[..n].copy_from_slice(&text.as_bytes()[..n]);
    let (hi, lo) = b.split_at(8);
    (
        u64::from_be_bytes(hi.try_into().expect("eight bytes")),
        u64::from_be_bytes(lo.try_into().expect("eight bytes")),
    )
}

thread_local! {
    /// Each search thread's hit buffers, kept for their capacity.
    static SCRATCH: std::cell::RefCell<Hits> = std::cell::RefCell::new(Hits::default());
}

/// What is in `a` or `b` (both ascending), ascending, once.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
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
        assert_eq!(
            ix.search(&Query::parse("remix").unwrap(), 10, 10).1,
            Total::exact(3000)
        );
        // Remove most: compaction kicks in, and what is left is still found.
        for i in 0..2900u32 {
            assert!(ix.remove(i % 7, &id(&i.to_string())));
        }
        assert!(!ix.remove(0, &id("0")));
        assert_eq!((0..7).map(|p| ix.peer_file_count(p)).sum::<usize>(), 100);
        assert!(ix.names.len() < 3000, "compaction did not run");
        let (found, total) = ix.search(&Query::parse("remix size>2950").unwrap(), 100, 10);
        assert_eq!(total, Total::exact(49));
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
        assert_eq!(total, Total::exact(3));
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
            (vec!["holidays_a.jpg", "holidays_b.jpg"], Total::exact(3))
        );
        // Limit keeps the best, total keeps counting.
        let (found, total) = ix.search(&Query::parse("ogg").unwrap(), 1, 10);
        assert_eq!(
            (found.len(), total, found[0].id),
            (1, Total::exact(3), id("pop"))
        );
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
        assert_eq!(ids(&ix, "notes"), (all.clone(), Total::exact(3)));
        // Removing the one held inline promotes another; the rest stay.
        assert!(ix.remove(0, &id("x")));
        assert_eq!(ids(&ix, "notes").1, Total::exact(2));
        assert!(ix.remove(2, &id("z")));
        assert_eq!(ids(&ix, "notes"), (vec![id("y")], Total::exact(1)));
        assert!(ix.remove(1, &id("y")));
        assert_eq!(ids(&ix, "notes").1, Total::exact(0));
        assert!(ix.name_files.more.is_empty());
        // One file under two matching names counts once, with both sources.
        ix.add(0, id("w"), 1, "notes a.txt", &[]);
        ix.add(1, id("w"), 1, "notes b.txt", &[]);
        let (found, total) = ix.search(&Query::parse("notes").unwrap(), 10, 10);
        assert_eq!(
            (found.len(), total, found[0].source_count),
            (1, Total::exact(1), 2)
        );
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
            assert_eq!((found.len(), total), (1, Total::exact(1)), "{q}");
            assert_eq!(found[0].source_count, 2, "{q}");
            assert_eq!(found[0].other_names, vec![(0, "music/b/cover.txt")]);
        }
        // Announced again without it: the second path is gone from search.
        assert!(!ix.add(0, id("c"), 4, "music/a/cover.txt", &[]));
        assert_eq!(
            ix.search(&Query::parse("b cover").unwrap(), 10, 10).1,
            Total::exact(0)
        );
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
        assert_eq!(
            ix.search(&Query::parse("a cover").unwrap(), 10, 10).1,
            Total::exact(1)
        );
        assert_eq!(
            ix.search(&Query::parse("b cover").unwrap(), 10, 10).1,
            Total::exact(1)
        );
        // Many dead names force a compaction; the further name survives it.
        for i in 0..3000u32 {
            ix.add(2, id(&i.to_string()), 1, &format!("junk {i}.bin"), &[]);
        }
        assert_eq!(ix.remove_peer(2), 3000);
        let found = ix.sources(&id("c"), 10).unwrap();
        assert_eq!(found.other_names, vec![(0, "music/a/cover.txt")]);
        assert_eq!(
            ix.search(&Query::parse("a cover").unwrap(), 10, 10).1,
            Total::exact(1)
        );
        // The peer leaves: its further names go with it.
        assert_eq!(ix.remove_peer(0), 1);
        assert!(ix.other_names.is_empty());
        assert_eq!(
            ix.search(&Query::parse("music").unwrap(), 10, 10).1,
            Total::exact(0)
        );
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
                assert_eq!(total, Total::exact(want.len()), "total of {text:?}");
                assert_eq!(got, want, "files of {text:?}");
                // The best ten have the most sources.
                let mut counts: Vec<usize> = matched.iter().map(|f| sources[f]).collect();
                counts.sort_unstable_by(|a, b| b.cmp(a));
                counts.truncate(10);
                let (top, _) = ix.search(&Query::Name(q.clone()), 10, 3);
                let top: Vec<usize> = top.iter().map(|h| h.source_count).collect();
                assert_eq!(top, counts, "ranking of {text:?}");
                // Walking block bounds finds what ranking every match finds:
                // the same files in the same order, and when it visited every
                // block, the same total.
                for limit in [1, 3, 10, 100_000] {
                    let query = Query::Name(q.clone());
                    let (walked, w_total) = ix.search_with(&query, limit, 3, 0, usize::MAX);
                    let (ranked, r_total) = ix.search_with(&query, limit, 3, usize::MAX, 0);
                    // A walk that gives up on its exclusions at once and
                    // merges them out first.
                    let (merged, m_total) = ix.search_with(&query, limit, 3, 0, 0);
                    let order = |f: &[Found<'_>]| f.iter().map(|h| h.id).collect::<Vec<_>>();
                    assert_eq!(order(&walked), order(&ranked), "walk of {text:?}, {limit}");
                    assert_eq!(
                        order(&merged),
                        order(&ranked),
                        "merged walk of {text:?}, {limit}"
                    );
                    if !m_total.estimated {
                        assert_eq!(m_total, r_total, "merged walk's total of {text:?}");
                    }
                    assert!(!r_total.estimated);
                    if !w_total.estimated {
                        assert_eq!(w_total, r_total, "walked total of {text:?}");
                    }
                    if limit == 100_000 {
                        assert!(!w_total.estimated, "a walk for everything stopped early");
                    }
                }
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

    /// A common word: the walk stops early, says its total is an estimate,
    /// and the estimate is close, with and without a filter that lets half
    /// the names through; its best results are those of ranking them all.
    #[test]
    fn a_common_word_stops_early_with_a_close_estimate() {
        let mut ix = Index::default();
        let mut rng = crate::fuzz::Rng(0x5eed);
        // Two more common words, independent of each other (and both in
        // every popular name): `live remix` is in about one name in eight.
        let mut both = 0;
        for i in 0..20_000u32 {
            let r = rng.next_u64();
            let popular = i % 1000 == 0;
            let live = r >> 40 & 1 == 0 || popular;
            let remix = r >> 44 & 3 == 0 || popular;
            both += usize::from(live && remix);
            let live = if live { " live" } else { "" };
            let remix = if remix { " remix" } else { "" };
            let name = format!("{:08x} common{live}{remix} {i}.ogg", r as u32);
            ix.add(i % 50, id(&name), u64::from(i % 2), &name, &[]);
            // A few popular files, so source counts matter too.
            if i % 1000 == 0 {
                for p in 50..60 {
                    ix.add(p, id(&name), u64::from(i % 2), &name, &[]);
                }
            }
        }
        for (q, exact) in [
            ("common", 20_000),
            ("common size<1", 10_000),
            ("live remix", both),
        ] {
            let query = Query::parse(q).unwrap();
            let (walked, total) = ix.search(&query, 10, 3);
            let (ranked, all) = ix.search_with(&query, 10, 3, usize::MAX, REFUSED_LIMIT);
            assert_eq!(all, Total::exact(exact));
            assert!(total.estimated, "{q}");
            let error = total.count.abs_diff(exact) as f64 / exact as f64;
            assert!(error < 0.1, "{q}: estimated {} for {exact}", total.count);
            let ids = |f: &[Found<'_>]| f.iter().map(|h| h.id).collect::<Vec<_>>();
            assert_eq!(ids(&walked), ids(&ranked), "{q}");
            assert_eq!(walked[0].source_count, 11, "{q}");
        }
    }

    #[test]
    fn a_common_fragment_counts_a_name_once_however_many_of_its_tokens_hold_it() {
        // `trou` is in four tokens; half the names hold two of them (one
        // written twice, in other cases), so the walk meets those names
        // in two lists each.
        let words = ["trouble", "Trousers", "introuvable", "TROUVÈRE"];
        let mut ix = Index::default();
        let mut rng = crate::fuzz::Rng(0x7e57);
        for i in 0..20_000u32 {
            let r = rng.next_u64();
            let a = words[r as usize % 4];
            let name = match (r >> 8) % 2 {
                0 => format!("{:08x} {a} {i}.ogg", r >> 32),
                _ => {
                    let b = words[(r as usize + 1 + (r >> 16) as usize % 3) % 4];
                    let shout = b.to_uppercase();
                    format!("{:08x} {a} {b}-{shout} {i}.ogg", r >> 32)
                }
            };
            ix.add(i % 50, id(&name), 1, &name, &[]);
        }
        let query = Query::parse("trou").unwrap();
        let (_, total) = ix.search(&query, 10, 3);
        let (_, all) = ix.search_with(&query, 10, 3, usize::MAX, REFUSED_LIMIT);
        assert_eq!(all, Total::exact(20_000));
        assert!(total.estimated);
        let error = total.count.abs_diff(20_000) as f64 / 20_000.0;
        assert!(error < 0.1, "estimated {} for 20000", total.count);
    }

    #[test]
    fn token_scratch_counts_distinct_tokens_as_tokens_splits_them() {
        let mut scratch = TokenScratch::default();
        for (name, fragment) in [
            ("Trouble/trouble - TROUBLE.mp3", "trou"),
            ("trousers and trouble.txt", "trou"),
            ("Trouvère_Ünïcode trouvère.ogg", "trouv"),
            ("nothing here.txt", "trou"),
            ("a-b-c", "b"),
        ] {
            let mut expected: Vec<String> = tokens(name).filter(|t| t.contains(fragment)).collect();
            expected.sort();
            expected.dedup();
            assert_eq!(
                scratch.tokens_containing(name, fragment),
                expected.len().max(1),
                "{name:?} {fragment:?}"
            );
        }
    }
}
