//! [`MemoryStore`]: the directory's state in this process's memory, behind
//! one lock: the [`Roster`] every read answers from, and what decides the
//! writes: live sessions (token -> name, last heartbeat) and name bindings
//! (name -> the print of its owner's identity key). Each accepted write is
//! made an [`Event`] and applied to the roster, as a replica applies the
//! events it follows. Searches share the lock; logins, announces and
//! expiries take it briefly. Bindings last as long as this process: a
//! restarted directory binds each name to the first key that logs in with
//! it again (a running peer does so within seconds).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::event::Event;
use super::query::Query;
use super::roster::Roster;
use super::store::{Batch, DirError, DirectoryStore, Limits, Session, Token};
use crate::id::FileId;
use crate::sync::RwLockExt;
use crate::wire::{Hit, HitView, HttpAddr, KeyPrint, Matches, PeerListing};

/// A live session: whose it is, and when it last showed it was alive.
struct Live {
    name: String,
    last_seen: Instant,
}

/// Whose a name is.
struct Binding {
    owner: KeyPrint,
    /// When the owner's last session ended; `None` while one is live.
    released: Option<Instant>,
}

#[derive(Default)]
struct State {
    roster: Roster,
    /// Live sessions by the print of their token (as the roster knows
    /// them), so a name's session is found through the roster.
    sessions: HashMap<String, Live>,
    bindings: HashMap<String, Binding>,
}

impl State {
    fn live(&mut self, token: &Token) -> Result<&mut Live, DirError> {
        self.sessions
            .get_mut(&token.print())
            .ok_or(DirError::Unauthenticated)
    }

    /// Ends the session with this token print (logout or expiry): its
    /// name's binding is held from `now`, and it leaves the roster.
    fn end(&mut self, session: &str, now: Instant) -> Option<String> {
        let live = self.sessions.remove(session)?;
        if let Some(b) = self.bindings.get_mut(&live.name) {
            b.released = Some(now);
        }
        self.roster.apply(Event::Left {
            name: live.name.clone(),
            session: session.to_string(),
        });
        Some(live.name)
    }

    /// Forgets bindings whose hold is over.
    fn prune_bindings(&mut self, now: Instant, hold: Duration) {
        self.bindings.retain(|_, b| {
            b.released
                .is_none_or(|t| now.saturating_duration_since(t) < hold)
        });
    }
}

/// The refusal of a Login for `name` by another key than its owner's:
/// the owner is online (`held_for` is `None`), or its last session ended
/// within `held_for`.
pub(super) fn name_taken(name: &str, held_for: Option<Duration>) -> DirError {
    DirError::Taken(match held_for {
        None => format!(
            "the name {name:?} is in use by another peer (another identity key): \
             choose another name"
        ),
        Some(hold) => format!(
            "the name {name:?} belongs to another peer (another identity key); \
             it is kept for its owner {} after its last session: choose another \
             name, or ask the directory's operator to free it",
            human_duration(hold)
        ),
    })
}

/// The directory's state in this process's memory.
pub struct MemoryStore {
    state: RwLock<State>,
    limits: Limits,
}

impl MemoryStore {
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore {
            state: RwLock::new(State::default()),
            limits,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.reading()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.writing()
    }
}

/// The `limit` of a search, checked against the store's `max_results`.
pub(super) fn check_limit(limit: u32, limits: &Limits) -> Result<(), DirError> {
    if limit == 0 || limit > limits.max_results {
        return Err(DirError::Invalid(format!(
            "result limit {limit} is out of range: ask for 1 to {}",
            limits.max_results
        )));
    }
    Ok(())
}

impl DirectoryStore for MemoryStore {
    fn login(
        &self,
        name: &str,
        owner: KeyPrint,
        http_addr: &HttpAddr,
        files: Batch,
        now: Instant,
    ) -> Result<Session, DirError> {
        let (files, _) = files.into_parts();
        let token = Token::generate();
        let hold = self.limits.name_hold;
        let mut st = self.write();
        if let Some(b) = st.bindings.get(name).filter(|b| b.owner != owner) {
            match b.released {
                None => return Err(name_taken(name, None)),
                Some(t) if now.saturating_duration_since(t) < hold => {
                    return Err(name_taken(name, Some(hold)))
                }
                Some(_) => {}
            }
        }
        if let Some(old) = st.roster.session_of(name).map(str::to_string) {
            // Replaced: the Joined below takes its place in the roster.
            st.sessions.remove(&old);
        }
        if st.bindings.len() >= 2 * st.roster.len() + 1024 {
            st.prune_bindings(now, hold);
        }
        st.bindings.insert(
            name.to_string(),
            Binding {
                owner,
                released: None,
            },
        );
        st.sessions.insert(
            token.print(),
            Live {
                name: name.to_string(),
                last_seen: now,
            },
        );
        st.roster.apply(Event::Joined {
            name: name.to_string(),
            session: token.print(),
            http_addr: http_addr.clone(),
            files,
        });
        Ok(Session {
            token,
            lease: self.limits.lease,
            heartbeat: self.limits.heartbeat,
            max_files_per_call: self.limits.max_files_per_call,
        })
    }

    fn announce(&self, token: &Token, change: Batch, now: Instant) -> Result<usize, DirError> {
        let (added, removed) = change.into_parts();
        let mut st = self.write();
        let live = st.live(token)?;
        live.last_seen = now;
        let name = live.name.clone();
        Ok(st.roster.apply(Event::Changed {
            name,
            session: token.print(),
            added,
            removed,
        }))
    }

    fn heartbeat(&self, token: &Token, now: Instant) -> Result<Duration, DirError> {
        self.write().live(token)?.last_seen = now;
        Ok(self.limits.lease)
    }

    fn search_each(
        &self,
        query: &Query,
        limit: u32,
        each: &mut dyn FnMut(HitView<'_>),
    ) -> Result<Matches, DirError> {
        check_limit(limit, &self.limits)?;
        Ok(self.read().roster.search_each(query, limit, each))
    }

    fn locate(&self, id: &FileId) -> Result<Hit, DirError> {
        self.read().roster.locate(id)
    }

    fn peer(&self, name: &str) -> Result<(HttpAddr, usize), DirError> {
        self.read().roster.peer(name)
    }

    fn peers(&self, limit: usize) -> (Vec<PeerListing>, usize) {
        self.read().roster.peers(limit)
    }

    fn counts(&self) -> (usize, usize) {
        let st = self.read();
        (st.roster.len(), st.roster.files())
    }

    fn session_name(&self, token: &Token) -> Option<String> {
        self.read()
            .sessions
            .get(&token.print())
            .map(|l| l.name.clone())
    }

    fn logout(&self, token: &Token, now: Instant) -> Result<(), DirError> {
        self.write()
            .end(&token.print(), now)
            .map(|_| ())
            .ok_or(DirError::Unauthenticated)
    }

    fn expire(&self, now: Instant) -> Vec<(String, Option<HttpAddr>)> {
        let lease = self.limits.lease;
        let lapsed = |l: &Live| now.saturating_duration_since(l.last_seen) > lease;
        let stale: Vec<String> = self
            .read()
            .sessions
            .iter()
            .filter(|(_, l)| lapsed(l))
            .map(|(t, _)| t.clone())
            .collect();
        if stale.is_empty() {
            return Vec::new();
        }
        let mut st = self.write();
        let mut gone = Vec::new();
        for session in stale {
            // Re-check under the write lock: a heartbeat may have come in between.
            if let Some(name) = st
                .sessions
                .get(&session)
                .filter(|l| lapsed(l))
                .map(|l| l.name.clone())
            {
                let addr = st.roster.peer(&name).ok().map(|(a, _)| a);
                st.end(&session, now);
                gone.push((name, addr));
            }
        }
        st.prune_bindings(now, self.limits.name_hold);
        gone
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// "7 days", "3 hours", "90 s": a hold as people read it.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86_400 && s.is_multiple_of(86_400) => format!("{} day(s)", s / 86_400),
        _ if s >= 3_600 && s.is_multiple_of(3_600) => format!("{} hour(s)", s / 3_600),
        _ => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::store::{MAX_SOURCES_PER_HIT, MAX_SOURCES_PER_LOCATE};
    use crate::wire::{IdentityKey, SearchOutcome, SharedFile};

    fn addr(text: &str) -> HttpAddr {
        HttpAddr::parse(text).unwrap()
    }

    /// The print of a key made from `seed` (one per test peer).
    fn key(seed: &str) -> KeyPrint {
        IdentityKey::parse(&FileId::of(seed.as_bytes()).to_hex())
            .unwrap()
            .print()
    }

    /// Logs `name` in with its own key (the key of the name itself).
    fn login(
        s: &MemoryStore,
        name: &str,
        http_addr: &str,
        files: Vec<SharedFile>,
        now: Instant,
    ) -> Result<Session, DirError> {
        login_as(s, name, key(name), http_addr, files, now)
    }

    fn login_as(
        s: &MemoryStore,
        name: &str,
        owner: KeyPrint,
        http_addr: &str,
        files: Vec<SharedFile>,
        now: Instant,
    ) -> Result<Session, DirError> {
        let files = s.limits().batch(files, vec![])?;
        s.login(name, owner, &addr(http_addr), files, now)
    }

    fn announce(
        s: &MemoryStore,
        token: &Token,
        added: Vec<SharedFile>,
        removed: Vec<FileId>,
        now: Instant,
    ) -> Result<usize, DirError> {
        s.announce(token, s.limits().batch(added, removed)?, now)
    }

    fn store() -> MemoryStore {
        MemoryStore::new(Limits {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(3),
            max_results: 50,
            max_files_per_call: 100,
            name_hold: Duration::from_secs(60),
        })
    }

    fn file(name: &str) -> SharedFile {
        SharedFile::named(name)
    }

    fn names_of(gone: Vec<(String, Option<HttpAddr>)>) -> Vec<String> {
        gone.into_iter().map(|(n, _)| n).collect()
    }

    fn words(q: &str) -> Query {
        Query::parse(q).unwrap()
    }

    fn names(outcome: &SearchOutcome) -> Vec<String> {
        outcome.hits.iter().map(|h| h.names[0].clone()).collect()
    }

    #[test]
    fn search_needs_every_word_case_insensitive_and_ranks_by_sources() {
        let s = store();
        let now = Instant::now();
        login(
            &s,
            "a",
            "http://a",
            vec![file("Holiday Photos.zip"), file("report.pdf")],
            now,
        )
        .unwrap();
        login(
            &s,
            "b",
            "http://b",
            vec![file("holiday-video.mp4"), file("report.pdf")],
            now,
        )
        .unwrap();
        assert_eq!(
            names(&s.search(&words("HOLIDAY"), 10).unwrap()),
            vec!["Holiday Photos.zip", "holiday-video.mp4"]
        );
        assert_eq!(
            names(&s.search(&words("holiday photos"), 10).unwrap()),
            vec!["Holiday Photos.zip"]
        );
        assert!(s.search(&words("holiday pdf"), 10).unwrap().hits.is_empty());
        // Two sources rank first; the hit lists both.
        let all = s.search(&words("o"), 10).unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(all.hits[0].names, vec!["report.pdf"]);
        let peers: Vec<_> = all.hits[0]
            .sources
            .iter()
            .map(|x| x.peer.as_str())
            .collect();
        assert_eq!(peers, vec!["a", "b"]);
        // Limit cuts the hits, not the total.
        let one = s.search(&words("o"), 1).unwrap();
        assert_eq!((one.hits.len(), one.total), (1, 3));
        assert!(s.search(&words("o"), 0).is_err());
        assert!(s.search(&words("o"), 51).is_err());
    }

    /// The query language against a small library, through the store.
    #[test]
    fn query_semantics_table() {
        let s = store();
        let now = Instant::now();
        let sf = |name: &str, size: u64| SharedFile {
            id: FileId::of(name.as_bytes()),
            size,
            name: name.to_string(),
            other_names: Vec::new(),
        };
        const M: u64 = 1 << 20;
        let library = [
            sf("Annual_Report_2025.pdf", 2 * M),
            sf("annual report (draft).docx", 300_000),
            sf("Quarterly Report Q3.pdf", 20 * M),
            sf("passport scan.jpg", 500_000),
            sf("Holiday in Ümeå.mp4", 700 * M),
            sf("東京 2020 highlights.mkv", 3000 * M),
            sf("support group notes.txt", 2_000),
        ];
        login(&s, "a", "http://a", library.to_vec(), now).unwrap();
        // A second source for one file: it ranks first among equals.
        login(&s, "b", "http://b", vec![library[2].clone()], now).unwrap();
        let cases: &[(&str, &[&str])] = &[
            (
                "report",
                &[
                    "Quarterly Report Q3.pdf",
                    "Annual_Report_2025.pdf",
                    "annual report (draft).docx",
                ],
            ),
            (
                "REPORT annual",
                &["Annual_Report_2025.pdf", "annual report (draft).docx"],
            ),
            (
                "port",
                &[
                    "Quarterly Report Q3.pdf",
                    "Annual_Report_2025.pdf",
                    "annual report (draft).docx",
                    "passport scan.jpg",
                    "support group notes.txt",
                ],
            ),
            (
                "report -draft",
                &["Quarterly Report Q3.pdf", "Annual_Report_2025.pdf"],
            ),
            (
                "\"annual report\"",
                &["Annual_Report_2025.pdf", "annual report (draft).docx"],
            ),
            ("\"report annual\"", &[]),
            (
                "ext:pdf",
                &["Quarterly Report Q3.pdf", "Annual_Report_2025.pdf"],
            ),
            ("report ext:pdf size>10M", &["Quarterly Report Q3.pdf"]),
            ("report size<1M", &["annual report (draft).docx"]),
            ("ümeå", &["Holiday in Ümeå.mp4"]),
            ("UMEÅ", &[]),
            ("東京", &["東京 2020 highlights.mkv"]),
            ("mkv size>2G", &["東京 2020 highlights.mkv"]),
            ("nothing-like-this", &[]),
            ("notes -\"group notes\"", &[]),
            // Filters alone, and * for everything.
            (
                "size>100M",
                &["Holiday in Ümeå.mp4", "東京 2020 highlights.mkv"],
            ),
            (
                "* -report -e",
                &["passport scan.jpg", "東京 2020 highlights.mkv"],
            ),
            (
                "*",
                &[
                    "Quarterly Report Q3.pdf",
                    "Annual_Report_2025.pdf",
                    "Holiday in Ümeå.mp4",
                    "annual report (draft).docx",
                    "passport scan.jpg",
                    "support group notes.txt",
                    "東京 2020 highlights.mkv",
                ],
            ),
        ];
        for (q, want) in cases {
            let got = s.search(&Query::parse(q).unwrap(), 50).unwrap();
            let names: Vec<&str> = got.hits.iter().map(|h| h.names[0].as_str()).collect();
            assert_eq!(&names, want, "query {q:?}");
            assert_eq!(got.total, want.len(), "total of {q:?}");
        }
        let one = s.search(&Query::parse("port").unwrap(), 2).unwrap();
        assert_eq!((one.hits.len(), one.total), (2, 5));
        assert_eq!(one.hits[0].sources.len(), 2);
    }

    #[test]
    fn a_popular_file_lists_a_bounded_number_of_sources_and_counts_them_all() {
        let s = store();
        let now = Instant::now();
        let f = SharedFile {
            id: FileId::of(b"hit song"),
            size: 5,
            name: "hit song.mp3".into(),
            other_names: Vec::new(),
        };
        for p in 0..250 {
            login(&s, &format!("p{p:03}"), "http://x", vec![f.clone()], now).unwrap();
        }
        let found = s.search(&Query::parse("song").unwrap(), 10).unwrap();
        assert_eq!(found.hits[0].source_count, 250);
        assert_eq!(found.hits[0].sources.len(), MAX_SOURCES_PER_HIT);
        let located = s.locate(&f.id).unwrap();
        assert_eq!(
            (located.source_count, located.sources.len()),
            (250, MAX_SOURCES_PER_LOCATE)
        );
    }

    #[test]
    fn search_by_id_and_locate() {
        let s = store();
        let f = file("x.bin");
        login(&s, "a", "http://a", vec![f.clone()], Instant::now()).unwrap();
        let hit = &s.search(&Query::Id(f.id), 5).unwrap().hits[0];
        assert_eq!((hit.id, hit.size), (f.id, f.size));
        let found = s.locate(&f.id).unwrap();
        assert_eq!(
            (
                found.size,
                found.sources[0].http_addr.as_str(),
                found.source_count
            ),
            (f.size, "http://a", 1)
        );
        assert!(matches!(
            s.locate(&FileId::of(b"nope")),
            Err(DirError::NotFound(_))
        ));
    }

    #[test]
    fn tokens_act_only_for_their_peer() {
        let s = store();
        let now = Instant::now();
        let a = login(&s, "a", "http://a", vec![file("a.txt")], now).unwrap();
        let wrong = Token::from_client("0123456789abcdef0123456789abcdef");
        assert_eq!(
            announce(
                &s,
                &wrong,
                vec![file("evil.txt")],
                vec![file("a.txt").id],
                now
            ),
            Err(DirError::Unauthenticated)
        );
        assert_eq!(s.logout(&wrong, now), Err(DirError::Unauthenticated));
        assert_eq!(s.heartbeat(&wrong, now), Err(DirError::Unauthenticated));
        assert_eq!(names(&s.search(&words("txt"), 10).unwrap()), vec!["a.txt"]);
        assert_eq!(
            announce(&s, &a.token, vec![file("b.txt")], vec![], now),
            Ok(2)
        );
        s.logout(&a.token, now).unwrap();
        assert_eq!(s.search(&words("txt"), 10).unwrap().total, 0);
        assert_eq!(s.logout(&a.token, now), Err(DirError::Unauthenticated));
    }

    #[test]
    fn the_owners_second_login_replaces_its_first_session() {
        let s = store();
        let now = Instant::now();
        let first = login(&s, "a", "http://old", vec![file("old.txt")], now).unwrap();
        let second = login(&s, "a", "http://new", vec![file("new.txt")], now).unwrap();
        assert_ne!(first.token, second.token);
        assert_eq!(
            s.heartbeat(&first.token, now),
            Err(DirError::Unauthenticated)
        );
        assert_eq!(s.peer("a").unwrap(), (addr("http://new"), 1));
        assert_eq!(s.search(&words("old"), 10).unwrap().total, 0);
    }

    #[test]
    fn a_name_belongs_to_its_key_while_live_and_for_the_hold_after() {
        let s = store();
        let t0 = Instant::now();
        let owner = login(&s, "alice", "http://a:1", vec![file("mine.txt")], t0).unwrap();
        // Another key: refused while the owner is online, and nothing changes.
        let err = login_as(&s, "alice", key("mallory"), "http://m:1", vec![], t0).unwrap_err();
        assert!(
            matches!(&err, DirError::Taken(m) if m.contains("\"alice\"")),
            "{err:?}"
        );
        assert_eq!(s.peer("alice").unwrap(), (addr("http://a:1"), 1));
        s.heartbeat(&owner.token, t0).unwrap();
        // Logged out: still kept for the owner during the hold...
        s.logout(&owner.token, t0).unwrap();
        let later = t0 + Duration::from_secs(59);
        assert!(matches!(
            login_as(&s, "alice", key("mallory"), "http://m:1", vec![], later),
            Err(DirError::Taken(_))
        ));
        // ...and the owner comes back whenever it likes.
        let back = login(&s, "alice", "http://a:2", vec![], later).unwrap();
        // Expired by lease: the hold starts when the session is dropped.
        let t1 = later + Duration::from_secs(11);
        assert_eq!(names_of(s.expire(t1)), vec!["alice".to_string()]);
        assert!(login_as(&s, "alice", key("mallory"), "http://m:1", vec![], t1).is_err());
        // Once the hold is over the name is free for anyone.
        let t2 = t1 + Duration::from_secs(61);
        login_as(&s, "alice", key("mallory"), "http://m:1", vec![], t2).unwrap();
        assert_eq!(s.heartbeat(&back.token, t2), Err(DirError::Unauthenticated));
        assert!(matches!(
            login(&s, "alice", "http://a:3", vec![], t2),
            Err(DirError::Taken(_))
        ));
    }

    #[test]
    fn sources_keep_their_own_size_claims_and_the_majority_is_shown() {
        let s = store();
        let now = Instant::now();
        let real = file("song.mp3");
        let lie = SharedFile {
            size: real.size + 1000,
            ..real.clone()
        };
        // The liar comes first: its size is not the file's for long.
        login(&s, "liar", "http://l:1", vec![lie.clone()], now).unwrap();
        assert_eq!(s.locate(&real.id).unwrap().size, lie.size);
        login(&s, "b", "http://b:1", vec![real.clone()], now).unwrap();
        login(&s, "c", "http://c:1", vec![real.clone()], now).unwrap();
        let hit = s.locate(&real.id).unwrap();
        assert_eq!(hit.size, real.size);
        let claims: Vec<(&str, u64)> = hit
            .sources
            .iter()
            .map(|x| (x.peer.as_str(), x.size))
            .collect();
        assert_eq!(
            claims,
            vec![("b", real.size), ("c", real.size), ("liar", lie.size)]
        );
        let found = s.search(&words("song"), 10).unwrap();
        assert_eq!(found.hits[0].size, real.size);
        // A size filter sees the majority's size.
        let bigger = format!("song size>{}", real.size + 500);
        assert_eq!(s.search(&words(&bigger), 10).unwrap().total, 0);
        // Honest sources leave: the liar's claim is all that is left.
        let b = login(&s, "b", "http://b:1", vec![real.clone()], now).unwrap();
        s.logout(&b.token, now).unwrap();
        let c = login(&s, "c", "http://c:1", vec![real.clone()], now).unwrap();
        s.logout(&c.token, now).unwrap();
        assert_eq!(s.locate(&real.id).unwrap().size, lie.size);
        // A source that corrects its claim is counted with the rest.
        let l = login(&s, "liar", "http://l:1", vec![], now).unwrap();
        announce(&s, &l.token, vec![real.clone()], vec![], now).unwrap();
        let hit = s.locate(&real.id).unwrap();
        assert_eq!((hit.size, hit.sources[0].size), (real.size, real.size));
    }

    #[test]
    fn leases_expire_unless_renewed() {
        let s = store();
        let t0 = Instant::now();
        let a = login(&s, "a", "http://a", vec![file("a.txt")], t0).unwrap();
        login(&s, "b", "http://b", vec![file("b.txt")], t0).unwrap();
        s.heartbeat(&a.token, t0 + Duration::from_secs(8)).unwrap();
        assert_eq!(
            names_of(s.expire(t0 + Duration::from_secs(11))),
            vec!["b".to_string()]
        );
        assert_eq!(names(&s.search(&words("txt"), 10).unwrap()), vec!["a.txt"]);
        assert!(s.expire(t0 + Duration::from_secs(17)).is_empty());
        assert_eq!(
            names_of(s.expire(t0 + Duration::from_secs(19))),
            vec!["a".to_string()]
        );
        assert_eq!(s.heartbeat(&a.token, t0), Err(DirError::Unauthenticated));
    }

    #[test]
    fn too_many_files_in_one_call_is_refused() {
        let s = store();
        let many: Vec<_> = (0..101).map(|i| file(&format!("f{i}"))).collect();
        let now = Instant::now();
        let err = login(&s, "a", "http://a", many.clone(), now).unwrap_err();
        assert!(err.to_string().contains("limit is 100"), "{err}");
        assert!(s.peer("a").is_err());
        // Added and removed count together: 51 + 50 is over, each alone is not.
        let a = login(&s, "a", "http://a", many[..50].to_vec(), now).unwrap();
        let gone: Vec<FileId> = many[..50].iter().map(|f| f.id).collect();
        let err = announce(&s, &a.token, many[50..].to_vec(), gone.clone(), now).unwrap_err();
        assert!(err.to_string().contains("101 files in one call"), "{err}");
        assert_eq!(s.peer("a").unwrap().1, 50);
        assert_eq!(
            announce(&s, &a.token, many[50..100].to_vec(), gone, now),
            Ok(50)
        );
        // A file under more than 16 paths (one name and 15 further ones).
        let mut copies = file("copies.txt");
        copies.other_names = (0..16).map(|i| format!("copy {i}.txt")).collect();
        let err = announce(&s, &a.token, vec![copies.clone()], vec![], now).unwrap_err();
        assert!(err.to_string().contains("at most 15"), "{err}");
        copies.other_names.pop();
        assert_eq!(announce(&s, &a.token, vec![copies], vec![], now), Ok(51));
        let found = s.search(&words("copy 14"), 10).unwrap();
        assert_eq!(found.hits[0].names.len(), 16);
    }
}
