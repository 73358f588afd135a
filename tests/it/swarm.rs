//! Verified multi-source downloads with real peers: bytes come from every
//! source, a source that lies is caught and dropped, a source that dies is
//! replaced, and a download that is killed or loses its last source resumes
//! with only the missing pieces.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::support::*;

/// Verified pieces recorded in a `.part.state` file.
fn verified_pieces(state: &Path) -> usize {
    fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["done"].as_str().map(|d| d.matches('1').count()))
        .unwrap_or(0)
}

/// The report `get --json` printed last (one JSON line per file).
fn report(out: &str) -> serde_json::Value {
    let line = out
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no report in {out:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// The verified bytes `peer` sent, by the report; `None` if it sent none.
fn sent_by(report: &serde_json::Value, peer: &str) -> Option<u64> {
    report["sources"]
        .as_array()?
        .iter()
        .find(|s| s["peer"] == peer)
        .and_then(|s| s["bytes"].as_u64())
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn output(child: Child) -> (bool, String, String) {
    let out = child.wait_with_output().expect("wait for child");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_file_shared_by_three_comes_from_all_three_and_a_liar_is_dropped() {
    let server = start_server();
    let content = noise(64 << 20, 11);
    let id = b3(&content);
    // Paced so that no single source can take every piece before the others start.
    let limit = "upload_rate_limit = 33554432";
    let peers = sharing_peers(
        &server.addr,
        &["p1", "p2", "p3"],
        limit,
        "dataset.tar",
        &content,
    );
    let _procs: Vec<Proc> = peers.iter().map(PeerSetup::serve).collect();
    // A fourth "source": the right piece list, wrong bytes.
    let _liar = fake_source(
        &server.addr,
        "liar",
        Fake {
            content: noise(64 << 20, 12),
            pieces: Some(piece_list_json(&content)),
            cut_after: None,
            trickle: None,
            ..Fake::default()
        },
        &content,
        "dataset.tar",
    );

    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "four sources listed", || {
        b.sources_of(&["dataset"], "dataset.tar") == 4
    });
    let r = report(&ok(b.run(&["get", "--json", &id])));
    for p in ["p1", "p2", "p3"] {
        assert!(sent_by(&r, p) > Some(0), "{p} sent nothing: {r}");
    }
    assert_eq!(sent_by(&r, "liar"), None, "{r}");
    let dropped = r["dropped"].as_array().unwrap();
    assert!(
        dropped
            .iter()
            .any(|d| d["peer"] == "liar" && d["why"].as_str().unwrap().starts_with("sent piece")),
        "{r}"
    );
    let got = fs::read(b.share().join("dataset.tar")).unwrap();
    assert_eq!(b3(&got), id);
    assert_eq!(tree(&b.share()), vec!["dataset.tar"]);
}

#[test]
fn a_source_killed_mid_download_is_replaced_by_the_others() {
    let server = start_server();
    let content = noise(24 << 20, 13);
    let id = b3(&content);
    let limit = "upload_rate_limit = 4194304";
    let peers = sharing_peers(
        &server.addr,
        &["s1", "s2", "s3"],
        limit,
        "video.mp4",
        &content,
    );
    let mut procs: Vec<Proc> = peers.iter().map(PeerSetup::serve).collect();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "three sources listed", || {
        b.sources_of(&["video"], "video.mp4") == 3
    });
    let get = b.spawn(&["get", "--json", &id]);
    let state = b.share().join("video.mp4.part.state");
    eventually(Duration::from_secs(20), "some pieces verified", || {
        verified_pieces(&state) > 0
    });
    procs[0].signal_and_wait("-KILL");

    let (success, out, err) = output(get);
    assert!(success, "{out}\n{err}");
    // s1 stopped early; the other two took over its share of the pieces.
    let r = report(&out);
    let s1 = sent_by(&r, "s1").unwrap_or(0);
    let (s2, s3) = (sent_by(&r, "s2").unwrap(), sent_by(&r, "s3").unwrap());
    assert!(s1 < s2 && s1 < s3, "{r}");
    assert_eq!(s1 + s2 + s3, content.len() as u64, "{r}");
    assert_eq!(b3(&fs::read(b.share().join("video.mp4")).unwrap()), id);
    assert_eq!(tree(&b.share()), vec!["video.mp4"]);
}

#[test]
fn a_killed_download_resumes_with_only_the_missing_pieces() {
    let server = start_server();
    let content = noise(24 << 20, 14);
    let size = content.len() as u64;
    let id = b3(&content);
    let a = PeerSetup::new("alice", &server.addr, "upload_rate_limit = 8388608");
    fs::write(a.share().join("backup.img"), &content).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        ok(b.run(&["search", "backup"])).contains("backup.img")
    });

    let mut get = b.spawn(&["get", &id]);
    let state = b.share().join("backup.img.part.state");
    eventually(Duration::from_secs(20), "a checkpoint with pieces", || {
        verified_pieces(&state) >= 4
    });
    kill(&mut get);
    let before = verified_pieces(&state);
    assert!(before < 96, "finished before it could be killed");
    assert!(b.share().join("backup.img.part").exists());
    assert!(!b.share().join("backup.img").exists());

    let r = report(&ok(b.run(&["get", "--json", &id])));
    let (fetched, resumed) = (
        r["fetched"].as_u64().unwrap(),
        r["resumed"].as_u64().unwrap(),
    );
    assert_eq!(fetched + resumed, size, "{r}");
    assert!(resumed >= before as u64 * 256 * 1024, "{r}");
    // Only what was missing crossed the network again.
    assert_eq!(sent_by(&r, "alice"), Some(fetched), "{r}");
    assert_eq!(b3(&fs::read(b.share().join("backup.img")).unwrap()), id);
    assert_eq!(tree(&b.share()), vec!["backup.img"]);
}

#[test]
fn losing_the_only_source_keeps_a_resumable_part_and_says_so() {
    let server = start_server();
    let content = noise(24 << 20, 15);
    let id = b3(&content);
    let a = PeerSetup::new("alice", &server.addr, "upload_rate_limit = 8388608");
    fs::write(a.share().join("archive.zip"), &content).unwrap();
    let mut a_proc = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    eventually(Duration::from_secs(10), "alice listed", || {
        ok(b.run(&["search", "archive"])).contains("archive.zip")
    });

    let get = b.spawn(&["get", &id]);
    let state = b.share().join("archive.zip.part.state");
    eventually(Duration::from_secs(20), "some pieces verified", || {
        verified_pieces(&state) > 0
    });
    a_proc.signal_and_wait("-KILL");
    let (success, out, err) = output(get);
    assert!(!success, "{out}");
    assert!(
        err.contains("no source left for") && err.contains("resumes"),
        "{err}"
    );
    assert!(err.contains("dropped alice"), "{err}");
    let kept = verified_pieces(&state);
    assert!(kept > 0 && b.share().join("archive.zip.part").exists());

    // Alice comes back (a new process, a new port): the download resumes.
    let _a = a.serve();
    eventually(Duration::from_secs(10), "alice back", || {
        ok(b.run(&["search", "archive"])).contains("archive.zip")
    });
    let out = ok(b.run(&["get", &id]));
    assert!(out.contains("resumed:"), "{out}");
    assert_eq!(b3(&fs::read(b.share().join("archive.zip")).unwrap()), id);
    assert_eq!(tree(&b.share()), vec!["archive.zip"]);
}

#[test]
fn a_part_file_without_state_is_reverified_not_thrown_away() {
    let server = start_server();
    let content = noise(5 << 20, 17);
    let id = b3(&content);
    let a = PeerSetup::new("alice", &server.addr, "");
    fs::write(a.share().join("disk.iso"), &content).unwrap();
    let _a = a.serve();
    let b = PeerSetup::new("bob", &server.addr, "");
    // Half the bytes, right, and then garbage; no state file beside it.
    let mut part = content[..(5 << 20) / 2].to_vec();
    part.extend(noise(1 << 20, 18));
    fs::write(b.share().join("disk.iso.part"), &part).unwrap();
    eventually(Duration::from_secs(10), "alice listed", || {
        ok(b.run(&["search", "disk"])).contains("disk.iso")
    });
    let r = report(&ok(b.run(&["get", "--json", &id])));
    // Pieces 0-9 (2.5 MiB) verify and are kept; the rest is fetched.
    assert_eq!(r["resumed"].as_u64(), Some((5 << 20) / 2), "{r}");
    assert_eq!(b3(&fs::read(b.share().join("disk.iso")).unwrap()), id);
    assert_eq!(tree(&b.share()), vec!["disk.iso"]);
}
