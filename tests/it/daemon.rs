//! The running peer's download queue, on real processes: at most
//! `max_active_downloads` at once, in queue order, every download
//! verified; a peer killed with SIGKILL mid-queue finishes every download
//! from its parts once restarted; a download whose only source is offline
//! waits and completes when the source logs in again, and
//! `on_download_done` runs with its path; bad changes are refused and
//! change nothing; `peer get` hands its download to the running peer and
//! follows it, and Ctrl-C leaves it running there; a wish queues a
//! matching file that appears later.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::tls::unguessable;

/// The list `peer WHAT --json` prints (the queue, the wishlist).
fn listed(p: &PeerSetup, what: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&ok(p.run(&[what, "--json"])))
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The queue as `peer queue --json` lists it.
fn queue(p: &PeerSetup) -> Vec<serde_json::Value> {
    listed(p, "queue")
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
        .map(|i| unguessable(6 << 20, &format!("capped {i}")))
        .collect();
    for (i, f) in files.iter().enumerate() {
        fs::write(a.share().join(format!("capped{i}.bin")), f).unwrap();
    }
    let _a_proc = a.serve();
    // 1 MiB/s for both together: 12 MiB, less the first second's worth
    // that may come at once, takes 11 s at the cap; within 10 % is no
    // less than 10 s. Only that side is checked: a slow machine may take
    // longer, never shorter.
    let b = PeerSetup::new("bob", &d.addr, "download_rate_limit = 1048576");
    let _b_proc = b.serve();
    eventually(Duration::from_secs(15), "both listed", || {
        b.sources_of(&["capped1"], "capped1.bin") == 1
    });
    let started = Instant::now();
    for f in &files {
        ok(b.run(&["queue", "add", &b3(f)]));
    }
    eventually(Duration::from_secs(90), "both done", || {
        count(&queue(&b), "done") == 2
    });
    let took = started.elapsed();
    let rate = (12 << 20) as f64 / took.as_secs_f64() / f64::from(1 << 20);
    eprintln!("12 MiB at 1 MiB/s in {took:?}: {rate:.3}x the cap");
    assert!(took >= Duration::from_secs(10), "12 MiB in {took:?}");
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            fs::read(b.share().join(format!("capped{i}.bin"))).unwrap(),
            *f
        );
    }
}

#[test]
fn peer_get_hands_the_download_to_the_running_peer_and_ctrl_c_leaves_it_running() {
    let d = start_server();
    // A slow source (2 MiB/s) of an 8 MiB film, and a small song.
    let a = PeerSetup::new("alice", &d.addr, "upload_rate_limit = 2097152");
    let film = unguessable(8 << 20, "handed-off film");
    let song = unguessable(300_000, "handed-off song");
    fs::write(a.share().join("film.bin"), &film).unwrap();
    fs::write(a.share().join("song.bin"), &song).unwrap();
    let _a_proc = a.serve();
    let b = PeerSetup::new("bob", &d.addr, "");
    let b_proc = b.serve();
    eventually(Duration::from_secs(15), "alice's files listed", || {
        b.sources_of(&["song"], "song.bin") == 1
    });
    // `get` follows what the running peer fetches, and prints what a get
    // of its own prints (one line per file), with its number there.
    let out = b.run(&["get", "--json", &b3(&song)]);
    let text = ok(out);
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["event"], "saved", "{text}");
    assert_eq!(line["queued_as"], 1, "{text}");
    assert_eq!(line["sources"][0]["peer"], "alice", "{text}");
    assert_eq!(fs::read(b.share().join("song.bin")).unwrap(), song);
    assert_eq!(b_proc.logged("download queue: 1 added"), 1);
    assert_eq!(queue(&b)[0]["state"], "done");
    let entry_of = |id: &str| {
        queue(&b)
            .into_iter()
            .find(|e| e["id"] == id)
            .unwrap_or_default()
    };

    // Ctrl-C while following: this process ends, the download goes on.
    let get = b.spawn(&["get", &b3(&film)]);
    eventually(Duration::from_secs(20), "the film arriving", || {
        let e = entry_of(&b3(&film));
        e["state"] == "active" && e["done"].as_u64() > Some(0)
    });
    let film_n = entry_of(&b3(&film))["n"].as_u64().unwrap();
    assert_eq!(b_proc.logged(&format!("download queue: {film_n} added")), 1);
    let pid = get.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = get.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("goes on in the running peer"), "{err}");
    let film_now = entry_of(&b3(&film));
    assert!(
        film_now["state"] == "active" || film_now["state"] == "done",
        "{film_now}"
    );
    eventually(Duration::from_secs(30), "the film done", || {
        entry_of(&b3(&film))["state"] == "done"
    });
    assert_eq!(fs::read(b.share().join("film.bin")).unwrap(), film);

    // A download whose source is offline: `get` says it waits and ends;
    // it stays queued (asking again is the same download), and `--wait`
    // follows it until the source is back.
    let tune = unguessable(200_000, "handed-off tune");
    fs::write(a.share().join("tune.bin"), &tune).unwrap();
    ok(a.run(&["rescan"]));
    eventually(Duration::from_secs(15), "the tune listed", || {
        b.sources_of(&["tune"], "tune.bin") == 1
    });
    ok(a.run(&["logout"]));
    let err = fails(b.run(&["get", &b3(&tune)]));
    let tune_n = entry_of(&b3(&tune))["n"].as_u64().unwrap();
    assert!(
        err.contains(&format!("download {tune_n} waits for a source")),
        "{err}"
    );
    assert!(err.contains("--wait"), "{err}");
    let follower = b.spawn(&["get", "--wait", &b3(&tune)]);
    ok(a.run(&["login"]));
    let out = follower.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("saved"), "{text}");
    assert_eq!(fs::read(b.share().join("tune.bin")).unwrap(), tune);
    assert_eq!(
        b_proc.logged(&format!("download queue: {tune_n} asked for again")),
        1
    );
    let entries = queue(&b).len();

    // --here runs it in this process, as without a running peer.
    fs::remove_file(b.share().join("song.bin")).unwrap();
    ok(b.run(&["rescan"]));
    let here = ok(b.run(&["get", "--here", &b3(&song)]));
    assert!(here.contains("saved"), "{here}");
    assert_eq!(queue(&b).len(), entries);
    assert_eq!(fs::read(b.share().join("song.bin")).unwrap(), song);
}

/// The wishlist as `peer wish --json` lists it.
fn wishes(p: &PeerSetup) -> Vec<serde_json::Value> {
    listed(p, "wish")
}

#[test]
fn a_wish_queues_a_matching_file_that_appears_later() {
    let d = start_server();
    let a = PeerSetup::new("alice", &d.addr, "");
    let _a_proc = a.serve();
    let b = PeerSetup::new("bob", &d.addr, "wish_every_secs = 1");
    let b_proc = b.serve();
    let added: serde_json::Value =
        serde_json::from_str(&ok(b.run(&["wish", "--json", "add", "holiday"]))).unwrap();
    assert_eq!(
        (added["n"].as_u64(), added["queue"].as_bool()),
        (Some(1), Some(true))
    );
    ok(b.run(&["wish", "add", "--show-only", "beach"]));
    // Bad changes are refused and change nothing.
    let out = b.run(&["wish", "add", "holiday"]);
    assert!(
        said(&out).contains("wish 1 already searches"),
        "{}",
        said(&out)
    );
    let out = b.run(&["wish", "remove", "99"]);
    assert!(
        !out.status.success() && said(&out).contains("no wish 99"),
        "{}",
        said(&out)
    );
    assert_eq!(wishes(&b).len(), 2);
    eventually(
        Duration::from_secs(15),
        "both searched, nothing found",
        || {
            wishes(&b)
                .iter()
                .all(|w| w["searched_at"].as_u64() > Some(0))
        },
    );
    assert!(queue(&b).is_empty());
    // The files appear later.
    let photos = unguessable(400_000, "holiday photos");
    let beach = unguessable(100_000, "beach picture");
    fs::write(a.share().join("holiday photos.zip"), &photos).unwrap();
    fs::write(a.share().join("beach.jpg"), &beach).unwrap();
    ok(a.run(&["rescan"]));
    eventually(
        Duration::from_secs(30),
        "the holiday file queued and done",
        || {
            queue(&b)
                .iter()
                .any(|e| e["id"] == b3(&photos) && e["state"] == "done")
        },
    );
    assert_eq!(
        fs::read(b.share().join("holiday photos.zip")).unwrap(),
        photos
    );
    eventually(Duration::from_secs(15), "the beach match shown", || {
        wishes(&b)[1]["matches"][0]["id"] == b3(&beach)
    });
    let list = wishes(&b);
    assert_eq!(list[0]["matches"][0]["id"], b3(&photos), "{list:?}");
    assert_eq!(list[0]["matches"][0]["name"], "holiday photos.zip");
    assert!(
        list[0]["matches"][0]["queued"].as_u64().is_some(),
        "{list:?}"
    );
    assert!(list[1]["matches"][0]["queued"].is_null(), "{list:?}");
    assert!(!b.share().join("beach.jpg").exists());
    assert_eq!(
        b_proc.logged("wish 1 (\"holiday\") found holiday photos.zip"),
        1
    );
    // Searched again, nothing is queued twice.
    let searched = list[0]["searched_at"].as_u64().unwrap();
    eventually(Duration::from_secs(15), "searched again", || {
        wishes(&b)[0]["searched_at"].as_u64() > Some(searched)
    });
    assert_eq!(queue(&b).len(), 1);
    let table = ok(b.run(&["wish"]));
    assert!(table.contains("holiday  (queues matches"), "{table}");
    assert!(table.contains("found holiday photos.zip"), "{table}");
    ok(b.run(&["wish", "remove", "2"]));
    assert_eq!(wishes(&b).len(), 1);
}
