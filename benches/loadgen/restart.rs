//! `--restart`: the directory of a large group, and its restart. Every
//! simulated peer keeps an identity key and a session, heartbeats as a
//! real peer does (at the interval the directory asks, the default lease
//! of 30 s giving 10 s), and after a failed call backs off as a real peer
//! does (`peer/session.rs`: from 0.5 s, doubling up to 30 s, each wait
//! jittered by ±25 %, a heartbeat's wait capped at the interval). An
//! answer that the session is unknown is met with a login at once.
//!
//! It fills the directory (every peer logs in with its files, as fast as
//! the directory takes them), measures its memory, times searches with the
//! heartbeats held back and flowing, then stops the directory and starts a
//! new one on the same port. Every peer holds a notice stream, as a real
//! peer over TLS (the default) does, and its ending makes the peer
//! heartbeat within a random part of `CHECK_SPREAD` (or of its interval,
//! when shorter; `--no-notices`: at its next heartbeat, as a `tls = false`
//! peer); it backs off while the port is closed, and logs in again once it
//! answers again. It prints how long until all are listed again (and a sample of
//! their files is found by id), how many calls failed, and the most
//! attempts one peer needed. No peer gives up: real peers never do.
//!
//! The directory runs on its defaults except the limits per client
//! address (logins, searches), which are opened: every simulated peer
//! calls from 127.0.0.1, where real ones each have an address of their
//! own. The run says so.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use grpcio::RpcStatusCode;
use hubshare::fuzz::Rng;
use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;
use hubshare::CHECK_SPREAD;

use super::*;

/// What the directory runs with: its defaults, but the limits per client
/// address opened (logins, and searches without a session, which count
/// per address), and no connections back to the simulated peers.
const RESTART_CONFIG: &str = "connect_back = false\nlogin_rate = 1000000\nlogin_burst = 1000000\nsearch_rate = 1000000\nsearch_burst = 1000000\naddress_search_rate = 1000000\naddress_search_burst = 1000000\n";

/// A real peer's first wait after a failed call, and its longest.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Client threads making the simulated peers' logins (a call at a time),
/// and their heartbeats (every one due at once in flight, up to a batch),
/// and the connections they share. Apart, so that no peer's heartbeat
/// waits behind other peers' logins in this process (a real peer's does
/// not), and few, so that their scheduling takes little from the searches
/// timed beside them.
const LOGIN_WORKERS: usize = 32;
const HEARTBEAT_WORKERS: usize = 8;
/// Most heartbeats one of those threads has in flight at once.
const HEARTBEAT_BATCH: usize = 64;
/// Which queue a step is due on.
const LOGIN: usize = 0;
const HEARTBEAT: usize = 1;
const CHANNELS: usize = 8;

struct Peer {
    /// The session's token; empty while logged out.
    token: String,
    backoff: Duration,
    /// Calls that failed in a row.
    failing: u32,
    /// The interval the directory last asked of this peer.
    heartbeat: Duration,
    /// Which directory (0 the first, 1 the restarted one) it last logged
    /// in to.
    directory: u32,
    /// A heartbeat is due by then (see [`Sim::notices_end`]), if sooner
    /// than the interval.
    check_by: Option<Instant>,
}

impl Default for Peer {
    fn default() -> Peer {
        Peer {
            token: String::new(),
            backoff: BACKOFF_MIN,
            failing: 0,
            heartbeat: Duration::from_secs(10),
            directory: 0,
            check_by: None,
        }
    }
}

impl Peer {
    /// A call went through: the next failure waits the least again.
    fn answered(&mut self) {
        self.backoff = BACKOFF_MIN;
        self.failing = 0;
    }
}

/// Peers by when their next step is due, soonest first.
type Due = BinaryHeap<std::cmp::Reverse<(Instant, u32)>>;

/// The simulated peers, what is due next, and what happened.
struct Sim {
    peers: Vec<Mutex<Peer>>,
    keys: Vec<String>,
    files: usize,
    unique: bool,
    seed: u64,
    cat: Arc<Vec<CatalogueFile>>,
    /// What is due next: logins, and heartbeats.
    due: [Mutex<Due>; 2],
    wake: [Condvar; 2],
    /// While set, no call is made (the heartbeats are held back).
    hold: AtomicBool,
    stop: AtomicBool,
    /// The longest interval the directory asked of a peer.
    heartbeat: Mutex<Duration>,
    online: AtomicUsize,
    /// Which directory is running (0, then 1 after the restart).
    directory: AtomicU32,
    /// Peers logged in to the restarted directory now.
    relisted: AtomicUsize,
    logins: AtomicU64,
    heartbeats: AtomicU64,
    failed: AtomicU64,
    /// Of the failed calls, those the directory answered busy.
    busy: AtomicU64,
    unknown: AtomicU64,
    /// Sessions the running directory had granted that it no longer knew
    /// at a heartbeat (their lease lapsed).
    lapsed: AtomicU64,
    most_failing: AtomicU64,
    /// The latest a heartbeat went after it was due, in this process, and
    /// the slowest heartbeat call (ms; the run resets them).
    late_ms: AtomicU64,
    slowest_ms: AtomicU64,
}

impl Sim {
    fn schedule(&self, at: Instant, p: u32, queue: usize) {
        self.due[queue]
            .lock()
            .expect("schedule")
            .push(std::cmp::Reverse((at, p)));
        self.wake[queue].notify_one();
    }

    /// Lets the calls go again after a hold of `held`: every step due is
    /// put off by as long, so the peers' heartbeats stay spread over the
    /// interval as they were, rather than all going at once.
    fn release(&self, held: Duration) {
        for queue in [LOGIN, HEARTBEAT] {
            let mut due = self.due[queue].lock().expect("schedule");
            let later = due
                .drain()
                .map(|std::cmp::Reverse((at, p))| std::cmp::Reverse((at + held, p)))
                .collect();
            *due = later;
        }
        self.hold.store(false, Ordering::Relaxed);
        for wake in &self.wake {
            wake.notify_all();
        }
    }

    /// Every peer's notice stream ends (the directory stopped): each one
    /// logged in heartbeats within a random part of `CHECK_SPREAD`, or of
    /// its interval when shorter, as `Session::check_soon` has it.
    fn notices_end(&self, rng: &mut Rng) {
        let now = Instant::now();
        for peer in &self.peers {
            let mut peer = peer.lock().expect("peer");
            if !peer.token.is_empty() {
                let within = CHECK_SPREAD.min(peer.heartbeat);
                peer.check_by = Some(now + within.mul_f64(fraction(rng)));
            }
        }
        // Those waiting take their check now; one being stepped takes it
        // when its step ends (see `step`).
        let mut due = self.due[HEARTBEAT].lock().expect("schedule");
        let sooner = due
            .drain()
            .map(|std::cmp::Reverse((at, p))| {
                let by = self.peers[p as usize].lock().expect("peer").check_by.take();
                std::cmp::Reverse((by.map_or(at, |by| by.min(at)), p))
            })
            .collect();
        *due = sooner;
        drop(due);
        self.wake[HEARTBEAT].notify_all();
    }

    /// The next peers due on `queue` (at most `most`, with when each was
    /// due), waiting for the first; `None` once stopped.
    fn next(&self, queue: usize, most: usize) -> Option<Vec<(Instant, u32)>> {
        let mut due = self.due[queue].lock().expect("schedule");
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            let wait = match due.peek() {
                _ if self.hold.load(Ordering::Relaxed) => Duration::from_millis(20),
                Some(std::cmp::Reverse((at, _))) if *at <= now => {
                    let mut batch = Vec::new();
                    while let Some(std::cmp::Reverse(step)) =
                        due.peek().filter(|d| d.0 .0 <= now && batch.len() < most)
                    {
                        batch.push(*step);
                        due.pop();
                    }
                    return Some(batch);
                }
                Some(std::cmp::Reverse((at, _))) => (*at - now).min(Duration::from_millis(50)),
                None => Duration::from_millis(50),
            };
            due = self.wake[queue]
                .wait_timeout(due, wait)
                .expect("schedule")
                .0;
        }
    }

    fn login_request(&self, p: usize) -> pb::LoginRequest {
        // Each peer's files depend on the seed and the peer alone, so a
        // login after the restart sends what the first did.
        let mut rng = peer_rng(self.seed, p);
        let picked = pick_files(&mut rng, p, self.files, self.cat.len(), self.unique);
        pb::LoginRequest {
            name: format!("peer{p:06}"),
            http_addr: sim_peer_addr(10000 + p % 50000),
            identity_key: self.keys[p].clone(),
            files: picked
                .iter()
                .map(|&i| pb::SharedFile {
                    id: self.cat[i].id.clone(),
                    size: self.cat[i].size,
                    name: self.cat[i].name.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Peer `p` heartbeats every `secs` from now on (as the directory's
    /// reply asked); returns that interval.
    fn asked(&self, peer: &mut Peer, secs: u32) -> Duration {
        let asked = Duration::from_secs(u64::from(secs.max(1)));
        peer.heartbeat = asked;
        let mut longest = self.heartbeat.lock().expect("heartbeat");
        *longest = (*longest).max(asked);
        asked
    }

    /// Logs peer `p` in, as `peer/session.rs` does when it has no
    /// session; returns when to step again, and on which queue.
    fn login(&self, c: &DirectoryClient, p: usize, rng: &mut Rng) -> (Duration, usize) {
        let mut peer = self.peers[p].lock().expect("peer");
        let wait = match c.login(&self.login_request(p)) {
            Ok(reply) => {
                peer.token = reply.token;
                peer.answered();
                let now_running = self.directory.load(Ordering::Relaxed);
                if peer.directory != now_running {
                    peer.directory = now_running;
                    self.relisted.fetch_add(1, Ordering::Relaxed);
                }
                self.logins.fetch_add(1, Ordering::Relaxed);
                self.online.fetch_add(1, Ordering::Relaxed);
                self.asked(&mut peer, reply.heartbeat_secs)
            }
            Err(e) => self.failed(&mut peer, &e, BACKOFF_MAX, rng),
        };
        self.queue(&mut peer, wait)
    }

    /// Heartbeats the peers of `batch` (when each was due, and which),
    /// every call in flight at once, as each real peer makes its own;
    /// returns when each steps again, and on which queue.
    fn heartbeats(
        &self,
        c: &DirectoryClient,
        batch: &[(Instant, u32)],
        rng: &mut Rng,
    ) -> Vec<(u32, Duration, usize)> {
        let calls: Vec<_> = batch
            .iter()
            .map(|&(due, p)| {
                self.late_ms
                    .fetch_max(due.elapsed().as_millis() as u64, Ordering::Relaxed);
                let req = pb::HeartbeatRequest {
                    token: self.peers[p as usize].lock().expect("peer").token.clone(),
                    ..Default::default()
                };
                (p, Instant::now(), c.heartbeat_async(&req))
            })
            .collect();
        calls
            .into_iter()
            .map(|(p, called, call)| {
                let answer = call.and_then(futures_executor::block_on);
                // At most how long it took: the answers are taken in order.
                self.slowest_ms
                    .fetch_max(called.elapsed().as_millis() as u64, Ordering::Relaxed);
                let mut peer = self.peers[p as usize].lock().expect("peer");
                let wait = self.answered(&mut peer, answer, rng);
                let (wait, queue) = self.queue(&mut peer, wait);
                (p, wait, queue)
            })
            .collect()
    }

    /// The queue a peer waits on next (logins while it has no session),
    /// and its wait, brought forward to the check its notice stream's
    /// ending asked for.
    fn queue(&self, peer: &mut Peer, wait: Duration) -> (Duration, usize) {
        let by = peer.check_by.take();
        if peer.token.is_empty() {
            return (wait, LOGIN);
        }
        let wait = by.map_or(wait, |by| {
            wait.min(by.saturating_duration_since(Instant::now()))
        });
        (wait, HEARTBEAT)
    }

    /// A call failed: the next waits longer, as a real peer's backoff.
    fn failed(&self, peer: &mut Peer, e: &grpcio::Error, cap: Duration, rng: &mut Rng) -> Duration {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if matches!(e, grpcio::Error::RpcFailure(s) if s.code() == RpcStatusCode::RESOURCE_EXHAUSTED)
        {
            self.busy.fetch_add(1, Ordering::Relaxed);
        }
        peer.failing += 1;
        self.most_failing
            .fetch_max(u64::from(peer.failing), Ordering::Relaxed);
        let wait = jitter(peer.backoff, rng).min(cap);
        peer.backoff = (peer.backoff * 2).min(BACKOFF_MAX);
        wait
    }

    /// What a heartbeat's answer makes of the peer; returns its next wait.
    fn answered(
        &self,
        peer: &mut Peer,
        answer: grpcio::Result<pb::HeartbeatReply>,
        rng: &mut Rng,
    ) -> Duration {
        let heartbeat = peer.heartbeat;
        match answer {
            Ok(reply) => {
                self.heartbeats.fetch_add(1, Ordering::Relaxed);
                peer.answered();
                // A directory that does not say keeps the interval.
                match reply.heartbeat_secs {
                    0 => heartbeat,
                    secs => self.asked(peer, secs),
                }
            }
            Err(grpcio::Error::RpcFailure(s)) if s.code() == RpcStatusCode::UNAUTHENTICATED => {
                // The directory restarted (or the lease lapsed): log in
                // again at once.
                self.unknown.fetch_add(1, Ordering::Relaxed);
                if peer.directory == self.directory.load(Ordering::Relaxed) {
                    self.lapsed.fetch_add(1, Ordering::Relaxed);
                    if peer.directory == 1 {
                        // No longer listed: it counts again once back.
                        self.relisted.fetch_sub(1, Ordering::Relaxed);
                        peer.directory = 0;
                    }
                }
                self.online.fetch_sub(1, Ordering::Relaxed);
                peer.token.clear();
                Duration::ZERO
            }
            Err(e) => self.failed(peer, &e, heartbeat, rng),
        }
    }
}

/// A wait of `d` give or take a quarter, as a real peer's.
fn jitter(d: Duration, rng: &mut Rng) -> Duration {
    d.mul_f64(0.75 + fraction(rng) * 0.5)
}

/// Evenly between 0 and 1, both included.
fn fraction(rng: &mut Rng) -> f64 {
    rng.below(10_001) as f64 / 10_000.0
}

pub fn run(args: &Args) {
    let mut rng = Rng(args.seed | 1);
    let vocab = vocabulary(&mut rng);
    let entries = args.peers * args.files;
    let cat_size = if args.unique {
        entries
    } else {
        (entries / 4).max(1)
    };
    let cat = Arc::new(catalogue(cat_size, &mut rng, &vocab));
    let lease = args
        .lease
        .map_or(String::new(), |s| format!("lease_secs = {s}\n"));
    let config = format!("{lease}{RESTART_CONFIG}");
    let (server, addr, dir) = start_server(&format!("listen = \"127.0.0.1:0\"\n{config}"));
    println!(
        "directory {addr}: its defaults ({}), but logins and searches per client address \
         unlimited: all {} simulated peers call from 127.0.0.1",
        args.lease
            .map_or("lease 30 s".to_string(), |s| format!("but lease {s} s")),
        args.peers
    );
    let rss_before = usage(server.id()).rss_kib;
    println!("making {} identity keys", args.peers);
    let keys = (0..args.peers)
        .map(|_| hubshare::IdentityKey::generate().expose().to_string())
        .collect();
    let sim = Arc::new(Sim {
        peers: (0..args.peers).map(|_| Mutex::default()).collect(),
        keys,
        files: args.files,
        unique: args.unique,
        seed: args.seed,
        cat: cat.clone(),
        due: Default::default(),
        wake: Default::default(),
        hold: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        heartbeat: Mutex::new(Duration::from_secs(10)),
        online: AtomicUsize::new(0),
        directory: AtomicU32::new(0),
        relisted: AtomicUsize::new(0),
        logins: AtomicU64::new(0),
        heartbeats: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        busy: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        lapsed: AtomicU64::new(0),
        late_ms: AtomicU64::new(0),
        slowest_ms: AtomicU64::new(0),
        most_failing: AtomicU64::new(0),
    });
    let t = Instant::now();
    for p in 0..args.peers as u32 {
        sim.schedule(t, p, LOGIN);
    }
    let channels: Vec<DirectoryClient> = (0..CHANNELS).map(|_| client(&addr)).collect();
    let workers: Vec<_> = (0..LOGIN_WORKERS + HEARTBEAT_WORKERS)
        .map(|k| {
            let (sim, c) = (sim.clone(), channels[k % CHANNELS].clone());
            let queue = if k < LOGIN_WORKERS { LOGIN } else { HEARTBEAT };
            std::thread::spawn(move || {
                let mut rng = Rng((k as u64 * 7919 + 1) | 1);
                if queue == LOGIN {
                    while let Some(batch) = sim.next(LOGIN, 1) {
                        for (_, p) in batch {
                            let (wait, next) = sim.login(&c, p as usize, &mut rng);
                            sim.schedule(Instant::now() + wait, p, next);
                        }
                    }
                } else {
                    while let Some(batch) = sim.next(HEARTBEAT, HEARTBEAT_BATCH) {
                        for (p, wait, next) in sim.heartbeats(&c, &batch, &mut rng) {
                            sim.schedule(Instant::now() + wait, p, next);
                        }
                    }
                }
            })
        })
        .collect();
    let all = args.peers;
    let fill = wait_until(&sim, "filled", t, |s| {
        s.online.load(Ordering::Relaxed) >= all
    });
    println!(
        "filled {entries} (file, source) entries: {all} peers logged in in {fill:.1} s ({:.0} logins/s), heartbeats flowing",
        all as f64 / fill
    );
    println!(
        "the directory asks for a heartbeat every {} s now",
        sim.heartbeat.lock().expect("heartbeat").as_secs()
    );
    lags(&sim, "in the fill");
    let rss = usage(server.id()).rss_kib;
    println!(
        "server RSS: {} MiB before, {} MiB after: {:.1} bytes per (file, source) entry",
        rss_before / 1024,
        rss / 1024,
        (rss.saturating_sub(rss_before) * 1024) as f64 / entries as f64
    );

    // One interval, so that every peer's heartbeats are under way.
    let interval = *sim.heartbeat.lock().expect("heartbeat");
    sim.heartbeats.store(0, Ordering::Relaxed);
    std::thread::sleep(interval);
    println!(
        "heartbeats over the next interval: {:.0}/s",
        sim.heartbeats.load(Ordering::Relaxed) as f64 / interval.as_secs_f64()
    );
    lags(&sim, "over that interval");
    // Searches with the heartbeats held back (for less than a lease), then
    // flowing again.
    let beats = |what: &str, secs: f64| {
        let n = sim.heartbeats.swap(0, Ordering::Relaxed);
        println!("  heartbeats {what}: {:.0}/s", n as f64 / secs);
    };
    for round in 0..2 {
        sim.heartbeats.store(0, Ordering::Relaxed);
        sim.hold.store(true, Ordering::Relaxed);
        let held = Instant::now();
        println!("round {}: searches, heartbeats held back:", round + 1);
        search_runs(args, &addr, &vocab, &cat);
        beats("meanwhile", held.elapsed().as_secs_f64());
        sim.release(held.elapsed());
        std::thread::sleep(Duration::from_secs(1));
        sim.heartbeats.store(0, Ordering::Relaxed);
        let flowing = Instant::now();
        println!("round {}: searches, heartbeats flowing:", round + 1);
        search_runs(args, &addr, &vocab, &cat);
        beats("meanwhile", flowing.elapsed().as_secs_f64());
    }

    // The restart: stopped, and a new directory on the same port.
    let (failed_before, busy_before) = (
        sim.failed.load(Ordering::Relaxed),
        sim.busy.load(Ordering::Relaxed),
    );
    let lapsed_before = sim.lapsed.swap(0, Ordering::Relaxed);
    sim.late_ms.store(0, Ordering::Relaxed);
    sim.slowest_ms.store(0, Ordering::Relaxed);
    let down = Instant::now();
    server.stop();
    sim.directory.store(1, Ordering::Relaxed);
    if args.no_notices {
        println!("the peers hold no notice stream: each finds out at its next heartbeat");
    } else {
        sim.notices_end(&mut rng);
        println!(
            "every peer's notice stream ended: each heartbeats within {} s (or its interval)",
            CHECK_SPREAD.as_secs()
        );
    }
    std::thread::sleep(Duration::from_secs(2).saturating_sub(down.elapsed()));
    let listen = format!("listen = \"{addr}\"\n");
    let (server, again) = start_server_in(dir.path(), &format!("{listen}{config}"));
    let up = Instant::now();
    assert_eq!(
        again, addr,
        "the new directory listens where the old one did"
    );
    println!(
        "directory stopped, started again on {addr} {:.1} s after the stop (empty: the memory store)",
        (up - down).as_secs_f64()
    );
    let logins_before = sim.logins.load(Ordering::Relaxed);
    let back = wait_until(&sim, "logged in again", up, |s| {
        s.relisted.load(Ordering::Relaxed) >= all
    });
    println!(
        "all {all} peers logged in again {back:.1} s after the directory was back ({} logins, \
         {} online now); {} calls failed meanwhile ({} answered busy), the most in a row for \
         one peer {}; {} sessions of the new directory lapsed (before the restart: {})",
        sim.logins.load(Ordering::Relaxed) - logins_before,
        sim.online.load(Ordering::Relaxed),
        sim.failed.load(Ordering::Relaxed) - failed_before,
        sim.busy.load(Ordering::Relaxed) - busy_before,
        sim.most_failing.load(Ordering::Relaxed),
        sim.lapsed.load(Ordering::Relaxed),
        lapsed_before,
    );
    lags(&sim, "since the restart");
    let found = sample_found(&channels[0], &sim, 200);
    println!("a sample of 200 peers' first files by id: {found} of 200 found");
    println!(
        "server RSS after the restart: {} MiB",
        usage(server.id()).rss_kib / 1024
    );
    sim.stop.store(true, Ordering::Relaxed);
    sim.wake.iter().for_each(Condvar::notify_all);
    for w in workers {
        w.join().expect("worker");
    }
    drop(server);
}

/// Says how late heartbeats went in this process and the slowest call,
/// and starts counting again.
fn lags(sim: &Sim, when: &str) {
    println!(
        "  heartbeats {when}: the latest went {} ms after it was due; the slowest took {} ms",
        sim.late_ms.swap(0, Ordering::Relaxed),
        sim.slowest_ms.swap(0, Ordering::Relaxed)
    );
}

/// Waits until `done` holds, printing progress every 5 s; returns the
/// seconds since `from`.
fn wait_until(sim: &Sim, what: &str, from: Instant, done: impl Fn(&Sim) -> bool) -> f64 {
    let mut said = Instant::now();
    while !done(sim) {
        std::thread::sleep(Duration::from_millis(20));
        if said.elapsed() >= Duration::from_secs(5) {
            said = Instant::now();
            println!(
                "  {:.0} s: {} online ({} on the new directory), {} logins, {} failed calls",
                from.elapsed().as_secs_f64(),
                sim.online.load(Ordering::Relaxed),
                sim.relisted.load(Ordering::Relaxed),
                sim.logins.load(Ordering::Relaxed),
                sim.failed.load(Ordering::Relaxed)
            );
        }
        assert!(
            from.elapsed() < Duration::from_secs(600),
            "not {what} within 10 minutes"
        );
    }
    from.elapsed().as_secs_f64()
}

/// How many of `n` peers spread over all have their first file found by
/// its id.
fn sample_found(c: &DirectoryClient, sim: &Sim, n: usize) -> usize {
    let peers = sim.peers.len();
    (0..n)
        .filter(|k| {
            let p = k * peers / n;
            let login = sim.login_request(p);
            let Some(file) = login.files.first() else {
                return false;
            };
            let req = pb::SearchRequest {
                query: file.id.clone(),
                limit: 1,
                ..Default::default()
            };
            // Found at all: the directory came back empty, so a peer
            // that logs in again with the file listed it.
            c.search(&req)
                .is_ok_and(|r| r.results.iter().any(|h| h.id == file.id))
        })
        .count()
}
