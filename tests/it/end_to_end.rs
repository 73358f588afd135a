//! A real file moves from one peer to another, found through the directory:
//! the whole system as a user drives it, through the `server` and `peer`
//! binaries.

use std::fs;
use std::time::Duration;

use crate::support::*;

/// The id of the first result of `query`, as `peer` finds it (`--json`).
fn first_id(peer: &PeerSetup, query: &str) -> Option<String> {
    let found: serde_json::Value =
        serde_json::from_str(&ok(peer.run(&["--json", "search", query]))).ok()?;
    found["hits"][0]["id"].as_str().map(str::to_string)
}

#[test]
fn a_file_is_found_downloaded_uploaded_and_withdrawn() {
    let server = start_server();

    // A shares a 5 MiB random file and refuses uploads; B accepts them.
    let a = PeerSetup::new("alice", &server.addr, "accept_uploads = false");
    let original = noise(5 << 20, 1);
    fs::write(a.share().join("Holiday Photos 2026.bin"), &original).unwrap();
    fs::write(
        a.share().join("alice-only draft.txt"),
        b"only alice has this",
    )
    .unwrap();
    let b = PeerSetup::new(
        "bob",
        &server.addr,
        "accept_uploads = true\nmax_upload_bytes = 1000000",
    );
    let mut a_proc = a.serve();
    let mut b_proc = b.serve();

    // B searches by one word of the name, case-insensitive, and finds A.
    let mut table = String::new();
    eventually(
        Duration::from_secs(10),
        "alice's file is searchable",
        || {
            table = ok(b.run(&["search", "HOLIDAY"]));
            table.contains("Holiday Photos 2026.bin")
        },
    );
    let id = first_id(&b, "HOLIDAY").expect("a result");
    assert_eq!(id, b3(&original));
    assert_eq!(b.sources_of(&["HOLIDAY"], "Holiday Photos 2026.bin"), 1);

    // B downloads it: same bytes, same id, no part file left behind.
    let saved = ok(b.run(&["get", &id]));
    assert!(saved.contains("from alice (direct): 5.0 MiB"), "{saved}");
    let got = fs::read(b.share().join("Holiday Photos 2026.bin")).unwrap();
    assert_eq!(got.len(), original.len());
    assert!(got == original, "downloaded bytes differ");
    assert_eq!(b3(&got), id);
    assert_eq!(tree(&b.share()), vec!["Holiday Photos 2026.bin"]);

    // B's running peer was told to share what it fetched: two sources now.
    eventually(Duration::from_secs(10), "bob shares the download", || {
        b.sources_of(&["holiday"], "Holiday Photos 2026.bin") == 2
    });

    // Fetching it again overwrites nothing.
    let again = ok(b.run(&["get", &id]));
    assert!(again.contains("already here"), "{again}");
    assert_eq!(tree(&b.share()), vec!["Holiday Photos 2026.bin"]);

    // Upload to A is refused (403); nothing lands there.
    let note = b.root.path().join("meeting notes.txt");
    fs::write(&note, b"agenda: ship it").unwrap();
    let err = fails(b.run(&["upload", note.to_str().unwrap(), "--to", "alice"]));
    assert!(
        err.contains("403") && err.contains("does not accept uploads"),
        "{err}"
    );
    assert_eq!(
        tree(&a.share()),
        vec!["Holiday Photos 2026.bin", "alice-only draft.txt"]
    );

    // Upload to B lands, is verified, and becomes searchable with B as source.
    let sent = ok(a.run(&["upload", note.to_str().unwrap(), "--to", "bob"]));
    assert!(sent.contains("meeting notes.txt"), "{sent}");
    assert_eq!(
        fs::read(b.share().join("meeting notes.txt")).unwrap(),
        b"agenda: ship it"
    );
    assert_eq!(
        first_id(&a, "meeting").as_deref(),
        Some(b3(b"agenda: ship it").as_str())
    );
    // An upload over B's cap is refused before the bytes are sent.
    let big = a.root.path().join("big.bin");
    fs::write(&big, noise(1_000_001, 2)).unwrap();
    let err = fails(a.run(&["upload", big.to_str().unwrap(), "--to", "bob"]));
    assert!(err.contains("413"), "{err}");
    assert!(!b.share().join("big.bin").exists());

    // A logs out: its own file is gone from search, only B's copy of the
    // shared one is left.
    assert!(ok(b.run(&["search", "draft"])).contains("alice-only draft.txt"));
    let out = ok(a.run(&["logout"]));
    assert!(out.contains("logged out"), "{out}");
    assert_eq!(ok(b.run(&["search", "draft"])).trim(), "no files found");
    assert_eq!(b.sources_of(&["holiday"], "Holiday Photos 2026.bin"), 1);
    let status = ok(a.run(&["status"]));
    assert!(status.contains("(logged out)"), "{status}");

    // SIGINT to B: it logs out before exiting, so its files vanish at once
    // (well before any lease could lapse).
    let code = b_proc.signal_and_wait("-INT");
    assert!(code.success(), "peer exited with {code}");
    assert_eq!(ok(a.run(&["search", "holiday"])).trim(), "no files found");
    assert_eq!(ok(a.run(&["search", "meeting"])).trim(), "no files found");
    // Its control file is gone with it.
    assert!(!b.root.path().join("state/control.json").exists());

    let code = a_proc.signal_and_wait("-TERM");
    assert!(code.success(), "peer exited with {code}");
}

#[test]
fn a_download_with_no_source_fails_clearly_and_leaves_nothing() {
    let server = start_server();
    let b = PeerSetup::new("bob", &server.addr, "");
    let id = b3(b"nobody has this");
    let err = fails(b.run(&["get", &id]));
    assert!(err.contains("no online peer shares"), "{err}");
    let err = fails(b.run(&["get", "not-an-id"]));
    assert!(err.contains("64 hex digits"), "{err}");
    assert!(tree(&b.share()).is_empty());
}

#[test]
fn the_menu_searches_downloads_and_lists_from_standard_input() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let content = noise(300_000, 3);
    fs::write(a.share().join("Quarterly Report.pdf"), &content).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice is listed", || {
        ok(b.run(&["search", "report"])).contains("Quarterly")
    });

    // search, download result 1 (in the background), list transfers until
    // it is done, a bad choice, list my files, quit
    let mut menu = b.open_menu();
    menu.send("2");
    menu.ask("quarterly", "Quarterly Report.pdf");
    menu.send("3");
    menu.ask("1", "queued transfer 1");
    eventually(Duration::from_secs(20), "the download done", || {
        menu.ask("10", "> ").contains("done     saved ")
    });
    menu.ask("42", "unknown choice \"42\"");
    let text = menu.ask("5", "> ");
    assert!(menu.wait().success());
    assert_eq!(
        fs::read(b.share().join("Quarterly Report.pdf")).unwrap(),
        content
    );
    // The listing after the download shows it with its id.
    assert!(text.contains(&b3(&content)[..16]), "{text}");
}

#[test]
fn a_second_peer_on_the_same_state_folder_refuses_to_start() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let _first = a.serve();
    let err = fails(a.run(&["serve"]));
    assert!(err.contains("already running"), "{err}");
    // The first one is untouched and still answers its control.
    assert!(ok(a.run(&["status"])).contains("online"));
}

#[test]
fn a_lone_source_sending_wrong_bytes_leaves_nothing_and_says_so() {
    let server = start_server();
    let real = noise(1_000_000, 4);
    let id = b3(&real);
    // The right piece list (so the liar is believed at first), wrong bytes.
    let _fake = fake_source(
        &server.addr,
        "liar",
        Fake {
            content: noise(1_000_000, 5),
            pieces: Some(piece_list_json(&real)),
            cut_after: None,
            trickle: None,
            ..Fake::default()
        },
        &real,
        "real.bin",
    );

    let b = PeerSetup::new("bob", &server.addr, "");
    let err = fails(b.run(&["get", &id]));
    assert!(err.contains("no source left"), "{err}");
    assert!(
        err.contains("dropped liar") && err.contains("failed verification"),
        "{err}"
    );
    // Not one byte was verified, so nothing at all is left behind, and the
    // message does not say a part was kept.
    assert!(
        err.contains("nothing was verified, so nothing is kept"),
        "{err}"
    );
    assert!(!err.contains(".part"), "{err}");
    assert!(
        tree(&b.share()).is_empty(),
        "left behind: {:?}",
        tree(&b.share())
    );
}

#[test]
fn a_source_that_breaks_off_is_dropped_and_the_others_finish() {
    let server = start_server();
    let content = noise(3 << 20, 6);
    let id = b3(&content);
    // It sends 1000 bytes of every piece and hangs up.
    let _broken = fake_source(
        &server.addr,
        "aaa-broken",
        Fake {
            content: content.clone(),
            pieces: Some(piece_list_json(&content)),
            cut_after: Some(1000),
            trickle: None,
            ..Fake::default()
        },
        &content,
        "movie.mkv",
    );
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("movie.mkv"), &content).unwrap();
    let _a = a.serve();

    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "two sources listed", || {
        b.sources_of(&["movie"], "movie.mkv") == 2
    });
    let out = ok(b.run(&["get", &id]));
    // Every piece came from alice; the broken source's scraps were discarded.
    assert!(out.contains("from alice (direct): 3.0 MiB"), "{out}");
    assert!(!out.contains("from aaa-broken"), "{out}");
    let got = fs::read(b.share().join("movie.mkv")).unwrap();
    assert!(got == content, "downloaded bytes differ");
    assert_eq!(tree(&b.share()), vec!["movie.mkv"]);
}

#[test]
fn an_empty_file_is_shared_and_fetched() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("empty.txt"), b"").unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    let id = b3(b"");
    eventually(Duration::from_secs(10), "empty file listed", || {
        ok(b.run(&["search", "empty"])).contains(&id[..16])
    });
    ok(b.run(&["get", &id]));
    assert_eq!(fs::read(b.share().join("empty.txt")).unwrap(), b"");
    assert_eq!(tree(&b.share()), vec!["empty.txt"]);
}
