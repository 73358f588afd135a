//! `--big-share N`: one real peer sharing N small, distinct files logs in
//! to a directory on its default limits (5,000 files a call, Announce 20 a
//! second with bursts of 100). It reports how long the peer took to come
//! up (the scan and hashing), and how long until the directory listed every
//! file and a search found them all: first with a cold hash cache, then
//! again after a restart over the same share (warm cache), with the bytes
//! the peer hashed each time. The files sit in 1,000 folders. Then, with
//! the warm peer running (periodic rescans off: only its watcher), 1,000 new
//! files are copied in, and it reports how long until all are searchable.

use super::*;

pub fn run(files: usize) {
    let (server, addr, _server_dir) = start_server("listen = \"127.0.0.1:0\"\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).expect("share dir");
    let t = Instant::now();
    let folders = files.clamp(1, 1000);
    for f in 0..folders {
        std::fs::create_dir_all(share.join(format!("folder {f:04}"))).expect("a folder");
    }
    for i in 0..files {
        std::fs::write(
            share.join(format!("folder {:04}/big share {i:07}.txt", i % folders)),
            format!("file {i} of the big share\n"),
        )
        .expect("write a shared file");
    }
    println!(
        "directory {addr} (pid {}): defaults; wrote {files} files in {folders} folders in {:.1}s",
        server.id(),
        t.elapsed().as_secs_f64()
    );
    let config = peer_config(
        dir.path(),
        "big",
        &addr,
        "settle_secs = 0\nrescan_secs = 0\n",
    );
    let client = client(&addr);
    let listed = || {
        client
            .get_peer(&pb::GetPeerRequest {
                name: "big".into(),
                ..Default::default()
            })
            .map_or(0, |r| r.files as usize)
    };
    for round in ["cold hash cache", "warm hash cache"] {
        let t = Instant::now();
        let peer = start_peer(&config, "the big peer");
        let up = t.elapsed();
        while listed() < files {
            assert!(
                t.elapsed() < Duration::from_secs(900),
                "{} of {files} listed after 15 minutes",
                listed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let all = t.elapsed();
        let found = client
            .search(&pb::SearchRequest {
                query: "big share".into(),
                limit: 1,
                ..Default::default()
            })
            .expect("search")
            .total;
        let status = Command::new(env!("CARGO_BIN_EXE_peer"))
            .arg("--config")
            .arg(&config)
            .arg("status")
            .output()
            .expect("peer status");
        let hashed = String::from_utf8_lossy(&status.stdout)
            .lines()
            .find(|l| l.starts_with("hashed:"))
            .map(|l| l.trim_start_matches("hashed:").trim().to_string())
            .unwrap_or_default();
        println!(
            "{round}: peer serving after {:.2}s (scan; hashed {hashed}); all {files} listed after {:.2}s; a search finds {found}; peer RSS {} MiB, directory RSS {} MiB",
            up.as_secs_f64(),
            all.as_secs_f64(),
            usage(peer.id()).rss_kib / 1024,
            usage(server.id()).rss_kib / 1024
        );
        assert_eq!(found as usize, files, "not every file is searchable");
        if round == "warm hash cache" {
            copy_in(&share, &client);
        }
        peer.stop();
        assert_eq!(listed(), 0, "the peer's files stayed after it logged out");
    }
    drop(server);
}

/// Copies 1,000 new files into `share` the way `cp` would, twice: as 10
/// new folders (`cp -r`), then one into each of 1,000 existing folders;
/// reports how long until a search finds all of each.
fn copy_in(share: &std::path::Path, client: &DirectoryClient) {
    let fresh = 1000;
    let src = tempfile::tempdir().expect("temp dir");
    for i in 0..fresh {
        let folder = src.path().join(format!("fresh {:02}", i % 10));
        std::fs::create_dir_all(&folder).expect("a folder");
        std::fs::write(
            folder.join(format!("fresh file {i:04}.txt")),
            format!("fresh {i}\n"),
        )
        .expect("write a new file");
        std::fs::write(
            src.path().join(format!("spread file {i:04}.txt")),
            format!("spread {i}\n"),
        )
        .expect("write a new file");
    }
    let mut new_folders = Command::new("cp");
    new_folders
        .arg("-r")
        .args((0..10).map(|f| src.path().join(format!("fresh {f:02}"))))
        .arg(share);
    timed_copy(
        client,
        "fresh file",
        fresh,
        "in 10 new folders",
        &mut new_folders,
    );
    // One `cp` per file (each into its own existing folder).
    let mut script = String::new();
    for i in 0..fresh {
        script.push_str(&format!(
            "cp '{}' '{}'\n",
            src.path().join(format!("spread file {i:04}.txt")).display(),
            share.join(format!("folder {:04}", i % 1000)).display()
        ));
    }
    let mut spread = Command::new("sh");
    spread.arg("-c").arg(script);
    timed_copy(
        client,
        "spread file",
        fresh,
        "one into each of 1,000 existing folders",
        &mut spread,
    );
}

/// Runs `copy` and reports how long until `query` finds `fresh` files.
fn timed_copy(client: &DirectoryClient, query: &str, fresh: u64, what: &str, copy: &mut Command) {
    let t = Instant::now();
    let copied = copy.status().expect("run cp");
    assert!(copied.success(), "cp failed");
    let cp_done = t.elapsed();
    let found = || {
        client
            .search(&pb::SearchRequest {
                query: query.into(),
                limit: 1,
                ..Default::default()
            })
            .map_or(0, |r| r.total)
    };
    while found() < fresh {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "{} of {fresh} found after 5 minutes",
            found()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "cp of {fresh} new files {what} took {:.2}s; all {fresh} searchable {:.2}s after the cp began (watcher only, settle_secs = 0)",
        cp_done.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
}
