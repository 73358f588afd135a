//! Searching the [`Index`]: the terms of a query, candidates by
//! intersecting postings, a walk of block bounds best first for a common
//! term (stopping once the `limit` best are certain, its total then an
//! estimate), and ranking.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::super::query::{normalise, NameQuery, Query};
use super::catalogue::Index;
use super::files::{Found, NO_FILE};
use super::names::{trigram_keys, Key, MULTI_NAME};
use super::postings::{intersect, Cursor, NameBits, Postings, Term, BLOCK, SPARSE};
use super::scratch::{
    prefetch, Chunk, Hit, Hits, NameSet, Stage, TokenScratch, AHEAD, BATCH, KEEP_HITS, SCRATCH,
};

impl Index {
    /// Token indices whose text contains `fragment`.
    pub(super) fn tokens_containing(&self, fragment: &str) -> Vec<u32> {
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
    pub(super) fn names_with<'a>(&'a self, fragment: &'a str) -> Term<'a> {
        let toks = self.tokens_containing(fragment);
        let lists = toks.iter().map(|t| &self.tokens[*t as usize].postings);
        Term::new(Some(fragment), lists.collect())
    }

    /// The terms a name must match to match `q` (one per word, phrase
    /// token and extension), shortest first, and the terms it must not
    /// match (single-word exclusions). Phrase order and sizes are checked
    /// per name, by [`Index::collect`].
    ///
    /// A fragment inside another of them is dropped (every name holding
    /// the longer holds it), and an exclusion inside one of them leaves no
    /// name at all: `live live` costs what `live` does, and `live -live`
    /// nothing.
    pub(super) fn terms<'a>(&'a self, q: &'a NameQuery) -> (Vec<Term<'a>>, Vec<Term<'a>>) {
        let mut fragments: Vec<&str> = q
            .words
            .iter()
            .map(String::as_str)
            .chain(q.phrases.iter().flat_map(|p| p.split(' ')))
            .collect();
        fragments.sort_unstable();
        fragments.dedup();
        let inside_another = |f: &str| fragments.iter().any(|o| o.len() > f.len() && o.contains(f));
        let kept: Vec<&str> = fragments
            .iter()
            .copied()
            .filter(|f| !inside_another(f))
            .collect();
        let one_word = |x: &String| !x.contains(' ');
        if q.excluded
            .iter()
            .filter(|x| one_word(x))
            .any(|x| kept.iter().any(|f| f.contains(x.as_str())))
        {
            return (vec![Term::new(None, Vec::new())], Vec::new());
        }
        let mut need: Vec<Term<'_>> = kept.into_iter().map(|f| self.names_with(f)).collect();
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
            .filter(|x| one_word(x))
            .map(|x| self.names_with(x))
            .collect();
        (need, refuse)
    }

    /// Names in every `need` list and in no `refuse` list, by merging the
    /// sorted lists: integers only, no string work. No `need` list (filters
    /// alone) starts from every name.
    pub(super) fn candidates<'t>(
        &self,
        need: &'t [Term<'_>],
        refuse: &[Term<'_>],
    ) -> Cow<'t, [u32]> {
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
    pub(super) fn search_with(
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
        let walking = Walk {
            from: walk_from,
            refused_limit: Some(refused_limit),
        };
        // The hit buffers are reused from search to search on this thread.
        SCRATCH.with(|scratch| {
            let mut hits = std::mem::take(&mut *scratch.borrow_mut());
            hits.clear();
            let estimate = match walk {
                true => match self.follow(q, &need, &refuse, limit, walking, &mut hits) {
                    Ok(estimate) => estimate,
                    Err(Refusing) => {
                        // Exclusions turned away most of what the walk met
                        // (`live -live`): merge them out first instead.
                        hits.clear();
                        let merged = Walk {
                            refused_limit: None,
                            ..walking
                        };
                        self.follow(q, &need, &refuse, limit, merged, &mut hits)
                            .unwrap_or_else(|Refusing| {
                                unreachable!("no exclusion is left to check")
                            })
                    }
                },
                false => {
                    let names = self.candidates(&need, &refuse);
                    hits.one.reserve(names.len());
                    for (k, &n) in names.iter().enumerate() {
                        self.prefetch_ahead(k, |j| names.get(j).copied());
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
    /// (see [`Index::walk`]), or only their positions whose names are in
    /// every further term (one bitmap of those), or ranks those outright
    /// when they are few. Exclusions are checked name by name as the walk
    /// meets them, up to `refused_limit` of them: a walk that turns away
    /// more gives up with [`Refusing`]. With no limit they are merged out
    /// of the lists first instead, and when few names are left they are
    /// all ranked.
    pub(super) fn follow(
        &self,
        q: &NameQuery,
        need: &[Term<'_>],
        refuse: &[Term<'_>],
        limit: usize,
        walking: Walk,
        hits: &mut Hits,
    ) -> Result<Option<usize>, Refusing> {
        let refused_limit = walking.refused_limit;
        // The further terms, a bit per name, pick the positions of the
        // driving lists that match them all: a scan of the shortest
        // term's lists, bit tests only. Few matches are then ranked
        // outright (their total exact); many are walked, the walk meeting
        // only matches.
        let must = NameBits::of_all(&need[1..], self.names.len(), std::mem::take(&mut hits.bits));
        let eager = refused_limit.is_none();
        let drivers: Vec<Driver<'_>> = need[0]
            .lists
            .iter()
            .map(|p| Driver {
                list: p,
                picked: Index::positions(p, refuse, eager, must.as_ref()),
                refuse: if eager { &[] } else { refuse },
            })
            .collect();
        let picked: usize = drivers.iter().map(Driver::len).sum();
        let listed: usize = drivers.iter().map(|d| d.list.len()).sum();
        let walk = match must {
            Some(_) => picked >= walking.from,
            None => picked * SPARSE >= listed,
        };
        let found = if walk {
            self.walk(q, &drivers, need[0].fragment, limit, refused_limit, hits)
        } else {
            // Few names are left, or they are too scattered for block
            // bounds to tell them apart: rank them all.
            let mut taken = NameSet::default();
            for d in &drivers {
                let Some(picked) = &d.picked else {
                    unreachable!("only picked positions are ranked outright")
                };
                for (k, &i) in picked.iter().enumerate() {
                    self.prefetch_ahead(k, |j| picked.get(j).map(|&i| d.list.names[i as usize]));
                    let n = d.list.names[i as usize];
                    if d.keeps(n) && (drivers.len() == 1 || taken.insert(n)) {
                        self.collect(q, n, hits);
                    }
                }
            }
            Ok(None)
        };
        drop(drivers);
        // The bitmap's room is kept for the next search.
        if let Some(NameBits(bits)) = must {
            hits.bits = bits;
        }
        found
    }

    /// Starts loading into the caches what [`Index::collect`] reads of
    /// name `n`: its entry ([`Stage::Name`]), or, once that is in, its
    /// first file's rank ([`Stage::Rank`]). Names are met in index order
    /// but far apart, so each read would otherwise wait for memory in
    /// turn; a hint only, it changes no result.
    pub(super) fn prefetch(&self, n: u32, stage: Stage) {
        let Some(hot) = self.name_files.hot.get(n as usize) else {
            return;
        };
        match stage {
            Stage::Name => prefetch(hot),
            Stage::Rank => {
                if let Some(rank) = self.rank.get(hot.first as usize) {
                    prefetch(rank);
                }
            }
        }
    }

    /// Before the `k`th of names met in turn (`name_at` the `j`th, if
    /// there is one) is collected: starts loading the entry of the one
    /// [`AHEAD`] further on, and the rank of the one half as far, whose
    /// entry came in meanwhile.
    pub(super) fn prefetch_ahead(&self, k: usize, name_at: impl Fn(usize) -> Option<u32>) {
        if let Some(later) = name_at(k + AHEAD) {
            self.prefetch(later, Stage::Name);
        }
        if let Some(next) = name_at(k + AHEAD / 2) {
            self.prefetch(next, Stage::Rank);
        }
    }

    /// Adds a hit for each live file of name `n` that `q`'s phrases and
    /// sizes let through (the lists settled words, extension and single-word
    /// exclusions); returns how many. A file linked from more than one name
    /// goes to [`Hits::multi`], to be counted once.
    pub(super) fn collect(&self, q: &NameQuery, n: u32, hits: &mut Hits) -> usize {
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
    pub(super) fn each_hit(
        &self,
        q: &NameQuery,
        n: u32,
        mut found: impl FnMut(Hit, bool),
    ) -> usize {
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
    pub(super) fn merge_multi(&self, hits: &mut Hits) {
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
    pub(super) fn walk(
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

    /// The loop of [`Index::walk`]; returns whether it stopped early or
    /// passed over names by their lead (its hits are then not all the
    /// matches).
    pub(super) fn visit(
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
        hits.taken.clear();
        // Whether a name was passed over by its lead.
        let mut passed_over = false;
        // Names that passed, collected [`BATCH`] at a time.
        let mut batch: Vec<u32> = Vec::with_capacity(BATCH);
        while let Some(Reverse((bound, d, b, lo, hi))) = order.pop() {
            if best.len() == limit && best.peek().is_some_and(|worst| bound > *worst) {
                return Ok(true);
            }
            let driver = &drivers[d as usize];
            let list = driver.list;
            // The list positions of the chunk's names.
            let (first, count) = match &driver.picked {
                None => (b as usize * BLOCK, list.block(b as usize).len()),
                Some(_) => (0, (hi - lo) as usize),
            };
            let at = |k: usize| match &driver.picked {
                None => first + k,
                Some(p) => p[lo as usize + k] as usize,
            };
            // Each name whose lead is above the cap is passed over unread
            // (see [`Postings::lead_cap`]); the cap tightens as the best
            // so far improve, batch by batch.
            let cap_now = |best: &BinaryHeap<Key>| match best.peek() {
                Some(&worst) if best.len() == limit => list.lead_cap(b as usize, worst),
                _ => Some(u8::MAX),
            };
            let mut cap = cap_now(&best);
            for k in 0..count {
                let i = at(k);
                if batch.len() == BATCH {
                    self.collect_batch(q, &mut batch, limit, &mut best, hits);
                    cap = cap_now(&best);
                }
                if cap.is_none_or(|most| list.leads[i] > most) {
                    // Not all the matches are counted now: the total will
                    // be an estimate.
                    passed_over = true;
                    continue;
                }
                let n = list.names[i];
                if !driver.keeps(n) {
                    refused += 1;
                    if refused_limit.is_some_and(|most| refused > most) {
                        return Err(Refusing);
                    }
                    continue;
                }
                if drivers.len() > 1 && !hits.taken.insert(n) {
                    continue;
                }
                batch.push(n);
            }
            self.collect_batch(q, &mut batch, limit, &mut best, hits);
        }
        Ok(passed_over)
    }

    /// Collects the names of `batch`, their entries
    /// loaded together first, and keeps the `limit` best keys in `best`;
    /// empties `batch`.
    pub(super) fn collect_batch(
        &self,
        q: &NameQuery,
        batch: &mut Vec<u32>,
        limit: usize,
        best: &mut BinaryHeap<Key>,
        hits: &mut Hits,
    ) {
        for &n in batch.iter() {
            self.prefetch(n, Stage::Name);
        }
        for &n in batch.iter() {
            self.prefetch(n, Stage::Rank);
        }
        for n in batch.drain(..) {
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

    /// How many files a walk that stopped early would have found: the
    /// matches among about [`SAMPLE`] names spread evenly over the drivers,
    /// scaled to all of them. A name in several lists counts that many
    /// times less each time it is met (`fragment`: what the lists' tokens
    /// contain).
    pub(super) fn estimate(
        &self,
        q: &NameQuery,
        drivers: &[Driver<'_>],
        fragment: Option<&str>,
    ) -> usize {
        let all: usize = drivers.iter().map(Driver::len).sum();
        let step = (all / SAMPLE).max(1);
        let (mut looked, mut matched) = (0usize, 0.0);
        let mut scratch = TokenScratch::default();
        let mut sampled = Vec::new();
        for driver in drivers {
            sampled.clear();
            for i in (0..driver.len()).step_by(step) {
                let n = match &driver.picked {
                    None => driver.list.names[i],
                    Some(p) => driver.list.names[p[i] as usize],
                };
                looked += 1;
                if driver.keeps(n) {
                    sampled.push(n);
                }
            }
            for (k, &n) in sampled.iter().enumerate() {
                self.prefetch_ahead(k, |j| sampled.get(j).copied());
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

    /// The positions in `list` of its names that are in `must` (when
    /// given) and, when `eager`, match no `refuse` term, ascending; `None`
    /// for every position: no `must`, and the exclusions left to the walk
    /// (see [`Driver::keeps`]), which checks the few it visits unless it
    /// found them refusing too many.
    pub(super) fn positions(
        list: &Postings,
        refuse: &[Term<'_>],
        eager: bool,
        must: Option<&NameBits>,
    ) -> Option<Vec<u32>> {
        if !eager && must.is_none() {
            return None;
        }
        let refuse = if eager { refuse } else { &[] };
        if let (Some(must), []) = (must, refuse) {
            // The common case, without a branch per name: each position
            // is written, and kept only if its name is in `must`.
            let mut out = Vec::with_capacity(list.names.len());
            for (i, &n) in list.names.iter().enumerate() {
                let kept = out.len() + usize::from(must.has(n));
                out.push(i as u32);
                out.truncate(kept);
            }
            return Some(out);
        }
        let mut nots: Vec<Cursor<'_>> = refuse.iter().map(Term::cursor).collect();
        Some(
            (0..list.names.len() as u32)
                .filter(|&i| {
                    let n = list.names[i as usize];
                    must.is_none_or(|m| m.has(n)) && !nots.iter_mut().any(|g| g.has(n))
                })
                .collect(),
        )
    }

    /// Ranks `hits`: the `limit` best as results.
    pub(super) fn best(
        &self,
        hits: &mut Vec<Hit>,
        limit: usize,
        max_sources: usize,
    ) -> Vec<Found<'_>> {
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
    pub(super) fn exact(count: usize) -> Total {
        Total {
            count,
            estimated: false,
        }
    }
}

/// How a search walks: from how many names (picked by its further terms,
/// when it has them) rather than ranking them all, and after how many
/// exclusions met one by one it gives up (`None`: they are merged out of
/// its lists first).
#[derive(Clone, Copy)]
pub(super) struct Walk {
    pub(super) from: usize,
    pub(super) refused_limit: Option<usize>,
}

/// A search walks block bounds (rather than ranking every match) when its
/// shortest list has at least this many names.
pub(super) const WALK_FROM: usize = 4096;

/// A list a walk follows, and the positions in it that passed the query's
/// other lists (`None`: all).
pub(super) struct Driver<'a> {
    pub(super) list: &'a Postings,
    pub(super) picked: Option<Vec<u32>>,
    /// Exclusions still to check, name by name (when they were not
    /// merged out of the picked positions).
    pub(super) refuse: &'a [Term<'a>],
}

impl Driver<'_> {
    /// How many of its names the walk may visit.
    pub(super) fn len(&self) -> usize {
        self.picked.as_ref().map_or(self.list.len(), Vec::len)
    }

    /// Whether name `n` of the list is not excluded.
    pub(super) fn keeps(&self, n: u32) -> bool {
        self.refuse
            .iter()
            .all(|t| t.names().binary_search(&n).is_err())
    }
}

/// A walk that meets more excluded names than this gives up, and the
/// search merges the exclusions out of its lists first (linear in them,
/// where checking each name met costs a binary search).
pub(super) const REFUSED_LIMIT: usize = 4096;

/// Why a walk gave up: see [`REFUSED_LIMIT`].
#[derive(Debug)]
pub(super) struct Refusing;

/// Names a stopped walk samples (over all its lists) to estimate its
/// total.
pub(super) const SAMPLE: usize = 512;
