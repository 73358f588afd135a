//! Peers that crash, directories that restart, shares that change: leases
//! expire the dead, peers log in again by themselves, rescans announce only
//! what changed, and the hash cache spares rehashing across restarts.

use std::fs;
use std::time::Duration;

use crate::support::*;

const LEASE: &str = "2";

fn listed(peer: &PeerSetup, words: &str, needle: &str) -> bool {
    let mut args = vec!["search"];
    args.extend(words.split(' '));
    peer.run(&args).status.success() && ok(peer.run(&args)).contains(needle)
}

/// The bytes a running peer has hashed since it started (`status --json`).
fn bytes_hashed(peer: &PeerSetup) -> u64 {
    let status: serde_json::Value =
        serde_json::from_str(&ok(peer.run(&["status", "--json"]))).unwrap();
    status["bytes_hashed"].as_u64().expect("bytes_hashed")
}

#[test]
fn a_killed_peer_disappears_within_one_lease() {
    let server = start_directory(&format!(
        "lease_secs = {LEASE}\nhttp_listen = \"127.0.0.1:0\""
    ));
    let metrics = server.status_addr().expect("a status port").to_string();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("crash test.txt"), b"soon gone").unwrap();
    let mut a_proc = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        listed(&b, "crash", "crash test.txt")
    });
    // Heartbeats keep it listed past one lease: three more answered, a
    // second apart, span more than the 2 s lease.
    let beats = calls(&scrape(&metrics), "Heartbeat");
    eventually(Duration::from_secs(10), "three more heartbeats", || {
        calls(&scrape(&metrics), "Heartbeat") >= beats + 3.0
    });
    assert!(listed(&b, "crash", "crash test.txt"), "a live peer expired");

    a_proc.signal_and_wait("-KILL");
    // Within a lease (2 s) plus a sweep (0.5 s) and some slack, gone...
    eventually(Duration::from_secs(6), "alice expired", || {
        ok(b.run(&["search", "crash"])).trim() == "no files found"
    });
    // ...by its lease: no logout was sent, one session expired.
    let m = scrape(&metrics);
    assert_eq!(calls(&m, "Logout"), 0.0);
    assert_eq!(m["hubshare_directory_expired_sessions_total"], 1.0);
}

#[test]
fn a_restarted_directory_gets_every_peer_back() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = start_server_with(&["--listen", &listen, "--lease-secs", LEASE]);
    let peers: Vec<PeerSetup> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| {
            let p = PeerSetup::new(n, &server.addr, "");
            fs::write(p.share().join(format!("{n} holiday.txt")), n.as_bytes()).unwrap();
            p
        })
        .collect();
    let procs: Vec<Proc> = peers.iter().map(PeerSetup::serve).collect();
    let probe = &peers[0];
    let all_listed = || {
        let out = ok(probe.run(&["search", "holiday"]));
        ["alice", "bob", "carol"]
            .iter()
            .all(|n| out.contains(&format!("{n} holiday.txt")))
    };
    eventually(Duration::from_secs(10), "all peers listed", all_listed);

    // The directory dies and comes back empty on the same port.
    server.signal_and_wait("-KILL");
    drop(server);
    let _server = start_server_with(&["--listen", &listen, "--lease-secs", LEASE]);
    // Within a heartbeat (1 s) plus backoff, every peer is back, unaided...
    eventually(
        Duration::from_secs(15),
        "all peers back after the restart",
        all_listed,
    );
    // ...because each found that the new directory did not know it, and
    // logged in again (twice in all), not because anything survived.
    for p in &procs {
        assert_eq!(p.logged("the directory no longer knows this session"), 1);
        assert_eq!(p.logged("logged in to the directory"), 2);
    }
}

#[test]
fn tls_peers_find_a_restarted_directory_long_before_their_next_heartbeat() {
    // Heartbeats every 100 s: only the ending of each peer's notice stream
    // can bring it back within seconds.
    let state = tempfile::tempdir().unwrap();
    let config = "lease_secs = 300";
    let mut d = start_tls_directory(Some(state.path()), None, config);
    let peers: Vec<PeerSetup> = ["alice", "bob"]
        .iter()
        .map(|n| {
            let p = crate::tls::tls_peer(n, &d.invite, "");
            fs::write(p.share().join(format!("{n} notes.txt")), n.as_bytes()).unwrap();
            p
        })
        .collect();
    let procs: Vec<Proc> = peers.iter().map(PeerSetup::serve).collect();
    let all_listed = || {
        let out = peers[0].run(&["search", "notes"]);
        let out = String::from_utf8_lossy(&out.stdout).to_string();
        out.contains("alice notes.txt") && out.contains("bob notes.txt")
    };
    eventually(Duration::from_secs(15), "both listed", all_listed);
    let listen = d.proc.addr.clone();
    d.proc.signal_and_wait("-KILL");
    drop(d);
    let _d = start_tls_directory(Some(state.path()), Some(&listen), config);
    // Within CHECK_SPREAD (10 s) and a reconnect, not 100 s.
    eventually(Duration::from_secs(20), "both back", all_listed);
    for p in &procs {
        assert_eq!(p.logged("the directory no longer knows this session"), 1);
        assert_eq!(p.logged("logged in to the directory"), 2);
    }
}

#[test]
fn a_peer_started_before_its_directory_logs_in_when_it_appears() {
    let port = free_port();
    let directory = format!("127.0.0.1:{port}");
    let a = PeerSetup::new("alice", &directory, "");
    fs::write(a.share().join("early bird.txt"), b"first").unwrap();
    let a_proc = a.serve();

    // It serves its files over HTTP meanwhile, and says where it stands.
    let id = b3(b"first");
    let (status, _, body) = raw_http(&a_proc.addr, &format!("GET /files/{id} HTTP/1.1"), b"");
    assert_eq!((status, body.as_slice()), (200, &b"first"[..]));
    let status = ok(a.run(&["status"]));
    assert!(status.contains("connecting"), "{status}");
    // One-shot commands say the directory is unreachable.
    let err = fails(a.run(&["search", "early"]));
    assert!(err.contains("unreachable"), "{err}");

    let _server = start_server_with(&["--listen", &directory, "--lease-secs", LEASE]);
    eventually(
        Duration::from_secs(15),
        "alice logs in once the directory is up",
        || listed(&a, "early", "early bird.txt"),
    );
    assert!(ok(a.run(&["status"])).contains("(online)"));
}

#[test]
fn rescans_announce_added_removed_and_renamed_files() {
    let server = start_server();
    // Periodic rescans and the watcher off: only the explicit `peer rescan`
    // finds changes.
    let a = PeerSetup::new(
        "alice",
        &server.addr,
        "rescan_secs = 0\nsettle_secs = 0\nwatch_share = false",
    );
    fs::write(a.share().join("old.txt"), b"old").unwrap();
    let _a = a.serve();
    eventually(Duration::from_secs(10), "alice listed", || {
        listed(&a, "old", "old.txt")
    });

    fs::write(a.share().join("new report.txt"), b"new").unwrap();
    assert!(
        !listed(&a, "report", "new report.txt"),
        "announced before a rescan"
    );
    assert_eq!(
        ok(a.run(&["rescan"])).trim(),
        "rescanned: 1 added, 0 removed"
    );
    assert!(listed(&a, "report", "new report.txt"));

    fs::rename(
        a.share().join("new report.txt"),
        a.share().join("renamed report.txt"),
    )
    .unwrap();
    fs::remove_file(a.share().join("old.txt")).unwrap();
    assert_eq!(
        ok(a.run(&["rescan"])).trim(),
        "rescanned: 1 added, 1 removed"
    );
    let found = ok(a.run(&["search", "report"]));
    assert!(
        found.contains("renamed report.txt") && !found.contains("new report.txt"),
        "{found}"
    );
    assert!(found.contains(&b3(b"new")[..16]), "{found}");
    assert_eq!(ok(a.run(&["search", "old"])).trim(), "no files found");
    // Nothing changed: nothing announced.
    assert_eq!(
        ok(a.run(&["rescan"])).trim(),
        "rescanned: 0 added, 0 removed"
    );
}

#[test]
fn periodic_rescans_share_a_file_once_it_stops_changing() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "rescan_secs = 1\nsettle_secs = 1");
    let _a = a.serve();
    fs::write(a.share().join("dropped in.txt"), b"copied").unwrap();
    eventually(Duration::from_secs(10), "the new file is announced", || {
        listed(&a, "dropped", "dropped in.txt")
    });
    fs::remove_file(a.share().join("dropped in.txt")).unwrap();
    eventually(
        Duration::from_secs(10),
        "the deleted file is withdrawn",
        || ok(a.run(&["search", "dropped"])).trim() == "no files found",
    );
}

#[test]
fn a_restart_over_an_unchanged_share_hashes_nothing() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let sizes = [1usize << 20, 5 << 20, 12_345];
    for (i, n) in sizes.iter().enumerate() {
        fs::write(a.share().join(format!("f{i}.bin")), noise(*n, i as u64)).unwrap();
    }
    let total: u64 = sizes.iter().map(|n| *n as u64).sum();
    let restart = |expect: u64| {
        let mut p = a.serve();
        assert_eq!(bytes_hashed(&a), expect);
        assert!(ok(a.run(&["status"])).contains("files:     3"));
        assert!(p.signal_and_wait("-TERM").success());
    };
    restart(total);
    restart(0);
    // A garbage cache is rebuilt (everything hashed once), never fatal.
    let cache = a.root.path().join("state/hash-cache.json");
    assert!(cache.exists());
    fs::write(&cache, b"\x00garbage{{{").unwrap();
    restart(total);
    restart(0);
}

#[test]
fn the_directory_answers_health_probes_and_stops_cleanly_on_sigterm() {
    use grpcio_health::proto::HealthCheckRequest;
    use grpcio_health::{HealthClient, ServingStatus};

    let mut server = start_server_process();
    let env = std::sync::Arc::new(grpcio::Environment::new(1));
    let health = HealthClient::new(grpcio::ChannelBuilder::new(env).connect(&server.addr));
    for service in ["", "hubshare.directory.Directory"] {
        let mut req = HealthCheckRequest::default();
        req.set_service(service.to_string());
        let reply = health.check(&req).expect("health check");
        assert_eq!(reply.get_status(), ServingStatus::Serving, "{service:?}");
    }
    // A peer stopped with SIGTERM logs out like with Ctrl-C.
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("term.txt"), b"t").unwrap();
    let mut a_proc = a.serve();
    eventually(Duration::from_secs(10), "alice listed", || {
        listed(&a, "term", "term.txt")
    });
    assert!(a_proc.signal_and_wait("-TERM").success());
    assert_eq!(ok(a.run(&["search", "term"])).trim(), "no files found");

    let status = server.signal_and_wait("-TERM");
    assert!(status.success(), "directory exited with {status}");
}

/// Files the directory lists for `peer`, asked over gRPC.
fn listed_count(directory: &str, peer: &str) -> u64 {
    use hubshare::proto::directory as pb;
    grpc(directory)
        .get_peer(&pb::GetPeerRequest {
            name: peer.to_string(),
            ..Default::default()
        })
        .map_or(0, |r| r.files)
}

/// How many files a search for `words` finds in all (not only those shown).
fn total(directory: &str, words: &str) -> u64 {
    use hubshare::proto::directory as pb;
    grpc(directory)
        .search(&pb::SearchRequest {
            query: words.to_string(),
            limit: 10,
            ..Default::default()
        })
        .map_or(0, |r| r.total)
}

#[test]
fn a_large_share_logs_in_under_small_limits_and_a_rescan_adds_to_it() {
    // 100 files a call, and Announce allowed 5 at once then 20 a second:
    // the peer must split its list and wait its turn, losing nothing.
    let server =
        start_directory("max_files_per_call = 100\nannounce_rate = 20\nannounce_burst = 5\n");
    // No watcher: the explicit rescan is what adds the new files.
    let a = PeerSetup::new(
        "alice",
        &server.addr,
        "rescan_secs = 0\nwatch_share = false",
    );
    for i in 0..5000 {
        fs::write(
            a.share().join(format!("shared {i:05}.txt")),
            format!("file {i}"),
        )
        .unwrap();
    }
    let a_proc = a.serve();
    eventually(Duration::from_secs(60), "5000 files listed", || {
        listed_count(&server.addr, "alice") == 5000
    });
    assert_eq!(total(&server.addr, "shared"), 5000);
    assert!(ok(a.run(&["search", "shared", "04999"])).contains("shared 04999.txt"));
    assert!(ok(a.run(&["search", "shared", "00000"])).contains("shared 00000.txt"));

    for i in 0..1000 {
        fs::write(
            a.share().join(format!("added {i:04}.txt")),
            format!("added {i}"),
        )
        .unwrap();
    }
    assert!(ok(a.run(&["rescan"])).contains("1000 added"));
    eventually(Duration::from_secs(60), "6000 files listed", || {
        listed_count(&server.addr, "alice") == 6000
    });
    assert_eq!(total(&server.addr, "added"), 1000);
    assert!(ok(a.run(&["search", "added", "0999"])).contains("added 0999.txt"));
    // It said so once it was done, without giving up on anything.
    assert!(a_proc.logged("the directory is up to date: it lists 6000 files") >= 1);
    assert_eq!(
        a_proc.logged("announce failed"),
        0,
        "a refusal other than a flood limit"
    );
}
