//! Whether others can reach a peer, on real processes over TLS: the
//! directory connects back to each peer's port at Login and lists the one
//! it cannot reach as firewalled (in `search --json`, `peers --json` and
//! its own reply); a downloader whose config has a running peer reaches a
//! firewalled source by a reverse connection (the source connects out to
//! it), one without does not try and says why; a firewalled peer still
//! downloads from the others; with
//! `reachable = false` nothing is tried; an address the peer took from its
//! own socket is tried, and listed, only at the address the Login came
//! from; a claimed address on another host is still refused.

use std::fs;
use std::time::Duration;

use hubshare::proto::directory as pb;

use crate::support::*;
use crate::tls::{tls_peer, unguessable};

/// The `firewalled` mark of each source of the first hit of `words`, by peer.
fn marks(p: &PeerSetup, words: &[&str]) -> Vec<(String, bool)> {
    let found = p.search_json(words);
    let mut out: Vec<(String, bool)> = found["hits"][0]["sources"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    (
                        s["peer"].as_str().unwrap().to_string(),
                        s["firewalled"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn a_peer_the_directory_cannot_reach_is_listed_firewalled_and_skipped_by_downloaders() {
    let d = start_tls_directory(None, None, "");
    // Alice advertises a port nothing listens on: behind a firewall, as
    // far as anyone else can tell.
    let closed_port = free_port();
    let a = tls_peer(
        "alice",
        &d.invite,
        &format!("advertise_addr = \"https://127.0.0.1:{closed_port}\""),
    );
    let notes = unguessable(200_000, "alice's notes");
    fs::write(a.share().join("notes.txt"), &notes).unwrap();
    let a_proc = a.serve();
    let b = tls_peer("bob", &d.invite, "");
    let songs = unguessable(300_000, "bob's songs");
    fs::write(b.share().join("songs.txt"), &songs).unwrap();
    let b_proc = b.serve();
    eventually(Duration::from_secs(15), "both listed", || {
        b.sources_of(&["notes"], "notes.txt") == 1 && a.sources_of(&["songs"], "songs.txt") == 1
    });
    // The directory says why, and so does alice.
    eventually(Duration::from_secs(5), "the directory's reason", || {
        d.proc
            .logged("login: alice is firewalled: nothing answers at 127.0.0.1:")
            == 1
    });
    assert!(
        a_proc.logged("the directory cannot reach this peer at https://127.0.0.1:") >= 1,
        "{}",
        a_proc.log_text()
    );
    // Searches and the peer list mark her, and only her.
    assert_eq!(marks(&b, &["notes"]), vec![("alice".to_string(), true)]);
    assert_eq!(marks(&a, &["songs"]), vec![("bob".to_string(), false)]);
    let peers: serde_json::Value = serde_json::from_str(&ok(b.run(&["peers", "--json"]))).unwrap();
    let listed: Vec<(String, bool)> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["firewalled"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert!(listed.contains(&("alice".to_string(), true)), "{peers}");
    assert!(listed.contains(&("bob".to_string(), false)), "{peers}");
    let table = ok(b.run(&["peers"]));
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("alice").contains("(firewalled"), "{table}");
    assert!(!line("bob").contains("firewalled"), "{table}");

    // A config with no running peer has nobody to take her connection:
    // it does not try her, says why, and writes nothing.
    let dave = tls_peer("dave", &d.invite, "");
    let out = dave.run(&["get", &b3(&notes)]);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("every online source")
            && text.contains("is firewalled (alice)")
            && text.contains("`peer serve`"),
        "{text}"
    );
    assert!(!dave.share().join("notes.txt").exists());
    let out = dave.run(&["browse", "alice"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("alice: firewalled"), "{}", said(&out));
    // Bob reaches her all the same: she connects out to his port (a
    // reverse connection), and his summary says so.
    let text = ok(b.run(&["get", &b3(&notes)]));
    assert!(text.contains("from alice (reverse): "), "{text}");
    assert_eq!(fs::read(b.share().join("notes.txt")).unwrap(), notes);
    assert!(
        a_proc.logged("connected out to bob at https://127.0.0.1:") >= 1,
        "{}",
        a_proc.log_text()
    );
    let listing = ok(b.run(&["browse", "alice"]));
    assert!(listing.contains("notes.txt"), "{listing}");
    // His status says which way it went (hers is checked in relay.rs:
    // the control file names her advertised port, which is closed here).
    let status = ok(b.run(&["status"]));
    assert!(status.contains("path:      reached source "), "{status}");
    assert!(status.contains(" (reverse): "), "{status}");

    reverse_refusals(&b);
    eventually(Duration::from_secs(5), "the forged token logged", || {
        b_proc.logged("a reverse connection with a token not issued here: closed") == 1
    });
    let status: serde_json::Value =
        serde_json::from_str(&ok(b.run(&["status", "--json"]))).unwrap();
    assert_eq!(status["reachable"], true, "{status}");
    // She still downloads from him (he checks her certificate, not her port).
    ok(a.run(&["get", &b3(&songs)]));
    assert_eq!(fs::read(a.share().join("songs.txt")).unwrap(), songs);

    // reachable = false: listed firewalled, nothing tried.
    let c = tls_peer("carol", &d.invite, "reachable = false");
    fs::write(c.share().join("carols.txt"), b"la la la").unwrap();
    let _c_proc = c.serve();
    eventually(Duration::from_secs(15), "carol listed", || {
        b.sources_of(&["carols"], "carols.txt") == 1
    });
    assert_eq!(marks(&b, &["carols"]), vec![("carol".to_string(), true)]);
    assert_eq!(
        d.proc
            .logged("login: carol is firewalled: the peer says it cannot be reached"),
        1
    );
    // Carol cannot reach alice: both firewalled, and this directory has no
    // relay. She is told so, and nothing is written.
    let diary = unguessable(100_000, "alice's diary");
    fs::write(a.share().join("diary.txt"), &diary).unwrap();
    eventually(Duration::from_secs(15), "the diary listed", || {
        c.sources_of(&["diary"], "diary.txt") == 1
    });
    let out = c.run(&["get", &b3(&diary)]);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("this peer is firewalled too")
            && text.contains("this directory has no relay"),
        "{text}"
    );
    assert!(!c.share().join("diary.txt").exists());
}

/// What reaches `peer`'s reverse-connection side unasked is refused: a
/// reverse line with a token it did not issue is closed unanswered, and its
/// loopback proxy wants the control secret.
fn reverse_refusals(peer: &PeerSetup) {
    use std::io::{Read, Write};
    let control: serde_json::Value =
        serde_json::from_slice(&fs::read(peer.state().join("control.json")).unwrap()).unwrap();
    // Stored as `https://host:port#kp=...`.
    let addr = control["http_addr"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .split('#')
        .next()
        .unwrap()
        .to_string();
    let answer = |addr: &str, send: &[u8]| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(send).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    };
    let forged = format!("HUBSHARE-REVERSE {}\r\n", "0".repeat(32));
    assert_eq!(answer(&addr, forged.as_bytes()), "");
    let proxy = control["reverse_proxy"].as_str().expect("a reverse proxy");
    let kp = "ab".repeat(32);
    let asked = format!(
        "CONNECT x:1 HTTP/1.1\r\nProxy-Authorization: basic {}\r\n\r\n",
        hubshare::base64::encode(format!("{kp}:not-the-secret").as_bytes())
    );
    let got = answer(proxy, asked.as_bytes());
    assert!(got.starts_with("HTTP/1.1 407 "), "{got}");
}

#[test]
fn an_address_from_the_peers_own_socket_is_tried_and_listed_only_at_the_logins_address() {
    let d = start_server();
    let c = grpc(&d.addr);
    // A port that answers on loopback, advertised under a host the Login
    // did not come from (what a peer behind NAT knows of itself).
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = open.local_addr().unwrap().port();
    let login = |name: &str, addr: String, reach: pb::Reach| {
        c.login(&pb::LoginRequest {
            identity_key: key_of(name),
            http_addr: addr,
            reach,
            ..pb_login(name, &["minutes.txt"])
        })
    };
    let r = login(
        "alice",
        format!("http://192.0.2.5:{port}"),
        pb::Reach::REACH_AUTO,
    )
    .expect("an automatic address is tried where the Login came from");
    assert!(r.reachable);
    assert_eq!(r.http_addr, format!("http://127.0.0.1:{port}"));
    drop(open);
    // Nothing answers there now: listed, firewalled, at the Login's address.
    let r = login(
        "bob",
        format!("http://192.0.2.6:{port}"),
        pb::Reach::REACH_AUTO,
    )
    .expect("a firewalled peer logs in");
    assert!(!r.reachable);
    assert_eq!(r.http_addr, format!("http://127.0.0.1:{port}"));
    let mut sources: Vec<(String, String, bool)> = c
        .locate(&pb::LocateRequest {
            id: b3(b"minutes.txt"),
            ..Default::default()
        })
        .expect("locate")
        .sources
        .into_iter()
        .map(|s| (s.peer, s.http_addr, s.firewalled))
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        vec![
            ("alice".into(), format!("http://127.0.0.1:{port}"), false),
            ("bob".into(), format!("http://127.0.0.1:{port}"), true),
        ]
    );
    // A directory told not to connect back lists every peer as it says.
    let untried = start_directory("connect_back = false");
    let r = grpc(&untried.addr)
        .login(&pb::LoginRequest {
            identity_key: key_of("dave"),
            http_addr: format!("http://127.0.0.1:{port}"),
            ..pb_login("dave", &["minutes.txt"])
        })
        .expect("login");
    assert!(r.reachable);
    // An address set by hand on another host is still refused.
    let err = login(
        "carol",
        format!("http://192.0.2.7:{port}"),
        pb::Reach::REACH_CLAIMED,
    )
    .unwrap_err();
    assert!(
        format!("{err:?}").contains("is not this peer's own address"),
        "{err:?}"
    );
}
