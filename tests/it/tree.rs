//! A share is a folder tree: paths are announced, searched, listed and
//! recreated by downloads, never outside the download folder.

use std::fs;
use std::time::Duration;

use crate::support::*;

#[test]
fn the_same_name_in_two_folders_is_two_paths_found_by_folder_and_fetched_in_place() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let (one, two) = (noise(300_000, 41), noise(5_000, 42));
    fs::create_dir_all(a.share().join("music/a")).unwrap();
    fs::create_dir_all(a.share().join("music/b")).unwrap();
    fs::write(a.share().join("music/a/cover-notes.txt"), &one).unwrap();
    fs::write(a.share().join("music/b/cover-notes.txt"), &two).unwrap();
    fs::write(a.share().join("So long... and thanks.txt"), b"fish").unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "both paths listed", || {
        let found = ok(b.run(&["search", "music"]));
        found.contains("music/a/cover-notes.txt") && found.contains("music/b/cover-notes.txt")
    });
    // A word of a folder finds what is inside; a name with dots is shared.
    let found = ok(b.run(&["search", "b", "cover"]));
    assert!(found.contains("music/b/cover-notes.txt"), "{found}");
    assert!(ok(b.run(&["search", "thanks"])).contains("So long... and thanks.txt"));
    // Browsing lists the paths.
    let listed = ok(b.run(&["browse", "alice"]));
    assert!(listed.contains("music/a/cover-notes.txt"), "{listed}");
    // Both are fetched into the same tree, with their own bytes.
    ok(b.run(&["get", &b3(&one)]));
    ok(b.run(&["get", &b3(&two)]));
    assert_eq!(
        fs::read(b.share().join("music/a/cover-notes.txt")).unwrap(),
        one
    );
    assert_eq!(
        fs::read(b.share().join("music/b/cover-notes.txt")).unwrap(),
        two
    );
    assert_eq!(
        tree(&b.share()),
        vec!["music/a/cover-notes.txt", "music/b/cover-notes.txt"]
    );
}

#[test]
fn the_same_bytes_at_two_paths_are_listed_found_and_fetched_under_both() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let notes = noise(20_000, 46);
    for folder in ["music/a", "music/b"] {
        fs::create_dir_all(a.share().join(folder)).unwrap();
        fs::write(a.share().join(folder).join("cover-notes.txt"), &notes).unwrap();
    }
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    let id = b3(&notes);
    // One file, one source, both names; a word of either folder finds it.
    eventually(Duration::from_secs(10), "both names listed", || {
        let found = ok(b.run(&["search", &id]));
        found.contains("music/a/cover-notes.txt | music/b/cover-notes.txt")
    });
    for q in [["a", "cover"], ["b", "cover"]] {
        let found = ok(b.run(&["search", q[0], q[1]]));
        assert_eq!(found.matches(&id[..16]).count(), 1, "{found}");
        assert!(found.contains("music/b/cover-notes.txt"), "{found}");
    }
    let listed = ok(b.run(&["browse", "alice"]));
    assert_eq!(listed.matches(&id[..16]).count(), 2, "{listed}");
    // A folder fetch recreates both paths, each with the bytes.
    ok(b.run(&["get", "alice:music"]));
    assert_eq!(
        tree(&b.share()),
        vec!["music/a/cover-notes.txt", "music/b/cover-notes.txt"]
    );
    for folder in ["music/a", "music/b"] {
        assert_eq!(
            fs::read(b.share().join(folder).join("cover-notes.txt")).unwrap(),
            notes
        );
    }
    // One copy removed: the other is still shared, the removed path is not.
    fs::remove_file(a.share().join("music/a/cover-notes.txt")).unwrap();
    eventually(Duration::from_secs(10), "only music/b listed", || {
        let found = ok(b.run(&["search", &id]));
        found.contains("music/b/cover-notes.txt") && !found.contains("music/a/")
    });
    assert!(ok(b.run(&["search", "a", "cover"])).contains("no files found"));
}

#[test]
fn an_upload_lands_under_its_path_and_never_through_a_link() {
    let server = start_server();
    let b = PeerSetup::new("bob", &server.addr, "accept_uploads = true");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), b.share().join("linked")).unwrap();
    let bob = b.serve();
    let a = PeerSetup::new("alice", &server.addr, "");
    let song = noise(70_000, 48);
    let file = a.root.path().join("song.ogg");
    fs::write(&file, &song).unwrap();
    let file = file.to_str().unwrap();
    // Through the subcommand (the path percent-encoded as one segment).
    let sent = ok(a.run(&[
        "upload",
        file,
        "--to",
        "bob",
        "--name",
        "music/new/song.ogg",
    ]));
    assert!(sent.contains("music/new/song.ogg"), "{sent}");
    assert_eq!(
        fs::read(b.share().join("music/new/song.ogg")).unwrap(),
        song
    );
    // With literal slashes.
    let (status, _, body) = raw_http(
        &bob.addr,
        "PUT /inbox/music/other/copy.ogg HTTP/1.1\r\nContent-Length: 5",
        b"hello",
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        fs::read(b.share().join("music/other/copy.ogg")).unwrap(),
        b"hello"
    );
    // Shared under their paths, found by a folder word.
    eventually(Duration::from_secs(10), "the upload searchable", || {
        ok(a.run(&["search", "new", "song"])).contains("music/new/song.ogg")
    });
    // A folder on the path that is a link: refused, nothing behind it.
    let refused = fails(a.run(&["upload", file, "--to", "bob", "--name", "linked/song.ogg"]));
    assert!(refused.contains("409"), "{refused}");
    assert!(refused.contains("is a file or a link"), "{refused}");
    assert!(!refused.contains(b.share().to_str().unwrap()), "{refused}");
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
    // A bad path is refused before anything is sent.
    let refused = fails(a.run(&["upload", file, "--to", "bob", "--name", "a/../../x"]));
    assert!(
        refused.contains("..") || refused.contains("invalid"),
        "{refused}"
    );
    assert_eq!(
        tree(&b.share()),
        vec!["music/new/song.ogg", "music/other/copy.ogg"]
    );
}

#[test]
fn hostile_paths_from_the_directory_write_nothing_outside_the_download_folder() {
    let server = start_server();
    let content = noise(100_000, 43);
    let b = PeerSetup::new("bob", &server.addr, "");
    // A link in the download folder must not be followed either.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), b.share().join("linked")).unwrap();
    let c = grpc(&server.addr);
    for (i, bad) in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a\\..\\b",
        "a/\0/b",
        &vec!["d"; 40].join("/"),
    ]
    .iter()
    .enumerate()
    {
        let login = |name: &str, other_names: Vec<String>| {
            c.login(&hubshare::proto::directory::LoginRequest {
                name: format!("evil{i}"),
                http_addr: "http://127.0.0.1:9".into(),
                identity_key: key_of(&format!("evil{i}")),
                files: vec![hubshare::proto::directory::SharedFile {
                    id: b3(&content),
                    size: content.len() as u64,
                    name: name.to_string(),
                    other_names: other_names.into(),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            })
        };
        assert!(
            login(bad, vec![]).is_err(),
            "{bad:?} accepted by the directory"
        );
        // Nor as a further name of a file with a good one.
        let refused = login("fine.bin", vec!["also.bin".to_string(), bad.to_string()]);
        assert!(refused.is_err(), "{bad:?} accepted as a further name");
    }
    // A source sharing under a path through the link: the folder is not
    // entered, and the file goes nowhere.
    let _fake = fake_source(
        &server.addr,
        "linker",
        Fake {
            content: content.clone(),
            ..Fake::default()
        },
        &content,
        "linked/escape.bin",
    );
    let err = fails(b.run(&["get", &b3(&content)]));
    assert!(err.contains("not a folder"), "{err}");
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn a_watched_share_is_current_within_seconds_without_periodic_rescans() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "rescan_secs = 0\nsettle_secs = 1");
    fs::write(a.share().join("served.bin"), noise(300_000, 47)).unwrap();
    fs::write(a.share().join("spare.bin"), noise(1000, 48)).unwrap();
    // (With the watcher's thread at debug: rescans that change nothing show.)
    let alice = a.serve_logging("info,hubshare::peer::watch=debug");
    let b = PeerSetup::new("bob", &server.addr, "");
    let content = noise(50_000, 44);
    let id = b3(&content);
    let search = |q: &str| ok(b.run(&["search", q]));
    // Written just before the start, so held back by the first scan: shared
    // once it has settled, with nothing else happening in the folder.
    eventually(
        Duration::from_secs(1 + 2),
        "the held-back file searchable",
        || search("served").contains("served.bin"),
    );
    // Copied in (into a new folder): searchable soon after it settles.
    fs::create_dir_all(a.share().join("new/inbox")).unwrap();
    fs::write(a.share().join("new/inbox/fresh.bin"), &content).unwrap();
    let t = std::time::Instant::now();
    eventually(
        Duration::from_secs(3 + 2),
        "the new file searchable",
        || search("fresh").contains("new/inbox/fresh.bin"),
    );
    eprintln!("new file searchable after {:?}", t.elapsed());
    // Renamed: only the new path is listed.
    fs::rename(
        a.share().join("new/inbox/fresh.bin"),
        a.share().join("new/renamed.bin"),
    )
    .unwrap();
    eventually(Duration::from_secs(5), "the new path only", || {
        let found = search(&id);
        found.contains("new/renamed.bin") && !found.contains("fresh.bin")
    });
    // Removed: gone from search as fast.
    fs::remove_file(a.share().join("new/renamed.bin")).unwrap();
    eventually(Duration::from_secs(5), "the file gone", || {
        search(&id).contains("no files found")
    });
    // Each of those was a rescan of the changed paths only; serving a file
    // (reading it, its piece list) is no change and starts none. The
    // removal's rescan is logged once it is done:
    let removal = "rescan of 1 changed path(s): 0 added or renamed, 1 removed";
    eventually(
        Duration::from_secs(5),
        "the removal's rescan logged",
        || alice.logged(removal) >= 1,
    );
    let (removals, rescans) = (alice.logged(removal), alice.logged("rescan of"));
    assert!(alice.logged("changed path(s)") >= 3, "{}", alice.log_text());
    let served = b3(&noise(300_000, 47));
    for _ in 0..3 {
        let (status, _, body) =
            raw_http(&alice.addr, &format!("GET /files/{served} HTTP/1.1"), b"");
        assert_eq!((status, body.len()), (200, 300_000));
    }
    let (status, _, _) = raw_http(
        &alice.addr,
        &format!("GET /files/{served}/pieces HTTP/1.1"),
        b"",
    );
    assert_eq!(status, 200);
    // Then one real change, a removal (never held back): its rescan comes
    // after any the reads would have started, and is the only one since,
    // of its one path.
    assert!(search("spare").contains("spare.bin"));
    fs::remove_file(a.share().join("spare.bin")).unwrap();
    eventually(
        Duration::from_secs(5),
        "the spare's removal rescanned",
        || alice.logged(removal) == removals + 1,
    );
    assert_eq!(
        alice.logged("rescan of"),
        rescans + 1,
        "{}",
        alice.log_text()
    );
}

#[test]
fn a_second_get_of_a_held_file_copies_nothing() {
    let server = start_server();
    let content = noise(40_000, 45);
    let id = b3(&content);
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("triggers.txt"), &content).unwrap();
    let _a = a.serve();
    // Bob already holds it under another name, and his peer has hashed it.
    let b = PeerSetup::new("bob", &server.addr, "");
    fs::create_dir_all(b.share().join("notes")).unwrap();
    fs::write(b.share().join("notes/old triggers.txt"), &content).unwrap();
    let bob = b.serve();
    eventually(Duration::from_secs(10), "both listed", || {
        b.sources_of(&[&id], "") == 2
    });
    drop(bob);
    for _ in 0..2 {
        let out = ok(b.run(&["get", &id]));
        assert!(
            out.contains("already here") && out.contains("old triggers.txt"),
            "{out}"
        );
    }
    assert_eq!(tree(&b.share()), vec!["notes/old triggers.txt"]);
    // Asked for a copy under another name, it makes one.
    let out = ok(b.run(&["get", &id, "--copy", "--name", "copies/triggers.txt"]));
    assert!(out.contains("saved"), "{out}");
    assert_eq!(
        tree(&b.share()),
        vec!["copies/triggers.txt", "notes/old triggers.txt"]
    );
    assert_eq!(
        fs::read(b.share().join("copies/triggers.txt")).unwrap(),
        content
    );
}

#[test]
fn a_folder_of_fifty_files_is_fetched_into_the_same_tree_and_verified() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let mut files = Vec::new();
    for i in 0..50 {
        let path = format!("albums/{}/track {i:02}.ogg", ["rock", "jazz/live"][i % 2]);
        let bytes = noise(1_000 + i * 9_000, 100 + i as u64);
        fs::create_dir_all(a.share().join(&path).parent().unwrap()).unwrap();
        fs::write(a.share().join(&path), &bytes).unwrap();
        files.push((path, bytes));
    }
    fs::write(a.share().join("elsewhere.txt"), b"not asked for").unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "all listed", || {
        ok(b.run(&["search", "albums", "--limit", "100"]))
            .lines()
            .count()
            == 51
    });
    let out = ok(b.run(&["get", "alice:albums"]));
    assert!(out.contains("50 file(s) under alice:albums"), "{out}");
    for (path, bytes) in &files {
        assert_eq!(&fs::read(b.share().join(path)).unwrap(), bytes, "{path}");
    }
    let mut want: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    want.sort();
    assert_eq!(tree(&b.share()), want);
    // Again: everything is already here, nothing is fetched.
    let again = ok(b.run(&["get", "alice:albums/jazz"]));
    assert!(again.contains("25 file(s)"), "{again}");
    assert!(!again.contains("saved"), "{again}");
}

#[test]
fn hostile_paths_in_a_peers_listing_write_nothing_outside_the_download_folder() {
    let server = start_server();
    let content = noise(30_000, 46);
    let id = b3(&content);
    let entry = |name: &str| serde_json::json!({"id": id, "name": name, "size": content.len()});
    let listing = serde_json::Value::Array(
        [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "a\\..\\b",
            "a/\u{0}/b",
            &vec!["d"; 40].join("/"),
            "ok/file.bin",
        ]
        .iter()
        .map(|n| entry(n))
        .collect(),
    );
    let _fake = fake_source(
        &server.addr,
        "evil",
        Fake {
            content: content.clone(),
            listing: Some(listing.to_string()),
            ..Fake::default()
        },
        &content,
        "ok/file.bin",
    );
    let b = PeerSetup::new("bob", &server.addr, "");
    let out = b.run(&["get", "evil:"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("6 of 7 file(s) failed")
            || String::from_utf8_lossy(&out.stderr).contains("6 of 7"),
        "{text}"
    );
    assert_eq!(text.matches("invalid shared path").count(), 6, "{text}");
    assert_eq!(tree(&b.share()), vec!["ok/file.bin"]);
    let mut around: Vec<String> = fs::read_dir(b.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    around.sort();
    assert_eq!(around, vec!["peer.toml", "share"]);
}

#[test]
fn the_menu_fetches_a_folder_from_a_browse_listing() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let files = [
        ("albums/rock/one.txt", noise(10_000, 50)),
        ("albums/rock/live/two.txt", noise(20_000, 51)),
        ("albums/jazz/three.txt", noise(30_000, 52)),
    ];
    for (path, bytes) in &files {
        fs::create_dir_all(a.share().join(path).parent().unwrap()).unwrap();
        fs::write(a.share().join(path), bytes).unwrap();
    }
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice is listed", || {
        ok(b.run(&["search", "albums"])).contains("three.txt")
    });
    // browse alice, download one of her folders (queued as its files),
    // see them done, list my files, quit
    let mut menu = b.open_menu();
    menu.ask("6", ": ");
    let listed = menu.ask("alice", "> ");
    assert!(listed.contains("albums/rock/live/two.txt"), "{listed}");
    menu.ask("3", ": ");
    let queued = menu.ask("alice:albums/rock", "> ");
    assert!(
        queued.contains("2 file(s) under alice:albums/rock"),
        "{queued}"
    );
    assert!(queued.contains("2 queued"), "{queued}");
    eventually(Duration::from_secs(20), "both done", || {
        menu.ask("10", "> ").matches("done     saved").count() == 2
    });
    let text = menu.ask("5", "> ");
    menu.send("8");
    assert!(menu.wait().success());
    assert_eq!(
        tree(&b.share()),
        vec!["albums/rock/live/two.txt", "albums/rock/one.txt"]
    );
    for (path, bytes) in &files[..2] {
        assert_eq!(&fs::read(b.share().join(path)).unwrap(), bytes);
        // Shared: the listing after the fetch shows it by id.
        assert!(text.contains(&b3(bytes)[..16]), "{text}");
    }
}
