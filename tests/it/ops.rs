//! What an operator sees: the directory's `/metrics` (parsed here as
//! Prometheus text) and status page on its optional HTTP port.

use std::fs;
use std::time::Duration;

use crate::support::*;

#[test]
fn the_directory_counts_what_it_did_and_shows_it() {
    let http = format!("127.0.0.1:{}", free_port());
    let server = start_directory(&format!("http_listen = \"{http}\"\n"));
    let before = scrape(&http);
    assert_eq!(calls(&before, "Login"), 0.0);
    assert_eq!(before["hubshare_directory_sessions"], 0.0);

    let alice = PeerSetup::new("alice", &server.addr, "");
    let content = noise(200_000, 5);
    fs::write(alice.share().join("atlas.bin"), &content).unwrap();
    let bob = PeerSetup::new("bob", &server.addr, "");
    let _a = alice.serve();
    let _b = bob.serve();
    eventually(Duration::from_secs(10), "both logged in", || {
        scrape(&http)["hubshare_directory_sessions"] == 2.0
    });
    // One change of alice's share: one Announce.
    fs::write(alice.share().join("atlas notes.txt"), b"notes").unwrap();
    eventually(Duration::from_secs(10), "the announce", || {
        calls(&scrape(&http), "Announce") == 1.0
    });
    // Three searches (one refused) and a download (which bob, serving,
    // then shares: a second Announce).
    for q in ["atlas", "notes", "ext:"] {
        let _ = bob.run(&["search", q]);
    }
    ok(bob.run(&["get", &b3(&content)]));

    let m = scrape(&http);
    let plain = scrape_plain(&http);
    for key in [
        "hubshare_directory_sessions",
        "hubshare_directory_search_duration_seconds_count",
    ] {
        assert_eq!(plain[key], m[key], "{key}");
    }
    assert_eq!(calls(&m, "Login"), 2.0);
    assert_eq!(calls(&m, "Search"), 2.0);
    assert_eq!(
        m["hubshare_directory_refused_total{call=\"Search\",reason=\"invalid_argument\"}"],
        1.0
    );
    assert!(
        calls(&m, "Locate") >= 1.0,
        "the download located its sources"
    );
    assert_eq!(m["hubshare_directory_search_duration_seconds_count"], 3.0);
    // bob now shares the downloaded file too: two files, two peers.
    eventually(Duration::from_secs(10), "bob's copy announced", || {
        let m = scrape(&http);
        m["hubshare_directory_files"] == 2.0 && calls(&m, "Announce") == 2.0
    });
    assert_eq!(scrape(&http)["hubshare_directory_sessions"], 2.0);

    // Each peer's own /metrics: alice sent the file once, whole; bob
    // shares it now.
    let peer_metrics = |p: &Proc| {
        let m = scrape(&p.addr);
        let plain = scrape_plain(&p.addr);
        assert_eq!(
            plain["hubshare_peer_bytes_sent_total"],
            m["hubshare_peer_bytes_sent_total"]
        );
        m
    };
    let a = peer_metrics(&_a);
    assert_eq!(a["hubshare_peer_bytes_sent_total"], content.len() as f64);
    assert!(a["hubshare_peer_files_served_total"] >= 1.0);
    assert_eq!(a["hubshare_peer_shared_files"], 2.0);
    // bob holds alice's one slot until his place lapses (queue.rs).
    assert!(a["hubshare_peer_uploads_running"] <= 1.0);
    assert_eq!(a["hubshare_peer_uploads_queued"], 0.0);
    let b = peer_metrics(&_b);
    assert_eq!(b["hubshare_peer_bytes_sent_total"], 0.0);
    assert_eq!(b["hubshare_peer_shared_files"], 1.0);
    assert_eq!(b["hubshare_peer_shared_bytes"], content.len() as f64);

    // The status page, for people.
    let (status, _, page) = raw_http(&http, "GET / HTTP/1.1", b"");
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<td id=\"peers\">2</td>") && page.contains("<td id=\"files\">2</td>"),
        "{page}"
    );
    assert!(page.contains("<td id=\"searches\">2</td>"), "{page}");
    let (status, _, _) = raw_http(&http, "GET /health HTTP/1.1", b"");
    assert_eq!(status, 200);
    let (status, _, _) = raw_http(&http, "GET /nothing HTTP/1.1", b"");
    assert_eq!(status, 404);
}

#[test]
fn the_status_port_is_off_unless_configured() {
    let server = start_server();
    assert_eq!(server.status_addr(), None);
    let on = start_directory("http_listen = \"127.0.0.1:0\"");
    let at = on.status_addr().expect("a status port when configured");
    let (status, _, _) = raw_http(&format!("http://{at}"), "GET /health HTTP/1.1", b"");
    assert_eq!(status, 200);
}

#[test]
fn bad_metrics_text_is_refused_by_the_parser() {
    // The parser the tests above rely on does fail.
    for bad in ["x\n", "bad-name 1\n", "a{b=\"c\" 1\n", "a nan?\n"] {
        assert!(
            std::panic::catch_unwind(|| parse_metrics(bad)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn log_lines_can_be_json_objects() {
    let mut cmd = std::process::Command::new(SERVER);
    cmd.args(["--no-tls", "--listen", "127.0.0.1:0"])
        .env("HUBSHARE_LOG_FORMAT", "json");
    let mut server = Proc::spawn(cmd);
    let alice = PeerSetup::new("alice", &server.addr, "");
    let mut a = alice.serve();
    eventually(Duration::from_secs(10), "alice's login logged", || {
        server.logged("login: alice") > 0
    });
    // Ctrl-C logs alice out: one line with her name and address.
    assert!(a.signal_and_wait("-INT").success());
    eventually(Duration::from_secs(10), "alice's logout logged", || {
        server.logged("logout: alice at http://127.0.0.1:") == 1
    });
    let _ = server.signal_and_wait("-INT");
    let lines = server.log_text();
    let mut objects = 0;
    for line in lines.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        for key in ["ts", "level", "target", "msg"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        objects += 1;
    }
    assert!(objects >= 2, "{lines}");
    assert!(lines
        .lines()
        .filter(|l| l.contains("login: alice"))
        .all(|l| l.starts_with('{')));
}

#[test]
fn a_serving_peer_counts_its_own_downloads() {
    let server = start_server();
    let content = noise(3 << 20, 8);
    // A source whose bytes are not the file's: its pieces fail verification.
    let _liar = fake_source(
        &server.addr,
        "aaa-liar",
        Fake {
            content: noise(3 << 20, 9),
            pieces: Some(piece_list_json(&content)),
            ..Fake::default()
        },
        &content,
        "film.mkv",
    );
    let alice = PeerSetup::new("alice", &server.addr, "");
    fs::write(alice.share().join("film.mkv"), &content).unwrap();
    let _a = alice.serve();
    let bob = PeerSetup::new("bob", &server.addr, "");
    let port = free_port();
    let text = fs::read_to_string(&bob.config).unwrap();
    fs::write(
        &bob.config,
        text.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        ),
    )
    .unwrap();
    eventually(Duration::from_secs(10), "two sources listed", || {
        bob.sources_of(&["film"], "film.mkv") == 2
    });
    // bob's menu (a serving peer) downloads it in the background.
    let mut menu = bob.open_menu();
    menu.send("3");
    menu.ask(&b3(&content), "queued transfer 1");
    eventually(Duration::from_secs(30), "the download done", || {
        menu.ask("10", "> ").contains("done     saved ")
    });
    let m = scrape(&format!("127.0.0.1:{port}"));
    assert_eq!(m["hubshare_peer_downloads_completed_total"], 1.0);
    assert_eq!(m["hubshare_peer_downloads_failed_total"], 0.0);
    assert_eq!(m["hubshare_peer_downloads_running"], 0.0);
    assert_eq!(
        m["hubshare_peer_download_bytes_received_total"],
        content.len() as f64
    );
    assert_eq!(
        m["hubshare_peer_download_sources_dropped_total"], 1.0,
        "the liar"
    );
    assert!(m["hubshare_peer_download_bad_pieces_total"] >= 1.0);
    assert_eq!(fs::read(bob.share().join("film.mkv")).unwrap(), content);
    menu.send("8");
    assert!(menu.wait().success());
}
