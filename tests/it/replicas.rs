//! Directory replicas sharing one Redis (`store = "redis"`): each answers
//! reads from its own memory, fed by the event stream. Every test starts
//! its own `redis-server` on a free loopback port with persistence off
//! (`.ci/run` installs it), and stops it.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use grpcio::RpcStatusCode;
use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;
use hubshare::{DirectoryServer, ServerConfig, StoreKind};

use crate::support::*;

/// A `redis-server` of the test's own.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::on(free_port())
    }

    /// On `port` (to restart one where the replicas expect it).
    pub fn on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// How many events the stream holds that say `name` left.
    fn leaves_of(&self, name: &str) -> usize {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_connection().unwrap();
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg("hubshare:events")
            .arg("-")
            .arg("+")
            .query(&mut c)
            .unwrap();
        // A Left names only its session: the name's are in its Joined events.
        let events: Vec<serde_json::Value> = entries
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("e"))
            .map(|e| serde_json::from_str(&e).expect("an event is JSON"))
            .collect();
        let sessions: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["event"] == "joined" && e["name"] == name)
            .map(|e| &e["session"])
            .collect();
        events
            .iter()
            .filter(|e| e["event"] == "left" && sessions.contains(&&e["session"]))
            .count()
    }

    /// Kills it at once (SIGKILL): nothing is saved.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn replica_config(redis: &Redis, lease_secs: u32) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        lease_secs,
        store: StoreKind::Redis,
        redis_url: Some(redis.url()),
        login_rate: 10_000,
        login_burst: 10_000,
        tls: false,
        ..ServerConfig::default()
    }
}

fn replica(redis: &Redis, lease_secs: u32) -> (DirectoryServer, DirectoryClient) {
    let server =
        DirectoryServer::start(&replica_config(redis, lease_secs)).expect("replica starts");
    let client = grpc(&server.addr().to_string());
    (server, client)
}

/// A replica as its own `server` process whose follower applies what it
/// reads only after `lag_ms` (so a write that did not wait for its own
/// event would not see it); its config file lives as long as it.
fn replica_process(redis: &Redis, lag_ms: u64) -> (Proc, DirectoryClient, tempfile::TempDir) {
    replica_process_with(redis, lag_ms, "")
}

/// [`replica_process`] with more config lines.
fn replica_process_with(
    redis: &Redis,
    lag_ms: u64,
    extra: &str,
) -> (Proc, DirectoryClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "tls = false\nlisten = \"127.0.0.1:0\"\nstore = \"redis\"\nredis_url = \"{}\"\nlogin_rate = 10000\nlogin_burst = 10000\n{extra}\n",
            redis.url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(SERVER);
    cmd.arg("--config")
        .arg(&config)
        .env("HUBSHARE_TEST_FOLLOW_LAG_MS", lag_ms.to_string());
    let proc = Proc::spawn(cmd);
    let client = grpc(&proc.addr);
    (proc, client, dir)
}

use crate::support::pb_file as file;

/// A replica process with its client and config folder.
type Replica = (Proc, DirectoryClient, tempfile::TempDir);

/// Three replica processes with `lease` config lines, and peers named
/// `names` (not started) whose `directory` lists the three, each sharing
/// `notes.txt`.
fn replicas_and_peers(
    redis: &Redis,
    lease: &str,
    names: &[&str],
) -> (Vec<Replica>, Vec<PeerSetup>) {
    let replicas: Vec<Replica> = (0..3)
        .map(|_| replica_process_with(redis, 0, lease))
        .collect();
    let list = replicas
        .iter()
        .map(|(p, _, _)| format!("\"{}\"", p.addr))
        .collect::<Vec<_>>()
        .join(", ");
    let peers = sharing_peers("unused", names, "", "notes.txt", b"shared notes");
    for p in &peers {
        let text = std::fs::read_to_string(&p.config).unwrap();
        let text = text.replace("directory = \"unused\"", &format!("directory = [{list}]"));
        std::fs::write(&p.config, text).unwrap();
    }
    (replicas, peers)
}

/// How many peers a replica lists (0 when it does not answer).
fn listed(c: &DirectoryClient) -> u64 {
    c.list_peers(&pb::ListPeersRequest::default())
        .map(|r| r.total)
        .unwrap_or(0)
}

fn login(c: &DirectoryClient, name: &str, files: &[&str]) -> pb::LoginReply {
    c.login(&pb_login(name, files)).expect("login")
}

fn announce(
    c: &DirectoryClient,
    token: &str,
    added: &[&str],
    removed: &[&str],
) -> Result<pb::AnnounceReply, grpcio::Error> {
    c.announce(&pb::AnnounceRequest {
        token: token.to_string(),
        added: added.iter().map(|f| file(f)).collect(),
        removed: removed.iter().map(|f| b3(f.as_bytes())).collect(),
        ..Default::default()
    })
}

fn heartbeat(c: &DirectoryClient, token: &str) -> Result<pb::HeartbeatReply, grpcio::Error> {
    c.heartbeat(&pb::HeartbeatRequest {
        token: token.to_string(),
        ..Default::default()
    })
}

/// The names of every file `query` finds, sorted.
fn found(c: &DirectoryClient, query: &str) -> Vec<String> {
    let mut names: Vec<String> = c
        .search(&pb::SearchRequest {
            query: query.to_string(),
            limit: 1000,
            ..Default::default()
        })
        .expect("search")
        .results
        .into_iter()
        .flat_map(|r| r.names.into_vec())
        .collect();
    names.sort();
    names
}

fn code<T: std::fmt::Debug>(r: Result<T, grpcio::Error>) -> RpcStatusCode {
    match r {
        Err(grpcio::Error::RpcFailure(s)) => s.code(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn replicas_see_each_others_writes_and_their_own_at_once() {
    let redis = Redis::start();
    // Followers that lag 300 ms: a write answers only once its replica
    // applied it, so the very next read there sees it.
    let (_a, ca, _ka) = replica_process(&redis, 300);
    let (_b, cb, _kb) = replica_process(&redis, 300);
    let (_c, cc, _kc) = replica_process(&redis, 300);

    // Logged in through A: found on B and C (they follow the stream).
    let t = Instant::now();
    let alice = login(&ca, "alice", &["holiday photos.zip", "report.pdf"]);
    for (name, c) in [("A", &ca), ("B", &cb), ("C", &cc)] {
        eventually(
            Duration::from_secs(5),
            &format!("alice is listed on {name}"),
            || found(c, "holiday") == ["holiday photos.zip"],
        );
    }
    eprintln!(
        "a login on A was found on A, B and C after {:?}",
        t.elapsed()
    );

    // Announces through B and then C: each replica shows its own write in
    // the very next search (no waiting), and the others follow.
    let r = announce(&cb, &alice.token, &["holiday video.mp4"], &["report.pdf"]).unwrap();
    assert_eq!(r.shared, 2);
    assert_eq!(
        found(&cb, "holiday"),
        ["holiday photos.zip", "holiday video.mp4"]
    );
    assert!(found(&cb, "report").is_empty());
    announce(&cc, &alice.token, &["holiday notes.txt"], &[]).unwrap();
    assert_eq!(found(&cc, "notes"), ["holiday notes.txt"]);
    for c in [&ca, &cb] {
        eventually(
            Duration::from_secs(5),
            "the announce through C reaches A and B",
            || found(c, "holiday").len() == 3,
        );
    }

    // The name is bound to alice's key on every replica.
    let other = pb::LoginRequest {
        name: "alice".into(),
        http_addr: "http://127.0.0.1:9".into(),
        identity_key: key_of("not alice"),
        ..Default::default()
    };
    assert_eq!(code(cc.login(&other)), RpcStatusCode::ALREADY_EXISTS);

    // A replica started now fills itself from Redis.
    let (_d, cd) = replica(&redis, 30);
    assert_eq!(found(&cd, "holiday").len(), 3);
    let peers = cd.list_peers(&pb::ListPeersRequest::default()).unwrap();
    assert_eq!(peers.total, 1);

    // A logout through D: gone everywhere; the token is dead everywhere.
    cd.logout(&pb::LogoutRequest {
        token: alice.token.clone(),
        ..Default::default()
    })
    .unwrap();
    assert!(found(&cd, "holiday").is_empty());
    for c in [&ca, &cb, &cc] {
        eventually(
            Duration::from_secs(5),
            "the logout reaches every replica",
            || found(c, "holiday").is_empty(),
        );
        assert_eq!(
            code(heartbeat(c, &alice.token)),
            RpcStatusCode::UNAUTHENTICATED
        );
    }
    assert_eq!(redis.leaves_of("alice"), 1);
}

#[test]
fn a_peer_killed_with_sigkill_expires_once_with_three_sweepers() {
    let redis = Redis::start();
    let lease = "lease_secs = 2\nheartbeat_secs = 1";
    let (replicas, setups) = replicas_and_peers(&redis, lease, &["quiet", "lively"]);
    let mut quiet = setups[0].serve();
    let _lively = setups[1].serve();
    for (_, c, _) in &replicas {
        eventually(Duration::from_secs(10), "both listed everywhere", || {
            listed(c) == 2
        });
    }
    // quiet dies without a word; every replica sweeps.
    quiet.signal_and_wait("-KILL");
    for (_, c, _) in &replicas {
        eventually(Duration::from_secs(10), "quiet expired everywhere", || {
            listed(c) == 1
        });
    }
    // More sweeps (three replicas, one every 0.5 s each): until the
    // sweeps have moved the clock's wall 2 s past now, still one leave.
    let now = redis_times(&redis).0;
    eventually(Duration::from_secs(10), "2 s more of sweeps", || {
        redis_times(&redis).1.is_some_and(|t| t >= now + 2000)
    });
    assert_eq!(
        redis.leaves_of("quiet"),
        1,
        "one leave event, however many sweep"
    );
    let logged: usize = replicas
        .iter()
        .map(|(p, _, _)| p.logged("lease expired: quiet at http://127.0.0.1:"))
        .sum();
    assert_eq!(logged, 1, "one replica logged it, with the address");
    assert_eq!(redis.leaves_of("lively"), 0);
    for (_, c, _) in &replicas {
        assert_eq!(listed(c), 1);
    }
}

#[test]
fn without_redis_writes_fail_reads_go_on_and_all_recovers() {
    let mut redis = Redis::start();
    let port = redis.port;
    let (_a, ca) = replica(&redis, 30);
    let (_b, cb) = replica(&redis, 30);
    let t = Instant::now();
    let bob = login(&ca, "bob", &["bob's song.mp3"]);
    eventually(Duration::from_secs(5), "bob is listed on B", || {
        found(&cb, "song") == ["bob's song.mp3"]
    });
    eprintln!(
        "a login on A was found on B {:?} after it was sent",
        t.elapsed()
    );

    redis.kill();
    // Writes cannot be made: UNAVAILABLE, which peers retry.
    assert_eq!(code(heartbeat(&ca, &bob.token)), RpcStatusCode::UNAVAILABLE);
    assert_eq!(
        code(announce(&cb, &bob.token, &["more.mp3"], &[])),
        RpcStatusCode::UNAVAILABLE
    );
    // Reads go on from memory.
    assert_eq!(found(&cb, "song"), ["bob's song.mp3"]);
    assert_eq!(found(&ca, "song"), ["bob's song.mp3"]);

    // Redis comes back empty (no persistence): the replicas notice, forget
    // what it no longer holds; bob's token is unknown, and his next login
    // (what a peer does on UNAUTHENTICATED) lists him again everywhere.
    let _redis = Redis::on(port);
    eventually(Duration::from_secs(10), "B forgets what Redis lost", || {
        found(&cb, "song").is_empty()
    });
    assert_eq!(
        code(heartbeat(&ca, &bob.token)),
        RpcStatusCode::UNAUTHENTICATED
    );
    login(&ca, "bob", &["bob's song.mp3"]);
    eventually(Duration::from_secs(5), "bob is listed on B again", || {
        found(&cb, "song") == ["bob's song.mp3"]
    });
}

#[test]
fn peers_on_a_list_of_replicas_ride_out_one_killed() {
    let redis = Redis::start();
    let lease = "lease_secs = 4\nheartbeat_secs = 1";
    let (mut replicas, peers) = replicas_and_peers(&redis, lease, &["ann", "ben"]);
    let running: Vec<Proc> = peers.iter().map(PeerSetup::serve).collect();
    for (_, c, _) in &replicas {
        eventually(
            Duration::from_secs(10),
            "both peers listed on every replica",
            || listed(c) == 2,
        );
    }
    let logins: Vec<usize> = running.iter().map(|p| p.logged("logged in")).collect();

    // The first replica of the list dies at once. For three leases the
    // peers heartbeat (through the list) and search through it: nothing is
    // lost, no search fails.
    let (mut first, _, _) = replicas.remove(0);
    first.signal_and_wait("-KILL");
    let until = Instant::now() + Duration::from_secs(12);
    let mut searches = 0;
    while Instant::now() < until {
        let out = peers[0].run(&["search", "notes"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("notes.txt"));
        searches += 1;
        for (_, c, _) in &replicas {
            assert_eq!(listed(c), 2, "a peer dropped out");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(searches > 10);
    let after: Vec<usize> = running.iter().map(|p| p.logged("logged in")).collect();
    assert_eq!(logins, after, "no peer had to log in again");
}

fn health(addr: &str) -> grpcio_health::ServingStatus {
    use grpcio_health::proto::HealthCheckRequest;
    let env = std::sync::Arc::new(grpcio::Environment::new(1));
    let client = grpcio_health::HealthClient::new(grpcio::ChannelBuilder::new(env).connect(addr));
    client
        .check(&HealthCheckRequest::default())
        .expect("health check")
        .get_status()
}

#[test]
fn a_replica_that_lost_redis_for_a_lease_stops_serving_until_it_is_back() {
    use grpcio_health::ServingStatus;
    let mut redis = Redis::start();
    let port = redis.port;
    let (a, ca) = replica(&redis, 2);
    let addr = a.addr().to_string();
    login(&ca, "dora", &["dora's map.png"]);
    assert_eq!(health(&addr), ServingStatus::Serving);

    redis.kill();
    let lost = Instant::now();
    assert_eq!(
        found(&ca, "map"),
        ["dora's map.png"],
        "reads go on at first"
    );
    eventually(Duration::from_secs(10), "NOT_SERVING after a lease", || {
        health(&addr) == ServingStatus::NotServing
    });
    assert!(
        lost.elapsed() >= Duration::from_secs(2),
        "not before a whole lease"
    );
    let refused = ca.search(&pb::SearchRequest {
        query: "map".into(),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(code(refused), RpcStatusCode::UNAVAILABLE);

    let _back = Redis::on(port);
    eventually(Duration::from_secs(10), "serving again", || {
        health(&addr) == ServingStatus::Serving
    });
    // Redis came back empty: dora logs in again, as a peer would.
    login(&ca, "dora", &["dora's map.png"]);
    assert_eq!(found(&ca, "map"), ["dora's map.png"]);
}

#[test]
fn a_real_peer_is_listed_again_within_a_heartbeat_after_redis_restarts_empty() {
    let mut redis = Redis::start();
    let port = redis.port;
    let lease = "lease_secs = 6\nheartbeat_secs = 1";
    let (_a, ca, _ka) = replica_process_with(&redis, 0, lease);
    let (_b, cb, _kb) = replica_process_with(&redis, 0, lease);
    let peer = PeerSetup::new("erin", &_a.addr, "");
    std::fs::write(peer.share().join("erin's essay.txt"), b"essay").unwrap();
    let _p = peer.serve();
    eventually(Duration::from_secs(10), "erin listed on B", || {
        found(&cb, "essay") == ["erin's essay.txt"]
    });
    redis.kill();
    std::thread::sleep(Duration::from_millis(500));
    let _back = Redis::on(port);
    // The replicas find the store empty (and forget erin); erin's next
    // heartbeat is refused as unknown, it logs in again: in the new store,
    // and listed on both replicas.
    let t = Instant::now();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap();
    let in_store = || {
        let mut c = client.get_connection().unwrap();
        let peers: Vec<String> = redis::cmd("KEYS")
            .arg("hubshare:peer:*")
            .query(&mut c)
            .unwrap();
        peers == ["hubshare:peer:erin"]
    };
    eventually(Duration::from_secs(10), "erin in the new store", in_store);
    eventually(Duration::from_secs(5), "erin listed on A and B", || {
        found(&ca, "essay") == ["erin's essay.txt"] && found(&cb, "essay") == ["erin's essay.txt"]
    });
    eprintln!("erin listed again {:?} after Redis came back", t.elapsed());
    assert_eq!(
        _p.logged("logged in to the directory"),
        2,
        "one login again"
    );
}

#[test]
fn a_replica_that_misses_an_event_resynchronises() {
    let redis = Redis::start();
    let (_a, ca) = replica(&redis, 30);
    let (_b, cb) = replica(&redis, 30);
    let fay = login(&ca, "fay", &["fay one.txt"]);
    eventually(Duration::from_secs(5), "fay on B", || {
        found(&cb, "fay").len() == 1
    });
    // An event number is lost (as when the stream is trimmed past a
    // replica): the next event is not the one the followers expect.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: u64 = redis::cmd("INCR")
        .arg("hubshare:seq")
        .query(&mut c)
        .unwrap();
    // An event written while the stream has a hole: every replica rebuilds
    // from a snapshot, and both show the whole state.
    announce(&ca, &fay.token, &["fay two.txt"], &[]).unwrap();
    for c in [&ca, &cb] {
        eventually(Duration::from_secs(5), "both files everywhere", || {
            found(c, "fay") == ["fay one.txt", "fay two.txt"]
        });
    }
    announce(&cb, &fay.token, &["fay three.txt"], &["fay one.txt"]).unwrap();
    assert_eq!(found(&cb, "fay"), ["fay three.txt", "fay two.txt"]);
}

/// Sends `sig` (`-STOP`, `-CONT`) to a process.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Redis's own clock, in ms, and the wall time of the last sweep.
fn redis_times(redis: &Redis) -> (u64, Option<u64>) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut c).unwrap();
    let swept: Option<u64> = redis::cmd("GET")
        .arg("hubshare:clock_wall")
        .query(&mut c)
        .unwrap();
    (secs * 1000 + micros / 1000, swept)
}

#[test]
fn a_redis_that_hangs_for_longer_than_a_lease_expires_nobody() {
    let redis = Redis::start();
    // Lease 4 s: the replica sweeps every second, and the lease clock moves
    // at most 2 s per sweep.
    let (_a, ca) = replica(&redis, 4);
    let hal = login(&ca, "hal", &["hal's log.txt"]);
    eventually(Duration::from_secs(5), "a first sweep", || {
        redis_times(&redis).1.is_some()
    });
    heartbeat(&ca, &hal.token).unwrap();

    // Redis hangs (stopped, connections open) for 1.5 leases.
    signal(redis.child.id(), "-STOP");
    std::thread::sleep(Duration::from_secs(6));
    signal(redis.child.id(), "-CONT");
    let resumed = redis_times(&redis).0;
    eventually(Duration::from_secs(10), "a sweep after the hang", || {
        redis_times(&redis).1.is_some_and(|t| t >= resumed)
    });

    // On a wall clock hal's lease ended 2 s ago; on the sweeps' clock it
    // has not: the first heartbeat after the hang keeps hal.
    heartbeat(&ca, &hal.token).expect("hal's session outlived the hang");
    assert_eq!(found(&ca, "log"), ["hal's log.txt"]);
    assert_eq!(redis.leaves_of("hal"), 0);
    // A session that then stops heartbeating still ends, once.
    eventually(
        Duration::from_secs(15),
        "hal expires without heartbeats",
        || found(&ca, "log").is_empty(),
    );
    assert_eq!(redis.leaves_of("hal"), 1);
}

#[test]
fn a_closed_group_on_replicas_keeps_its_names_across_a_restart_and_its_removals() {
    let redis = Redis::start();
    let password = "the replicas' group password";
    let closed = format!("group_password = \"{password}\"");
    let member = |name: &str, key: &str| pb::LoginRequest {
        identity_key: key_of(key),
        group_password: password.to_string(),
        ..pb_login(name, &["minutes.txt"])
    };
    let (first, c, _dir) = replica_process_with(&redis, 0, &closed);
    let alice = c
        .login(&member("alice", "alice"))
        .expect("a member logs in");
    // Reads without the password are refused; with the token or the
    // password they are answered.
    let search = |token: &str, pw: &str| {
        c.search(&pb::SearchRequest {
            query: "minutes".into(),
            limit: 10,
            token: token.into(),
            group_password: pw.into(),
            ..Default::default()
        })
    };
    assert_eq!(code(search("", "")), RpcStatusCode::PERMISSION_DENIED);
    assert_eq!(
        code(search("", "a wrong guess")),
        RpcStatusCode::PERMISSION_DENIED
    );
    assert_eq!(search(&alice.token, "").unwrap().total, 1);
    assert_eq!(search("", password).unwrap().total, 1);
    assert_eq!(
        code(c.list_peers(&pb::ListPeersRequest::default())),
        RpcStatusCode::PERMISSION_DENIED
    );
    c.logout(&pb::LogoutRequest {
        token: alice.token,
        ..Default::default()
    })
    .unwrap();
    drop(first);

    // Another replica process after the first is gone: alice's name is
    // still hers.
    let (_second, c, _dir2) = replica_process_with(&redis, 0, &closed);
    let err = c.login(&member("alice", "mallory")).unwrap_err();
    assert_eq!(code::<()>(Err(err)), RpcStatusCode::ALREADY_EXISTS);
    let bob = c.login(&member("bob", "bob")).expect("bob logs in");
    // The operator (on this machine: tls = false) removes bob.
    let removed = c
        .remove_peer(&pb::RemovePeerRequest {
            name: "bob".into(),
            ..Default::default()
        })
        .expect("the operator removes bob");
    assert!(removed.was_online && !removed.keyprint.is_empty());
    assert_eq!(
        code(heartbeat(&c, &bob.token)),
        RpcStatusCode::UNAUTHENTICATED
    );
    let again = c.login(&member("bob", "bob")).unwrap_err();
    let grpcio::Error::RpcFailure(s) = again else {
        panic!("{again:?}")
    };
    assert_eq!(s.code(), RpcStatusCode::PERMISSION_DENIED);
    assert!(
        s.message().contains("removed from the group"),
        "{}",
        s.message()
    );
    // Its name is free for another key.
    c.login(&member("bob", "robert")).expect("the name is free");
}
