//! A closed group (a group password), tried on real processes over TLS:
//! a client without the password can neither search, locate, list nor
//! look up peers at the directory, nor fetch a file, a piece list, a
//! listing or the page from a member, each refused saying what is missing
//! and listing nothing; `curl -u :PASSWORD` fetches a file; a member that
//! logs out loses access within one heartbeat; a member the operator
//! removed cannot log in again; a name outlives a directory restart.

use std::fs;
use std::time::Duration;

use crate::support::*;
use crate::tls::{curl, tls_peer, unguessable};
use crate::trust::status_of;

const PASSWORD: &str = "only the group knows this";

/// The status code curl saw (`-w %{http_code}`), and the body.
fn curl_status(args: &[&str]) -> (String, String) {
    let out = curl(&[&["-k", "-w", "\n%{http_code}"], args].concat());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[test]
fn a_closed_group_answers_members_only_and_a_member_that_leaves_loses_access() {
    let state = tempfile::tempdir().unwrap();
    let config = format!("group_password = \"{PASSWORD}\"\nlease_secs = 9\nheartbeat_secs = 1\n");
    let d = start_tls_directory(Some(state.path()), None, &config);
    let member = format!("group_password = \"{PASSWORD}\"");
    let a = tls_peer("alice", &d.invite, &member);
    let content = unguessable(700_000, "exam");
    let id = b3(&content);
    fs::write(a.share().join("exam answers.txt"), &content).unwrap();
    let a_proc = a.serve();
    let b = tls_peer("bob", &d.invite, &member);
    let _b = b.serve();
    eventually(Duration::from_secs(15), "alice listed to bob", || {
        b.sources_of(&["exam"], "exam answers.txt") == 1
    });

    // Without the password: the directory refuses every read, naming what
    // is missing and listing nothing.
    let eve = tls_peer("eve", &d.invite, "");
    for args in [
        vec!["search", "exam"],
        vec!["peers"],
        vec!["get", id.as_str()],
        vec!["browse", "alice"],
    ] {
        let out = eve.run(&args);
        let text = said(&out);
        assert!(!out.status.success(), "{args:?}: {text}");
        assert!(
            text.contains("this group is closed") && text.contains("set group_password"),
            "{args:?}: {text}"
        );
        assert!(!text.contains("exam answers"), "{args:?}: {text}");
        assert!(!text.contains("alice at"), "{args:?}: {text}");
    }
    // A wrong password is refused as such.
    let wrong = tls_peer("eve", &d.invite, "group_password = \"not the password\"");
    let text = said(&wrong.run(&["search", "exam"]));
    assert!(text.contains("wrong group password"), "{text}");

    // Alice's port: nothing for a client without the password, each route
    // refused with a reason and a Basic challenge; nothing listed.
    let status: serde_json::Value =
        serde_json::from_str(&ok(a.run(&["status", "--json"]))).unwrap();
    let pin = format!("sha256//{}", status["keyprint"].as_str().unwrap());
    let base = &a_proc.addr;
    for path in [
        "/".to_string(),
        "/files".to_string(),
        format!("/files/{id}"),
        format!("/files/{id}/pieces"),
        "/inbox".to_string(),
    ] {
        let (code, body) = curl_status(&["--pinnedpubkey", &pin, &format!("{base}{path}")]);
        assert_eq!(code, "401", "{path}: {body}");
        assert!(body.contains("this group is closed"), "{path}: {body}");
        assert!(!body.contains("exam"), "{path}: {body}");
        let head = curl(&["-k", "-I", "--pinnedpubkey", &pin, &format!("{base}{path}")]);
        let head = String::from_utf8_lossy(&head.stdout).to_lowercase();
        assert!(
            head.contains("www-authenticate: basic realm=\"hubshare group\""),
            "{path}: {head}"
        );
    }
    // Health stays open (it lists nothing).
    let (code, _) = curl_status(&["--pinnedpubkey", &pin, &format!("{base}/health")]);
    assert_eq!(code, "200");
    // The wrong password, and eve's own certificate under bob's name.
    let (code, body) = curl_status(&["-u", ":guess", &format!("{base}/files")]);
    assert_eq!(
        (code.as_str(), body.contains("wrong group password")),
        ("401", true),
        "{body}"
    );
    let (eve_crt, eve_key) = (eve.state().join("tls.crt"), eve.state().join("tls.key"));
    assert!(eve_crt.exists() && eve_key.exists());
    let as_bob = [
        "--cert",
        eve_crt.to_str().unwrap(),
        "--key",
        eve_key.to_str().unwrap(),
        "-H",
        "X-Hubshare-Peer: bob",
    ];
    let (code, body) = curl_status(&[&as_bob[..], &[&format!("{base}/files")]].concat());
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("another certificate"), "{body}");

    // The password over TLS fetches the file and the listing.
    let got = tempfile::tempdir().unwrap();
    let file = got.path().join("got");
    let out = curl(&[
        "-k",
        "--pinnedpubkey",
        &pin,
        "-u",
        &format!(":{PASSWORD}"),
        "-o",
        file.to_str().unwrap(),
        &format!("{base}/files/{id}"),
    ]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(fs::read(&file).unwrap(), content);
    let (code, body) = curl_status(&["-u", &format!(":{PASSWORD}"), &format!("{base}/files")]);
    assert_eq!(code, "200");
    assert!(body.contains("exam answers.txt"), "{body}");

    // A member downloads as before (its certificate and name, checked with
    // the directory).
    let out = b.run(&["get", &id]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        fs::read(b.share().join("exam answers.txt")).unwrap(),
        content
    );
    fs::remove_file(b.share().join("exam answers.txt")).unwrap();

    // Bob logs out: within alice's heartbeat interval (1 s here) she
    // serves him no more, and says why.
    ok(b.run(&["logout"]));
    eventually(Duration::from_secs(10), "bob refused by alice", || {
        let out = b.run(&["get", &id]);
        if out.status.success() {
            // Still within the interval: served; take it away again.
            fs::remove_file(b.share().join("exam answers.txt")).unwrap();
            return false;
        }
        said(&out).contains("bob is not logged in")
    });
    assert!(!b.share().join("exam answers.txt").exists());
    // Logged in again, he is served again.
    ok(b.run(&["login"]));
    eventually(Duration::from_secs(10), "bob served again", || {
        b.run(&["get", &id]).status.success()
    });
    assert_eq!(
        fs::read(b.share().join("exam answers.txt")).unwrap(),
        content
    );

    // The operator removes bob: his session ends, he cannot log in again.
    let removed = std::process::Command::new(SERVER)
        .arg("--config")
        .arg(d.dir.path().join("server.toml"))
        .args(["remove", "bob", "--at", &d.proc.addr])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", said(&removed));
    assert!(
        said(&removed).contains("removed bob: its session ended"),
        "{}",
        said(&removed)
    );
    eventually(Duration::from_secs(5), "the removal logged", || {
        d.proc.logged("removed by the operator: bob") == 1
    });
    let again = b.run(&["login"]);
    assert!(!again.status.success());
    assert!(
        said(&again).contains("removed from the group"),
        "{}",
        said(&again)
    );
    // Nobody else may call it: alice's certificate is not the operator's.
    let cert = fs::read(state.path().join("tls.crt")).unwrap();
    let creds = grpcio::ChannelCredentialsBuilder::new()
        .root_cert(cert)
        .cert(
            fs::read(a.state().join("tls.crt")).unwrap(),
            fs::read(a.state().join("tls.key")).unwrap(),
        )
        .build();
    let channel = grpcio::ChannelBuilder::new(std::sync::Arc::new(grpcio::Environment::new(1)))
        .set_credentials(creds)
        .override_ssl_target("hubshare-directory")
        .connect(&d.proc.addr);
    let client = hubshare::proto::directory_grpc::DirectoryClient::new(channel);
    let req = hubshare::proto::directory::RemovePeerRequest {
        name: "alice".into(),
        ..Default::default()
    };
    let opt = grpcio::CallOption::default().timeout(Duration::from_secs(5));
    let (code, msg) = status_of(client.remove_peer_opt(&req, opt).unwrap_err());
    assert_eq!(code, grpcio::RpcStatusCode::PERMISSION_DENIED, "{msg}");
    assert!(msg.contains("only the directory's operator"), "{msg}");
    assert!(ok(a.run(&["status"])).contains("online"));
}

#[test]
fn a_name_bound_before_a_directory_restart_still_refuses_another_certificate() {
    let state = tempfile::tempdir().unwrap();
    let config = format!("group_password = \"{PASSWORD}\"\n");
    let d = start_tls_directory(Some(state.path()), None, &config);
    let member = format!("group_password = \"{PASSWORD}\"");
    let a = tls_peer("alice", &d.invite, &member);
    let mut a_proc = a.serve();
    eventually(Duration::from_secs(15), "alice online", || {
        ok(a.run(&["status"])).contains("online")
    });
    assert!(a_proc.signal_and_wait("-INT").success());
    // The directory restarts on the same port with the same state folder.
    let listen = d.proc.addr.clone();
    drop(d);
    let d = start_tls_directory(Some(state.path()), Some(&listen), &config);
    assert!(fs::read_to_string(state.path().join("names.log"))
        .unwrap()
        .contains("bind alice "));
    let other = tls_peer("alice", &d.invite, &member);
    let out = other.run(&["serve"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("\"alice\" belongs to another peer"),
        "{}",
        said(&out)
    );
    // The owner comes back under its name.
    let _a = a.serve();
    eventually(Duration::from_secs(15), "alice online again", || {
        ok(a.run(&["status"])).contains("online")
    });
}

#[test]
fn without_tls_members_show_the_password_and_an_open_group_serves_anyone() {
    // tls = false: no certificates, so members' peers show the password.
    let server = start_directory(&format!("group_password = \"{PASSWORD}\""));
    let member = format!("group_password = \"{PASSWORD}\"");
    let a = PeerSetup::new("alice", &server.addr, &member);
    let content = unguessable(300_000, "plain minutes");
    let id = b3(&content);
    fs::write(a.share().join("minutes.txt"), &content).unwrap();
    let a_proc = a.serve();
    let b = PeerSetup::new("bob", &server.addr, &member);
    // At debug level ureq logs the headers it sends.
    let b_proc = b.serve_logging("debug,ureq=debug");
    eventually(Duration::from_secs(15), "alice listed", || {
        b.sources_of(&["minutes"], "minutes.txt") == 1
    });
    ok(b.run(&["get", &id]));
    assert_eq!(fs::read(b.share().join("minutes.txt")).unwrap(), content);
    let url = format!("{}/files/{id}", a_proc.addr);
    let (code, body) = curl_status(&[&url]);
    assert_eq!(code, "401", "{body}");
    let (code, _) = curl_status(&["-u", &format!(":{PASSWORD}"), &url]);
    assert_eq!(code, "200");
    // The password never shows in a log line, in the clear or as Basic.
    let basic = hubshare::base64::encode(format!(":{PASSWORD}").as_bytes());
    for log in [a_proc.log_text(), b_proc.log_text()] {
        assert!(!log.contains(PASSWORD) && !log.contains(&basic), "{log}");
    }

    // An open group, as before: anyone fetches, nothing is asked.
    let open = start_server();
    let c = PeerSetup::new("carol", &open.addr, "");
    fs::write(c.share().join("minutes.txt"), &content).unwrap();
    let c_proc = c.serve();
    let got = tempfile::tempdir().unwrap();
    let file = got.path().join("got");
    let (code, _) = curl_status(&[
        "-o",
        file.to_str().unwrap(),
        &format!("{}/files/{id}", c_proc.addr),
    ]);
    assert_eq!(code, "200");
    assert_eq!(fs::read(&file).unwrap(), content);
}
