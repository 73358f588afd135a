//! `--big-share N`: one real peer sharing N small, distinct files logs in
//! to a directory on its default limits (5,000 files a call, Announce 20 a
//! second with bursts of 100). It reports how long the peer took to come
//! up (the scan and hashing), and how long until the directory listed every
//! file and a search found them all: first with a cold hash cache, then
//! again after a restart over the same share (warm cache).

use super::*;

pub fn run(files: usize) {
    let (server, addr, _server_dir) = start_server("listen = \"127.0.0.1:0\"\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).expect("share dir");
    let t = Instant::now();
    for i in 0..files {
        std::fs::write(
            share.join(format!("big share {i:07}.txt")),
            format!("file {i} of the big share\n"),
        )
        .expect("write a shared file");
    }
    println!(
        "directory {addr} (pid {}): defaults; wrote {files} files in {:.1}s",
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
        println!(
            "{round}: peer serving after {:.2}s (scan); all {files} listed after {:.2}s; a search finds {found}; peer RSS {} MiB, directory RSS {} MiB",
            up.as_secs_f64(),
            all.as_secs_f64(),
            usage(peer.id()).rss_kib / 1024,
            usage(server.id()).rss_kib / 1024
        );
        assert_eq!(found as usize, files, "not every file is searchable");
        peer.stop();
        assert_eq!(listed(), 0, "the peer's files stayed after it logged out");
    }
    drop(server);
}
