//! What a search works in: its hits and a walk's buffers, kept on each
//! search thread from one search to the next; the set of names a walk
//! took; the buffers that count a name's tokens; and the hints that load
//! what the next names will read.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::names::Key;

/// What `Index::prefetch` starts loading.
#[derive(Clone, Copy)]
pub(super) enum Stage {
    Name,
    Rank,
}

/// A walk collects the names it keeps this many at a time, their entries
/// loaded together (see `Index::prefetch`).
pub(super) const BATCH: usize = 8;

/// How many names ahead the ranking of every match starts loading a
/// name's entry (and half as far, its rank).
pub(super) const AHEAD: usize = 16;

/// Asks the processor to start loading `x` into its caches: a hint, with
/// no effect on what the program computes (a no-op elsewhere than x86-64).
#[inline(always)]
pub(super) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program;
    // the address is that of a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (x as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Buffers to count a name's distinct tokens that contain a fragment
/// without allocating for every name (see `Index::estimate`).
#[derive(Default)]
pub(super) struct TokenScratch {
    /// The name's tokens that contain the fragment, lower-cased, one
    /// after another.
    pub(super) text: String,
    /// Where each of them is in `text`.
    pub(super) spans: Vec<(usize, usize)>,
}

impl TokenScratch {
    /// How many distinct tokens of `name` contain `fragment` (split as
    /// `tokens` splits, lower-cased character by character); at least 1.
    pub(super) fn tokens_containing(&mut self, name: &str, fragment: &str) -> usize {
        self.text.clear();
        self.spans.clear();
        if name.is_ascii() {
            // Most names hold the fragment once: then one token does.
            self.text.push_str(name);
            self.text.make_ascii_lowercase();
            if self.text.matches(fragment).nth(1).is_none() {
                return 1;
            }
            self.text.clear();
        }
        // Folded as the index folds (accents away); plain ASCII needs none.
        let folded;
        let name = if name.is_ascii() {
            name
        } else {
            folded = super::super::query::fold(name);
            folded.as_str()
        };
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
pub(super) type NameSet = HashSet<u32, BuildHasherDefault<NameHash>>;

/// Hashes a name index with one multiplication: indices are dense and
/// handed out by the index, not chosen by a caller, and the set lives for
/// one search, so the default hasher's resistance to chosen keys (a
/// quarter of a walk over several lists) buys nothing here.
#[derive(Default)]
pub(super) struct NameHash(pub(super) u64);

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

/// One hit: (rank key, file, the name it matched under).
pub(super) type Hit = (Key, u32, u32);

/// A search's hits: files under one name, and files linked from several
/// names (which may be hit more than once).
#[derive(Default)]
pub(super) struct Hits {
    pub(super) one: Vec<Hit>,
    pub(super) multi: Vec<Hit>,
    /// A walk's blocks to visit.
    pub(super) chunks: Vec<Chunk>,
    /// The names a walk over several lists took.
    pub(super) taken: NameSet,
    /// The bitmap of a walk's further terms (see `NameBits::of_all`).
    pub(super) bits: Vec<u64>,
}

/// A block a walk may visit, best bound first: (bound, driver, block, the
/// range of the driver's picked positions in it).
pub(super) type Chunk = Reverse<(Key, u32, u32, u32, u32)>;

impl Hits {
    pub(super) fn clear(&mut self) {
        self.one.clear();
        self.multi.clear();
    }
}

/// A search thread keeps its hit buffer between searches up to this many
/// entries (6 MiB).
pub(super) const KEEP_HITS: usize = 256 * 1024;

thread_local! {
    /// Each search thread's hit buffers, kept for their capacity.
    pub(super) static SCRATCH: std::cell::RefCell<Hits> = std::cell::RefCell::new(Hits::default());
}
