//! TLS on every connection, tried on real processes: the directory's gRPC
//! port and every peer's HTTP port speak TLS by default; plaintext clients
//! get no answer; a relay that records every byte sees no secret, no file
//! name and no file byte; a directory is pinned by its invite or on first
//! use; a peer is known by its certificate; a downloader pins each source
//! by the keyprint the directory lists; curl pins a peer by its keyprint.
//! (The rest of the suite runs with `tls = false`, the plaintext option:
//! what happens inside a connection is the same either way.)

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;
use hubshare::DirectoryApi;

use crate::support::*;

/// A peer config over TLS (the default) with `extra` keys.
pub(crate) fn tls_peer(name: &str, directory: &str, extra: &str) -> PeerSetup {
    PeerSetup::new(name, directory, &format!("tls = true\n{extra}"))
}

/// `len` bytes no one would guess (a hash chain).
pub(crate) fn unguessable(len: usize, seed: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut h = blake3::hash(seed.as_bytes());
    while out.len() < len {
        out.extend_from_slice(h.as_bytes());
        h = blake3::hash(h.as_bytes());
    }
    out.truncate(len);
    out
}

/// What a plain-TCP client gets for a plaintext HTTP request (all of it,
/// until the server closes or 5 s pass).
fn plain_http_answer(addr: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr.trim_start_matches("https://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /files HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

#[test]
fn plaintext_clients_get_no_answer_and_tls_peers_share_as_before() {
    let d = start_tls_directory(None, None, "");
    assert!(
        d.invite.starts_with("hubshare://127.0.0.1:"),
        "{}",
        d.invite
    );
    assert!(d.invite.ends_with(&format!("?kp={}", d.keyprint)));
    let a = tls_peer("alice", &d.invite, "accept_uploads = true");
    let content = unguessable(700_000, "plans");
    fs::write(a.share().join("secret plans.txt"), &content).unwrap();
    let a_proc = a.serve();
    assert!(a_proc.addr.starts_with("https://"), "{}", a_proc.addr);
    let b = tls_peer("bob", &d.invite, "");
    eventually(Duration::from_secs(15), "bob finds alice's file", || {
        ok(b.run(&["search", "plans"])).contains("secret plans.txt")
    });

    // A plaintext gRPC client: the call fails, nothing comes back.
    let plain = grpc(&d.proc.addr);
    let asked = plain.search_opt(
        &pb::SearchRequest {
            query: "plans".into(),
            limit: 10,
            ..Default::default()
        },
        grpcio::CallOption::default().timeout(Duration::from_secs(5)),
    );
    assert!(asked.is_err(), "a plaintext client got {asked:?}");
    // A plaintext HTTP client: not a byte of answer; the peer counts it.
    let got = plain_http_answer(&a_proc.addr);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));

    // Over TLS the download is whole and verified; the status says who.
    let id = b3(&content);
    ok(b.run(&["get", &id]));
    assert_eq!(
        fs::read(b.share().join("secret plans.txt")).unwrap(),
        content
    );
    // Browsing and uploading go over TLS too, pinned by name.
    assert!(ok(b.run(&["browse", "alice"])).contains("secret plans.txt"));
    let gift = b.root.path().join("gift.txt");
    fs::write(&gift, b"for alice").unwrap();
    ok(b.run(&["upload", gift.to_str().unwrap(), "--to", "alice"]));
    assert_eq!(fs::read(a.share().join("gift.txt")).unwrap(), b"for alice");
    let by_address = fails(b.run(&["browse", a_proc.addr.trim_start_matches("https://")]));
    assert!(by_address.contains("give its name"), "{by_address}");
    let status = ok(a.run(&["status"]));
    let kp = hubshare::keyprint_of(&pem_der(&a.state().join("tls.crt"))).unwrap();
    let pin = format!("sha256//{kp}");
    let metrics = curl(&[
        "-k",
        "--pinnedpubkey",
        &pin,
        &format!("{}/metrics", a_proc.addr),
    ]);
    let samples = parse_metrics(&String::from_utf8_lossy(&metrics.stdout));
    let plaintext = "hubshare_peer_tls_handshake_failures_total{reason=\"plaintext\"}";
    assert_eq!(samples.get(plaintext), Some(&1.0), "{samples:?}");
    assert!(status.contains(&format!("keyprint:  {kp}")), "{status}");
    assert!(
        status.contains(&format!("directory keyprint: {}", d.keyprint)),
        "{status}"
    );
}

/// The DER of the first certificate in a PEM file.
fn pem_der(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

/// The 32-byte private scalar in a PKCS#8 P-256 key file (PEM).
fn private_scalar(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::{pem::PemObject, PrivateKeyDer};
    let der = PrivateKeyDer::from_pem_file(path).unwrap();
    let der = der.secret_der();
    let at = der
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .expect("an EC private key");
    der[at + 5..at + 37].to_vec()
}

#[test]
fn a_recording_relay_sees_no_key_password_token_file_name_or_byte() {
    let password = "correct horse battery";
    let d = start_tls_directory(None, None, &format!("group_password = \"{password}\""));
    let to_directory = Relay::start(&d.proc.addr);
    // alice is reached through a relay too: she advertises its address.
    let alice_port = free_port();
    let to_alice = Relay::start(&format!("127.0.0.1:{alice_port}"));
    let secrets = format!("group_password = \"{password}\"\n");
    let a = tls_peer(
        "alice",
        &to_directory.addr,
        &format!(
            "{secrets}listen = \"127.0.0.1:{alice_port}\"\nadvertise_addr = \"https://{}\"",
            to_alice.addr
        ),
    );
    // PeerSetup's own listen line comes first; the later one is refused
    // by TOML, so write alice's config whole.
    let text = fs::read_to_string(&a.config).unwrap();
    let text = text.replacen("listen = \"127.0.0.1:0\"\n", "", 1);
    fs::write(&a.config, text).unwrap();
    let content = unguessable(900_000, "answers");
    fs::write(a.share().join("exam answers 2026.txt"), &content).unwrap();
    let _a = a.serve();
    let b = tls_peer("bob", &to_directory.addr, &secrets);
    // A closed group: bob downloads as a live member.
    let _b = b.serve();
    eventually(Duration::from_secs(15), "bob finds the answers", || {
        ok(b.run(&["search", "exam", "answers"])).contains("exam answers 2026.txt")
    });
    let id = b3(&content);
    ok(b.run(&["get", &id]));
    assert_eq!(
        fs::read(b.share().join("exam answers 2026.txt")).unwrap(),
        content
    );
    // A session token crosses the relay both ways: from a Login and in a
    // Heartbeat.
    let carol_state = tempfile::tempdir().unwrap();
    let me = hubshare::tls::load_or_create(
        &hubshare::tls::TlsPaths::in_state(carol_state.path()),
        &["carol".into()],
        "carol",
    )
    .unwrap();
    let target = hubshare::DirectoryTarget::parse(&to_directory.addr).unwrap();
    let carol = hubshare::Directory::connect_tls(
        &hubshare::DirectoryTarget {
            pin: Some(hubshare::KeyPrint::parse(&d.keyprint).unwrap()),
            ..target
        },
        hubshare::TlsDial {
            me,
            pin: None,
            known: None,
        },
    );
    let creds = hubshare::Credentials {
        key: None,
        group_password: Some(hubshare::GroupPassword::new(password).unwrap()),
        ..Default::default()
    };
    let addr = hubshare::HttpAddr::parse("https://127.0.0.1:9").unwrap();
    let login = carol.login("carol", &addr, &creds, &[]).unwrap();
    carol.heartbeat(&login.token).unwrap();

    let mut seen = to_directory.recorded();
    let peer_bytes = to_alice.recorded();
    assert!(
        peer_bytes.len() > content.len() && seen.len() > 10_000,
        "the relays carried the traffic ({} and {} bytes)",
        peer_bytes.len(),
        seen.len()
    );
    seen.extend_from_slice(&peer_bytes);
    let mut secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the group password", password.as_bytes().to_vec()),
        ("a session token", login.token.as_bytes().to_vec()),
        ("a file name", b"exam answers".to_vec()),
        ("a search word", b"answers".to_vec()),
    ];
    for peer in [&a, &b] {
        let key = peer.state().join("tls.key");
        secrets.push(("a private key", private_scalar(&key)));
        let pem = fs::read_to_string(&key).unwrap();
        let body = pem.lines().nth(1).unwrap().as_bytes().to_vec();
        secrets.push(("a key file's contents", body));
    }
    for at in [0, 262_144, 524_288, content.len() - 64] {
        secrets.push(("a file's bytes", content[at..at + 64].to_vec()));
    }
    for (what, bytes) in &secrets {
        assert!(!contains(&seen, bytes), "the relay saw {what}");
    }
}

#[test]
fn an_impostor_directory_is_refused_by_the_invite_and_after_first_use() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let real = start_tls_directory(None, Some(&listen), "");
    let invited = tls_peer("ivy", &real.invite, "");
    let trusting = tls_peer("toby", &listen, "");
    ok(invited.run(&["peers"]));
    // A peer that keeps serving through the swap, with its channel open.
    let serving = tls_peer("sam", &real.invite, "");
    let mut sam = serving.serve();
    eventually(Duration::from_secs(15), "sam online", || {
        ok(invited.run(&["peers"])).contains("sam")
    });
    let first = trusting.run(&["peers"]);
    let said = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(first.status.success(), "{said}");
    assert!(said.contains("on first use"), "{said}");
    let known = fs::read_to_string(trusting.state().join("known_directories")).unwrap();
    assert!(known.contains(&real.keyprint), "{known}");
    // Said once: the second time it is simply trusted.
    let again = trusting.run(&["peers"]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("on first use"));
    drop(real);

    // Another key at the same address.
    let impostor = start_tls_directory(None, Some(&listen), "");
    assert_ne!(impostor.keyprint, real_keyprint(&known));
    for (peer, pinned_by) in [(&invited, "invite"), (&trusting, "trusted on first use")] {
        let err = fails(peer.run(&["peers"]));
        assert!(err.contains(&impostor.keyprint), "{err}");
        assert!(err.contains(&real_keyprint(&known)), "{err}");
        assert!(err.contains(pinned_by), "{err}");
        assert!(err.contains("server invite"), "{err}");
    }
    // The serving peer finds out at its next call, and stops with the reason.
    eventually(Duration::from_secs(30), "sam stops", || {
        sam.child.try_wait().unwrap().is_some()
    });
    assert_eq!(sam.child.wait().unwrap().code(), Some(1));
    assert!(
        sam.log_text().contains(&impostor.keyprint),
        "{}",
        sam.log_text()
    );
    // A peer started now stops at once with the same reason.
    let out = invited.run(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&impostor.keyprint), "{err}");
}

fn real_keyprint(known: &str) -> String {
    known.split_whitespace().last().unwrap().to_string()
}

#[test]
fn a_login_needs_a_client_certificate_and_a_taken_name_refuses_another() {
    let d = start_tls_directory(None, None, "");
    // TLS without a client certificate: the handshake is refused, so no
    // call is answered, not even a read.
    let cert = fs::read(d.dir.path().join("state/tls.crt")).unwrap();
    let creds = grpcio::ChannelCredentialsBuilder::new()
        .root_cert(cert)
        .build();
    let env = Arc::new(grpcio::Environment::new(1));
    let channel = grpcio::ChannelBuilder::new(env)
        .set_credentials(creds)
        .override_ssl_target("hubshare-directory")
        .connect(&d.proc.addr);
    let client = DirectoryClient::new(channel);
    let opt = || grpcio::CallOption::default().timeout(Duration::from_secs(5));
    let login = client.login_opt(&pb_login("mallory", &["x.txt"]), opt());
    assert!(login.is_err(), "{login:?}");
    let peers = client.list_peers_opt(&pb::ListPeersRequest::default(), opt());
    assert!(peers.is_err(), "{peers:?}");

    // alice's name is hers: another certificate under it is refused.
    let a = tls_peer("alice", &d.invite, "");
    let _a = a.serve();
    let b = tls_peer("bob", &d.invite, "");
    eventually(Duration::from_secs(15), "alice online", || {
        ok(b.run(&["peers"])).contains("alice")
    });
    let other = tls_peer("alice", &d.invite, "");
    let out = other.run(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\"alice\" is in use by another peer"), "{err}");
    let theirs = hubshare::keyprint_of(&pem_der(&other.state().join("tls.crt"))).unwrap();
    eventually(Duration::from_secs(5), "the refusal logged", || {
        d.proc
            .logged(&format!("refused keyprint {theirs} from 127.0.0.1"))
            == 1
    });
    assert_eq!(
        d.proc.logged("BEGIN"),
        0,
        "no key or certificate in the log"
    );
}

#[test]
fn a_man_in_the_middle_in_front_of_a_source_is_dropped_by_name() {
    let d = start_tls_directory(None, None, "");
    let content = unguessable(600_000, "mitm");
    let id = b3(&content);
    let alice_port = free_port();
    // It lets the directory's look at Login through (alice is listed as
    // reachable), then steps in.
    let mitm = Mitm::start_after(&format!("127.0.0.1:{alice_port}"), 1);
    let a = tls_peer(
        "alice",
        &d.invite,
        &format!("advertise_addr = \"https://{}\"", mitm.addr),
    );
    let text = fs::read_to_string(&a.config).unwrap();
    let text = text.replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{alice_port}\""),
        1,
    );
    fs::write(&a.config, text).unwrap();
    fs::write(a.share().join("payroll.csv"), &content).unwrap();
    let _a = a.serve();
    let c = tls_peer("carol", &d.invite, "");
    fs::write(c.share().join("payroll.csv"), &content).unwrap();
    let _c = c.serve();
    let b = tls_peer("bob", &d.invite, "");
    eventually(Duration::from_secs(15), "both sources listed", || {
        b.sources_of(&["payroll"], "payroll.csv") == 2
    });

    // The middle is real: it forwards to alice, and fools a client that
    // checks nothing (curl -k without a pin).
    let fooled = curl(&["-k", &format!("https://{}/files/{id}", mitm.addr)]);
    assert_eq!(fooled.stdout, content, "the man in the middle forwards");
    let before = mitm.connections.load(Ordering::SeqCst);

    let out = b.run(&["get", &id]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(
            "dropped alice: its certificate does not match the keyprint the directory lists"
        ),
        "{said}"
    );
    assert!(
        mitm.connections.load(Ordering::SeqCst) > before,
        "bob tried alice"
    );
    assert_eq!(fs::read(b.share().join("payroll.csv")).unwrap(), content);
}

/// `curl` with `args` (silent, errors shown), its output.
pub(crate) fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl (apt-get install -y curl)")
}

#[test]
fn curl_pins_a_peer_by_its_keyprint() {
    let d = start_tls_directory(None, None, "");
    let a = tls_peer("alice", &d.invite, "");
    let content = unguessable(300_000, "curl");
    fs::write(a.share().join("notes.bin"), &content).unwrap();
    let a_proc = a.serve();
    let status: serde_json::Value =
        serde_json::from_str(&ok(a.run(&["status", "--json"]))).unwrap();
    let kp = status["keyprint"].as_str().expect("a keyprint").to_string();
    let id = b3(&content);
    let url = format!("{}/files/{id}", a_proc.addr);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("got");
    let pinned = format!("sha256//{kp}");
    let got = curl(&[
        "-k",
        "--pinnedpubkey",
        &pinned,
        "-o",
        file.to_str().unwrap(),
        &url,
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(fs::read(&file).unwrap(), content);
    // The page shows the keyprint, for a person to compare.
    let page = curl(&[
        "-k",
        "--pinnedpubkey",
        &pinned,
        &format!("{}/", a_proc.addr),
    ]);
    assert!(String::from_utf8_lossy(&page.stdout).contains(&kp));
    // Another pin: curl refuses the connection (its code 90).
    let wrong = format!("sha256//{}", d.keyprint);
    let refused = curl(&["-k", "--pinnedpubkey", &wrong, &url]);
    assert_eq!(refused.status.code(), Some(90), "{refused:?}");
    assert!(refused.stdout.is_empty());
}

#[test]
fn replicas_that_share_one_key_are_pinned_by_one_invite() {
    let redis = crate::replicas::Redis::start();
    let keys = tempfile::tempdir().unwrap();
    let config = format!(
        "store = \"redis\"\nredis_url = \"{}\"\ntls_key = \"{}\"",
        redis.url(),
        keys.path().join("directory.key").display()
    );
    let first = start_tls_directory(None, None, &config);
    let second = start_tls_directory(None, None, &config);
    assert_eq!(first.keyprint, second.keyprint, "one key, one keyprint");
    let invite = format!(
        "hubshare://{},{}/?kp={}",
        first.proc.addr, second.proc.addr, first.keyprint
    );
    let a = tls_peer("alice", &invite, "");
    fs::write(a.share().join("minutes.txt"), b"replicated minutes").unwrap();
    let _a = a.serve();
    let b = tls_peer("bob", &invite, "");
    eventually(Duration::from_secs(15), "bob finds alice's file", || {
        ok(b.run(&["search", "minutes"])).contains("minutes.txt")
    });
    // Either replica answers under the one invite, with the certificate
    // the peers checked first: alice's running session announces a new
    // file through the other one.
    drop(first);
    fs::write(a.share().join("agenda.txt"), b"next meeting").unwrap();
    eventually(Duration::from_secs(20), "alice's new file listed", || {
        ok(b.run(&["search", "agenda"])).contains("agenda.txt")
    });
    let cert = |dir: &tempfile::TempDir| fs::read(dir.path().join("directory.crt"));
    assert!(
        cert(&keys).is_ok(),
        "the certificate lies beside the shared key"
    );
    assert!(!second.dir.path().join("state/tls.crt").exists());
}
