//! The relay, on real processes over TLS on loopback: two peers that are
//! both firewalled (`reachable = false`) share through it, TLS end to end,
//! so a recording tap on its link sees no file name and no file byte; its
//! caps refuse with their reason; a relay run apart (the `relay` binary)
//! killed in the middle of a download and started again costs a retry,
//! not the download.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use hubshare::wire::Ticket;
use hubshare::KeyPrint;

use crate::support::*;
use crate::tls::{tls_peer, unguessable};

/// What a relay answers `GET /metrics`, as samples.
pub(crate) fn relay_metrics(addr: &str) -> std::collections::HashMap<String, f64> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    parse_metrics(text.split("\r\n\r\n").nth(1).unwrap_or(""))
}

/// What a relay answers on `s`: the head of a 200, or a refusal whole.
fn first_answer(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    let mut rest = String::new();
    if !got.starts_with(b"HTTP/1.1 200") {
        let _ = s.read_to_string(&mut rest);
    }
    format!("{}{rest}", String::from_utf8_lossy(&got))
}

/// Both ends of a ticket made with `secret` between `source` and
/// `downloader`, met at `relay`: the downloader's socket and what it was
/// answered (the source's socket is returned to keep the session open).
pub(crate) fn meet(
    relay: &str,
    secret: &[u8],
    source: KeyPrint,
    downloader: KeyPrint,
) -> (String, TcpStream, TcpStream) {
    let token = hubshare::wire::KeyPrint::of_spki(&rand_bytes()).to_hex()[..32].to_string();
    let ticket = Ticket::new(&token, source, downloader).seal(secret);
    let mut s = TcpStream::connect(relay).unwrap();
    write!(s, "HUBSHARE-REVERSE {ticket}\r\n").unwrap();
    let mut d = TcpStream::connect(relay).unwrap();
    write!(d, "CONNECT {ticket} HTTP/1.1\r\n\r\n").unwrap();
    (first_answer(&mut d), d, s)
}

fn rand_bytes() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b
}

/// `peer get ID` of `p`, as a child process left running.
fn get_in_background(p: &PeerSetup, id: &str) -> std::process::Child {
    Command::new(PEER)
        .arg("--config")
        .arg(&p.config)
        .args(["get", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn secret_of(file: &Path) -> Vec<u8> {
    fs::read_to_string(file).unwrap().trim().as_bytes().to_vec()
}

#[test]
fn two_firewalled_peers_share_through_the_relay_which_reads_nothing_and_keeps_its_caps() {
    let keys = tempfile::tempdir().unwrap();
    let secret_file = keys.path().join("relay.secret");
    let relay_port = free_port();
    let relay = format!("127.0.0.1:{relay_port}");
    // Peers reach the relay through a tap that records every byte.
    let tap = Relay::start(&relay);
    let d = start_tls_directory(
        None,
        None,
        &format!(
            "[relay]\nlisten = \"{relay}\"\naddr = \"{}\"\nsecret_file = \"{}\"\nsessions_per_peer = 8\n",
            tap.addr,
            secret_file.display()
        ),
    );
    assert_eq!(d.proc.printed_after("relay listening on "), relay);
    let a = tls_peer("alice", &d.invite, "reachable = false");
    let notes = unguessable(3 << 20, "alice relayed");
    let name = "alice-relayed-notes-4711.txt";
    fs::write(a.share().join(name), &notes).unwrap();
    let a_proc = a.serve();
    let c = tls_peer("carol", &d.invite, "reachable = false");
    let _c_proc = c.serve();
    eventually(Duration::from_secs(15), "both listed firewalled", || {
        c.sources_of(&["relayed"], name) == 1
    });
    let text = ok(c.run(&["get", &b3(&notes)]));
    assert!(text.contains("from alice (relayed): "), "{text}");
    assert_eq!(fs::read(c.share().join(name)).unwrap(), notes);
    let status: serde_json::Value =
        serde_json::from_str(&ok(c.run(&["status", "--json"]))).unwrap();
    assert_eq!(status["paths"][0]["path"], "relayed", "{status}");
    assert_eq!(status["paths"][0]["out"], false, "{status}");
    let status: serde_json::Value =
        serde_json::from_str(&ok(a.run(&["status", "--json"]))).unwrap();
    assert_eq!(status["paths"][0]["peer"], "carol", "{status}");
    assert_eq!(status["paths"][0]["out"], true, "{status}");
    assert!(
        a_proc.logged("connected out to carol through the relay at") >= 1,
        "{}",
        a_proc.log_text()
    );

    // The tap carried it all, and saw neither the name nor the bytes.
    let seen = tap.recorded();
    assert!(seen.len() > notes.len(), "the tap saw {} bytes", seen.len());
    assert!(!contains(&seen, name.as_bytes()));
    assert!(!contains(&seen, b"relayed-notes"));
    for at in [0, notes.len() / 2, notes.len() - 64] {
        assert!(!contains(&seen, &notes[at..at + 64]), "file bytes at {at}");
    }
    let m = relay_metrics(&relay);
    assert!(m["hubshare_relay_sessions_total"] >= 1.0, "{m:?}");
    assert!(
        m["hubshare_relay_bytes_total"] >= notes.len() as f64,
        "{m:?}"
    );

    // Sessions per peer: eight of one source are relayed, the ninth is
    // refused and told why; so is a ticket not made by its directory.
    let secret = secret_of(&secret_file);
    let (src, dl) = (
        KeyPrint::of_spki(b"a source"),
        KeyPrint::of_spki(b"a downloader"),
    );
    let mut open = Vec::new();
    for _ in 0..8 {
        let (answer, dsock, ssock) = meet(&relay, &secret, src, dl);
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        open.push((dsock, ssock));
    }
    let (answer, _, _) = meet(&relay, &secret, src, KeyPrint::of_spki(b"another"));
    assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
    assert!(answer.contains("sessions_per_peer"), "{answer}");
    let (answer, _, _) = meet(&relay, b"not the secret", src, dl);
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(
        answer.contains("not made by this relay's directory"),
        "{answer}"
    );
    // What one end sends, the other gets.
    let (d0, s0) = &mut open[0];
    s0.write_all(b"through").unwrap();
    let mut got = [0u8; 7];
    d0.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"through");
    let m = relay_metrics(&relay);
    assert_eq!(
        m["hubshare_relay_refusals_total{reason=\"sessions_per_peer\"}"],
        1.0
    );
    // Both ends of the forged ticket (the source's is counted on its own
    // thread, maybe after the downloader was answered).
    eventually(Duration::from_secs(5), "both forged ends counted", || {
        relay_metrics(&relay).get("hubshare_relay_refusals_total{reason=\"bad_ticket\"}")
            == Some(&2.0)
    });
}

#[test]
fn a_relay_killed_mid_download_and_started_again_costs_a_retry_not_the_download() {
    let keys = tempfile::tempdir().unwrap();
    let secret_file = keys.path().join("relay.secret");
    let relay_config = keys.path().join("relay.toml");
    let port = free_port();
    let relay = format!("127.0.0.1:{port}");
    // 4 MiB/s in all, so the download takes a few seconds.
    fs::write(
        &relay_config,
        format!(
            "listen = \"{relay}\"\nsecret_file = \"{}\"\ntotal_rate = 4194304\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let start_relay = || {
        let mut cmd = Command::new(RELAY);
        cmd.arg("--config").arg(&relay_config);
        Proc::spawn(cmd)
    };
    let mut relay_proc = start_relay();
    assert_eq!(relay_proc.addr, relay);
    let d = start_tls_directory(
        None,
        None,
        &format!(
            "[relay]\naddr = \"{relay}\"\nsecret_file = \"{}\"\n",
            secret_file.display()
        ),
    );
    let a = tls_peer("alice", &d.invite, "reachable = false");
    let film = unguessable(24 << 20, "a film through a relay");
    fs::write(a.share().join("film.bin"), &film).unwrap();
    let _a_proc = a.serve();
    let c = tls_peer("carol", &d.invite, "reachable = false");
    let _c_proc = c.serve();
    eventually(Duration::from_secs(15), "alice listed", || {
        c.sources_of(&["film"], "film.bin") == 1
    });
    let get = get_in_background(&c, &b3(&film));
    eventually(Duration::from_secs(20), "some bytes relayed", || {
        relay_metrics(&relay)
            .get("hubshare_relay_bytes_total")
            .is_some_and(|b| *b > 4e6)
    });
    relay_proc.signal_and_wait("-KILL");
    drop(relay_proc);
    let _relay_again = start_relay();
    let out = get.wait_with_output().unwrap();
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("from alice (relayed): "), "{text}");
    assert_eq!(
        b3(&fs::read(c.share().join("film.bin")).unwrap()),
        b3(&film)
    );
}
