//! The running peer's download queue, on real processes: at most
//! `max_active_downloads` at once, in queue order, every download
//! verified; a peer killed with SIGKILL mid-queue finishes every download
//! from its parts once restarted; a download whose only source is offline
//! waits and completes when the source logs in again, and
//! `on_download_done` runs with its path; bad changes are refused and
//! change nothing.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::tls::unguessable;

/// The queue as `peer queue --json` lists it.
fn queue(p: &PeerSetup) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&ok(p.run(&["queue", "--json"])))
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether a download in `p`'s share has recorded a verified piece.
fn checkpointed(p: &PeerSetup) -> bool {
    fs::read_dir(p.share()).unwrap().flatten().any(|e| {
        e.file_name().to_string_lossy().ends_with(".part.state")
            && fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|st| st["done"].as_str().unwrap_or("").contains('1'))
    })
}

fn count(list: &[serde_json::Value], state: &str) -> usize {
    list.iter().filter(|e| e["state"] == state).count()
}

#[test]
fn five_queued_run_two_at_a_time_and_a_killed_peer_finishes_them_from_their_parts() {
    let d = start_server();
    let a = PeerSetup::new("alice", &d.addr, "upload_rate_limit = 3145728");
    let files: Vec<Vec<u8>> = (0..5)
        .map(|i| unguessable(3 << 20, &format!("queued film {i}")))
        .collect();
    for (i, f) in files.iter().enumerate() {
        fs::write(a.share().join(format!("film{i}.bin")), f).unwrap();
    }
    let _a_proc = a.serve();
    let b = PeerSetup::new("bob", &d.addr, "max_active_downloads = 2");
    let mut b_proc = b.serve();
    eventually(Duration::from_secs(15), "alice's films listed", || {
        b.sources_of(&["film4"], "film4.bin") == 1
    });
    for f in &files {
        let added: serde_json::Value =
            serde_json::from_str(&ok(b.run(&["queue", "--json", "add", &b3(f)]))).unwrap();
        assert_eq!(added["state"], "queued", "{added}");
    }
    // Never more than two at once; two at some point; then killed in the
    // middle of one.
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = queue(&b);
        let active = count(&list, "active");
        assert!(active <= 2, "{list:?}");
        most = most.max(active);
        // An active one with verified pieces on disk (its `.part.state`).
        let midway = count(&list, "active") > 0 && checkpointed(&b);
        if count(&list, "done") >= 1 && midway && most == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{list:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    b_proc.signal_and_wait("-KILL");
    let first_log = b_proc.log_text();
    drop(b_proc);
    let b_proc = b.serve();
    eventually(Duration::from_secs(5), "the queue read back", || {
        b_proc.logged("unfinished download(s) back in the queue") == 1
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let list = queue(&b);
        assert!(count(&list, "active") <= 2, "{list:?}");
        if count(&list, "done") == 5 {
            break list;
        }
        assert!(
            count(&list, "failed") == 0 && Instant::now() < deadline,
            "{list:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            b3(&fs::read(b.share().join(format!("film{i}.bin"))).unwrap()),
            b3(f)
        );
    }
    // The one killed in the middle went on from its verified part.
    assert!(
        done.iter()
            .any(|e| e["summary"].as_str().unwrap_or("").contains("resumed: ")),
        "{done:?}"
    );
    // Queue order: they started in the order they were added.
    let started: Vec<u64> = first_log
        .lines()
        .filter(|l| l.contains(" starts ("))
        .filter_map(|l| {
            l.split("download queue: ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(started.len() >= 2, "{first_log}");
    assert!(started.windows(2).all(|w| w[0] < w[1]), "{started:?}");
}

#[test]
fn a_download_whose_source_is_offline_waits_and_bad_changes_are_refused() {
    let d = start_server();
    let c = PeerSetup::new("carol", &d.addr, "");
    let song = unguessable(500_000, "carol's song");
    fs::write(c.share().join("song.bin"), &song).unwrap();
    let _c_proc = c.serve();
    // A program run, without a shell, with the path of each finished one.
    let hooked = tempfile::tempdir().unwrap();
    let hook_file = hooked.path().join("done.txt");
    let b = PeerSetup::new(
        "bob",
        &d.addr,
        &format!(
            r#"on_download_done = ["sh", "-c", "printf '%s\n' \"$1\" >> '{}'", "hook"]"#,
            hook_file.display()
        ),
    );
    let b_proc = b.serve();
    eventually(Duration::from_secs(15), "carol's song listed", || {
        b.sources_of(&["song"], "song.bin") == 1
    });
    ok(c.run(&["logout"]));
    eventually(Duration::from_secs(15), "carol gone", || {
        b.sources_of(&["song"], "song.bin") == 0
    });
    ok(b.run(&["queue", "add", &b3(&song)]));
    eventually(Duration::from_secs(15), "the download waits", || {
        let list = queue(&b);
        list[0]["state"] == "waiting"
            && list[0]["why"]
                .as_str()
                .unwrap_or("")
                .contains("no online peer shares")
    });
    assert!(!b.share().join("song.bin").exists());
    let table = ok(b.run(&["queue"]));
    assert!(table.contains("waiting for a source"), "{table}");
    ok(c.run(&["login"]));
    eventually(Duration::from_secs(30), "the download done", || {
        queue(&b)[0]["state"] == "done"
    });
    assert_eq!(fs::read(b.share().join("song.bin")).unwrap(), song);
    eventually(Duration::from_secs(5), "on_download_done ran", || {
        fs::read_to_string(&hook_file)
            .is_ok_and(|t| t == format!("{}\n", b.share().join("song.bin").display()))
    });
    assert_eq!(b_proc.logged("on_download_done: ran sh "), 1);

    // Bad changes are refused, saying why, and change nothing.
    let before = queue(&b);
    let out = b.run(&["queue", "add", "not-an-id"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("64 hex"), "{}", said(&out));
    let out = b.run(&["queue", "pause", "99"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("no download 99"), "{}", said(&out));
    let out = b.run(&["queue", "pause", "1"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("has ended"), "{}", said(&out));
    assert_eq!(queue(&b), before);
}

#[test]
fn download_rate_limit_caps_the_queue_as_a_whole() {
    let d = start_server();
    let a = PeerSetup::new("alice", &d.addr, "");
    let files: Vec<Vec<u8>> = (0..2)
        .map(|i| unguessable(3 << 20, &format!("capped {i}")))
        .collect();
    for (i, f) in files.iter().enumerate() {
        fs::write(a.share().join(format!("capped{i}.bin")), f).unwrap();
    }
    let _a_proc = a.serve();
    // 1 MiB/s for both together: 6 MiB cannot take less than 5 s (the
    // first second's worth may come at once). Only the floor is checked:
    // a slow machine may take longer, never shorter.
    let b = PeerSetup::new("bob", &d.addr, "download_rate_limit = 1048576");
    let _b_proc = b.serve();
    eventually(Duration::from_secs(15), "both listed", || {
        b.sources_of(&["capped1"], "capped1.bin") == 1
    });
    let started = Instant::now();
    for f in &files {
        ok(b.run(&["queue", "add", &b3(f)]));
    }
    eventually(Duration::from_secs(60), "both done", || {
        count(&queue(&b), "done") == 2
    });
    let took = started.elapsed();
    eprintln!("6 MiB at 1 MiB/s in {took:?}");
    assert!(took >= Duration::from_millis(4500), "6 MiB in {took:?}");
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            fs::read(b.share().join(format!("capped{i}.bin"))).unwrap(),
            *f
        );
    }
}
