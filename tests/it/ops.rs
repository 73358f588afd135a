//! What an operator sees: the directory's `/metrics` (parsed here as
//! Prometheus text) and status page on its optional HTTP port.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use crate::support::*;

/// The samples of a Prometheus text page: `name{labels}` -> value. Fails
/// on a line that is not a comment, a blank or `name[{..}] value`.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "bad labels in {line:?}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(key.to_string(), value);
    }
    samples
}

/// `/metrics` as Prometheus asks for it (OpenMetrics, ending in `# EOF`).
fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, headers, body) = raw_http(
        addr,
        "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        b"",
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics page ends with # EOF"
    );
    parse_metrics(&text)
}

/// `/metrics` as `curl` gets it: Prometheus text 0.0.4, the same samples,
/// each counter's HELP and TYPE naming its `_total` samples.
fn scrape_plain(addr: &str) -> HashMap<String, f64> {
    let (status, headers, body) = raw_http(addr, "GET /metrics HTTP/1.1", b"");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
    {
        let name = line.split(' ').nth(2).unwrap();
        assert!(name.ends_with("_total"), "{line}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    parse_metrics(&text)
}

fn calls(m: &HashMap<String, f64>, call: &str) -> f64 {
    m.get(&format!(
        "hubshare_directory_calls_total{{call=\"{call}\"}}"
    ))
    .copied()
    .unwrap_or(0.0)
}

#[test]
fn the_directory_counts_what_it_did_and_shows_it() {
    let http = format!("127.0.0.1:{}", free_port());
    let (server, _cfg) = start_server_with_config(&format!(
        "listen = \"127.0.0.1:0\"\nhttp_listen = \"{http}\"\n"
    ));
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
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.logged("status page on"), 0);
    assert_eq!(server.logged("metrics"), 0);
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
    cmd.args(["--listen", "127.0.0.1:0"])
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
        ok(bob.run(&["search", "film"])).contains(" 2  film.mkv")
    });
    // bob's menu (a serving peer) downloads it in the background.
    let mut menu = bob.open_menu();
    menu.send("3");
    menu.ask(&b3(&content), "started transfer 1");
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
