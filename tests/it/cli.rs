//! The command line as a person types it: flags anywhere, `-word` without
//! `--`, clear refusals at start, and a status that tells the truth.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn exclusions_need_no_double_dash_and_flags_may_follow_the_subcommand() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("annual report.pdf"), b"report").unwrap();
    fs::write(a.share().join("annual budget.pdf"), b"budget").unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "both listed", || {
        ok(b.run(&["search", "annual"])).contains("budget")
    });
    // `-budget` excludes; flags after the words and after the subcommand.
    let run = |args: &[&str]| {
        let out = Command::new(PEER).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let config = b.config.to_str().unwrap();
    let found = run(&[
        "search", "annual", "-budget", "--config", config, "--limit", "5",
    ]);
    assert!(found.contains("annual report.pdf"), "{found}");
    assert!(!found.contains("budget"), "{found}");
    // Filters alone: an exclusion, a size bound, or * for everything.
    let found = run(&["search", "-budget", "--config", config]);
    assert!(
        found.contains("annual report.pdf") && !found.contains("budget"),
        "{found}"
    );
    let found = run(&["search", "*", "--config", config]);
    assert!(
        found.contains("annual report.pdf") && found.contains("budget"),
        "{found}"
    );
    let found = run(&["search", "size>100", "--config", config]);
    assert!(found.contains("no files found"), "{found}");
    let listed = run(&["browse", "alice", "--config", config]);
    assert!(listed.contains("annual budget.pdf"), "{listed}");
    // Without --config it says which config it uses.
    let out = Command::new(PEER)
        .args(["status"])
        .current_dir(b.root.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("using config/peer1.toml"), "{said}");
}

#[test]
fn a_directory_written_as_a_url_is_refused_at_start() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let url = format!("http://{}", server.addr);
    let t = Instant::now();
    let err = fails(a.run(&["--directory", &url, "serve"]));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(err.contains("directory"), "{err}");
    assert!(
        err.contains(&format!("without http:// (here: \"{}\")", server.addr)),
        "{err}"
    );
}

#[test]
fn status_says_the_directory_is_unreachable_within_one_heartbeat() {
    let (mut server, _cfg) =
        start_server_with_config("listen = \"127.0.0.1:0\"\nlease_secs = 6\nheartbeat_secs = 1");
    let a = PeerSetup::new("alice", &server.addr, "");
    let _a = a.serve();
    eventually(Duration::from_secs(10), "online", || {
        ok(a.run(&["status"])).contains("(online)")
    });
    server.signal_and_wait("-KILL");
    let t = Instant::now();
    eventually(Duration::from_secs(4), "unreachable in status", || {
        ok(a.run(&["status"])).contains("directory unreachable")
    });
    eprintln!("status changed {:?} after the directory died", t.elapsed());
}

#[test]
fn a_port_in_use_is_reported_before_the_share_is_hashed() {
    let server = start_server();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("big.bin"), noise(20 << 20, 60)).unwrap();
    let err = fails(a.run(&["--listen", &port, "serve"]));
    assert!(err.contains(&port), "{err}");
    // Nothing was hashed: no hash cache was written.
    assert!(!a.state().join("hash-cache.json").exists(), "{err}");
}

#[test]
fn get_takes_a_number_of_the_last_listing_a_short_id_or_id_colon() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let files = [
        ("notes/alpha.txt", noise(10_000, 61)),
        ("notes/beta.txt", noise(20_000, 62)),
        ("gamma.txt", noise(30_000, 63)),
    ];
    for (path, bytes) in &files {
        fs::create_dir_all(a.share().join(path).parent().unwrap()).unwrap();
        fs::write(a.share().join(path), bytes).unwrap();
    }
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    // Nothing listed yet: a number says what to do.
    let err = fails(b.run(&["get", "1"]));
    assert!(
        err.contains("search or browse first, then give a row's number"),
        "{err}"
    );
    eventually(Duration::from_secs(10), "alice listed", || {
        ok(b.run(&["search", "alpha"])).contains("alpha.txt")
    });
    // By number of the last search.
    ok(b.run(&["get", "1"]));
    assert_eq!(
        fs::read(b.share().join("notes/alpha.txt")).unwrap(),
        files[0].1
    );
    // By number of a browse listing (rows in path order: gamma, alpha, beta).
    let listed = ok(b.run(&["browse", "alice"]));
    assert!(listed.contains("  3  "), "{listed}");
    ok(b.run(&["get", "3"]));
    assert_eq!(
        fs::read(b.share().join("notes/beta.txt")).unwrap(),
        files[1].1
    );
    // By the start of an id in the listing, and with id:.
    let gamma = b3(&files[2].1);
    ok(b.run(&["get", &gamma[..8]]));
    assert_eq!(fs::read(b.share().join("gamma.txt")).unwrap(), files[2].1);
    fs::remove_file(b.share().join("gamma.txt")).unwrap();
    ok(b.run(&["get", &format!("id:{gamma}")]));
    assert_eq!(fs::read(b.share().join("gamma.txt")).unwrap(), files[2].1);
    // What cannot be picked says why.
    let err = fails(b.run(&["get", "9"]));
    assert!(err.contains("has 3 rows; no number 9"), "{err}");
    let other = if gamma.starts_with("ffff") {
        "0000"
    } else {
        "ffff"
    };
    let err = fails(b.run(&["get", other]));
    assert!(
        err.contains(&format!("an id starting with {other}")),
        "{err}"
    );
}

#[test]
fn peers_lists_who_is_online_with_their_file_counts() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    for i in 0..3 {
        fs::write(a.share().join(format!("a{i}.txt")), format!("alice {i}")).unwrap();
    }
    let _a = a.serve();
    let c = PeerSetup::new("carol", &server.addr, "");
    fs::write(c.share().join("c.txt"), b"carol").unwrap();
    let carol = c.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    // (name, files, address) of each peer listed, from `peers --json`.
    let peers = || -> Vec<(String, u64, String)> {
        let doc: serde_json::Value =
            serde_json::from_str(&ok(b.run(&["peers", "--json"]))).unwrap();
        doc["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                (
                    text("name"),
                    p["files"].as_u64().unwrap_or(0),
                    text("http_addr"),
                )
            })
            .collect()
    };
    eventually(
        Duration::from_secs(10),
        "both listed with their files",
        || {
            let listed = peers();
            listed.iter().any(|p| p.0 == "alice" && p.1 == 3)
                && listed.iter().any(|p| p.0 == "carol" && p.1 == 1)
        },
    );
    let listed = peers();
    let carol_row = listed.iter().find(|p| p.0 == "carol").unwrap();
    assert_eq!(carol_row.2, carol.addr, "{listed:?}");
    // The table people read shows the same.
    let text = ok(b.run(&["peers"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with("carol") && l.contains(&carol.addr)),
        "{text}"
    );
    let first = ok(b.run(&["peers", "--limit", "1"]));
    assert!(
        first.contains("alice") && !first.contains("carol"),
        "{first}"
    );
    assert!(first.contains("(1 of 2 peers shown)"), "{first}");
    // The menu's item 9 lists them too (bob itself among them).
    let menu = b.menu(b"9\n8\n");
    assert!(menu.contains("alice") && menu.contains("carol"), "{menu}");
}

#[test]
fn json_output_for_scripts_and_exit_codes() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let report = noise(40_000, 64);
    fs::create_dir_all(a.share().join("docs")).unwrap();
    fs::write(a.share().join("docs/report.pdf"), &report).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    let _b = b.serve();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(b.run(&all))).expect("one JSON document")
    };
    let id = b3(&report);
    eventually(Duration::from_secs(10), "listed", || {
        json(&["search", "report"])["total"] == 1
    });
    let found = json(&["search", "report"]);
    assert_eq!(found["hits"][0]["id"], id.as_str());
    assert_eq!(found["hits"][0]["names"][0], "docs/report.pdf");
    assert_eq!(found["hits"][0]["sources"][0]["peer"], "alice");
    // No results: a success, with an empty list.
    let none = json(&["search", "nothing-like-this"]);
    assert_eq!(
        (
            none["total"].as_u64(),
            none["hits"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let listed = json(&["browse", "alice"]);
    assert_eq!(listed["files"][0]["name"], "docs/report.pdf");
    let peers = json(&["peers"]);
    assert_eq!(peers["total"], 2);
    let status = json(&["status"]);
    assert_eq!(status["name"], "bob");
    // get: one JSON line per file.
    let out = ok(b.run(&["get", &id, "--json"]));
    let line: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(line["event"], "saved");
    assert_eq!(line["size"], 40_000);
    assert_eq!(line["sources"][0]["peer"], "alice");
    assert_eq!(fs::read(line["path"].as_str().unwrap()).unwrap(), report);
    // Exit codes: 1 for a failure, 2 for a usage mistake.
    assert_eq!(b.run(&["get", "nonsense"]).status.code(), Some(1));
    assert_eq!(b.run(&["search"]).status.code(), Some(2));
    assert_eq!(b.run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_source_that_answers_404_is_dropped_at_once_not_retried() {
    let server = start_server();
    let content = noise(3 << 20, 65);
    let id = b3(&content);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let _gone = fake_source(
        &server.addr,
        "aaa-gone",
        Fake {
            content: content.clone(),
            pieces: Some(piece_list_json(&content)),
            bytes_gone: Some(asked.clone()),
            ..Fake::default()
        },
        &content,
        "data.bin",
    );
    // The honest source sends at 1 MiB/s, so the 404s come long before
    // the download could end.
    let honest = sharing_peers(
        &server.addr,
        &["zed"],
        "upload_rate_limit = 1048576",
        "data.bin",
        &content,
    );
    let _z = honest[0].serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "two sources", || {
        b.sources_of(&["data"], "data.bin") == 2
    });
    let out = ok(b.run(&["get", &id]));
    assert!(out.contains("dropped aaa-gone: answered 404"), "{out}");
    assert!(!out.contains("failures in a row"), "{out}");
    assert_eq!(fs::read(b.share().join("data.bin")).unwrap(), content);
    // One request per connection at most: none asked again after a 404.
    let n = asked.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=4).contains(&n), "asked {n} times");
}

#[test]
fn the_menu_keeps_log_lines_off_the_terminal() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("one.txt"), b"one").unwrap();
    // List my files, quit.
    let (out, err) = a.menu_with_stderr(b"5\n8\n");
    assert!(out.contains("one.txt"), "{out}");
    let log = a.state().join("peer.log");
    assert!(
        err.contains(&format!("logging to {}", log.display())),
        "{err}"
    );
    assert!(!err.contains("INFO"), "{err}");
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("INFO") && logged.contains("sharing 1 files"),
        "{logged}"
    );
}

#[test]
fn errors_are_said_once_in_words_not_debug_dumps() {
    let server = start_server();
    let b = PeerSetup::new("bob", &server.addr, "");
    // Browsing something that is not a peer (the directory's gRPC port).
    let err = fails(b.run(&["browse", &server.addr]));
    assert!(err.contains("did not answer in HTTP/1.1"), "{err}");
    assert!(!err.contains("[0, 0"), "{err}");
    assert_eq!(err.matches("/files").count(), 1, "{err}");
    // A port nobody listens on.
    let closed = format!("127.0.0.1:{}", free_port());
    let err = fails(b.run(&["browse", &closed]));
    assert!(err.contains("cannot connect"), "{err}");
    assert_eq!(err.matches("/files").count(), 1, "{err}");
    // A second directory on the same port: no `BindFail(...)`.
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(SERVER)
        .args(["--no-tls", "--listen", &server.addr])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {}", server.addr)),
        "{err}"
    );
    assert!(!err.contains("BindFail"), "{err}");
}

#[test]
fn the_menu_runs_downloads_in_the_background_stops_and_resumes_them() {
    let server = start_server();
    // A slow source (2 MiB/s) of a 6 MiB file, and a quick small one.
    let a = PeerSetup::new("alice", &server.addr, "upload_rate_limit = 2097152");
    let big = noise(6 << 20, 66);
    fs::write(a.share().join("big.iso"), &big).unwrap();
    let _a = a.serve();
    let c = PeerSetup::new("carol", &server.addr, "");
    let small = noise(50_000, 67);
    fs::write(c.share().join("small.txt"), &small).unwrap();
    let _c = c.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "both listed", || {
        ok(b.run(&["peers"])).contains("carol")
    });
    let mut menu = b.open_menu();
    // Start the big one; the prompt answers while it runs.
    menu.send("3");
    menu.ask(&b3(&big), "queued transfer 1");
    eventually(Duration::from_secs(20), "verified bytes arriving", || {
        let listed = menu.ask("10", "> ");
        listed.contains("running  ") && !listed.contains("running  0 B of")
    });
    // Stop it: the verified part stays.
    menu.send("11");
    menu.ask("1", "stopped; what is verified is kept");
    let listed = menu.ask("10", "> ");
    assert!(listed.contains("stopped"), "{listed}");
    assert!(b.share().join("big.iso.part").exists(), "{listed}");
    assert!(!b.share().join("big.iso").exists());
    // Another one, while the first is stopped.
    menu.send("3");
    menu.ask(&b3(&small), "queued transfer 2");
    eventually(Duration::from_secs(20), "the small one done", || {
        let listed = menu.ask("10", "> ");
        listed
            .lines()
            .any(|l| l.starts_with("  2  ") && l.contains("done     saved"))
    });
    assert_eq!(fs::read(b.share().join("small.txt")).unwrap(), small);
    // Resume the first: it finishes from its part.
    menu.send("12");
    menu.ask("1", "resumed");
    eventually(Duration::from_secs(30), "the big one done", || {
        let listed = menu.ask("10", "> ");
        listed
            .lines()
            .any(|l| l.starts_with("  1  ") && l.contains("done"))
    });
    assert_eq!(fs::read(b.share().join("big.iso")).unwrap(), big);
    // Quit: clean exit, logged out.
    menu.send("8");
    assert!(menu.wait().success());
    let peers = ok(a.run(&["peers"]));
    assert!(!peers.contains("bob"), "{peers}");
}

#[test]
fn logout_and_login_again_from_the_command_line() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("x.txt"), b"x").unwrap();
    let _a = a.serve();
    let listed = || ok(a.run(&["peers"])).contains("alice");
    eventually(Duration::from_secs(10), "listed", listed);
    assert!(ok(a.run(&["logout"])).contains("logged out"));
    assert!(!listed());
    assert!(ok(a.run(&["status"])).contains("(logged out)"));
    assert!(ok(a.run(&["login"])).contains("logged in"));
    eventually(
        Duration::from_secs(10),
        "listed again with its file",
        || ok(a.run(&["search", "x"])).contains("x.txt"),
    );
    assert!(ok(a.run(&["status"])).contains("(online)"));
}
