//! A directory in this process, spoken to through the peer's
//! [`DirectoryApi`]: the in-memory store behind the same trait as the gRPC
//! client, with the same refusals (the store's `Limits::batch` checks what
//! the gRPC service would). This is the one module that imports both
//! `directory/` and `peer/`; it exists so that a peer's session and
//! downloads can be run, and tested, without a server process.

use std::sync::Arc;
use std::time::Duration;

use crate::directory::{DirError, DirectoryStore, Query, Token};
use crate::id::FileId;
use crate::names;
use crate::peer::{ClientError, DirectoryApi, Login};
use crate::wire::{Credentials, HttpAddr, SearchOutcome, SharedFile, Source};

/// A [`DirectoryStore`] in this process, as a peer's [`DirectoryApi`].
#[derive(Clone)]
pub struct InProcessDirectory {
    store: Arc<dyn DirectoryStore>,
}

impl InProcessDirectory {
    pub fn new(store: Arc<dyn DirectoryStore>) -> InProcessDirectory {
        InProcessDirectory { store }
    }

    /// The store behind it, to look at what the directory holds.
    pub fn store(&self) -> &dyn DirectoryStore {
        &*self.store
    }
}

/// What the gRPC client would make of the status the service sends for `e`.
fn client_error(e: DirError) -> ClientError {
    match e {
        DirError::Unauthenticated => ClientError::Unauthenticated,
        DirError::NotFound(m) => ClientError::NotFound(m),
        DirError::Exhausted(m) => ClientError::Busy(m),
        DirError::Unavailable(detail) => ClientError::Unreachable {
            addr: "in-process".into(),
            detail,
        },
        DirError::Taken(m) | DirError::Denied(m) => ClientError::Denied(m),
        DirError::Invalid(m) | DirError::Internal(m) => ClientError::Refused(m),
    }
}

impl DirectoryApi for InProcessDirectory {
    fn addr(&self) -> &str {
        "in-process"
    }

    /// Logs in as the gRPC service would, but for the checks that need a
    /// network: no group password, no address rule.
    fn login(
        &self,
        name: &str,
        http_addr: &HttpAddr,
        creds: &Credentials,
        files: &[SharedFile],
    ) -> Result<Login, ClientError> {
        names::check_peer_name(name).map_err(|e| ClientError::Refused(e.to_string()))?;
        let limits = self.store.limits();
        let batch = limits
            .batch(files.to_vec(), Vec::new())
            .map_err(client_error)?;
        // In this process there is no TLS handshake: the identity key
        // stands for the certificate (a peer without one is refused).
        let owner = creds
            .key
            .as_ref()
            .map(|k| k.print())
            .ok_or_else(|| ClientError::Denied("no identity key".into()))?;
        let s = self
            .store
            .login(name, owner, http_addr, batch)
            .map_err(client_error)?;
        Ok(Login {
            token: s.token.as_str().to_string(),
            lease: s.grant.lease,
            heartbeat: s.grant.heartbeat,
            max_files_per_call: s.max_files_per_call as usize,
            // In this process there is nobody to reach it from.
            reachable: true,
            listed_at: None,
        })
    }

    fn announce(
        &self,
        token: &str,
        added: &[SharedFile],
        removed: &[FileId],
    ) -> Result<u64, ClientError> {
        let batch = self
            .store
            .limits()
            .batch(added.to_vec(), removed.to_vec())
            .map_err(client_error)?;
        self.store
            .announce(&Token::from_client(token), batch)
            .map(|n| n as u64)
            .map_err(client_error)
    }

    fn heartbeat(&self, token: &str) -> Result<Option<Duration>, ClientError> {
        self.store
            .heartbeat(&Token::from_client(token))
            .map(|grant| Some(grant.heartbeat))
            .map_err(client_error)
    }

    fn logout(&self, token: &str) -> Result<(), ClientError> {
        self.store
            .logout(&Token::from_client(token))
            .map_err(client_error)
    }

    fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), ClientError> {
        let hit = self.store.locate(id).map_err(client_error)?;
        Ok((hit.size, hit.sources))
    }

    /// Searches as the gRPC service would, without its flood limits.
    fn search(
        &self,
        query: &str,
        limit: u32,
        _token: Option<&str>,
    ) -> Result<SearchOutcome, ClientError> {
        let query = Query::parse(query).map_err(|e| client_error(e.into()))?;
        self.store.search(&query, limit).map_err(client_error)
    }
}

/// The session's re-login, backoff and announce logic, step by step against
/// a directory in this process: no server, no sleeps (the steps take the
/// time as an argument).
#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::directory::{Limits, MemoryStore, TestWall};
    use crate::peer::session::{
        Link, SessionState, ANNOUNCE_BACKOFF_MIN, LOGIN_BACKOFF_MAX, LOGIN_BACKOFF_MIN,
    };
    use crate::peer::ShareTable;
    use crate::wire::LOGIN_FILES;

    /// The in-process directory, with failures on demand and a record of
    /// how many files each call carried.
    struct Flaky {
        inner: InProcessDirectory,
        /// Errors the next logins / announces get, in order.
        login_errors: Mutex<Vec<ClientError>>,
        announce_errors: Mutex<Vec<ClientError>>,
        heartbeat_errors: Mutex<Vec<ClientError>>,
        logins: Mutex<Vec<usize>>,
        announces: Mutex<Vec<usize>>,
        heartbeats: AtomicUsize,
        /// The wall the directory's lease clock steps by.
        wall: TestWall,
    }

    impl Flaky {
        fn new(max_files_per_call: u32) -> Arc<Flaky> {
            Flaky::with_rate(max_files_per_call, 2000)
        }

        /// One whose directory asks at most `heartbeat_rate` heartbeats a
        /// second of its group.
        fn with_rate(max_files_per_call: u32, heartbeat_rate: u32) -> Arc<Flaky> {
            let wall = TestWall::new();
            let store = MemoryStore::with_wall(
                Limits {
                    lease: Duration::from_secs(30),
                    heartbeat: Duration::from_secs(10),
                    max_results: 1000,
                    max_files_per_call,
                    name_hold: Duration::from_secs(3600),
                    heartbeat_rate,
                },
                wall.wall(),
            );
            Arc::new(Flaky {
                inner: InProcessDirectory::new(Arc::new(store)),
                login_errors: Mutex::new(Vec::new()),
                announce_errors: Mutex::new(Vec::new()),
                heartbeat_errors: Mutex::new(Vec::new()),
                logins: Mutex::new(Vec::new()),
                announces: Mutex::new(Vec::new()),
                heartbeats: AtomicUsize::new(0),
                wall,
            })
        }

        fn store(&self) -> &dyn DirectoryStore {
            self.inner.store()
        }

        /// How many files the directory lists for `name`.
        fn listed(&self, name: &str) -> usize {
            self.store().peer(name).map_or(0, |(_, n)| n)
        }

        fn announce_calls(&self) -> usize {
            self.announces.lock().unwrap().len()
        }
    }

    fn busy() -> ClientError {
        ClientError::Busy("too many Announce calls".into())
    }

    fn away() -> ClientError {
        ClientError::Unreachable {
            addr: "in-process".into(),
            detail: "gone".into(),
        }
    }

    impl DirectoryApi for Flaky {
        fn addr(&self) -> &str {
            "flaky"
        }
        fn login(
            &self,
            name: &str,
            http_addr: &HttpAddr,
            creds: &Credentials,
            files: &[SharedFile],
        ) -> Result<Login, ClientError> {
            self.logins.lock().unwrap().push(files.len());
            if let Some(e) = self.login_errors.lock().unwrap().pop() {
                return Err(e);
            }
            self.inner.login(name, http_addr, creds, files)
        }
        fn announce(
            &self,
            token: &str,
            added: &[SharedFile],
            removed: &[FileId],
        ) -> Result<u64, ClientError> {
            self.announces
                .lock()
                .unwrap()
                .push(added.len() + removed.len());
            if let Some(e) = self.announce_errors.lock().unwrap().pop() {
                return Err(e);
            }
            self.inner.announce(token, added, removed)
        }
        fn heartbeat(&self, token: &str) -> Result<Option<Duration>, ClientError> {
            self.heartbeats.fetch_add(1, Ordering::Relaxed);
            if let Some(e) = self.heartbeat_errors.lock().unwrap().pop() {
                return Err(e);
            }
            self.inner.heartbeat(token)
        }
        fn logout(&self, token: &str) -> Result<(), ClientError> {
            self.inner.logout(token)
        }
        fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), ClientError> {
            self.inner.locate(id)
        }
        fn search(
            &self,
            query: &str,
            limit: u32,
            token: Option<&str>,
        ) -> Result<SearchOutcome, ClientError> {
            self.inner.search(query, limit, token)
        }
    }

    /// A peer "alice" sharing `share`, linked to `dir`.
    fn link_to(dir: &Arc<Flaky>, share: &Arc<ShareTable>, now: Instant) -> Link {
        let addr = HttpAddr::parse("http://127.0.0.1:7001").unwrap();
        let creds = Credentials {
            key: Some(crate::wire::IdentityKey::generate()),
            ..Default::default()
        };
        let (denied, _) = crossbeam_channel::bounded(1);
        Link::new(
            dir.clone(),
            "alice",
            &addr,
            creds,
            share.clone(),
            now,
            denied,
        )
    }

    /// A peer "alice" sharing `folder`, linked to `dir`.
    fn link(dir: &Arc<Flaky>, folder: &std::path::Path, now: Instant) -> (Link, Arc<ShareTable>) {
        let share = Arc::new(ShareTable::new(folder));
        share.rescan().unwrap();
        (link_to(dir, &share, now), share)
    }

    /// A peer "alice" sharing `n` files, online with `dir` at the time it
    /// returns (with its folder, which must outlive it).
    fn online(dir: &Arc<Flaky>, n: usize) -> (tempfile::TempDir, Link, Arc<ShareTable>, Instant) {
        let folder = tempfile::tempdir().unwrap();
        write_files(folder.path(), "old", n);
        let t0 = Instant::now();
        let (link, share) = link(dir, folder.path(), t0);
        until_idle(&link, t0);
        assert_eq!(link.state(), SessionState::Online);
        assert_eq!(dir.listed("alice"), n);
        (folder, link, share, t0)
    }

    fn write_files(folder: &std::path::Path, prefix: &str, n: usize) {
        for i in 0..n {
            fs::write(
                folder.join(format!("{prefix}-{i:05}.txt")),
                format!("{prefix} {i}"),
            )
            .unwrap();
        }
    }

    /// Steps at `now` while the link has work it can do at once; returns
    /// how many steps that took and the wait it asked for at the end.
    fn until_idle(link: &Link, now: Instant) -> (usize, Duration) {
        for steps in 1..10_000 {
            let wait = link.step(now);
            if wait > Duration::ZERO {
                return (steps, wait);
            }
        }
        panic!("the session never came to rest");
    }

    #[test]
    fn a_rescan_of_12000_new_files_under_a_5000_file_limit_ends_with_all_listed() {
        let dir = Flaky::new(5000);
        let (folder, link, share, t0) = online(&dir, 3);

        write_files(folder.path(), "new", 12_000);
        let change = share.rescan().unwrap();
        assert_eq!(change.added.len(), 12_000);
        link.share_changed();
        let (_, wait) = until_idle(&link, t0);
        assert_eq!(link.pending(), 0);
        assert_eq!(dir.listed("alice"), 12_003);
        // Three calls of at most the limit, not one refused call.
        assert_eq!(*dir.announces.lock().unwrap(), vec![5000, 5000, 2000]);
        // Then it waits for the heartbeat.
        assert_eq!(wait, Duration::from_secs(10));
        let found = dir
            .store()
            .search(&Query::parse("new 11999").unwrap(), 10)
            .unwrap();
        assert_eq!(found.hits[0].names, vec!["new-11999.txt".to_string()]);

        // A peer that logs in with all of them sends the first hundred in
        // the Login and the rest in calls of the directory's limit.
        let fresh = Flaky::new(5000);
        let again = link_to(&fresh, &share, t0);
        until_idle(&again, t0);
        assert_eq!(*fresh.logins.lock().unwrap(), vec![LOGIN_FILES as usize]);
        assert_eq!(*fresh.announces.lock().unwrap(), vec![5000, 5000, 1903]);
        assert_eq!(fresh.listed("alice"), 12_003);
    }

    #[test]
    fn a_refused_announce_is_sent_again_after_a_backoff_and_nothing_is_lost() {
        let dir = Flaky::new(100);
        let (folder, link, share, t0) = online(&dir, 3);

        write_files(folder.path(), "new", 250);
        share.rescan().unwrap();
        // The directory turns the next three announces away.
        *dir.announce_errors.lock().unwrap() = vec![away(), busy(), busy()];
        link.share_changed();
        let (_, wait) = until_idle(&link, t0);
        assert_eq!(wait, ANNOUNCE_BACKOFF_MIN);
        assert_eq!((dir.announce_calls(), link.pending()), (1, 250));
        // Nothing is sent again before the wait is over...
        let early = link.step(t0 + wait / 2);
        assert_eq!(dir.announce_calls(), 1);
        assert_eq!(early, wait / 2);
        // ...and each failure doubles it.
        let t1 = t0 + wait;
        let (_, wait) = until_idle(&link, t1);
        assert_eq!((dir.announce_calls(), wait), (2, 2 * ANNOUNCE_BACKOFF_MIN));
        // A change made meanwhile joins what is still to send.
        fs::remove_file(folder.path().join("old-00000.txt")).unwrap();
        fs::remove_file(folder.path().join("new-00007.txt")).unwrap();
        write_files(folder.path(), "late", 1);
        share.rescan().unwrap();
        link.share_changed();
        let t2 = t1 + wait;
        let (_, wait) = until_idle(&link, t2);
        assert_eq!((dir.announce_calls(), wait), (3, 4 * ANNOUNCE_BACKOFF_MIN));
        let (_, _) = until_idle(&link, t2 + wait);
        assert_eq!(link.pending(), 0);
        // Three files, plus 250 new, minus two removed, plus one late.
        assert_eq!(dir.listed("alice"), 252);
        let gone = FileId::of(b"old 0");
        assert!(dir.store().locate(&gone).is_err());
        assert!(dir.store().locate(&FileId::of(b"late 0")).is_ok());
        // Every announce after the failures carried at most the limit.
        assert!(dir.announces.lock().unwrap().iter().all(|n| *n <= 100));
    }

    #[test]
    fn a_failed_heartbeat_shows_at_once_and_a_good_one_clears_it() {
        let dir = Flaky::new(100);
        let (_folder, link, _share, t0) = online(&dir, 3);
        *dir.heartbeat_errors.lock().unwrap() = vec![away()];
        let t1 = t0 + Duration::from_secs(10);
        let wait = link.step(t1);
        match link.state() {
            SessionState::Unreachable(why) => assert!(why.contains("gone"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(link
            .state()
            .to_string()
            .starts_with("directory unreachable"));
        // The directory answers the next heartbeat: online, same session.
        until_idle(&link, t1 + wait);
        assert_eq!(link.state(), SessionState::Online);
        assert_eq!(dir.logins.lock().unwrap().len(), 1);
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_session_heartbeats_at_the_longer_interval_a_grown_group_is_asked() {
        // One heartbeat a second for the group: 15 peers, every 15 s.
        let dir = Flaky::with_rate(100, 1);
        let (_folder, link, _share, t0) = online(&dir, 3);
        for i in 0..14 {
            let files = dir.store().limits().batch(Vec::new(), Vec::new()).unwrap();
            let print = crate::wire::IdentityKey::generate().print();
            let addr = HttpAddr::parse(&format!("http://127.0.0.1:{}", 8000 + i)).unwrap();
            dir.store()
                .login(&format!("other{i}"), print, &addr, files)
                .unwrap();
        }
        // Its login asked for every 10 s; the heartbeat then says 15.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(until_idle(&link, t1), (1, Duration::from_secs(15)));
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 1);
        assert_eq!(link.state(), SessionState::Online);
        // Its lease grew with the interval (to 45 s): it is still there
        // after the first one (30 s) would have ended.
        let gone = dir.wall.pass(dir.store(), Duration::from_secs(35));
        assert!(!gone.contains(&"alice".to_string()), "{gone:?}");
        assert_eq!(dir.listed("alice"), 3);
    }

    #[test]
    fn a_directory_that_forgot_the_session_gets_a_new_login_with_every_file() {
        let dir = Flaky::new(100);
        let (_folder, link, _share, t0) = online(&dir, 250);
        // The lease lapses (as after a directory restart, the token is unknown).
        let gone = dir.wall.pass(dir.store(), Duration::from_secs(30));
        assert!(
            gone.is_empty(),
            "a lease ends only once it is over: {gone:?}"
        );
        dir.wall.advance(Duration::from_secs(1));
        assert_eq!(
            dir.store().expire(),
            vec![(
                "alice".to_string(),
                Some(HttpAddr::parse("http://127.0.0.1:7001").unwrap())
            )]
        );
        assert_eq!(dir.listed("alice"), 0);
        // At the next heartbeat the session notices and logs in again.
        let t1 = t0 + Duration::from_secs(10);
        until_idle(&link, t1);
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 1);
        assert_eq!(dir.logins.lock().unwrap().len(), 2);
        assert_eq!(dir.listed("alice"), 250);
        assert_eq!(link.state(), SessionState::Online);
    }

    #[test]
    fn a_session_asked_to_check_soon_finds_a_forgetful_directory_before_its_interval() {
        let dir = Flaky::new(100);
        let (_folder, link, _share, t0) = online(&dir, 3);
        // The lease lapses, as if the directory had restarted.
        let gone = dir.wall.pass(dir.store(), Duration::from_secs(31));
        assert_eq!(gone, vec!["alice".to_string()]);
        // The notice stream ended: a heartbeat within a second, not 10 s.
        let soon = t0 + Duration::from_secs(1);
        link.check_by(soon);
        assert_eq!(link.step(t0), Duration::from_secs(1));
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 0);
        until_idle(&link, soon);
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 1);
        assert_eq!(dir.logins.lock().unwrap().len(), 2);
        assert_eq!(dir.listed("alice"), 3);
        // A check later than the heartbeat due changes nothing, and the
        // one asked is used once: the interval holds after it.
        let t1 = soon + Duration::from_secs(10);
        link.check_by(t1 + Duration::from_secs(5));
        assert_eq!(link.step(soon), Duration::from_secs(10));
        until_idle(&link, t1);
        assert_eq!(dir.heartbeats.load(Ordering::Relaxed), 2);
        assert_eq!(link.step(t1), Duration::from_secs(10));
    }

    #[test]
    fn login_retries_with_a_growing_jittered_backoff_while_the_directory_is_away() {
        let dir = Flaky::new(100);
        let folder = tempfile::tempdir().unwrap();
        write_files(folder.path(), "f", 2);
        *dir.login_errors.lock().unwrap() = (0..8).map(|_| away()).collect();
        let mut now = Instant::now();
        let (link, _share) = link(&dir, folder.path(), now);
        let mut backoff = LOGIN_BACKOFF_MIN;
        for _ in 0..8 {
            let wait = link.step(now);
            assert!(
                wait >= backoff.mul_f64(0.75) && wait <= backoff.mul_f64(1.25),
                "{wait:?} for a backoff of {backoff:?}"
            );
            match link.state() {
                SessionState::Connecting(why) => assert!(why.contains("gone"), "{why}"),
                other => panic!("{other:?}"),
            }
            backoff = (backoff * 2).min(LOGIN_BACKOFF_MAX);
            now += wait;
        }
        assert_eq!(backoff, LOGIN_BACKOFF_MAX);
        until_idle(&link, now);
        assert_eq!(link.state(), SessionState::Online);
        assert_eq!(dir.listed("alice"), 2);
    }
}
