//! The web page every peer serves, in a real headless browser (Debian's
//! `chromium`, which `.ci/run` installs; `HUBSHARE_CHROMIUM` names another).
//! The browser loads the page from a real peer, the test reads the DOM it
//! built, follows the links it shows with an HTTP client, and checks the
//! bytes against the ids.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The browser to drive: `HUBSHARE_CHROMIUM`, else the first of the usual
/// names on the PATH. These tests fail (they do not skip) without one.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("HUBSHARE_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the web page tests need a headless Chromium: `apt-get install -y chromium` \
         (or set HUBSHARE_CHROMIUM to a Chrome or Chromium binary)"
    );
}

/// Runs the browser on `url` with `args`, bounded in time; returns stdout.
fn browse_with(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args(HEADLESS)
        .arg("--hide-scrollbars")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut out).ok();
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed on {url}: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {url} in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The DOM the browser built from `url` (scripts on, as a visitor has them).
fn dom(url: &str) -> String {
    browse_with(url, &["--dump-dom"])
}

/// Every link in a serialized DOM that comes right after `before`
/// (`<a class="source" href="` for results, `<li class="file"><a href="`
/// for the peer's own files).
fn links(dom: &str, before: &str) -> Vec<String> {
    let open = format!("{before}href=\"");
    dom.match_indices(&open)
        .map(|(i, _)| {
            let rest = &dom[i + open.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

/// `GET url`: its bytes and its `Content-Disposition`.
fn fetch(url: &str) -> (Vec<u8>, String) {
    let r = ureq::get(url).call().expect("the link answers");
    let disposition = r.header("Content-Disposition").unwrap_or("").to_string();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
    (body, disposition)
}

fn write(share: &Path, path: &str, bytes: &[u8]) {
    let at = share.join(path);
    fs::create_dir_all(at.parent().unwrap()).unwrap();
    fs::write(at, bytes).unwrap();
}

/// Hostile names: tags, quotes, ampersands, an event handler. (A `/` in a
/// name is a folder, so `<script>alert(1)</script>.txt` is the file
/// `script>.txt` in the folder `<script>alert(1)<`.)
const SCRIPT_PATH: &str = "<script>alert(1)</script>.txt";
const IMG_NAME: &str = "<img src=x onerror=alert(1)>.txt";
const QUOTED_PATH: &str = "Tom & \"Jerry\" <best>/it's <b>here<b> & 'there'.txt";

#[test]
fn a_browser_lists_searches_and_downloads_and_runs_no_name() {
    let server = start_server();
    let alice = PeerSetup::new("alice", &server.addr, "");
    let photos = noise(700_000, 1);
    let video = noise(1_500_000, 2);
    let songs = noise(300_000, 3);
    write(&alice.share(), "trips/Holiday Photos 2026.jpg", &photos);
    write(&alice.share(), "trips/2025/Holiday Video.mp4", &video);
    write(&alice.share(), "music/Holiday Songs.flac", &songs);
    write(&alice.share(), SCRIPT_PATH, b"script");
    write(&alice.share(), IMG_NAME, b"img");
    write(&alice.share(), QUOTED_PATH, b"quoted");
    let bob = PeerSetup::new("bob", &server.addr, "");
    let checklist = b"passport\ntickets\n".to_vec();
    write(&bob.share(), "Holiday Photos 2026.jpg", &photos);
    write(&bob.share(), "Holiday checklist.txt", &checklist);
    let a = alice.serve();
    let b = bob.serve();
    let (alice_url, bob_url) = (a.addr.clone(), b.addr.clone());

    // Alice's own page lists her files as a tree, each linking to its bytes.
    let page = dom(&format!("{alice_url}/"));
    for shown in [
        "trips/",
        "Holiday Photos 2026.jpg",
        "2025/",
        "Holiday Video.mp4",
        "music/",
        "6 files, 2.4 MiB.",
    ] {
        assert!(page.contains(shown), "{shown} not on alice's page: {page}");
    }
    let mut own = links(&page, "<li class=\"file\"><a ");
    own.sort();
    let mut expected: Vec<String> = [&photos[..], &video, &songs, b"script", b"img", b"quoted"]
        .iter()
        .map(|c| format!("/files/{}", b3(c)))
        .collect();
    expected.sort();
    assert_eq!(own, expected, "{page}");
    let (bytes, disposition) = fetch(&format!("{alice_url}/files/{}", b3(&video)));
    assert_eq!(b3(&bytes), b3(&video));
    // The browser saves it under its own name, not `trips_2025_Holiday Video.mp4`.
    assert_eq!(
        disposition,
        "attachment; filename=\"Holiday Video.mp4\"; filename*=UTF-8''Holiday%20Video.mp4"
    );

    // Names are text: shown as typed, and no element or handler of theirs
    // exists in the DOM the browser built.
    for escaped in [
        "&lt;script&gt;alert(1)&lt;/",
        "script&gt;.txt",
        "&lt;img src=x onerror=alert(1)&gt;.txt",
        "Tom &amp; \"Jerry\" &lt;best&gt;/",
        "it's &lt;b&gt;here&lt;b&gt; &amp; 'there'.txt",
    ] {
        assert!(page.contains(escaped), "{escaped} not on the page: {page}");
    }
    for element in ["<script", "<img", "<b>", "onerror=\""] {
        assert!(!page.contains(element), "{element} in the DOM: {page}");
    }

    // Bob's page searches the group: the form is a plain GET to `/`, and
    // its URL (what typing "holiday" and pressing Search sends) lists
    // alice's files, with a link to every source.
    let bob_home = dom(&format!("{bob_url}/"));
    assert!(
        bob_home.contains(
            "<form method=\"get\" action=\"/\" role=\"search\"><input type=\"search\" name=\"q\""
        ),
        "{bob_home}"
    );
    let search = format!("{bob_url}/?q=holiday");
    let mut found = String::new();
    eventually(
        Duration::from_secs(15),
        "alice's files are searchable",
        || {
            found = dom(&search);
            found.contains("Holiday Video.mp4") && found.contains("Holiday Songs.flac")
        },
    );
    assert!(found.contains("4 files found."), "{found}");
    // It needs no JavaScript: it has none, and its policy would run none.
    assert!(!found.contains("<script"), "{found}");
    let sources = links(&found, "<a class=\"source\" ");
    let photo_sources: Vec<&String> = sources
        .iter()
        .filter(|l| l.ends_with(&b3(&photos)))
        .collect();
    assert_eq!(
        photo_sources.len(),
        2,
        "two peers share the photos: {sources:?}"
    );
    for (content, name) in [
        (&video, "Holiday Video.mp4"),
        (&songs, "Holiday Songs.flac"),
        (&photos, "Holiday Photos 2026.jpg"),
    ] {
        let link = sources
            .iter()
            .find(|l| l.ends_with(&b3(content)))
            .unwrap_or_else(|| panic!("no link for {name}: {sources:?}"));
        assert!(
            link.starts_with(&alice_url) || link.starts_with(&bob_url),
            "{link}"
        );
        let (bytes, disposition) = fetch(link);
        assert_eq!(b3(&bytes), b3(content), "{link}");
        assert!(
            disposition.contains(&name.replace(' ', "%20")),
            "{disposition}"
        );
    }

    // Searching for the hostile names through bob shows them as text too.
    let hostile = dom(&format!("{bob_url}/?q=script"));
    assert!(
        hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;.txt"),
        "{hostile}"
    );
    let hostile = dom(&format!("{bob_url}/?q=%22jerry%22+best"));
    assert!(
        hostile.contains(
            "Tom &amp; \"Jerry\" &lt;best&gt;/it's &lt;b&gt;here&lt;b&gt; &amp; 'there'.txt"
        ),
        "{hostile}"
    );
    for page in [dom(&format!("{bob_url}/?q=onerror")), hostile] {
        assert!(
            !page.contains("<script") && !page.contains("<img") && !page.contains("<b>"),
            "{page}"
        );
    }

    // A screenshot of the search results, as a person sees them (also
    // written to HUBSHARE_SCREENSHOT when set: that is docs/web-page.png).
    let shot = tempfile::tempdir().unwrap();
    let png = shot.path().join("page.png");
    browse_with(
        &search,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,760",
        ],
    );
    let image = fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    let size = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1200, 760), "IHDR width and height");
    if let Some(to) = std::env::var_os("HUBSHARE_SCREENSHOT") {
        fs::copy(&png, to).unwrap();
    }
}

#[test]
fn the_page_says_what_went_wrong_and_sets_its_guards() {
    let server = start_server();
    let carol = PeerSetup::new("carol", &server.addr, "");
    write(&carol.share(), "a.txt", b"a");
    let mut c = carol.serve();
    let addr = c.addr.clone();

    let (status, headers, body) = raw_http(&addr, "GET / HTTP/1.1\r\nAccept: text/html", b"");
    assert_eq!(status, 200);
    let csp = header(&headers, "content-security-policy").unwrap();
    for rule in [
        "default-src 'none'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(rule), "{csp}");
    }
    assert!(
        !csp.contains("script-src") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let body = String::from_utf8(body).unwrap();
    assert!(
        !body.contains("<script") && !body.contains("style=\""),
        "no script, no inline style"
    );
    // No control action is offered to a visitor.
    for action in ["rescan", "logout", "/control"] {
        assert!(!body.contains(action), "{action} on the page");
    }
    // `/files` stays JSON for programs, and is the page for a browser.
    let (_, headers, json) = raw_http(&addr, "GET /files HTTP/1.1", b"");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    let (_, headers, _) = raw_http(&addr, "GET /files HTTP/1.1\r\nAccept: text/html", b"");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );

    // A query the directory refuses, a broken form, a folder that is not
    // there: each a page that says so, with its status.
    for (path, status, says) in [
        ("/?q=ext%3A", 400, "The directory refused this search"),
        ("/?q=%FF", 400, "not valid percent-encoded UTF-8"),
        ("/?in=nowhere", 404, "This peer shares no such folder."),
        (
            "/?limit=100000&q=a",
            400,
            "limit must be a number from 1 to 1000",
        ),
    ] {
        let (got, _, body) = raw_http(&addr, &format!("GET {path} HTTP/1.1"), b"");
        let body = String::from_utf8(body).unwrap();
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }

    // With the directory gone the page still lists the share, and says the
    // search cannot be made.
    drop(server);
    let (status, _, body) = raw_http(&addr, "GET /?q=a HTTP/1.1", b"");
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("This peer cannot search now") && body.contains("a.txt"),
        "{body}"
    );
    // The peer still answers afterwards.
    let (status, _, _) = raw_http(&addr, "GET /health HTTP/1.1", b"");
    assert_eq!(status, 200);
    c.signal_and_wait("-INT");
}

#[test]
fn chromium_opens_a_tls_peer_pinned_by_its_keyprint_and_nothing_else() {
    let d = start_tls_directory(None, None, "");
    let a = PeerSetup::new("alice", &d.invite, "tls = true");
    write(&a.share(), "over https/notes.txt", b"notes sent over TLS");
    let a_proc = a.serve();
    let status: serde_json::Value =
        serde_json::from_str(&ok(a.run(&["status", "--json"]))).unwrap();
    let kp = status["keyprint"].as_str().expect("a keyprint").to_string();
    let url = format!("{}/", a_proc.addr);
    assert!(url.starts_with("https://"), "{url}");
    // Told the keyprint, as a person who compared it would tell it.
    let spki = format!("--ignore-certificate-errors-spki-list={kp}");
    let page = browse_with(&url, &["--dump-dom", &spki]);
    assert!(page.contains("notes.txt"), "{page}");
    assert!(page.contains(&kp), "the page shows the keyprint: {page}");
    // Another keyprint, or none: the browser does not show the page.
    let other = format!("--ignore-certificate-errors-spki-list={}", d.keyprint);
    for args in [&["--dump-dom", other.as_str()][..], &["--dump-dom"]] {
        let refused = browse_with(&url, args);
        assert!(!refused.contains("notes.txt"), "{args:?}: {refused}");
    }
}
