//! Posting lists: the sorted names holding a token (or an extension), with
//! a rank bound per block of 32 names; a query term (the union of its
//! lists) and the galloping cursors that intersect terms.

use std::borrow::Cow;

use super::names::{Key, Prefix, MULTI_NAME};

pub(super) struct TokenRec {
    pub(super) text: Box<str>,
    /// Names containing this token (may include dead names).
    pub(super) postings: Postings,
}

/// Names per block of a [`Postings`] list.
pub(super) const BLOCK: usize = 32;

/// The names (ascending, dead ones included) that contain a token or end
/// in an extension, with a bound per block of [`BLOCK`] names on the best
/// rank key any hit from that block can have: the smallest name prefix in
/// it and the highest source count (as a [`bucket`]) any of its names' files
/// has reached. A search for the best few visits blocks best bound first
/// and stops at the first block that cannot beat what it holds, instead of
/// ranking every match (see [`Index::walk`]); in a block it passes over
/// the names whose [`lead`] shows they cannot. About a byte and a half per
/// posting.
#[derive(Default)]
pub(super) struct Postings {
    pub(super) names: Vec<u32>,
    /// Per block: the smallest [`name_prefix`] of its names.
    pub(super) min_prefix: Vec<Prefix>,
    /// Per name: a byte from its first two ([`lead`]), for a walk to pass
    /// over a name that cannot beat what it holds without reading more
    /// of it.
    pub(super) leads: Vec<u8>,
    /// Per block: the highest [`bucket`] of any file of its names. Only
    /// ever raised (a file that loses sources leaves it high), so it stays
    /// an upper bound; compaction recomputes it.
    pub(super) top_bucket: Vec<u8>,
}

impl Postings {
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// Appends `name` (greater than every name already in the list).
    pub(super) fn push(&mut self, name: u32, prefix: Prefix, bucket: u8) {
        if self.names.len().is_multiple_of(BLOCK) {
            self.min_prefix.push(prefix);
            self.top_bucket.push(bucket);
        } else {
            let b = self.min_prefix.len() - 1;
            self.min_prefix[b] = self.min_prefix[b].min(prefix);
            self.top_bucket[b] = self.top_bucket[b].max(bucket);
        }
        self.names.push(name);
        self.leads.push(lead(prefix));
    }

    /// Makes the bound of `name`'s block allow a file of source `bucket`.
    pub(super) fn raise(&mut self, name: u32, bucket: u8) {
        if let Some(i) = position(&self.names, name) {
            let top = &mut self.top_bucket[i / BLOCK];
            *top = (*top).max(bucket);
        }
    }

    pub(super) fn blocks(&self) -> usize {
        self.min_prefix.len()
    }

    pub(super) fn block(&self, b: usize) -> &[u32] {
        &self.names[b * BLOCK..((b + 1) * BLOCK).min(self.names.len())]
    }

    /// No hit from block `b` has a smaller rank key than this.
    pub(super) fn bound(&self, b: usize) -> Key {
        (
            u32::MAX - bucket_top(self.top_bucket[b]),
            self.min_prefix[b],
        )
    }

    /// The largest [`lead`] a name of block `b` may have and still rank
    /// before `worst`; `None` when no name there can. A name whose lead is
    /// above it is passed over unread.
    pub(super) fn lead_cap(&self, b: usize, worst: Key) -> Option<u8> {
        let bound = self.bound(b);
        if bound.0 < worst.0 {
            // More sources than the worst kept: any prefix will do.
            return Some(u8::MAX);
        }
        if bound > worst {
            return None;
        }
        let within = LEAD_FLOORS.partition_point(|&f| (f, 0) <= worst.1);
        within.checked_sub(1).map(|l| l as u8)
    }
}

/// Where `x` is in the sorted `names`. A list of a common token holds
/// millions of names spread about evenly over the name indices, so the
/// search starts where `x` would be if they were even, and gallops from
/// there to bracket it: a few cache misses, where halving the whole list
/// takes one per step (about 20 for a million).
pub(super) fn position(names: &[u32], x: u32) -> Option<usize> {
    let (first, last) = (*names.first()?, *names.last()?);
    if x < first || x > last {
        return None;
    }
    let n = names.len();
    let span = u64::from(last - first).max(1);
    let g = ((u64::from(x - first) * (n as u64 - 1)) / span) as usize;
    // Bracket `x` in lo..hi, doubling the step away from the guess.
    let (lo, hi) = match names[g].cmp(&x) {
        std::cmp::Ordering::Equal => return Some(g),
        std::cmp::Ordering::Less => {
            let mut step = 1;
            while g + step < n && names[g + step] < x {
                step *= 2;
            }
            (g + step / 2 + 1, (g + step + 1).min(n))
        }
        std::cmp::Ordering::Greater => {
            let mut step = 1;
            while step <= g && names[g - step] > x {
                step *= 2;
            }
            (g.saturating_sub(step), g - step / 2)
        }
    };
    names[lo..hi].binary_search(&x).ok().map(|i| lo + i)
}

/// A name prefix's first two bytes in one: the first in one of 32 bands
/// (each lower-case letter its own), the second in one of 8. Not in the
/// prefixes' order across the wider bands, so a name is compared by the
/// smallest prefix of its lead ([`LEAD_FLOORS`]), which is never above its
/// own.
pub(super) fn lead(prefix: Prefix) -> u8 {
    let [first, second, ..] = prefix.0.to_be_bytes();
    first_band(first) << 3 | second_band(second)
}

/// The smallest prefix's first half for each [`lead`], worked out once;
/// ascending, as the bands are.
const LEAD_FLOORS: [u64; 256] = {
    let mut floors = [u64::MAX; 256];
    // Bytes ascending: the first pair to give a lead is its smallest.
    let mut first = 0;
    while first < 256 {
        let mut second = 0;
        while second < 256 {
            let lead = (first_band(first as u8) << 3 | second_band(second as u8)) as usize;
            if floors[lead] == u64::MAX {
                floors[lead] = (first as u64) << 56 | (second as u64) << 48;
            }
            second += 1;
        }
        first += 1;
    }
    floors
};

const fn first_band(b: u8) -> u8 {
    match b {
        0..=0x2f => 0,
        b'0'..=b'@' => 1,
        b'A'..=b'I' => 2,
        b'J'..=b'R' => 3,
        b'S'..=b'`' => 4,
        b'a'..=b'z' => 5 + (b - b'a'),
        _ => 31,
    }
}

const fn second_band(b: u8) -> u8 {
    match b {
        0..=b'`' => 0,
        b'a'..=b'z' => 1 + (b - b'a') * 6 / 26,
        _ => 7,
    }
}

/// A source count's bucket: the smallest `b` with `sources <= 2^b`. Block
/// bounds change only when a file's count crosses a power of two.
pub(super) fn bucket(sources: u32) -> u8 {
    (32 - sources.saturating_sub(1).leading_zeros()) as u8
}

/// The most sources a file in `bucket` can have (as kept in
/// [`Index::rank`]).
pub(super) fn bucket_top(bucket: u8) -> u32 {
    1u32.checked_shl(u32::from(bucket))
        .unwrap_or(u32::MAX)
        .min(MULTI_NAME - 1)
}

/// The names a query term matches: those in any of its lists (the tokens
/// that contain a fragment, or one extension's names). The union of
/// several is merged only when a merge needs it.
pub(super) struct Term<'a> {
    /// The fragment the lists' tokens contain (none for an extension).
    pub(super) fragment: Option<&'a str>,
    pub(super) lists: Vec<&'a Postings>,
    pub(super) union: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Term<'a> {
    pub(super) fn new(fragment: Option<&'a str>, lists: Vec<&'a Postings>) -> Term<'a> {
        Term {
            fragment,
            lists,
            union: std::cell::OnceCell::new(),
        }
    }

    /// The names, ascending.
    pub(super) fn names(&self) -> &[u32] {
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
    pub(super) fn len(&self) -> usize {
        self.lists.iter().map(|p| p.len()).sum()
    }

    /// A cursor that tells, for ascending names, which are in the term. A
    /// term of a few lists gallops through each of them instead of merging
    /// their union first: a rare word beside a common one then costs about
    /// the rare word's length, not the common one's.
    pub(super) fn cursor(&self) -> Cursor<'_> {
        if (2..=MAX_GALLOPS).contains(&self.lists.len()) {
            Cursor(self.lists.iter().map(|p| Gallop::new(&p.names)).collect())
        } else {
            Cursor(vec![Gallop::new(self.names())])
        }
    }
}

/// A term of more lists than this merges their union once rather than
/// galloping through each for every name asked about.
pub(super) const MAX_GALLOPS: usize = 8;

/// Membership of ascending names in a [`Term`] (see [`Term::cursor`]).
pub(super) struct Cursor<'a>(pub(super) Vec<Gallop<'a>>);

impl Cursor<'_> {
    /// Whether `n` is in the term (no smaller `n` may follow).
    pub(super) fn has(&mut self, n: u32) -> bool {
        // Every cursor moves up to `n`, so none falls behind.
        self.0.iter_mut().fold(false, |found, g| g.has(n) | found)
    }
}

/// Intersects two ascending lists.
pub(super) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
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

/// A walk follows block bounds only when at least one name in this many
/// of its lists' names passed the exclusions merged out of them.
pub(super) const SPARSE: usize = 4;

/// A cursor through an ascending list that answers "is `n` in it?" for
/// ascending `n`, skipping ahead in doubling steps.
pub(super) struct Gallop<'a> {
    pub(super) list: &'a [u32],
    pub(super) at: usize,
}

impl<'a> Gallop<'a> {
    pub(super) fn new(list: &'a [u32]) -> Gallop<'a> {
        Gallop { list, at: 0 }
    }

    /// Whether `n` is in the list (no smaller `n` may follow); leaves the
    /// cursor at the first entry not below `n`. Steps one entry at a time
    /// for a few entries (lists of like length), then in doubling steps.
    pub(super) fn has(&mut self, n: u32) -> bool {
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

/// What is in `a` or `b` (both ascending), ascending, once.
pub(super) fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
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

/// The names of a term, one bit each, by name index.
pub(super) struct NameBits(pub(super) Vec<u64>);

impl NameBits {
    /// The names in every one of `terms` (a name is in a term when it is
    /// in any of its lists), of an index of `names` names; `None` for no
    /// terms. Two bitmaps at most, however many terms.
    /// `room` is a buffer to reuse (its contents do not matter): a
    /// search keeps it from one to the next.
    pub(super) fn of_all(terms: &[Term<'_>], names: usize, mut room: Vec<u64>) -> Option<NameBits> {
        let (first, rest) = terms.split_first()?;
        room.clear();
        room.resize(names.div_ceil(64), 0);
        let mut all = NameBits(room);
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
    pub(super) fn set(&mut self, term: &Term<'_>) {
        for list in &term.lists {
            for &n in &list.names {
                self.0[n as usize / 64] |= 1 << (n % 64);
            }
        }
    }

    pub(super) fn has(&self, n: u32) -> bool {
        self.0
            .get(n as usize / 64)
            .is_some_and(|w| w >> (n % 64) & 1 == 1)
    }
}
