//! The index's tests: each query feature against a brute-force reading
//! of the same names, estimates, compaction, claims.

use super::super::query::{normalise, tokens, Query};
use super::catalogue::Index;
use super::files::{Found, PeerIdx};
use super::scratch::TokenScratch;
use super::search::{Total, REFUSED_LIMIT, WALK_FROM};
use crate::id::FileId;

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
fn accents_and_case_fold_away_in_names_and_queries_alike() {
    let mut ix = Index::default();
    ix.add(0, id("a"), 10, "Björk - Jóga.flac", &[]);
    // The same name decomposed (as macOS writes it): o + a combining diaeresis.
    ix.add(0, id("b"), 10, "Bjo\u{308}rk - Hunter.flac", &[]);
    ix.add(0, id("c"), 10, "Überblick 2024.pdf", &[]);
    ix.add(0, id("d"), 10, "ﬁnal cut.mov", &[]);
    ix.add(0, id("e"), 10, "bjorn.txt", &[]);
    let bjork = vec!["Bjo\u{308}rk - Hunter.flac", "Björk - Jóga.flac"];
    for q in ["bjork", "björk", "BJÖRK", "Bjo\u{308}rk", "jork"] {
        assert_eq!(search(&ix, q), bjork, "{q}");
    }
    assert_eq!(search(&ix, "uberblick"), vec!["Überblick 2024.pdf"]);
    assert_eq!(search(&ix, "ÜBERBLICK"), vec!["Überblick 2024.pdf"]);
    assert_eq!(search(&ix, "joga"), vec!["Björk - Jóga.flac"]);
    assert_eq!(search(&ix, "final"), vec!["ﬁnal cut.mov"]);
    assert_eq!(
        search(&ix, "\"bjork hunter\""),
        vec!["Bjo\u{308}rk - Hunter.flac"]
    );
    assert_eq!(
        search(&ix, "bjork -joga"),
        vec!["Bjo\u{308}rk - Hunter.flac"]
    );
    // The stored name is as shared, not folded.
    let (found, total) = ix.search(&Query::parse("bjo").unwrap(), 10, 10);
    assert_eq!(total, Total::exact(3));
    assert!(found.iter().any(|f| f.sources[0].1 == "Björk - Jóga.flac"));
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
/// the names through; its best results are those of ranking them all. Two
/// common words with fewer matches than a walk starts from are ranked
/// outright: their total is exact.
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
        if exact < WALK_FROM {
            assert_eq!(total, Total::exact(exact), "{q}");
        } else {
            assert!(total.estimated, "{q}");
            let error = total.count.abs_diff(exact) as f64 / exact as f64;
            assert!(error < 0.1, "{q}: estimated {} for {exact}", total.count);
        }
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

/// Names of one source each that differ from their first letters on: a
/// walk passes over most of them by the lead of their first two bytes,
/// and still finds the same best as ranking every match, in the same
/// order; its total, having skipped names, is marked an estimate.
#[test]
fn a_walk_that_passes_over_names_by_their_lead_keeps_the_best() {
    let mut ix = Index::default();
    let mut rng = crate::fuzz::Rng(0x1ead);
    for i in 0..6_000u32 {
        let word: String = (0..6)
            .map(|_| char::from(b'a' + rng.below(26) as u8))
            .collect();
        let live = if rng.below(3) == 0 { " live" } else { "" };
        let name = format!("{word} common{live} {i}.ogg");
        ix.add(i % 50, id(&name), 1, &name, &[]);
    }
    let ids = |f: &[Found<'_>]| f.iter().map(|h| h.id).collect::<Vec<_>>();
    for q in ["common", "common live", "live common ext:ogg"] {
        let query = Query::parse(q).unwrap();
        for limit in [1, 10, 100] {
            let (walked, total) = ix.search_with(&query, limit, 3, 0, REFUSED_LIMIT);
            let (ranked, all) = ix.search_with(&query, limit, 3, usize::MAX, REFUSED_LIMIT);
            assert_eq!(ids(&walked), ids(&ranked), "{q}, {limit}");
            assert!(total.estimated, "{q}, {limit}: {total:?} of {all:?}");
        }
    }
}

/// A fragment inside another of the query's adds nothing, and an
/// exclusion inside a needed fragment leaves nothing.
#[test]
fn repeated_and_contradicting_fragments() {
    let mut ix = Index::default();
    for name in [
        "live set.mp3",
        "olive oil.txt",
        "delivery.pdf",
        "Live Olive.ogg",
    ] {
        ix.add(0, id(name), 10, name, &[]);
    }
    let live = search(&ix, "live");
    assert_eq!(live.len(), 4);
    assert_eq!(search(&ix, "live live"), live);
    assert_eq!(search(&ix, "liv live"), live);
    assert_eq!(
        search(&ix, "olive live"),
        vec!["Live Olive.ogg", "olive oil.txt"]
    );
    assert!(search(&ix, "live -live").is_empty());
    assert!(search(&ix, "olive -liv").is_empty());
    assert!(search(&ix, "\"live set\" -ive").is_empty());
    assert_eq!(
        search(&ix, "live -olive"),
        vec!["delivery.pdf", "live set.mp3"]
    );
}

#[test]
fn a_name_is_found_in_its_list_where_halving_finds_it() {
    use super::postings::position;
    let mut rng = crate::fuzz::Rng(7);
    for round in 0..300 {
        // Even lists, lists bunched at either end, short and one-name ones.
        let n = 1 + rng.below(if round % 3 == 0 { 5 } else { 3000 });
        let gap = 1 + rng.below(if round % 2 == 0 { 4 } else { 400 }) as u32;
        let mut names = Vec::with_capacity(n);
        let mut at = rng.below(50) as u32;
        for i in 0..n {
            names.push(at);
            at += if round % 5 == 0 && i > n / 2 {
                gap * 1000
            } else {
                1 + rng.below(gap as usize) as u32
            };
        }
        for _ in 0..200 {
            let x = rng.below(at as usize + 60) as u32;
            assert_eq!(
                position(&names, x),
                names.binary_search(&x).ok(),
                "{x} in {names:?}"
            );
        }
        for (i, &x) in names.iter().enumerate() {
            assert_eq!(position(&names, x), Some(i));
        }
    }
    assert_eq!(position(&[], 3), None);
}

/// [`Sources`] against plain lists of (peer, name) pairs, through random
/// adds, renames and removals on a few files sharing one [`SourceLists`]
/// (whose slots are freed and reused): the same pairs, the same count,
/// whoever goes first and however many share the first one's name.
#[test]
fn sources_hold_the_same_pairs_as_a_plain_list() {
    use super::files::{SourceLists, Sources};
    use crate::fuzz::Rng;
    let mut rng = Rng(0x5eed_50c5);
    for round in 0..100 {
        let lists = &mut SourceLists::default();
        let mut files: Vec<(Sources, Vec<(PeerIdx, u32)>)> =
            (0..4).map(|_| (Sources::new(), Vec::new())).collect();
        // Few names, so that sources often share one (and often not).
        let names = 1 + round % 4;
        for _ in 0..200 {
            let (s, model) = &mut files[rng.below(4)];
            let peer = rng.below(12) as PeerIdx;
            let name = rng.below(names) as u32;
            let had = model.iter().position(|(p, _)| *p == peer);
            match (rng.below(3), had) {
                (0, Some(i)) => {
                    assert_eq!(s.remove(lists, peer), Some(model.remove(i).1));
                }
                (0, None) => assert_eq!(s.remove(lists, peer), None),
                (_, Some(i)) => {
                    let old = std::mem::replace(&mut model[i].1, name);
                    assert_eq!(s.set_name(lists, peer, name), Some(old));
                }
                (_, None) => {
                    assert_eq!(s.set_name(lists, peer, name), None);
                    s.push(lists, peer, name);
                    model.push((peer, name));
                }
            }
            for (s, model) in &files {
                let mut got: Vec<(PeerIdx, u32)> = s.iter(lists).collect();
                let mut want = model.clone();
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want, "round {round}");
                assert_eq!(s.len(lists), model.len());
                assert_eq!(s.is_empty(), model.is_empty());
                for &(p, n) in model {
                    assert_eq!(s.name_of(lists, p), Some(n));
                }
                for n in 0..names as u32 {
                    let used = model.iter().any(|(_, m)| *m == n);
                    assert_eq!(s.uses(lists, n), used, "round {round}: name {n}");
                }
            }
        }
        // Compaction renames through a map; every pair follows it.
        for (s, model) in &mut files {
            s.remap(lists, |n| n + 100);
            let mut got: Vec<(PeerIdx, u32)> = s.iter(lists).collect();
            let mut want: Vec<(PeerIdx, u32)> = model.iter().map(|&(p, n)| (p, n + 100)).collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }
}

/// A file whose sources share it under different names: each source keeps
/// its own through the first one leaving and renames, and a search finds
/// the file by a name only a later source uses.
#[test]
fn sources_under_other_names_keep_them_when_the_first_leaves() {
    let mut ix = Index::default();
    let f = id("same bytes");
    ix.add(0, f, 10, "concert live.mp3", &[]);
    ix.add(1, f, 10, "concert live.mp3", &[]);
    ix.add(2, f, 10, "bootleg tape.mp3", &[]);
    assert_eq!(search(&ix, "bootleg").len(), 1);
    ix.remove(0, &f);
    let names = |ix: &Index| {
        let mut v: Vec<(PeerIdx, String)> = ix
            .sources(&f, 10)
            .unwrap()
            .sources
            .iter()
            .map(|(p, n, _)| (*p, n.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&ix),
        vec![
            (1, "concert live.mp3".to_string()),
            (2, "bootleg tape.mp3".to_string())
        ]
    );
    // Peer 1 renames its copy; nobody shares it as a concert any more.
    ix.add(1, f, 10, "bootleg tape.mp3", &[]);
    assert!(search(&ix, "concert").is_empty());
    ix.remove(1, &f);
    assert_eq!(names(&ix), vec![(2, "bootleg tape.mp3".to_string())]);
    assert_eq!(ix.peer_shares(2, 10).0[0].2, "bootleg tape.mp3");
    assert_eq!(search(&ix, "bootleg").len(), 1);
}
