//! Many people at once: upload slots counted per downloader, the queue,
//! and free slots for small things, through real processes.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::time::Duration;

use crate::support::*;

/// The largest number of downloaders the log shows served at the same
/// time, and every downloader it shows served.
fn served_at_once(log: &str) -> (usize, HashSet<String>) {
    let mut now: HashSet<String> = HashSet::new();
    let mut ever = HashSet::new();
    let mut most = 0;
    for line in log.lines() {
        if let Some(rest) = line.split("upload slot ").nth(1) {
            if let Some(who) = rest.split(" to ").nth(1) {
                let who = who.split_whitespace().next().unwrap_or("").to_string();
                now.insert(who.clone());
                ever.insert(who);
                most = most.max(now.len());
            } else if let Some(who) = rest.strip_prefix("freed by ") {
                now.remove(who.trim());
            }
        }
    }
    (most, ever)
}

#[test]
fn four_downloaders_of_one_slot_all_finish_served_one_at_a_time() {
    let server = start_server();
    let content = noise(3 << 20, 31);
    let id = b3(&content);
    let a = PeerSetup::new(
        "alice",
        &server.addr,
        "upload_slots = 1\nupload_rate_limit = 4194304",
    );
    fs::write(a.share().join("big.bin"), &content).unwrap();
    let source = a.serve();
    let downloaders: Vec<PeerSetup> = ["d1", "d2", "d3", "d4"]
        .iter()
        .map(|n| PeerSetup::new(n, &server.addr, ""))
        .collect();
    eventually(Duration::from_secs(10), "the file listed", || {
        ok(downloaders[0].run(&["search", "big"])).contains(&id[..16])
    });
    let gets: Vec<_> = downloaders.iter().map(|d| d.spawn(&["get", &id])).collect();
    // While they run, the source's status shows one served and the others queued.
    eventually(
        Duration::from_secs(10),
        "a queue behind the one slot",
        || {
            let status: serde_json::Value =
                serde_json::from_str(&ok(a.run(&["status", "--json"]))).unwrap();
            let serving = status["uploads"]["serving"].as_array().unwrap().len();
            assert!(serving <= 1, "{status}");
            !status["uploads"]["queued"].as_array().unwrap().is_empty()
        },
    );
    let mut waited = 0;
    for (d, get) in downloaders.iter().zip(gets) {
        let out = get.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("from alice (direct): 3.0 MiB"), "{text}");
        assert!(!text.contains("dropped"), "{text}");
        if text.contains("queued at alice (position ") {
            waited += 1;
        }
        assert_eq!(fs::read(d.share().join("big.bin")).unwrap(), content);
    }
    // Those that waited say where and how long.
    assert!(waited >= 2, "only {waited} summaries show a wait in line");
    let (most, ever) = served_at_once(&source.log_text());
    assert_eq!(most, 1, "{}", source.log_text());
    assert_eq!(ever.len(), 4, "{ever:?}");
}

#[test]
fn small_things_are_served_at_once_and_a_large_file_waits_in_line() {
    let server = start_server();
    let a = PeerSetup::new(
        "alice",
        &server.addr,
        "upload_slots = 1\nupload_rate_limit = 65536",
    );
    let big = noise(2 << 20, 32);
    let small = noise(4096, 33);
    fs::write(a.share().join("slow.bin"), &big).unwrap();
    fs::write(a.share().join("small.txt"), &small).unwrap();
    let a_proc = a.serve();
    let (big_id, small_id) = (b3(&big), b3(&small));
    let host = a_proc.addr.trim_start_matches("http://").to_string();

    // A downloader (it names itself) holds the only slot...
    let mut first = std::net::TcpStream::connect(&host).unwrap();
    write!(
        first,
        "GET /files/{big_id} HTTP/1.1\r\nHost: x\r\nX-Hubshare-Peer: bob\r\n\r\n"
    )
    .unwrap();
    let mut start = [0u8; 64];
    first.read_exact(&mut start).unwrap();
    assert!(start.starts_with(b"HTTP/1.1 200"));
    // ...while a small file, a piece list and HEAD are served at once...
    let (status, _, body) = raw_http(
        &a_proc.addr,
        &format!("GET /files/{small_id} HTTP/1.1"),
        b"",
    );
    assert_eq!((status, body.len()), (200, 4096));
    assert_eq!(b3(&body), small_id);
    let pieces = format!("GET /files/{big_id}/pieces HTTP/1.1");
    assert_eq!(raw_http(&a_proc.addr, &pieces, b"").0, 200);
    let head = format!("HEAD /files/{big_id} HTTP/1.1");
    assert_eq!(raw_http(&a_proc.addr, &head, b"").0, 200);
    // ...and a plain client after the large file is put in line.
    let ask = format!("GET /files/{big_id} HTTP/1.1\r\nRange: bytes=0-9");
    let (status, headers, body) = raw_http(&a_proc.addr, &ask, b"");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "x-hubshare-queue-position"), Some("1"));
    let wait: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    assert!(String::from_utf8_lossy(&body).contains("number 1 in line"));
    assert!(ok(a.run(&["status"])).contains("queued:    1 127.0.0.1"));
    // The first downloader leaves; the one in line is served when it asks again.
    drop(first);
    let mut served = false;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(wait));
        let (status, _, body) = raw_http(&a_proc.addr, &ask, b"");
        if status == 206 {
            assert_eq!(body, &big[..10]);
            served = true;
            break;
        }
        assert_eq!(status, 503);
    }
    assert!(served, "the client in line was never served");
}
