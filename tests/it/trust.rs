//! A group member with bad intent (or a buggy client) against real
//! processes: a name taken by another key, a size lie, a stalled piece
//! list, a lying name, an address that is not the sender's, a login flood,
//! and secrets in a debug log.

use std::fs;
use std::time::{Duration, Instant};

use grpcio::RpcStatusCode;
use hubshare::proto::directory as pb;

use crate::support::*;

/// A directory with a short lease (heartbeats every second), so a test sees
/// several heartbeats; `extra` is appended to its config.
fn quick_server(extra: &str) -> Dir {
    start_directory(&format!("lease_secs = 3\n{extra}\n"))
}

pub(crate) fn status_of(e: grpcio::Error) -> (RpcStatusCode, String) {
    match e {
        grpcio::Error::RpcFailure(s) => (s.code(), s.message().to_string()),
        other => panic!("not a status: {other}"),
    }
}

fn raw_login(
    c: &hubshare::proto::directory_grpc::DirectoryClient,
    name: &str,
    key: &str,
    http_addr: &str,
) -> Result<pb::LoginReply, grpcio::Error> {
    c.login(&pb::LoginRequest {
        name: name.to_string(),
        http_addr: http_addr.to_string(),
        identity_key: key.to_string(),
        ..Default::default()
    })
}

#[test]
fn a_taken_name_is_refused_and_its_owner_stays_listed_and_downloadable() {
    let server = quick_server("");
    let alice = PeerSetup::new("alice", &server.addr, "");
    let content = noise(600_000, 21);
    fs::write(alice.share().join("notes.bin"), &content).unwrap();
    let mut a = alice.serve();
    eventually(Duration::from_secs(10), "alice online", || {
        ok(alice.run(&["status"])).contains("online")
    });

    // Another peer configured with the same name (its own state, so its own key).
    let mallory = PeerSetup::new("alice", &server.addr, "");
    let mut m = mallory.serve();
    // Refused for good: it says so and exits, rather than retry for ever.
    eventually(Duration::from_secs(10), "the impostor refused", || {
        m.child.try_wait().unwrap().is_some()
    });
    assert_eq!(m.child.wait().unwrap().code(), Some(1));
    assert_eq!(m.logged("in use by another peer"), 1, "{}", m.log_text());
    // A raw client with any other key is refused too, naming the name.
    let (code, msg) = status_of(
        raw_login(
            &grpc(&server.addr),
            "alice",
            &key_of("x"),
            "http://127.0.0.1:9",
        )
        .unwrap_err(),
    );
    assert_eq!(code, RpcStatusCode::ALREADY_EXISTS, "{msg}");
    assert!(msg.contains("\"alice\""), "{msg}");

    // Several heartbeats later the owner was never knocked off...
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.logged("no longer knows"), 0, "{}", a.log_text());
    assert!(ok(alice.run(&["status"])).contains("online"));
    // ...and is what others find and download from.
    let bob = PeerSetup::new("bob", &server.addr, "");
    let id = b3(&content);
    let out = ok(bob.run(&["get", &id]));
    assert!(out.contains("from alice"), "{out}");
    assert_eq!(fs::read(bob.share().join("notes.bin")).unwrap(), content);
    drop(m);

    // The owner killed outright and started again logs in at once (the
    // directory still holds its old session, which is simply replaced).
    a.signal_and_wait("-KILL");
    let _a = alice.serve();
    eventually(Duration::from_secs(5), "alice back online", || {
        ok(alice.run(&["status"])).contains("online")
    });
    // The directory lists the new process (a new port), not the dead one.
    let control = fs::read_to_string(alice.state().join("control.json")).unwrap();
    let now_at = serde_json::from_str::<serde_json::Value>(&control).unwrap()["http_addr"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = grpc(&server.addr)
        .get_peer(&pb::GetPeerRequest {
            name: "alice".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed.http_addr, now_at);
}

#[test]
fn a_wrong_size_logged_in_first_does_not_stop_the_download_and_is_named() {
    let server = quick_server("");
    let content = noise(3 << 20, 22);
    let id = b3(&content);
    // The liar comes first, claiming the right id with another size.
    let lie = content.len() as u64 + 12_345;
    let _liar = fake_source_claiming(
        &server.addr,
        "aaa-liar",
        Fake {
            content: content.clone(),
            pieces: Some(piece_list_json(&content)),
            ..Fake::default()
        },
        &id,
        lie,
        "data.bin",
    );
    let honest = sharing_peers(&server.addr, &["h1", "h2"], "", "data.bin", &content);
    let _procs: Vec<Proc> = honest.iter().map(PeerSetup::serve).collect();
    let bob = PeerSetup::new("bob", &server.addr, "");
    // Search shows the size most sources agree on.
    eventually(Duration::from_secs(10), "three sources listed", || {
        bob.sources_of(&["data"], "data.bin") == 3
    });
    let listed = ok(bob.run(&["search", "data"]));
    assert!(listed.contains("3.0 MiB"), "{listed}");

    let out = ok(bob.run(&["get", &id]));
    assert!(
        out.contains(&format!(
            "dropped aaa-liar: claims the file is {lie} bytes, but it is {} bytes",
            content.len()
        )),
        "{out}"
    );
    assert!(!out.contains("from aaa-liar"), "{out}");
    assert_eq!(fs::read(bob.share().join("data.bin")).unwrap(), content);
}

/// Bob downloads `content` (shared as `name`) while two sources list it:
/// the honest zed, and a fake with `content` and its right piece list that
/// behaves as `slow` says (first by name, so asked first). Returns how long
/// `peer get` took and what it said, once the bytes on disk are checked and
/// zed is named as a source.
fn download_beside(slow: Fake, content: &[u8], name: &str) -> (Duration, String) {
    let server = quick_server("");
    let id = b3(content);
    let slow = Fake {
        content: content.to_vec(),
        pieces: Some(piece_list_json(content)),
        ..slow
    };
    let _slow = fake_source(&server.addr, "aaa-slow", slow, content, name);
    let honest = sharing_peers(&server.addr, &["zed"], "", name, content);
    let _z = honest[0].serve();
    let bob = PeerSetup::new("bob", &server.addr, "");
    let word = name.split('.').next().unwrap();
    eventually(Duration::from_secs(10), "two sources listed", || {
        bob.sources_of(&[word], name) == 2
    });
    let t = Instant::now();
    let out = ok(bob.run(&["get", &id]));
    let took = t.elapsed();
    eprintln!("download beside a slow source took {took:?}");
    assert!(out.contains("from zed"), "{out}");
    assert_eq!(fs::read(bob.share().join(name)).unwrap(), content);
    (took, out)
}

#[test]
fn a_piece_list_that_trickles_is_bypassed_within_seconds() {
    let content = noise(2 << 20, 23);
    // Its piece list a byte every 2 s (it used to be waited on for a
    // minute). It answers 404 for the bytes, so zed is the one that must
    // deliver them: were the bytes served too, a correct downloader could
    // take every piece from it (verified against zed's list) and the
    // download would say nothing of zed.
    let slow = Fake {
        trickle: Some(Duration::from_secs(2)),
        bytes_gone: Some(Default::default()),
        ..Fake::default()
    };
    let (took, out) = download_beside(slow, &content, "slow.bin");
    // Generous against a loaded machine; it used to take over 60 s.
    assert!(took < Duration::from_secs(20), "took {took:?}:\n{out}");
}

#[test]
fn a_source_that_trickles_its_bytes_is_bypassed_within_seconds() {
    let content = noise(2 << 20, 26);
    // A good piece list at once, then the bytes of whatever piece it is
    // asked for one every 9 s: never silent long enough for the 10 s read
    // timeout, and never done. The download must neither wait for it nor
    // end only once its connections notice (at their next byte, 9 s on).
    let slow = Fake {
        trickle_bytes: Some(Duration::from_secs(9)),
        ..Fake::default()
    };
    let (took, out) = download_beside(slow, &content, "drip.bin");
    assert!(took < Duration::from_secs(8), "took {took:?}:\n{out}");
    assert!(!out.contains("from aaa-slow"), "{out}");
}

#[test]
fn the_saved_name_comes_from_the_sources_that_sent_good_bytes() {
    let server = quick_server("");
    let content = noise(2 << 20, 24);
    let id = b3(&content);
    // Two liars (more of them than honest sources) name it an executable
    // and send wrong bytes behind the right piece list.
    let liar = || Fake {
        content: noise(2 << 20, 25),
        pieces: Some(piece_list_json(&content)),
        ..Fake::default()
    };
    let _l1 = fake_source(
        &server.addr,
        "aaa",
        liar(),
        &content,
        "Invoice 2024.pdf.exe",
    );
    let _l2 = fake_source(
        &server.addr,
        "aab",
        liar(),
        &content,
        "Invoice 2024.pdf.exe",
    );
    let honest = sharing_peers(&server.addr, &["zed"], "", "Invoice 2024.pdf", &content);
    let _z = honest[0].serve();
    let bob = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "three sources listed", || {
        bob.sources_of(&["invoice"], "") == 3
    });
    let out = ok(bob.run(&["get", &id]));
    assert!(out.contains("from zed"), "{out}");
    assert_eq!(tree(&bob.share()), vec!["Invoice 2024.pdf"], "{out}");
    assert_eq!(
        fs::read(bob.share().join("Invoice 2024.pdf")).unwrap(),
        content
    );
    // The name the user asks for wins over every source's.
    let carol = PeerSetup::new("carol", &server.addr, "");
    ok(carol.run(&["get", &id, "--name", "mine.pdf"]));
    assert_eq!(tree(&carol.share()), vec!["mine.pdf"]);
}

#[test]
fn an_address_that_is_not_the_senders_is_refused_unless_the_operator_trusts_them() {
    let server = quick_server("");
    let c = grpc(&server.addr);
    for addr in [
        "http://169.254.169.254",
        "http://localhost:22",
        "http://10.9.8.7:7001",
    ] {
        let (code, msg) = status_of(raw_login(&c, "eve", &key_of("eve"), addr).unwrap_err());
        assert_eq!(code, RpcStatusCode::PERMISSION_DENIED, "{addr}: {msg}");
        assert!(
            msg.contains("127.0.0.1") && msg.contains("trust_advertised_addrs"),
            "{msg}"
        );
    }
    // Nothing was listed.
    assert!(c
        .get_peer(&pb::GetPeerRequest {
            name: "eve".into(),
            ..Default::default()
        })
        .is_err());
    raw_login(&c, "eve", &key_of("eve"), "http://127.0.0.1:7001").expect("its own address");
    // A peer configured with an address that is not its own says why it is offline.
    let p = PeerSetup::new(
        "far",
        &server.addr,
        "advertise_addr = \"http://192.0.2.10:7001\"",
    );
    let far = p.serve();
    eventually(Duration::from_secs(10), "the far peer refused", || {
        far.logged("not this peer's own address") > 0
    });

    // Behind a proxy: the operator trusts advertised addresses.
    let trusting = quick_server("trust_advertised_addrs = true");
    let c = grpc(&trusting.addr);
    raw_login(&c, "eve", &key_of("eve"), "http://192.0.2.10:7001").expect("trusted");
    let found = c
        .get_peer(&pb::GetPeerRequest {
            name: "eve".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.http_addr, "http://192.0.2.10:7001");
}

/// A Login sent with `x-forwarded-for: forwarded`, as a proxy sends it.
fn login_forwarded(
    c: &hubshare::proto::directory_grpc::DirectoryClient,
    name: &str,
    http_addr: &str,
    forwarded: &str,
) -> Result<pb::LoginReply, grpcio::Error> {
    let mut headers = grpcio::MetadataBuilder::new();
    headers.add_str("x-forwarded-for", forwarded).unwrap();
    let opt = grpcio::CallOption::default().headers(headers.build());
    c.login_opt(
        &pb::LoginRequest {
            name: name.to_string(),
            http_addr: http_addr.to_string(),
            identity_key: key_of(name),
            ..Default::default()
        },
        opt,
    )
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_is_the_senders() {
    // This test's client stands for the proxy: it calls from 127.0.0.1.
    let server = quick_server("trusted_proxies = [\"127.0.0.1\"]");
    let c = grpc(&server.addr);
    // The address the proxy saw is the one a peer must advertise.
    login_forwarded(&c, "near", "http://10.9.8.7:7001", "10.9.8.7").expect("its own address");
    let (code, msg) =
        status_of(login_forwarded(&c, "far", "http://192.0.2.10:7001", "10.9.8.7").unwrap_err());
    assert_eq!(code, RpcStatusCode::PERMISSION_DENIED);
    assert!(msg.contains("came from 10.9.8.7"), "{msg}");
    // Only the last hop counts: what the client itself put first is its word.
    login_forwarded(&c, "hop", "http://10.1.1.1:1", "192.0.2.10, 10.1.1.1").expect("last hop");
    // No header from a trusted proxy: no address to check against.
    let (code, _) =
        status_of(raw_login(&c, "bare", &key_of("bare"), "http://127.0.0.1:1").unwrap_err());
    assert_eq!(code, RpcStatusCode::PERMISSION_DENIED);

    // A directory that trusts no proxy ignores the header.
    let plain = quick_server("");
    let c = grpc(&plain.addr);
    let (code, msg) =
        status_of(login_forwarded(&c, "near", "http://10.9.8.7:7001", "10.9.8.7").unwrap_err());
    assert_eq!(code, RpcStatusCode::PERMISSION_DENIED);
    assert!(msg.contains("came from 127.0.0.1"), "{msg}");
    login_forwarded(&c, "self", "http://127.0.0.1:7001", "10.9.8.7").expect("its own address");
}

#[test]
fn a_burst_of_logins_is_cut_off_and_sessions_share_an_addresss_searches() {
    let server = quick_server(
        "login_rate = 1\nlogin_burst = 10\nsearch_rate = 1000\nsearch_burst = 1000\n\
         address_search_rate = 1\naddress_search_burst = 6",
    );
    let c = grpc(&server.addr);
    let mut tokens = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let name = format!("bot{i}");
        match raw_login(&c, &name, &key_of(&name), "http://127.0.0.1:9") {
            Ok(r) => tokens.push(r.token),
            Err(e) => {
                let (code, msg) = status_of(e);
                assert_eq!(code, RpcStatusCode::RESOURCE_EXHAUSTED, "{msg}");
                assert!(msg.contains("Login"), "{msg}");
                refused += 1;
            }
        }
    }
    assert!(
        (10..=12).contains(&tokens.len()),
        "{} logins went through",
        tokens.len()
    );
    assert_eq!(refused, 40 - tokens.len());
    // Three sessions from one address: their searches share one ceiling.
    let mut answered = 0;
    for t in tokens.iter().take(3) {
        for _ in 0..5 {
            let r = c.search(&pb::SearchRequest {
                query: "x".into(),
                limit: 10,
                token: t.clone(),
                ..Default::default()
            });
            match r {
                Ok(_) => answered += 1,
                Err(e) => assert_eq!(status_of(e).0, RpcStatusCode::RESOURCE_EXHAUSTED),
            }
        }
    }
    assert!(
        (6..=8).contains(&answered),
        "{answered} of 15 searches answered"
    );
}

#[test]
fn no_secret_shows_in_a_debug_log() {
    let password = "correct horse battery staple";
    let (server, _cfg) = start_server_logging(
        "debug",
        &format!("listen = \"127.0.0.1:0\"\ngroup_password = \"{password}\"\n"),
    );

    let p = PeerSetup::new(
        "alice",
        &server.addr,
        &format!("group_password = \"{password}\""),
    );
    // Everything at debug, the libraries' lines too (ureq prints headers).
    let everything = "debug,ureq=debug,grpc=debug";
    let peer = p.serve_logging(everything);
    eventually(Duration::from_secs(10), "alice online", || {
        ok(p.run(&["status"])).contains("online")
    });
    // A control request from another process, at debug level.
    let status = p.run_logging(everything, &["status"]);
    let status_log = String::from_utf8_lossy(&status.stderr).to_string();
    assert!(status.status.success(), "{status_log}");

    // Logins without the password, or with a wrong one, are refused.
    let c = grpc(&server.addr);
    let (code, msg) =
        status_of(raw_login(&c, "eve", &key_of("eve"), "http://127.0.0.1:9").unwrap_err());
    assert_eq!(code, RpcStatusCode::PERMISSION_DENIED, "{msg}");
    assert!(msg.contains("this group needs its password"), "{msg}");
    let wrong = c.login(&pb::LoginRequest {
        name: "eve".into(),
        http_addr: "http://127.0.0.1:9".into(),
        identity_key: key_of("eve"),
        group_password: "open sesame!".into(),
        ..Default::default()
    });
    assert_eq!(
        status_of(wrong.unwrap_err()).0,
        RpcStatusCode::PERMISSION_DENIED
    );
    // A raw login with the password: its token must not be logged either.
    let token = c
        .login(&pb::LoginRequest {
            name: "dan".into(),
            http_addr: "http://127.0.0.1:9".into(),
            identity_key: key_of("dan"),
            group_password: password.into(),
            ..Default::default()
        })
        .expect("the right password")
        .token;
    c.heartbeat(&pb::HeartbeatRequest {
        token: token.clone(),
        ..Default::default()
    })
    .unwrap();
    // Its logout is logged after everything the calls before it logged.
    c.logout(&pb::LogoutRequest {
        token: token.clone(),
        ..Default::default()
    })
    .unwrap();
    eventually(Duration::from_secs(10), "dan's logout logged", || {
        server.logged("logout: dan at") == 1
    });

    let control: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(p.state().join("control.json")).unwrap()).unwrap();
    let secret = control["secret"].as_str().unwrap().to_string();
    let key = fs::read_to_string(p.state().join("identity.key"))
        .unwrap()
        .trim()
        .to_string();
    let logs = [
        ("peer", peer.log_text()),
        ("status", status_log.clone()),
        ("server", server.log_text()),
    ];
    for (what, log) in &logs {
        assert!(log.contains("DEBUG"), "{what} did not log at debug level");
        for (name, value) in [
            ("control secret", secret.as_str()),
            ("identity key", key.as_str()),
            ("key of dan", key_of("dan").as_str()),
            ("group password", password),
            ("session token", token.as_str()),
        ] {
            assert!(
                !log.contains(value),
                "the {what} log shows the {name}:\n{log}"
            );
        }
    }
    // The control request was logged, with its secret taken out.
    assert!(status_log.contains("[redacted]"), "{status_log}");
}
