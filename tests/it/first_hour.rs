//! What a new user hit in a first hour (issue 29), each test named after
//! what broke: output into a closed pipe, mistyped flags, state in the
//! wrong folder, two downloads of one file, a refused upload, browser
//! download names, holes in a folder fetch.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

#[test]
fn browse_into_a_closed_pipe_ends_quietly_instead_of_panicking() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    for i in 0..20 {
        fs::write(a.share().join(format!("track {i:02}.flac")), [i as u8]).unwrap();
    }
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        ok(b.run(&["peers"])).contains("alice")
    });
    // `peer browse alice | head -0`: the reader is gone before the first
    // line is written.
    for args in [&["browse", "alice"][..], &["peers"], &["search", "track"]] {
        let mut child = Command::new(PEER)
            .arg("--config")
            .arg(&b.config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A config error with both streams closed: exit 1, not a panic (101).
    let bad = b.root.path().join("bad.toml");
    fs::write(&bad, "name = 3\n").unwrap();
    let out = Command::new(PEER)
        .args(["--config", bad.to_str().unwrap(), "status"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            drop(c.stderr.take());
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_mistyped_search_flag_is_a_usage_error_not_a_search_word() {
    let server = start_server();
    let b = PeerSetup::new("bob", &server.addr, "");
    for (flag, value) in [("--jsn", None), ("--limt", Some("1"))] {
        let mut args = vec!["search", "hunter", flag];
        args.extend(value);
        let out = b.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed results");
    }
    // `-word` is still an exclusion, and `--` still makes words literal.
    ok(b.run(&["search", "hunter", "-live"]));
    ok(b.run(&["search", "--", "--jsn"]));
}

/// A config in `root/cfg/peer.toml` whose paths are relative (`extra` is
/// added), for peer `name`; the peer has no state_dir, so its state is
/// the default `data/<name>/state` below the config's folder.
fn relative_config(root: &Path, name: &str, directory: &str, extra: &str) -> PathBuf {
    let cfg = root.join("cfg");
    fs::create_dir_all(cfg.join("share")).unwrap();
    let file = cfg.join("peer.toml");
    let text = format!(
        "name = \"{name}\"\ndirectory = \"{directory}\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"share\"\nsettle_secs = 0\ntls = false\n{extra}\n"
    );
    fs::write(&file, text).unwrap();
    file
}

fn peer_in(dir: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(PEER)
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn state_lands_beside_the_config_not_in_the_folder_a_command_runs_in() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("notes.txt"), b"alice's notes").unwrap();
    let _a = a.serve();
    let root = tempfile::tempdir().unwrap();
    let config = relative_config(root.path(), "bob", &server.addr, "");
    // bob is served from one folder and asked from inside alice's share.
    let mut serve = Command::new(PEER);
    serve
        .args(["--config", config.to_str().unwrap(), "serve"])
        .current_dir(root.path());
    let _bob = Proc::spawn(serve);
    let found = ok(peer_in(&a.share(), &config, &["search", "notes"]));
    assert!(found.contains("notes.txt"), "{found}");
    let status = ok(peer_in(&a.share(), &config, &["status"]));
    assert!(status.contains("name:      bob"), "{status}");
    // Its state is below the config's folder; nothing landed in alice's.
    let state = root.path().join("cfg/data/bob/state");
    assert!(state.join("last-listing.json").is_file());
    assert!(state.join("identity.key").is_file());
    assert_eq!(tree(&a.share()), vec!["notes.txt"]);
}

#[test]
fn a_state_folder_inside_a_share_is_never_shared() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("notes.txt"), b"alice's notes").unwrap();
    // carol keeps her state inside alice's share (her own share is apart).
    let c = PeerSetup::new("carol", &server.addr, "");
    let carol_state = a.share().join("carol-state");
    let text = fs::read_to_string(&c.config).unwrap().replace(
        &format!("state_dir = \"{}\"", c.state().display()),
        &format!("state_dir = \"{}\"", carol_state.display()),
    );
    fs::write(&c.config, text).unwrap();
    ok(c.run(&["peers"]));
    let _carol = c.serve();
    assert!(carol_state.join("identity.key").is_file());
    let alice = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        prints(b.run(&["browse", "alice"]), "notes.txt")
    });
    let listed = ok(b.run(&["browse", "alice"]));
    assert!(!listed.contains("carol-state"), "{listed}");
    assert_eq!(alice.logged("peer state folder"), 1, "{}", alice.log_text());
    // And a config whose state folder is inside its own share is refused.
    let err = fails(a.run(&[
        "--state-dir",
        a.share().join("st").to_str().unwrap(),
        "serve",
    ]));
    assert!(
        err.contains("`state_dir`") && err.contains("inside the share"),
        "{err}"
    );
}

#[test]
fn two_gets_of_one_file_at_once_wait_for_each_other_and_number_before_the_whole_extension() {
    let server = start_server();
    let content = noise(3 << 20, 7);
    let id = b3(&content);
    // alice sends at 1 MiB/s: the first get holds the file for seconds.
    let a = PeerSetup::new("alice", &server.addr, "upload_rate_limit = 1048576");
    fs::write(a.share().join("archive 2022.tar.gz"), &content).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    // bob has other bytes under that name: the download goes beside it.
    fs::write(b.share().join("archive 2022.tar.gz"), b"bob's own archive").unwrap();
    eventually(Duration::from_secs(10), "alice listed", || {
        b.sources_of(&[&id], "") == 1
    });
    let first = b.spawn(&["get", &id]);
    let lock = b.share().join("archive 2022.tar.gz.part.lock");
    eventually(
        Duration::from_secs(10),
        "the first get holds the lock",
        || lock.exists(),
    );
    let second = b.spawn(&["get", &id]);
    let (first_pid, first, second) = (
        first.id(),
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let said = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(first.status.success() && second.status.success(), "{said}");
    assert!(
        said.contains("is being downloaded into") && said.contains(&format!("process {first_pid}")),
        "{said}"
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("already here"));
    assert_eq!(
        tree(&b.share()),
        vec!["archive 2022 (1).tar.gz", "archive 2022.tar.gz"]
    );
    assert_eq!(
        fs::read(b.share().join("archive 2022 (1).tar.gz")).unwrap(),
        content
    );
    assert_eq!(
        fs::read(b.share().join("archive 2022.tar.gz")).unwrap(),
        b"bob's own archive"
    );
}

#[test]
fn a_big_upload_under_a_taken_name_shows_the_receivers_409_not_a_broken_pipe() {
    let server = start_server();
    let b = PeerSetup::new(
        "bob",
        &server.addr,
        "accept_uploads = true\nmax_upload_bytes = 100000000",
    );
    fs::write(b.share().join("big.bin"), b"bob's").unwrap();
    let bob = b.serve();
    let a = PeerSetup::new("alice", &server.addr, "");
    let big = a.root.path().join("big.bin");
    fs::write(&big, noise(30 << 20, 8)).unwrap();
    for _ in 0..3 {
        let err = fails(a.run(&["upload", big.to_str().unwrap(), "--to", &bob.addr]));
        assert!(
            err.contains("409") && err.contains("already shared"),
            "{err}"
        );
        assert!(!err.contains("Broken pipe"), "{err}");
    }
    // A client that asks `Expect: 100-continue` (as curl does) is answered
    // before it sends a byte of the body.
    let mut s = std::net::TcpStream::connect(bob.addr.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "PUT /inbox/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        30 << 20
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert_eq!(fs::read(b.share().join("big.bin")).unwrap(), b"bob's");
}

#[test]
fn a_browser_download_is_named_after_the_file_not_its_folders() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let album = a.share().join("Music/Björk - Homogenic (1997)");
    fs::create_dir_all(&album).unwrap();
    fs::write(album.join("01 - Hunter.flac"), b"hunter").unwrap();
    fs::write(album.join("02 - Jóga.flac"), b"joga").unwrap();
    let alice = a.serve();
    for (bytes, plain, encoded) in [
        (&b"hunter"[..], "01 - Hunter.flac", "01%20-%20Hunter.flac"),
        (b"joga", "02 - J_ga.flac", "02%20-%20J%C3%B3ga.flac"),
    ] {
        let url = format!("{}/files/{}", alice.addr, b3(bytes));
        let r = ureq::get(&url).call().unwrap();
        assert_eq!(
            r.header("Content-Disposition").unwrap(),
            format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
        );
    }
}

#[test]
fn a_folder_fetch_copies_bytes_held_elsewhere_instead_of_leaving_a_hole() {
    let server = start_server();
    let a = PeerSetup::new("alice", &server.addr, "");
    let music = [
        ("Music/a/01.flac", noise(70_000, 11)),
        ("Music/a/02.flac", noise(80_000, 12)),
        ("Music/b/03.flac", noise(90_000, 13)),
    ];
    for (path, bytes) in &music {
        fs::create_dir_all(a.share().join(path).parent().unwrap()).unwrap();
        fs::write(a.share().join(path), bytes).unwrap();
    }
    let _a = a.serve();
    // bob holds 02 at another path, and 03 at its own; his peer hashed them.
    let b = PeerSetup::new("bob", &server.addr, "");
    fs::create_dir_all(b.share().join("old")).unwrap();
    fs::create_dir_all(b.share().join("Music/b")).unwrap();
    fs::write(b.share().join("old/02 copy.flac"), &music[1].1).unwrap();
    fs::write(b.share().join("Music/b/03.flac"), &music[2].1).unwrap();
    let bob = b.serve();
    eventually(Duration::from_secs(10), "both listed", || {
        b.sources_of(&[&b3(&music[1].1)], "") == 2
    });
    drop(bob);
    let out = ok(b.run(&["get", "alice:Music"]));
    assert!(out.contains("copied"), "{out}");
    assert!(
        out.contains("alice:Music: 3 file(s): 1 fetched, 1 copied, 1 already present"),
        "{out}"
    );
    for (path, bytes) in &music {
        assert_eq!(&fs::read(b.share().join(path)).unwrap(), bytes, "{path}");
    }
    assert_eq!(
        tree(&b.share()),
        vec![
            "Music/a/01.flac",
            "Music/a/02.flac",
            "Music/b/03.flac",
            "old/02 copy.flac"
        ]
    );
    // Again, as JSON: everything is present now.
    let again = ok(b.run(&["--json", "get", "alice:Music"]));
    let last: serde_json::Value = serde_json::from_str(again.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(
        (
            last["fetched"].as_u64(),
            last["copied"].as_u64(),
            last["present"].as_u64()
        ),
        (Some(0), Some(0), Some(3)),
        "{again}"
    );
}

#[test]
fn a_folder_fetch_from_the_menu_is_queued_as_its_files_and_outlives_the_peer() {
    let server = start_server();
    // alice sends at 1 MiB/s: six 512 KiB files take three seconds.
    let a = PeerSetup::new("alice", &server.addr, "upload_rate_limit = 1048576");
    fs::create_dir_all(a.share().join("slow")).unwrap();
    let files: Vec<Vec<u8>> = (0..6).map(|i| noise(512 << 10, 20 + i)).collect();
    for (i, f) in files.iter().enumerate() {
        fs::write(a.share().join(format!("slow/{i}.bin")), f).unwrap();
    }
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        prints(b.run(&["browse", "alice"]), "slow/5.bin")
    });
    let mut menu = b.open_menu();
    menu.ask("3", ": ");
    let from = menu.printed().len();
    menu.send("alice:slow");
    menu.wait_for(from, "6 queued", Duration::from_secs(20));
    let listed = menu.ask("10", "> ");
    assert!(listed.contains("slow/5.bin"), "{listed}");
    eventually(Duration::from_secs(20), "one of them done", || {
        menu.ask("10", "> ").contains("done     saved")
    });
    // A Ctrl-C with nothing in the foreground stops the peer.
    menu.signal("-INT");
    eventually(Duration::from_secs(15), "the menu exits", || {
        !menu.running()
    });
    assert_eq!(menu.wait().code(), Some(130));
    // Started again, its queue finishes the rest, each verified.
    let mut menu = b.open_menu();
    eventually(Duration::from_secs(30), "all six done", || {
        let listed = menu.ask("10", "> ");
        listed.matches("done     saved").count() == 6
    });
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            fs::read(b.share().join(format!("slow/{i}.bin"))).unwrap(),
            *f
        );
    }
    menu.send("8");
    assert!(menu.wait().success());
}

#[test]
fn refusals_no_retry_can_change_make_serve_exit_with_the_reason() {
    let server = start_directory("group_password = \"a long phrase only we know\"");
    let a = PeerSetup::new(
        "alice",
        &server.addr,
        "group_password = \"a long phrase only we know\"",
    );
    let _a = a.serve();
    // The name is alice's (another key), the password is wrong, or missing.
    for (name, extra, why) in [
        (
            "alice",
            "group_password = \"a long phrase only we know\"",
            "in use by another peer",
        ),
        (
            "mallory",
            "group_password = \"the wrong phrase!\"",
            "wrong group password",
        ),
        ("mallory", "", "this group needs its password"),
    ] {
        let m = PeerSetup::new(name, &server.addr, extra);
        let mut cmd = Command::new(PEER);
        cmd.args(["--config", m.config.to_str().unwrap(), "serve"]);
        let mut proc = Proc::spawn(cmd);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = proc.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: still retrying"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(1), "{name}");
        let log = proc.log_text();
        assert!(
            log.contains(why) && log.contains("refuses this peer"),
            "{log}"
        );
        // Said once, and never retried.
        assert_eq!(proc.logged(why), 1, "{log}");
        assert_eq!(proc.logged("login failed"), 0, "{log}");
    }
    // In the menu the peer stays up, offline, and says why.
    let m = PeerSetup::new("mallory", &server.addr, "");
    let mut menu = m.open_menu();
    eventually(
        Duration::from_secs(20),
        "the menu says it was refused",
        || {
            menu.ask("10", "no transfers yet");
            menu.printed().contains("refused by the directory")
        },
    );
    assert!(menu.printed().contains("this group needs its password"));
    assert!(menu.running());
    menu.send("8");
    assert!(menu.wait().success());
}

#[test]
fn small_things_a_new_user_tripped_on() {
    let server = start_server();
    let content = noise(50_000, 30);
    let id = b3(&content);
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("readme.txt"), &content).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    fs::write(b.share().join("readme.txt"), b"bob's own readme").unwrap();
    let _b = b.serve();
    let c = PeerSetup::new("carol", &server.addr, "");
    eventually(Duration::from_secs(10), "both listed", || {
        ok(c.run(&["search", "readme"]))
            .matches("readme.txt")
            .count()
            == 2
    });
    // Two files of one name are told apart by who has them.
    let table = ok(c.run(&["search", "readme"]));
    assert!(table.contains("PEERS"), "{table}");
    assert!(table.contains("alice") && table.contains("bob"), "{table}");
    // `id:` and the start of an id is an id, not a folder of a peer `id`.
    let out = ok(c.run(&["get", &format!("id:{}", &id[..6])]));
    assert!(out.contains("saved"), "{out}");
    // --copy without --name fetches a copy beside the one it has.
    let out = ok(c.run(&["get", &id, "--copy"]));
    assert!(
        out.contains("saved") && out.contains("readme (1).txt"),
        "{out}"
    );
    assert_eq!(tree(&c.share()), vec!["readme (1).txt", "readme.txt"]);
    // share_dir naming a file says which key.
    let file = c.root.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let err = fails(c.run(&["--share-dir", file.to_str().unwrap(), "serve"]));
    assert!(
        err.contains("`share_dir`") && err.contains("not a folder"),
        "{err}"
    );
}

/// `GET url`: the status and the body as text.
fn get_text(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn the_directory_lists_who_is_online_and_a_peer_page_browses_another_peer() {
    let server = start_directory("http_listen = \"127.0.0.1:0\"");
    let status = format!("http://{}", server.status_addr().unwrap());
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::create_dir_all(a.share().join("music")).unwrap();
    let song = noise(40_000, 40);
    fs::write(a.share().join("music/Jóga & <b>.flac"), &song).unwrap();
    let alice = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    fs::write(b.share().join("bob's notes.txt"), b"notes").unwrap();
    let bob = b.serve();
    eventually(Duration::from_secs(10), "both online", || {
        get_text(&format!("{status}/")).1.contains("/peer/bob")
    });
    // The directory's page: who is online, with files, address and since.
    let (code, page) = get_text(&format!("{status}/"));
    assert_eq!(code, 200);
    for peer in [("alice", &alice.addr), ("bob", &bob.addr)] {
        let row = format!(
            "<a href=\"/peer/{0}\">{0}</a></td><td align=\"right\">1</td><td>{1}</td>",
            peer.0, peer.1
        );
        assert!(page.contains(&row), "{row} not in {page}");
    }
    assert!(page.contains(" UTC ("), "{page}");
    // A page per peer, its names as text.
    let (code, page) = get_text(&format!("{status}/peer/alice"));
    assert_eq!(code, 200);
    assert!(page.contains("music/Jóga &amp; &lt;b&gt;.flac"), "{page}");
    assert!(page.contains(&b3(&song)), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert_eq!(get_text(&format!("{status}/peer/carol")).0, 404);
    // On bob's page a search result links to alice's share, listed through
    // bob, whose links download straight from alice.
    let (_, found) = get_text(&format!("{}/?q=joga", bob.addr));
    assert!(
        found.contains("<a class=\"peer\" href=\"/?peer=alice\""),
        "{found}"
    );
    let (code, listed) = get_text(&format!("{}/?peer=alice", bob.addr));
    assert_eq!(code, 200);
    assert!(listed.contains("Shared by alice") && listed.contains("Listed through bob"));
    let link = format!("{}/files/{}", alice.addr, b3(&song));
    assert!(listed.contains(&format!("href=\"{link}\"")), "{listed}");
    let mut bytes = Vec::new();
    ureq::get(&link)
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(b3(&bytes), b3(&song));
    assert_eq!(get_text(&format!("{}/?peer=carol", bob.addr)).0, 404);
}

#[test]
fn several_shared_folders_and_a_plain_download_folder() {
    let server = start_server();
    let outside = tempfile::tempdir().unwrap();
    let (music, photos) = (
        outside.path().join("Music"),
        outside.path().join("Pictures"),
    );
    fs::create_dir_all(music.join("Homogenic")).unwrap();
    let song = noise(60_000, 50);
    fs::write(music.join("Homogenic/01 - Hunter.flac"), &song).unwrap();
    let extra = format!(
        "[[share_dirs]]\nname = \"Music\"\npath = \"{}\"\n[[share_dirs]]\nname = \"Photos\"\npath = \"{}\"\n",
        music.display(),
        photos.display()
    );
    // The tables must come after the top-level keys.
    let a = PeerSetup::new("alice", &server.addr, &extra);
    fs::write(a.share().join("top.txt"), b"top").unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "mirror_paths = false");
    eventually(Duration::from_secs(10), "alice listed", || {
        prints(
            b.run(&["browse", "alice"]),
            "Music/Homogenic/01 - Hunter.flac",
        )
    });
    // A file put in another shared folder while alice runs is shared too.
    fs::write(photos.join("cat.jpg"), b"a cat").unwrap();
    eventually(Duration::from_secs(10), "the photo listed", || {
        prints(b.run(&["browse", "alice"]), "Photos/cat.jpg")
    });
    // bob's download folder is plain: a file lands by its name...
    let out = ok(b.run(&["get", &b3(&song)]));
    assert!(out.contains("saved"), "{out}");
    assert_eq!(fs::read(b.share().join("01 - Hunter.flac")).unwrap(), song);
    // ...and a folder fetch keeps its folders.
    ok(b.run(&["get", "alice:Photos"]));
    assert_eq!(tree(&b.share()), vec!["01 - Hunter.flac", "Photos/cat.jpg"]);
}

#[test]
fn the_menu_lists_transfers_by_name_and_logs_no_debug_dump() {
    let (server, _cfg) = start_server_with_config("listen = \"127.0.0.1:0\"");
    let a = PeerSetup::new("alice", &server.addr, "");
    // More than one Login carries: the directory logs the total once the
    // announces are in, not the first hundred.
    fs::create_dir_all(a.share().join("many")).unwrap();
    for i in 0..150 {
        fs::write(
            a.share().join(format!("many/{i:03}.txt")),
            format!("file {i}"),
        )
        .unwrap();
    }
    fs::write(a.share().join("song.flac"), noise(30_000, 60)).unwrap();
    let _a = a.serve();
    eventually(Duration::from_secs(10), "the total logged", || {
        server.logged("alice now shares 151 files") == 1
    });
    assert_eq!(
        server.logged("with its first 100 files (the rest follow)"),
        1
    );
    let b = PeerSetup::new("bob", &server.addr, "");
    let mut menu = b.open_menu();
    menu.ask("2", ": ");
    menu.ask("song", "song.flac");
    menu.ask("3", ": ");
    menu.ask("1", "queued transfer 1");
    eventually(Duration::from_secs(20), "the transfer done", || {
        menu.ask("10", "> ").contains("done")
    });
    let listed = menu.ask("10", "> ");
    assert!(listed.contains("  1  song.flac  done"), "{listed}");
    menu.send("8");
    assert!(menu.wait().success());
    let log = fs::read_to_string(b.state().join("peer.log")).unwrap();
    assert!(log.contains("saved"), "{log}");
    assert!(!log.contains("DownloadReport {"), "{log}");
}
