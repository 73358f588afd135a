//! [`MemoryLedger`]: the ledger of a single directory process, and
//! [`MemoryStore`], a directory over it. Its books decide the writes: live
//! sessions (token print -> name, the end of its lease) and name bindings
//! (name -> the print of its owner's identity key, and when its last
//! session ended), both on the lease clock (see `ledger.rs`). A write
//! takes the roster's write lock and then the books (always in that
//! order), decides, lets go of the books and applies its event to the
//! roster before letting go of it, so events reach the roster in the order
//! they were decided. A heartbeat takes only the books, so it never waits
//! for a write's turn at the roster or its indexing; searches take only
//! the roster's lock. A server keeps the
//! bindings and the keyprints its operator removed in its state folder
//! ([`NameBook`]), so a name outlives a restart; without one (tests, a
//! directory in a peer's process) they last as long as the process.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::book::NameBook;
use super::event::Event;
use super::ledger::{system_wall, LeaseClock, Ledger, Wall};
use super::roster::Roster;
use super::state::DirectoryState;
use super::store::{DirError, Limits, Removed};
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::{HttpAddr, KeyPrint};

/// A directory in this process's memory.
pub type MemoryStore = DirectoryState<MemoryLedger>;

impl MemoryStore {
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore::with_wall(limits, system_wall())
    }

    /// A directory whose lease clock steps by `wall` (tests move it).
    pub fn with_wall(limits: Limits, wall: Wall) -> MemoryStore {
        let roster = Arc::new(RwLock::new(Roster::default()));
        let ledger = MemoryLedger {
            books: Mutex::new(Books {
                clock: LeaseClock::new(wall, &limits),
                sessions: HashMap::new(),
                bindings: HashMap::new(),
                banned: HashSet::new(),
                book: None,
                prune_at: 0,
                #[cfg(test)]
                prunes: 0,
                #[cfg(test)]
                expiry_holds: 0,
            }),
            roster: roster.clone(),
            limits: limits.clone(),
        };
        DirectoryState::over(limits, roster, ledger)
    }

    /// A directory that keeps its name bindings in `path` (see
    /// [`NameBook`]): those it finds there are held for their owners a
    /// whole `name_hold` from now.
    pub fn with_names(limits: Limits, path: &Path) -> std::io::Result<MemoryStore> {
        let (book, names) = NameBook::open(path)?;
        let store = MemoryStore::new(limits);
        {
            let mut books = store.ledger.books.locked();
            let now = books.clock.now();
            books.bindings = names
                .bound
                .into_iter()
                .map(|(name, owner)| {
                    let released = Some(now);
                    (name, Binding { owner, released })
                })
                .collect();
            books.banned = names.banned;
            books.book = Some(book);
        }
        Ok(store)
    }
}

/// A live session: whose it is, and when its lease ends on the clock.
struct Live {
    name: String,
    lease_end: Duration,
}

/// Whose a name is.
struct Binding {
    owner: KeyPrint,
    /// When (on the clock) the owner's last session ended; `None` while one
    /// is live.
    released: Option<Duration>,
}

/// What the ledger decides with.
struct Books {
    clock: LeaseClock,
    /// Live sessions by the print of their token.
    sessions: HashMap<String, Live>,
    bindings: HashMap<String, Binding>,
    /// Keyprints the operator removed: refused at every Login.
    banned: HashSet<KeyPrint>,
    /// Where bindings and removals are kept, if anywhere.
    book: Option<NameBook>,
    /// A Login prunes the bindings only once they are this many: twice
    /// what the last prune kept, so that bindings still held (after a
    /// restart, every name of the group is held while the roster is
    /// empty) are not walked again at each Login.
    prune_at: usize,
    /// How many times the bindings were walked.
    #[cfg(test)]
    prunes: usize,
    /// How many times sweeps took the roster to end lapsed sessions.
    #[cfg(test)]
    expiry_holds: usize,
}

impl Books {
    /// The live session with this print: known, and its lease not ended.
    fn live(&mut self, session: &str) -> Result<&mut Live, DirError> {
        let now = self.clock.now();
        self.sessions
            .get_mut(session)
            .filter(|l| l.lease_end >= now)
            .ok_or(DirError::Unauthenticated)
    }

    /// Ends a session (logout or expiry): its name's binding is held from
    /// now, and it leaves the roster.
    fn end(&mut self, session: &str, roster: &mut Roster) -> Option<String> {
        let live = self.sessions.remove(session)?;
        if let Some(b) = self.bindings.get_mut(&live.name) {
            b.released = Some(self.clock.now());
        }
        roster.apply(Event::Left {
            session: session.to_string(),
        });
        Some(live.name)
    }

    /// Forgets bindings whose hold is over.
    fn prune_bindings(&mut self, hold: Duration) {
        let now = self.clock.now();
        let book = &mut self.book;
        self.bindings.retain(|name, b| {
            let keep = b.released.is_none_or(|t| now.saturating_sub(t) < hold);
            if !keep {
                if let Some(book) = book.as_mut() {
                    book.free(name);
                }
            }
            keep
        });
        self.prune_at = 2 * self.bindings.len();
        #[cfg(test)]
        {
            self.prunes += 1;
        }
    }
}

/// Lapsed sessions a sweep ends under one hold of the roster. Each takes
/// its files out of the index (about 0.2 ms for 100 files at 10M entries),
/// and searches wait for the roster meanwhile: a sweep that ends tens of
/// thousands at once (after a partition, say) lets them in between.
const EXPIRE_BATCH: usize = 256;
/// The pause between two batches of a sweep, for the searches waiting.
const EXPIRE_PAUSE: Duration = Duration::from_millis(1);

/// The ledger of a directory in this process's memory.
pub struct MemoryLedger {
    books: Mutex<Books>,
    roster: Arc<RwLock<Roster>>,
    limits: Limits,
}

/// The refusal of a Login for `name` by another key than its owner's:
/// the owner is online (`held_for` is `None`), or its last session ended
/// within `held_for`.
pub(super) fn name_taken(name: &str, held_for: Option<Duration>) -> DirError {
    DirError::Taken(match held_for {
        None => format!(
            "the name {name:?} is in use by another peer (another certificate): \
             choose another name"
        ),
        Some(hold) => format!(
            "the name {name:?} belongs to another peer (another certificate); \
             it is kept for its owner {} after its last session: choose another \
             name, or ask the directory's operator to free it",
            human_duration(hold)
        ),
    })
}

impl Ledger for MemoryLedger {
    fn login(&self, owner: KeyPrint, joined: Event, lease: Duration) -> Result<(), DirError> {
        let Event::Joined { name, session, .. } = &joined else {
            return Err(DirError::Internal("a login needs a Joined event".into()));
        };
        let (name, session) = (name.clone(), session.clone());
        let hold = self.limits.name_hold;
        // The roster first (see the lock order in the module doc): a write
        // waiting its turn at the roster holds nothing a heartbeat needs.
        let mut roster = self.roster.writing();
        let mut books = self.books.locked();
        let now = books.clock.now();
        if books.banned.contains(&owner) {
            return Err(removed_refusal());
        }
        if let Some(b) = books.bindings.get(&name).filter(|b| b.owner != owner) {
            match b.released {
                None => return Err(name_taken(&name, None)),
                Some(t) if now.saturating_sub(t) < hold => {
                    return Err(name_taken(&name, Some(hold)))
                }
                Some(_) => {}
            }
        }
        if let Some(old) = roster.session_of(&name).map(str::to_string) {
            // Replaced: the Joined below takes its place in the roster.
            books.sessions.remove(&old);
        }
        if books.bindings.len() >= (2 * roster.len() + 1024).max(books.prune_at) {
            books.prune_bindings(hold);
        }
        let known = books.bindings.get(&name).is_some_and(|b| b.owner == owner);
        if let (false, Some(book)) = (known, books.book.as_mut()) {
            book.bind(&name, &owner);
        }
        books.bindings.insert(
            name.clone(),
            Binding {
                owner,
                released: None,
            },
        );
        books.sessions.insert(
            session,
            Live {
                name,
                lease_end: now + lease,
            },
        );
        // The books are done: heartbeats need not wait for the files to be
        // indexed (holding the roster, no other write comes in between).
        drop(books);
        roster.apply(joined);
        Ok(())
    }

    fn announce(&self, changed: Event, lease: Duration) -> Result<usize, DirError> {
        let Event::Changed { session, .. } = &changed else {
            return Err(DirError::Internal(
                "an announce needs a Changed event".into(),
            ));
        };
        let mut roster = self.roster.writing();
        let mut books = self.books.locked();
        let lease_end = books.clock.now() + lease;
        books.live(session)?.lease_end = lease_end;
        drop(books);
        Ok(roster.apply(changed))
    }

    fn heartbeat(&self, session: &str, lease: Duration) -> Result<(), DirError> {
        let mut books = self.books.locked();
        let lease_end = books.clock.now() + lease;
        books.live(session)?.lease_end = lease_end;
        Ok(())
    }

    fn logout(&self, left: Event) -> Result<(), DirError> {
        let Event::Left { session } = &left else {
            return Err(DirError::Internal("a logout needs a Left event".into()));
        };
        let mut roster = self.roster.writing();
        let mut books = self.books.locked();
        books.live(session)?;
        books
            .end(session, &mut roster)
            .map(|_| ())
            .ok_or(DirError::Unauthenticated)
    }

    fn remove(&self, name: &str) -> Result<Removed, DirError> {
        let mut roster = self.roster.writing();
        let mut books = self.books.locked();
        let session = roster.session_of(name).map(str::to_string);
        let was_online = match session {
            Some(s) => books.end(&s, &mut roster).is_some(),
            None => false,
        };
        let owner = books.bindings.remove(name).map(|b| b.owner);
        let books = &mut *books;
        if let Some(book) = books.book.as_mut() {
            book.free(name);
            if let Some(owner) = &owner {
                book.ban(owner);
            }
        }
        if let Some(owner) = owner {
            books.banned.insert(owner);
        }
        Ok(Removed { owner, was_online })
    }

    fn expire(&self) -> Vec<(String, Option<HttpAddr>)> {
        let mut books = self.books.locked();
        let now = books.clock.sweep();
        let lapsed: Vec<String> = books
            .sessions
            .iter()
            .filter(|(_, l)| l.lease_end < now)
            .map(|(s, _)| s.clone())
            .collect();
        drop(books);
        let mut gone = Vec::new();
        for (i, batch) in lapsed.chunks(EXPIRE_BATCH).enumerate() {
            if i > 0 {
                // Letting go is not enough: the lock would be taken again
                // before a woken search could take it.
                std::thread::sleep(EXPIRE_PAUSE);
            }
            // The roster before the books (the lock order), and each
            // session ended only if it is still lapsed once both are held.
            let mut roster = self.roster.writing();
            let mut books = self.books.locked();
            let now = books.clock.now();
            #[cfg(test)]
            {
                books.expiry_holds += 1;
            }
            for session in batch {
                if books
                    .sessions
                    .get(session)
                    .is_none_or(|l| l.lease_end >= now)
                {
                    continue;
                }
                let addr = roster
                    .session_name(session)
                    .and_then(|n| roster.peer(&n).ok())
                    .map(|(a, _)| a);
                if let Some(name) = books.end(session, &mut roster) {
                    gone.push((name, addr));
                }
            }
        }
        self.books.locked().prune_bindings(self.limits.name_hold);
        gone
    }
}

/// The refusal of a Login by a keyprint the operator removed.
pub(super) fn removed_refusal() -> DirError {
    DirError::Denied(
        "this peer's certificate was removed from the group by the directory's operator; \
         ask the operator"
            .to_string(),
    )
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
    use crate::directory::query::Query;
    use crate::directory::store::{
        DirectoryStore, Session, Token, MAX_SOURCES_PER_HIT, MAX_SOURCES_PER_LOCATE,
    };
    use crate::id::FileId;
    use crate::wire::{SearchOutcome, SharedFile};

    fn addr(text: &str) -> HttpAddr {
        HttpAddr::parse(text).unwrap()
    }

    /// The print of a key made from `seed` (one per test peer).
    fn key(seed: &str) -> KeyPrint {
        KeyPrint::of_seed(seed)
    }

    /// Logs `name` in with its own key (the key of the name itself).
    fn login(
        s: &MemoryStore,
        name: &str,
        http_addr: &str,
        files: Vec<SharedFile>,
    ) -> Result<Session, DirError> {
        login_as(s, name, key(name), http_addr, files)
    }

    fn login_as(
        s: &MemoryStore,
        name: &str,
        owner: KeyPrint,
        http_addr: &str,
        files: Vec<SharedFile>,
    ) -> Result<Session, DirError> {
        let files = s.limits().batch(files, vec![])?;
        s.login(name, owner, &addr(http_addr), files)
    }

    fn announce(
        s: &MemoryStore,
        token: &Token,
        added: Vec<SharedFile>,
        removed: Vec<FileId>,
    ) -> Result<usize, DirError> {
        s.announce(token, s.limits().batch(added, removed)?)
    }

    fn store() -> MemoryStore {
        MemoryStore::new(Limits {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(3),
            max_results: 50,
            max_files_per_call: 100,
            name_hold: Duration::from_secs(60),
            heartbeat_rate: 2000,
        })
    }

    fn file(name: &str) -> SharedFile {
        SharedFile::named(name)
    }

    fn words(q: &str) -> Query {
        Query::parse(q).unwrap()
    }

    fn names(outcome: &SearchOutcome) -> Vec<String> {
        outcome.hits.iter().map(|h| h.names[0].clone()).collect()
    }

    #[test]
    fn bindings_and_removals_outlive_the_process_in_its_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::directory::book::NAMES_FILE);
        let limits = store().limits().clone();
        {
            let s = MemoryStore::with_names(limits.clone(), &path).unwrap();
            let alice = login(&s, "alice", "http://a:1", vec![]).unwrap();
            s.logout(&alice.token).unwrap();
            login(&s, "bob", "http://b:1", vec![]).unwrap();
            login(&s, "eve", "http://e:1", vec![]).unwrap();
            s.remove("eve").unwrap();
        }
        let s = MemoryStore::with_names(limits, &path).unwrap();
        // Nobody is online after a restart, but every name is still its
        // owner's: another key is refused, the owner comes back.
        assert!(s.peer("alice").is_err());
        for name in ["alice", "bob"] {
            let err = login_as(&s, name, key("mallory"), "http://m:1", vec![]).unwrap_err();
            assert!(
                matches!(&err, DirError::Taken(m) if m.contains("kept for its owner")),
                "{err:?}"
            );
        }
        login(&s, "alice", "http://a:2", vec![]).unwrap();
        // The removed key stays refused; its name is free.
        let err = login(&s, "eve", "http://e:1", vec![]).unwrap_err();
        assert!(
            matches!(&err, DirError::Denied(m) if m.contains("removed")),
            "{err:?}"
        );
        login_as(&s, "eve", key("carol"), "http://c:1", vec![]).unwrap();
    }

    /// A sweep that finds many sessions lapsed ends them all, a batch at
    /// a time with the roster let go in between, and leaves alone one
    /// that renewed its lease.
    #[test]
    fn a_sweep_ends_many_lapsed_sessions_in_batches() {
        let wall = crate::directory::ledger::TestWall::new();
        let s = MemoryStore::with_wall(store().limits().clone(), wall.wall());
        let n = 2 * EXPIRE_BATCH + 10;
        let sessions: Vec<_> = (0..n)
            .map(|i| {
                let name = format!("peer{i}");
                login(
                    &s,
                    &name,
                    "http://a:1",
                    vec![file(&format!("{name} notes.txt"))],
                )
                .unwrap()
            })
            .collect();
        assert_eq!(s.counts(), (n, n));
        // All but the last lapse; the last keeps heartbeating.
        let lease = s.limits().lease;
        let mut gone = Vec::new();
        let mut left = lease + Duration::from_secs(1);
        while !left.is_zero() {
            let step = left.min(Duration::from_secs(1));
            wall.advance(step);
            left -= step;
            s.heartbeat(&sessions[n - 1].token).unwrap();
            gone.extend(s.expire().into_iter().map(|(name, _)| name));
        }
        assert_eq!(gone.len(), n - 1);
        assert!(!gone.contains(&format!("peer{}", n - 1)));
        assert_eq!(s.counts(), (1, 1));
        assert_eq!(s.search(&words("notes"), 10).unwrap().hits.len(), 1);
        assert_eq!(
            s.ledger.books.locked().expiry_holds,
            3,
            "{} sessions in batches of {EXPIRE_BATCH}",
            n - 1
        );
    }

    /// After a restart every name of the group is held while the roster
    /// is still empty: the logins that come back walk the held bindings
    /// once, not once each (that made 100,000 logins quadratic).
    #[test]
    fn logins_after_a_restart_do_not_walk_the_held_names_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::directory::book::NAMES_FILE);
        let limits = store().limits().clone();
        let group: Vec<String> = (0..3000).map(|i| format!("peer{i}")).collect();
        {
            let s = MemoryStore::with_names(limits.clone(), &path).unwrap();
            for name in &group {
                login(&s, name, "http://a:1", vec![]).unwrap();
            }
        }
        let s = MemoryStore::with_names(limits, &path).unwrap();
        for name in &group {
            login(&s, name, "http://a:1", vec![]).unwrap();
        }
        let books = s.ledger.books.locked();
        assert_eq!(books.bindings.len(), 3000);
        assert_eq!(books.prunes, 1, "walked once, when the first came back");
        drop(books);
        // Every name is still its owner's.
        let err = login_as(&s, "peer7", key("mallory"), "http://m:1", vec![]).unwrap_err();
        assert!(matches!(err, DirError::Taken(_)), "{err:?}");
    }

    #[test]
    fn search_needs_every_word_case_insensitive_and_ranks_by_sources() {
        let s = store();
        login(
            &s,
            "a",
            "http://a",
            vec![file("Holiday Photos.zip"), file("report.pdf")],
        )
        .unwrap();
        login(
            &s,
            "b",
            "http://b",
            vec![file("holiday-video.mp4"), file("report.pdf")],
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
        login(&s, "a", "http://a", library.to_vec()).unwrap();
        // A second source for one file: it ranks first among equals.
        login(&s, "b", "http://b", vec![library[2].clone()]).unwrap();
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
            // Case and accents fold away, in names and queries alike.
            ("UMEÅ", &["Holiday in Ümeå.mp4"]),
            ("umea", &["Holiday in Ümeå.mp4"]),
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
        let f = SharedFile {
            id: FileId::of(b"hit song"),
            size: 5,
            name: "hit song.mp3".into(),
            other_names: Vec::new(),
        };
        for p in 0..250 {
            login(&s, &format!("p{p:03}"), "http://x", vec![f.clone()]).unwrap();
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
        login(&s, "a", "http://a", vec![f.clone()]).unwrap();
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
    fn sources_keep_their_own_size_claims_and_the_majority_is_shown() {
        let s = store();
        let real = file("song.mp3");
        let lie = SharedFile {
            size: real.size + 1000,
            ..real.clone()
        };
        // The liar comes first: its size is not the file's for long.
        login(&s, "liar", "http://l:1", vec![lie.clone()]).unwrap();
        assert_eq!(s.locate(&real.id).unwrap().size, lie.size);
        login(&s, "b", "http://b:1", vec![real.clone()]).unwrap();
        login(&s, "c", "http://c:1", vec![real.clone()]).unwrap();
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
        let b = login(&s, "b", "http://b:1", vec![real.clone()]).unwrap();
        s.logout(&b.token).unwrap();
        let c = login(&s, "c", "http://c:1", vec![real.clone()]).unwrap();
        s.logout(&c.token).unwrap();
        assert_eq!(s.locate(&real.id).unwrap().size, lie.size);
        // A source that corrects its claim is counted with the rest.
        let l = login(&s, "liar", "http://l:1", vec![]).unwrap();
        announce(&s, &l.token, vec![real.clone()], vec![]).unwrap();
        let hit = s.locate(&real.id).unwrap();
        assert_eq!((hit.size, hit.sources[0].size), (real.size, real.size));
    }
}
