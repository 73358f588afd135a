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
        let refused = c.login(&hubshare::proto::directory::LoginRequest {
            name: format!("evil{i}"),
            http_addr: "http://127.0.0.1:9".into(),
            identity_key: key_of(&format!("evil{i}")),
            files: vec![hubshare::proto::directory::SharedFile {
                id: b3(&content),
                size: content.len() as u64,
                name: bad.to_string(),
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        });
        assert!(refused.is_err(), "{bad:?} accepted by the directory");
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
