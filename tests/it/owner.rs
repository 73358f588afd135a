//! The owner's page of a running peer (`/owner`), in headless Chromium
//! driven through the DevTools protocol: the owner signs in, searches,
//! downloads to the peer with one click and sees it finish on the queue
//! page; a form posted without its token, or with another session's, is
//! refused and changes nothing; five wrong passwords slow sign-ins down
//! while a one-time link from `peer web-login` still works; a visitor who
//! is not signed in is offered no control.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::tls::unguessable;
use crate::web::chromium;

const PASSWORD: &str = "correct horse battery staple";

/// The form token of the first form on an owner page.
fn form_token(html: &str) -> String {
    let at = html.find("name=\"form\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[test]
fn the_owner_signs_in_downloads_to_the_peer_and_forms_need_their_sessions_token() {
    let d = start_tls_directory(None, None, "");
    let a = PeerSetup::new("alice", &d.invite, "tls = true");
    let video = unguessable(3 << 20, "owner's holiday video");
    fs::write(a.share().join("holiday video.mkv"), &video).unwrap();
    fs::write(a.share().join("beach.jpg"), unguessable(50_000, "beach")).unwrap();
    let _a_proc = a.serve();
    let hash = hubshare::passhash::PasswordHash::new(PASSWORD);
    let b = PeerSetup::new(
        "bob",
        &d.invite,
        &format!("tls = true\nweb_password_hash = \"{hash}\""),
    );
    let b_proc = b.serve();
    eventually(Duration::from_secs(15), "alice's files listed", || {
        b.sources_of(&["beach"], "beach.jpg") == 1
    });
    let status: serde_json::Value =
        serde_json::from_str(&ok(b.run(&["status", "--json"]))).unwrap();
    let kp = status["keyprint"].as_str().unwrap().to_string();
    let base = b_proc.addr.clone();
    assert!(base.starts_with("https://"), "{base}");
    let queue_len = || {
        serde_json::from_str::<serde_json::Value>(&ok(b.run(&["queue", "--json"])))
            .unwrap()
            .as_array()
            .map_or(0, Vec::len)
    };
    let mut web = Browser::start(
        &chromium(),
        &[&format!("--ignore-certificate-errors-spki-list={kp}")],
    );

    // A visitor: today's page, and on /owner a sign-in form, no control.
    web.open(&format!("{base}/"));
    let public = web.html();
    assert!(
        public.contains("holiday") || public.contains("bob"),
        "{public}"
    );
    assert!(!public.contains("method=\"post\""), "{public}");
    web.open(&format!("{base}/owner?q=holiday"));
    let gate = web.html();
    assert!(gate.contains("id=\"sign-in\""), "{gate}");
    assert!(!gate.contains("Download to this peer"), "{gate}");
    assert!(!gate.contains("name=\"form\""), "{gate}");

    // Sign in: a cookie the page's script cannot read, Secure, Strict.
    web.act(&format!(
        "document.querySelector('#sign-in input[name=password]').value = {PASSWORD:?}; \
         document.querySelector('#sign-in').submit()"
    ));
    assert_eq!(web.at(), "/owner");
    assert!(web.text().contains("Sign out"), "{}", web.text());
    let cookies = web.cookies();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "__Host-hubshare-owner")
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["secure"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    assert_eq!(web.eval("document.cookie"), "");

    // Search, and download to this peer with one click.
    web.open(&format!("{base}/owner?q=holiday"));
    assert!(web.text().contains("holiday video.mkv"), "{}", web.text());
    web.act("document.querySelector('form[action=\"/owner/queue\"] button').click()");
    assert_eq!(web.at(), "/owner/queue");
    eventually(Duration::from_secs(30), "the queue page says done", || {
        web.open(&format!("{base}/owner/queue"));
        web.eval("document.querySelector('tr.entry .state').innerText")
            .as_str()
            .is_some_and(|s| s.starts_with("done"))
    });
    assert_eq!(
        fs::read(b.share().join("holiday video.mkv")).unwrap(),
        video
    );
    assert_eq!(b_proc.logged("download queue: 1 added"), 1);
    assert_eq!(queue_len(), 1);

    // Another session's token, from another client (curl).
    let jar = tempfile::tempdir().unwrap();
    let jar = jar.path().join("cookies");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-k", "--pinnedpubkey", &format!("sha256//{kp}")])
            .args(["-c", jar.to_str().unwrap(), "-b", jar.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    curl(&[
        "-d",
        &format!("password={PASSWORD}"),
        &format!("{base}/owner/sign-in"),
    ]);
    let other = form_token(&curl(&[&format!("{base}/owner")]));
    web.open(&format!("{base}/owner?q=beach"));
    let mine = form_token(&web.html());
    assert_ne!(mine, other);
    let post_with = |token: &str| {
        format!(
            "document.querySelectorAll('form[action=\"/owner/queue\"] input[name=form]')\
             .forEach(i => i.value = {token:?}); \
             document.querySelector('form[action=\"/owner/queue\"] button').click()"
        )
    };
    for token in ["", other.as_str()] {
        web.open(&format!("{base}/owner?q=beach"));
        web.act(&post_with(token));
        let said = web.text();
        assert!(said.contains("nothing was changed"), "{token:?}: {said}");
        assert_eq!(queue_len(), 1, "{token:?}");
    }
    // A form stripped of its token field altogether.
    web.open(&format!("{base}/owner?q=beach"));
    web.act(
        "document.querySelectorAll('input[name=form]').forEach(i => i.remove()); \
         document.querySelector('form[action=\"/owner/queue\"] button').click()",
    );
    assert!(web.text().contains("nothing was changed"));
    assert_eq!(queue_len(), 1);
    // With its own token it works.
    web.open(&format!("{base}/owner?q=beach"));
    web.act(&post_with(&mine));
    assert_eq!(web.at(), "/owner/queue");
    assert_eq!(queue_len(), 2);

    // A wish from the page: `peer wish` lists it, and the page shows it.
    web.open(&format!("{base}/owner"));
    web.act(
        "const q = document.querySelector('#wishes input[name=query]'); \
         q.value = 'sunset'; q.form.submit()",
    );
    let wishes: serde_json::Value = serde_json::from_str(&ok(b.run(&["wish", "--json"]))).unwrap();
    assert_eq!(wishes[0]["query"], "sunset", "{wishes}");
    assert_eq!(wishes[0]["queue"], true, "{wishes}");
    assert!(web.text().contains("sunset"), "{}", web.text());

    // Signed out, five wrong passwords: then even the right one waits.
    web.act("document.querySelector('form[action=\"/owner/sign-out\"] button').click()");
    web.open(&format!("{base}/owner/queue"));
    assert!(web.html().contains("id=\"sign-in\""));
    let sign_in = |pw: &str| {
        format!(
            "document.querySelector('#sign-in input[name=password]').value = {pw:?}; \
             document.querySelector('#sign-in').submit()"
        )
    };
    for i in 0..5 {
        web.open(&format!("{base}/owner"));
        web.act(&sign_in(&format!("guess {i}")));
        assert!(web.text().contains("Wrong password"), "{}", web.text());
    }
    web.open(&format!("{base}/owner"));
    web.act(&sign_in(PASSWORD));
    let slowed = web.text();
    assert!(slowed.contains("Too many wrong passwords"), "{slowed}");
    assert!(!slowed.contains("Sign out"), "{slowed}");
    assert_eq!(b_proc.logged("5 wrong passwords in a row"), 1);
    // A one-time link still signs the owner in, once.
    let link = ok(b.run(&["web-login"])).trim().to_string();
    assert!(
        link.starts_with(&format!("{base}/owner/sign-in?once=")),
        "{link}"
    );
    web.open(&link);
    assert_eq!(web.at(), "/owner");
    assert!(web.text().contains("Sign out"));
    web.act("document.querySelector('form[action=\"/owner/sign-out\"] button').click()");
    web.open(&link);
    assert!(web.text().contains("used up or too old"), "{}", web.text());
    // No secret in the peer's log.
    let log = b_proc.log_text();
    assert!(!log.contains(PASSWORD), "{log}");
    assert!(!log.contains(&mine), "{log}");
    assert!(
        !log.contains(&link[link.find("once=").unwrap() + 5..]),
        "{log}"
    );
}

#[test]
fn web_password_prints_the_config_line_of_a_hash_and_never_the_password() {
    use std::io::Write;
    let b = PeerSetup::new("bob", "127.0.0.1:1", "");
    let run = |input: &str| {
        let mut child = b
            .command(&["web-password"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&format!("{PASSWORD}\n"));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{line}");
    assert!(!line.contains("horse"), "{line}");
    let hash = line
        .strip_prefix("web_password_hash = \"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{line}"));
    let parsed = hubshare::passhash::PasswordHash::parse(hash).unwrap();
    assert!(parsed.verify(PASSWORD));
    assert!(!parsed.verify("correct horse"));
    // Too short: refused, nothing printed.
    let out = run("short\n");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    // A config with a hash that is not one is refused at start, saying so.
    let bad = PeerSetup::new("carol", "127.0.0.1:1", "web_password_hash = \"hunter2\"");
    let err = fails(bad.run(&["status"]));
    assert!(err.contains("web_password_hash"), "{err}");
    assert!(err.contains("peer web-password"), "{err}");
    // Over tls = false there is no owner page (its cookie needs HTTPS).
    let d = start_server();
    let plain = PeerSetup::new("dave", &d.addr, "");
    let p = plain.serve();
    assert!(p.addr.starts_with("http://"), "{}", p.addr);
    let (status, _, body) = raw_http(&p.addr, "GET /owner HTTP/1.1", b"");
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("needs HTTPS"));
}
