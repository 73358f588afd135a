//! The behaviour every ledger must show, run against both: the memory
//! ledger, and the Redis ledger on a `redis-server` of the test's own
//! (whenever one is on the PATH; under `CI=true` a missing one fails).
//! Time passes on the lease clock only, by moving the ledger's wall: the
//! memory ledger's [`TestWall`], Redis's time through the sweep's test
//! shift; nothing sleeps.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ledger::{pass_in_steps, LeaseClock, TestWall};
use super::query::Query;
use super::store::{
    DirError, DirectoryStore, Grant, Limits, Removed, Session, Token, MAX_HEARTBEAT,
};
use super::{MemoryStore, RedisStore};
use crate::id::FileId;
use crate::wire::{HttpAddr, KeyPrint, SharedFile};

/// A directory under test and a way to let time pass on its lease clock.
trait Harness {
    fn store(&self) -> &dyn DirectoryStore;
    /// Moves the ledger's wall by `by`, without a sweep.
    fn shift(&self, by: Duration);
    /// Moves the wall by `by`, a clock step at a time with a sweep after
    /// each; returns the names the sweeps expired.
    fn pass(&self, by: Duration) -> Vec<String> {
        pass_in_steps(self.store(), by, &|d| self.shift(d))
    }
}

fn limits() -> Limits {
    Limits {
        lease: Duration::from_secs(10),
        heartbeat: Duration::from_secs(3),
        max_results: 50,
        max_files_per_call: 100,
        name_hold: Duration::from_secs(60),
        // One a second: from the fourth peer on, the interval grows.
        heartbeat_rate: 1,
    }
}

struct Memory {
    store: MemoryStore,
    wall: TestWall,
}

impl Memory {
    fn new() -> Memory {
        let wall = TestWall::new();
        Memory {
            store: MemoryStore::with_wall(limits(), wall.wall()),
            wall,
        }
    }
}

impl Harness for Memory {
    fn store(&self) -> &dyn DirectoryStore {
        &self.store
    }

    fn shift(&self, by: Duration) {
        self.wall.advance(by);
    }
}

/// A `redis-server` of this test's own on a free loopback port, killed
/// when dropped.
struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Redis {
    // Dropped first: the store's follower stops before Redis does.
    store: RedisStore,
    _server: RedisServer,
}

impl Redis {
    /// `None` (said on stderr) when no `redis-server` is installed, except
    /// under CI, which has one.
    fn new() -> Option<Redis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping the Redis ledger's run: cannot start redis-server ({e})");
                return None;
            }
            Err(e) => panic!("CI runs the suite on Redis too, but redis-server: {e}"),
        };
        let server = RedisServer(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(5));
        }
        let url = format!("redis://127.0.0.1:{port}/");
        let store = RedisStore::start(&url, "suite:", limits(), Duration::from_secs(10))
            .expect("a Redis replica");
        // The first sweep only notes Redis's time: later ones step from it.
        store.expire();
        Some(Redis {
            store,
            _server: server,
        })
    }
}

impl Harness for Redis {
    fn store(&self) -> &dyn DirectoryStore {
        &self.store
    }

    fn shift(&self, by: Duration) {
        self.store.ledger().shift_wall_for_tests(by);
    }
}

fn addr(text: &str) -> HttpAddr {
    HttpAddr::parse(text).unwrap()
}

/// The print of a key made from `seed` (one per test peer).
fn key(seed: &str) -> KeyPrint {
    KeyPrint::of_seed(seed)
}

fn file(name: &str) -> SharedFile {
    SharedFile::named(name)
}

/// Logs `name` in with its own key.
fn login(h: &dyn Harness, name: &str, at: &str, files: &[&str]) -> Result<Session, DirError> {
    login_as(h, name, key(name), at, files)
}

fn login_as(
    h: &dyn Harness,
    name: &str,
    owner: KeyPrint,
    at: &str,
    files: &[&str],
) -> Result<Session, DirError> {
    let s = h.store();
    let files = s
        .limits()
        .batch(files.iter().map(|f| file(f)).collect(), vec![])?;
    s.login(name, owner, &addr(at), files)
}

fn announce(
    h: &dyn Harness,
    token: &Token,
    added: Vec<SharedFile>,
    removed: Vec<FileId>,
) -> Result<usize, DirError> {
    let s = h.store();
    s.announce(token, s.limits().batch(added, removed)?)
}

/// The first name of every result for `q`.
fn found(h: &dyn Harness, q: &str) -> Vec<String> {
    let outcome = h.store().search(&Query::parse(q).unwrap(), 50).unwrap();
    outcome.hits.iter().map(|h| h.names[0].clone()).collect()
}

/// `f0`, `f1`, ...: `n` file names.
fn many_names(n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|i| &*Box::leak(format!("f{i}").into_boxed_str()))
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn tokens_act_only_for_their_peer(h: &dyn Harness) {
    let s = h.store();
    let a = login(h, "a", "http://a:1", &["a.txt"]).unwrap();
    let wrong = Token::from_client("0123456789abcdef0123456789abcdef");
    assert_eq!(
        announce(h, &wrong, vec![file("evil.txt")], vec![file("a.txt").id]),
        Err(DirError::Unauthenticated)
    );
    assert_eq!(s.logout(&wrong), Err(DirError::Unauthenticated));
    assert_eq!(s.heartbeat(&wrong), Err(DirError::Unauthenticated));
    assert_eq!(s.session_name(&wrong), None);
    assert_eq!(found(h, "txt"), ["a.txt"]);
    assert_eq!(s.session_name(&a.token).as_deref(), Some("a"));
    assert_eq!(announce(h, &a.token, vec![file("b.txt")], vec![]), Ok(2));
    s.logout(&a.token).unwrap();
    assert!(found(h, "txt").is_empty());
    assert_eq!(s.logout(&a.token), Err(DirError::Unauthenticated));
    assert_eq!(s.session_name(&a.token), None);
}

fn the_owners_second_login_replaces_its_first_session(h: &dyn Harness) {
    let s = h.store();
    let first = login(h, "a", "http://old:1", &["old.txt"]).unwrap();
    let second = login(h, "a", "http://new:1", &["new.txt"]).unwrap();
    assert_ne!(first.token, second.token);
    assert_eq!(s.heartbeat(&first.token), Err(DirError::Unauthenticated));
    assert_eq!(
        announce(h, &first.token, vec![file("late.txt")], vec![]),
        Err(DirError::Unauthenticated)
    );
    assert_eq!(s.peer("a").unwrap(), (addr("http://new:1"), 1));
    assert_eq!(found(h, "txt"), ["new.txt"]);
    assert_eq!(s.peers(10).1, 1);
}

fn a_name_belongs_to_its_key_while_live_and_for_the_hold_after(h: &dyn Harness) {
    let s = h.store();
    let owner = login(h, "alice", "http://a:1", &["mine.txt"]).unwrap();
    // Another key: refused while the owner is online, and nothing changes.
    let err = login_as(h, "alice", key("mallory"), "http://m:1", &["theirs.txt"]).unwrap_err();
    assert!(
        matches!(&err, DirError::Taken(m) if m.contains("\"alice\"") && m.contains("in use")),
        "{err:?}"
    );
    assert_eq!(s.peer("alice").unwrap(), (addr("http://a:1"), 1));
    assert_eq!(found(h, "txt"), ["mine.txt"]);
    s.heartbeat(&owner.token).unwrap();
    // Logged out: still kept for the owner during the hold...
    s.logout(&owner.token).unwrap();
    assert!(h.pass(secs(59)).is_empty());
    let err = login_as(h, "alice", key("mallory"), "http://m:1", &[]).unwrap_err();
    assert!(
        matches!(&err, DirError::Taken(m) if m.contains("kept for its owner")),
        "{err:?}"
    );
    assert!(s.peer("alice").is_err());
    // ...and the owner comes back whenever it likes.
    let back = login(h, "alice", "http://a:2", &[]).unwrap();
    // Expired by lease: the hold starts when the session is dropped.
    assert_eq!(h.pass(secs(11)), ["alice"]);
    assert!(login_as(h, "alice", key("mallory"), "http://m:1", &[]).is_err());
    // Once the hold is over the name is free for anyone.
    h.pass(secs(61));
    login_as(h, "alice", key("mallory"), "http://m:1", &[]).unwrap();
    assert_eq!(s.heartbeat(&back.token), Err(DirError::Unauthenticated));
    assert!(matches!(
        login(h, "alice", "http://a:3", &[]),
        Err(DirError::Taken(_))
    ));
    assert_eq!(s.peer("alice").unwrap().0, addr("http://m:1"));
}

// (Every case stays a second or more away from a lease's or a hold's end:
// Redis's own time moves a few milliseconds between sweeps too.)

fn leases_expire_unless_renewed(h: &dyn Harness) {
    let s = h.store();
    let a = login(h, "a", "http://a:1", &["a.txt"]).unwrap();
    login(h, "b", "http://b:1", &["b.txt"]).unwrap();
    assert!(h.pass(secs(8)).is_empty());
    s.heartbeat(&a.token).unwrap();
    assert_eq!(h.pass(secs(3)), ["b"]);
    assert_eq!(found(h, "txt"), ["a.txt"]);
    assert!(s.peer("b").is_err());
    assert!(h.pass(secs(6)).is_empty());
    // An announce renews the lease too.
    assert_eq!(announce(h, &a.token, vec![file("c.txt")], vec![]), Ok(2));
    assert!(h.pass(secs(9)).is_empty());
    assert_eq!(h.pass(secs(2)), ["a"]);
    assert_eq!(s.heartbeat(&a.token), Err(DirError::Unauthenticated));
    assert!(found(h, "txt").is_empty());
    assert_eq!(s.counts(), (0, 0));
}

fn the_heartbeat_interval_and_the_lease_grow_with_the_group(h: &dyn Harness) {
    let s = h.store();
    let grant = |session: &Session| (session.grant.heartbeat, session.grant.lease);
    // Up to three peers (heartbeat_rate 1 a second, every 3 s): as configured.
    let a = login(h, "a", "http://a:1", &["a.txt"]).unwrap();
    for name in ["b", "c"] {
        let s = login(h, name, &format!("http://{name}:1"), &[]).unwrap();
        assert_eq!(grant(&s), (secs(3), secs(10)));
    }
    // Each login is granted what the group asked before it came.
    let d = login(h, "d", "http://d:1", &[]).unwrap();
    assert_eq!(grant(&d), (secs(3), secs(10)));
    let e = login(h, "e", "http://e:1", &["e.txt"]).unwrap();
    assert_eq!(grant(&e), (secs(4), secs(14)));
    let f = login(h, "f", "http://f:1", &["f.txt"]).unwrap();
    assert_eq!(grant(&f), (secs(5), secs(17)));
    // Six online: every 6 s, and a lease of as many intervals as configured.
    let renewed = Grant {
        heartbeat: secs(6),
        lease: secs(20),
    };
    assert_eq!(s.heartbeat(&a.token), Ok(renewed));
    let mut gone = h.pass(secs(11));
    gone.sort();
    assert_eq!(gone, ["b", "c", "d"]);
    // Three are left, but the interval does not shrink: a peer asked for a
    // long one keeps a lease that covers it.
    assert_eq!(s.heartbeat(&e.token), Ok(renewed));
    assert_eq!(h.pass(secs(7)), ["f"]);
    assert_eq!(found(h, "txt"), ["a.txt", "e.txt"]);
}

#[test]
fn the_interval_is_the_groups_size_over_the_rate_within_bounds() {
    let limits = Limits {
        lease: secs(30),
        heartbeat: secs(10),
        heartbeat_rate: 2000,
        ..limits()
    };
    assert_eq!(limits.heartbeat_for(0), secs(10));
    assert_eq!(limits.heartbeat_for(20_000), secs(10));
    assert_eq!(limits.heartbeat_for(20_001), secs(11));
    assert_eq!(limits.heartbeat_for(100_000), secs(50));
    assert_eq!(limits.lease_for(secs(10)), secs(30));
    assert_eq!(limits.lease_for(secs(50)), secs(150));
    assert_eq!(limits.heartbeat_for(usize::MAX), MAX_HEARTBEAT);
}

fn an_expiry_names_the_address_and_leaves_once(h: &dyn Harness) {
    let s = h.store();
    login(h, "a", "http://198.51.100.7:7001", &["a.txt"]).unwrap();
    assert!(h.pass(secs(9)).is_empty());
    h.shift(secs(2));
    assert_eq!(
        s.expire(),
        [("a".to_string(), Some(addr("http://198.51.100.7:7001")))]
    );
    assert!(s.peer("a").is_err());
    h.shift(secs(2));
    assert!(s.expire().is_empty(), "a session leaves once");
}

fn a_long_pause_gives_every_peer_a_lease_again(h: &dyn Harness) {
    let s = h.store();
    let a = login(h, "a", "http://a:1", &["a.txt"]).unwrap();
    assert!(h.pass(secs(4)).is_empty());
    // The wall jumps a minute (the process was stopped, or the store away):
    // the next sweep moves the clock by one step, min(10 s, lease/2).
    assert_eq!(LeaseClock::step_max(s.limits()), secs(5));
    h.shift(secs(60));
    assert!(s.expire().is_empty(), "a pause alone expires nobody");
    s.heartbeat(&a.token).unwrap();
    assert!(h.pass(secs(9)).is_empty());
    assert_eq!(h.pass(secs(2)), ["a"]);
}

fn calls_over_the_limits_are_refused_and_change_nothing(h: &dyn Harness) {
    let s = h.store();
    let many: Vec<SharedFile> = (0..101).map(|i| file(&format!("f{i}"))).collect();
    let err = login(h, "a", "http://a:1", &many_names(101)).unwrap_err();
    assert!(err.to_string().contains("limit is 100"), "{err}");
    assert!(s.peer("a").is_err());
    let a = login(h, "a", "http://a:1", &many_names(50)).unwrap();
    // Added and removed count together: 51 + 50 is over, each alone is not.
    let gone: Vec<FileId> = many[..50].iter().map(|f| f.id).collect();
    let err = announce(h, &a.token, many[50..].to_vec(), gone.clone()).unwrap_err();
    assert!(err.to_string().contains("101 files in one call"), "{err}");
    assert_eq!(s.peer("a").unwrap().1, 50);
    assert_eq!(announce(h, &a.token, many[50..100].to_vec(), gone), Ok(50));
    // A result limit of 0 or over max_results.
    for limit in [0, 51] {
        let err = s.search(&Query::parse("f1").unwrap(), limit).unwrap_err();
        assert!(
            matches!(&err, DirError::Invalid(m) if m.contains("1 to 50")),
            "{err:?}"
        );
    }
    assert_eq!(
        s.search(&Query::parse("f51").unwrap(), 50).unwrap().total,
        1
    );
}

fn every_write_is_read_back_at_once(h: &dyn Harness) {
    let s = h.store();
    let a = login(h, "a", "http://a:1", &["one.txt", "two.txt"]).unwrap();
    assert_eq!(found(h, "txt").len(), 2);
    assert_eq!(
        announce(h, &a.token, vec![], vec![file("one.txt").id]),
        Ok(1)
    );
    assert_eq!(found(h, "txt"), ["two.txt"]);
    assert_eq!(s.locate(&file("two.txt").id).unwrap().sources.len(), 1);
    assert!(s.locate(&file("one.txt").id).is_err());
    let b = login(h, "b", "http://b:1", &["two.txt"]).unwrap();
    assert_eq!(s.locate(&file("two.txt").id).unwrap().sources.len(), 2);
    s.logout(&b.token).unwrap();
    assert_eq!(s.locate(&file("two.txt").id).unwrap().sources.len(), 1);
    assert_eq!(s.peers(10).1, 1);
    assert_eq!(s.counts(), (1, 1));
}

fn a_removed_member_is_gone_its_name_free_and_its_key_refused(h: &dyn Harness) {
    let s = h.store();
    let alice = login(h, "alice", "http://a:1", &["mine.txt"]).unwrap();
    login(h, "bob", "http://b:1", &["bobs.txt"]).unwrap();
    let removed = s.remove("alice").unwrap();
    assert_eq!(
        removed,
        Removed {
            owner: Some(key("alice")),
            was_online: true
        }
    );
    // Gone at once: session, files, listing.
    assert_eq!(s.heartbeat(&alice.token), Err(DirError::Unauthenticated));
    assert!(s.peer("alice").is_err());
    assert_eq!(found(h, "txt"), ["bobs.txt"]);
    // Its key may not log in again, under its name or any other.
    for name in ["alice", "alice2"] {
        let err = login_as(h, name, key("alice"), "http://a:1", &[])
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, DirError::Denied(m) if m.contains("removed from the group")),
            "{err:?}"
        );
    }
    // The name is free for another key; others are untouched.
    login_as(h, "alice", key("carol"), "http://c:1", &[]).unwrap();
    assert_eq!(s.peer("bob").unwrap().1, 1);
    // Removing a name nobody holds removes nothing.
    assert_eq!(s.remove("nobody").unwrap(), Removed::default());
}

/// Each case as a test of each ledger.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[test]
            fn $case() {
                super::$case(&super::Memory::new());
            })*
        }
        mod redis {
            $(#[test]
            fn $case() {
                if let Some(h) = super::Redis::new() {
                    super::$case(&h);
                }
            })*
        }
    };
}

suite!(
    tokens_act_only_for_their_peer,
    the_owners_second_login_replaces_its_first_session,
    a_name_belongs_to_its_key_while_live_and_for_the_hold_after,
    leases_expire_unless_renewed,
    the_heartbeat_interval_and_the_lease_grow_with_the_group,
    an_expiry_names_the_address_and_leaves_once,
    a_long_pause_gives_every_peer_a_lease_again,
    calls_over_the_limits_are_refused_and_change_nothing,
    every_write_is_read_back_at_once,
    a_removed_member_is_gone_its_name_free_and_its_key_refused,
);
