//! The peer's HTTP door: files served by id only, exact ranges, and uploads
//! that are refused cleanly (nothing written, nothing outside the folders
//! touched) or land whole.

use std::fs;
use std::time::Duration;

use crate::support::*;

/// A directory, and one serving peer that accepts uploads of up to 1000 bytes
/// and shares one 100 000-byte file.
struct Fixture {
    _server: Dir,
    peer: PeerSetup,
    proc: Proc,
    content: Vec<u8>,
    id: String,
}

fn fixture(extra: &str) -> Fixture {
    let server = start_server();
    let peer = PeerSetup::new("carol", &server.addr, extra);
    let content = noise(100_000, 7);
    fs::write(peer.share().join("data set.csv"), &content).unwrap();
    let proc = peer.serve();
    let id = b3(&content);
    Fixture {
        _server: server,
        peer,
        proc,
        content,
        id,
    }
}

#[test]
fn files_are_served_by_id_with_ranges_and_etag() {
    let f = fixture("");
    let addr = &f.proc.addr;

    let (status, headers, body) = raw_http(addr, &format!("GET /files/{} HTTP/1.1", f.id), b"");
    assert_eq!(status, 200);
    assert!(body == f.content);
    assert_eq!(header(&headers, "content-length"), Some("100000"));
    assert_eq!(
        header(&headers, "etag"),
        Some(format!("\"{}\"", f.id).as_str())
    );
    assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
    assert!(header(&headers, "content-disposition")
        .unwrap()
        .contains("filename=\"data set.csv\""));

    // Upper-case hex names the same file.
    let (status, _, _) = raw_http(
        addr,
        &format!("GET /files/{} HTTP/1.1", f.id.to_uppercase()),
        b"",
    );
    assert_eq!(status, 200);

    let (status, headers, body) = raw_http(addr, &format!("HEAD /files/{} HTTP/1.1", f.id), b"");
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(header(&headers, "content-length"), Some("100000"));

    let ranges: [(&str, u16, std::ops::Range<usize>); 4] = [
        ("bytes=10-19", 206, 10..20),
        ("bytes=99990-", 206, 99_990..100_000),
        ("bytes=-5", 206, 99_995..100_000),
        ("bytes=0-1,5-6", 200, 0..100_000),
    ];
    for (range, want, slice) in ranges {
        let (status, headers, body) = raw_http(
            addr,
            &format!("GET /files/{} HTTP/1.1\r\nRange: {range}", f.id),
            b"",
        );
        assert_eq!(status, want, "{range}");
        assert!(body == f.content[slice.clone()], "{range}: wrong bytes");
        if want == 206 {
            let expect = format!("bytes {}-{}/100000", slice.start, slice.end - 1);
            assert_eq!(header(&headers, "content-range"), Some(expect.as_str()));
        }
    }
    let (status, headers, _) = raw_http(
        addr,
        &format!("GET /files/{} HTTP/1.1\r\nRange: bytes=100000-", f.id),
        b"",
    );
    assert_eq!(status, 416);
    assert_eq!(header(&headers, "content-range"), Some("bytes */100000"));

    // The listing is sent as it is written (chunked); an HTTP/1.0 client,
    // which cannot take chunks, gets the same text with its length.
    let (status, headers, body) = raw_http(addr, "GET /files HTTP/1.1", b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["id"], f.id.as_str());
    assert_eq!(list[0]["size"], 100_000);
    let (status, headers, old) = raw_http(addr, "GET /files HTTP/1.0", b"");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(old, body);
    assert_eq!(raw_http(addr, "GET /health HTTP/1.1", b"").0, 200);
}

/// The peer config of the hostile-request tests: uploads of up to 1000
/// bytes, short timeouts, two workers and at most four connections.
const HOSTILE: &str = "accept_uploads = true\nmax_upload_bytes = 1000\nhttp_timeout_secs = 2\nhttp_workers = 2\nmax_connections = 4";

#[test]
fn hostile_paths_ids_and_uploads_are_refused_and_touch_nothing() {
    let f = fixture(HOSTILE);
    let addr = &f.proc.addr;
    // A file beside the peer's folders that no request may reach.
    let secret = f.peer.root.path().join("secret.txt");
    fs::write(&secret, b"do not serve").unwrap();
    let before = tree(f.peer.root.path());

    let small = b"0123456789";
    let small_id = b3(small);
    let etag = format!("\"{}\"", f.id);
    let get = |extra: &str| format!("GET /files/{} HTTP/1.1{extra}", f.id).into_bytes();
    let put = |name: &str| format!("PUT /inbox/{name} HTTP/1.1\r\nContent-Length: 10").into_bytes();
    let many_headers: String = (0..300)
        .map(|i| format!("\r\nX-Pad-{i}: {}", "p".repeat(100)))
        .collect();
    let many_ranges = format!("\r\nRange: bytes={}0-1", "0-0,".repeat(2000));
    let cases: Vec<(Vec<u8>, Vec<u8>, u16)> = vec![
        // Traversal, raw and encoded (once and twice), and malformed ids.
        (
            b"GET /files/../../etc/passwd HTTP/1.1".to_vec(),
            vec![],
            404,
        ),
        (
            b"GET /files/..%2F..%2Fetc%2Fpasswd HTTP/1.1".to_vec(),
            vec![],
            400,
        ),
        (
            b"GET /files/%2e%2e%2f%2e%2e%2fsecret.txt HTTP/1.1".to_vec(),
            vec![],
            400,
        ),
        (
            b"GET /files/..%252F..%252Fsecret.txt HTTP/1.1".to_vec(),
            vec![],
            400,
        ),
        (
            b"GET /files/%252e%252e%252fsecret.txt HTTP/1.1".to_vec(),
            vec![],
            400,
        ),
        (b"GET /files/../secret.txt HTTP/1.1".to_vec(), vec![], 404),
        (
            format!("GET /files/{}/../secret.txt HTTP/1.1", f.id).into_bytes(),
            vec![],
            404,
        ),
        (b"GET /files/not-an-id HTTP/1.1".to_vec(), vec![], 400),
        (
            format!("GET /files/{} HTTP/1.1", "g".repeat(64)).into_bytes(),
            vec![],
            400,
        ),
        (
            format!("GET /files/{} HTTP/1.1", b3(b"not shared")).into_bytes(),
            vec![],
            404,
        ),
        // NUL bytes, raw and encoded; bytes outside ASCII.
        (b"GET /files/\0 HTTP/1.1".to_vec(), vec![], 400),
        (b"GET /files/%00 HTTP/1.1".to_vec(), vec![], 400),
        (b"GET /files/\xff\xfe HTTP/1.1".to_vec(), vec![], 400),
        // Overlong URLs and headers; garbage; unknown versions.
        (
            format!("GET /{} HTTP/1.1", "a".repeat(5000)).into_bytes(),
            vec![],
            414,
        ),
        (
            format!("GET /{} HTTP/1.1", "a".repeat(20_000)).into_bytes(),
            vec![],
            431,
        ),
        (
            format!("GET /health HTTP/1.1{many_headers}").into_bytes(),
            vec![],
            431,
        ),
        (
            format!("GET /health HTTP/1.1\r\nX-Long: {}", "v".repeat(20_000)).into_bytes(),
            vec![],
            431,
        ),
        (b"HELLO".to_vec(), vec![], 400),
        (
            format!("GET /files/{} HTTP/2.0", f.id).into_bytes(),
            vec![],
            505,
        ),
        // Ranges: bad, huge, many, unsatisfiable; conditional requests.
        (get("\r\nRange: bytes=abc"), vec![], 200),
        (get("\r\nRange: bytes=5-2"), vec![], 200),
        (
            get("\r\nRange: bytes=99999999999999999999999-"),
            vec![],
            416,
        ),
        (get("\r\nRange: bytes=100000-100001"), vec![], 416),
        (get(&many_ranges), vec![], 200),
        (get(&format!("\r\nIf-None-Match: {etag}")), vec![], 304),
        (get(&format!("\r\nIf-None-Match: W/{etag}")), vec![], 304),
        (get("\r\nIf-None-Match: \"other\""), vec![], 200),
        (
            get(&format!("\r\nRange: bytes=0-9\r\nIf-Range: {etag}")),
            vec![],
            206,
        ),
        (
            get("\r\nRange: bytes=0-9\r\nIf-Range: \"stale\""),
            vec![],
            200,
        ),
        (
            get("\r\nRange: bytes=0-9\r\nIf-Range: Wed, 21 Oct 2015 07:28:00 GMT"),
            vec![],
            200,
        ),
        // Methods a route does not allow.
        (
            format!("DELETE /files/{} HTTP/1.1", f.id).into_bytes(),
            vec![],
            405,
        ),
        (
            format!("POST /files/{} HTTP/1.1\r\nContent-Length: 0", f.id).into_bytes(),
            vec![],
            405,
        ),
        (b"BREW /files HTTP/1.1".to_vec(), vec![], 405),
        (b"GET /inbox/x.bin HTTP/1.1".to_vec(), vec![], 405),
        // Upload names with separators, dots, control characters.
        (put("..%2Fx"), small.to_vec(), 400),
        (put("../x"), small.to_vec(), 400),
        (put("a/../../x"), small.to_vec(), 400),
        (put("a/%2E%2E/%2E%2E/x"), small.to_vec(), 400),
        (put("a//x"), small.to_vec(), 400),
        (put("a/.hidden/x"), small.to_vec(), 400),
        (put(&vec!["d"; 40].join("/")), small.to_vec(), 400),
        (put("%2E%2E"), small.to_vec(), 400),
        (put("%2Fetc%2Fx"), small.to_vec(), 400),
        (put("a%5Cb"), small.to_vec(), 400),
        (put("a%00b"), small.to_vec(), 400),
        (put("a\x01b"), small.to_vec(), 400),
        (put("a%0Ab"), small.to_vec(), 400),
        (put("a%1Bb"), small.to_vec(), 400),
        (put(".hidden"), small.to_vec(), 400),
        (put("%ff"), small.to_vec(), 400),
        (put(&"n".repeat(300)), small.to_vec(), 400),
        // Oversize, unbounded, smuggled and mismatched uploads.
        (
            b"PUT /inbox/big.bin HTTP/1.1\r\nContent-Length: 1001".to_vec(),
            vec![b'x'; 1001],
            413,
        ),
        (
            b"PUT /inbox/huge.bin HTTP/1.1\r\nContent-Length: 99999999999999".to_vec(),
            small.to_vec(),
            413,
        ),
        (
            b"PUT /inbox/chunked.bin HTTP/1.1\r\nTransfer-Encoding: chunked".to_vec(),
            chunked(&[b'y'; 1500]),
            413,
        ),
        (b"PUT /inbox/nolength.bin HTTP/1.1".to_vec(), vec![], 411),
        (
            b"PUT /inbox/twice.bin HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 5".to_vec(),
            small.to_vec(),
            400,
        ),
        (
            b"PUT /inbox/both.bin HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: chunked"
                .to_vec(),
            chunked(small),
            400,
        ),
        (
            format!(
                "PUT /inbox/wrong.bin HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: {}",
                b3(b"other")
            )
            .into_bytes(),
            small.to_vec(),
            422,
        ),
        // Refused under a new folder: the folder goes too.
        (
            format!(
                "PUT /inbox/new/deeper/wrong.bin HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: {}",
                b3(b"other")
            )
            .into_bytes(),
            small.to_vec(),
            422,
        ),
        (
            b"PUT /inbox/badid.bin HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: 1234".to_vec(),
            small.to_vec(),
            400,
        ),
        (put("data%20set.csv"), small.to_vec(), 409),
        // Control routes without the secret.
        (
            b"POST /control/logout HTTP/1.1\r\nContent-Length: 0".to_vec(),
            vec![],
            403,
        ),
        (
            b"GET /control/status HTTP/1.1\r\nX-Hubshare-Secret: guess".to_vec(),
            vec![],
            403,
        ),
    ];
    assert!(cases.len() >= 30);
    for (head, body, want) in &cases {
        let mut answer = raw_http_bytes(addr, head, body);
        // With max_connections = 4, a connection the previous cases closed
        // may still be counted for a moment (lingering close): the cap's
        // own 503 (empty, no queue position) means "try again", not an answer.
        for _ in 0..50 {
            let (status, headers, text) = &answer;
            let capped = *status == 503
                && text.is_empty()
                && header(headers, "x-hubshare-queue-position").is_none();
            if !capped || *want == 503 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            answer = raw_http_bytes(addr, head, body);
        }
        let (status, headers, text) = answer;
        let shown = String::from_utf8_lossy(&head[..head.len().min(120)]).to_string();
        assert_eq!(status, *want, "{shown}: {}", String::from_utf8_lossy(&text));
        if matches!(*want, 400 | 403 | 409 | 411 | 413 | 414 | 422 | 431) {
            assert!(!text.is_empty(), "{shown}: no explanation in the body");
        }
        if *want == 405 {
            assert!(header(&headers, "allow").is_some(), "{shown}: no Allow");
        }
        if *want == 304 {
            assert!(text.is_empty() && header(&headers, "etag") == Some(etag.as_str()));
        }
        if *want == 200 && head.starts_with(b"GET /files/") {
            assert!(text == f.content, "{shown}: not the whole file");
        }
        if *want == 206 {
            assert!(text == f.content[..10], "{shown}: wrong part");
        }
        // Never the bytes of the file outside the share.
        assert!(!text.windows(12).any(|w| w == b"do not serve"), "{shown}");
    }

    // Nothing was written anywhere, no temp file stayed behind, and no
    // folder made for a refused upload.
    assert_eq!(tree(f.peer.root.path()), before);
    assert_eq!(fs::read(&secret).unwrap(), b"do not serve");
    assert!(!f.peer.share().join("new").exists());

    // A small upload cut short (5 of 10 bytes, then the client stops
    // sending): tiny_http reads bodies this small before any route runs,
    // so the connection is closed with no answer; once it is, nothing was
    // written. (A large one cut short reaches the upload code: see
    // `an_upload_cut_short_or_refused_by_the_disk_leaves_nothing`.)
    let answer = cut_short(addr, 10, 5);
    assert!(answer.is_empty(), "{answer:?}");
    assert_eq!(tree(f.peer.root.path()), before);

    // The peer still serves, and a proper upload lands whole and is shared.
    let (status, _, body) = raw_http(
        addr,
        &format!(
            "PUT /inbox/ok%20file.txt HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: {small_id}"
        ),
        small,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(fs::read(f.peer.share().join("ok file.txt")).unwrap(), small);
    let (status, _, body) = raw_http(addr, &format!("GET /files/{small_id} HTTP/1.1"), b"");
    assert_eq!((status, body.as_slice()), (200, &small[..]));
    eventually(Duration::from_secs(5), "the upload is searchable", || {
        ok(f.peer.run(&["search", "ok", "file"])).contains(&small_id[..16])
    });
    let (status, _, body) = raw_http(addr, &format!("GET /files/{} HTTP/1.1", f.id), b"");
    assert_eq!(status, 200);
    assert!(body == f.content);
}

#[test]
fn uploads_are_refused_with_403_unless_the_config_allows_them() {
    let f = fixture("");
    let before = tree(f.peer.root.path());
    let (status, _, body) = raw_http(
        &f.proc.addr,
        "PUT /inbox/x.txt HTTP/1.1\r\nContent-Length: 3",
        b"abc",
    );
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("accept_uploads"));
    assert_eq!(tree(f.peer.root.path()), before);
}

/// Starts an upload of `len` bytes, sends `sent` of them and stops sending;
/// returns the answer, read until the peer closes.
fn cut_short(addr: &str, len: usize, sent: usize) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr.trim_start_matches("http://")).unwrap();
    let head = format!("PUT /inbox/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&noise(sent, 5)).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).to_string()
}

#[test]
fn an_upload_cut_short_or_refused_by_the_disk_leaves_nothing() {
    let server = start_server();
    let peer = PeerSetup::new(
        "dora",
        &server.addr,
        "accept_uploads = true\nmax_upload_bytes = 1000000",
    );
    // Writes past 64 KiB fail (EFBIG), as they would on a full disk.
    let proc = peer.serve_with_file_size_limit(64 * 1024);
    let before = tree(peer.root.path());
    // The client stops sending half way: refused, and no temp file stays.
    let answer = cut_short(&proc.addr, 60_000, 30_000);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("30000 of 60000 bytes"), "{answer:?}");
    assert_eq!(tree(peer.root.path()), before);
    let big = noise(300_000, 3);
    let (status, _, body) = raw_http(
        &proc.addr,
        &format!(
            "PUT /inbox/big.bin HTTP/1.1\r\nContent-Length: {}\r\nX-Hubshare-Id: {}",
            big.len(),
            b3(&big)
        ),
        &big,
    );
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("cannot store"), "{body}");
    // No temp file, no partial file: exactly what was there before.
    assert_eq!(tree(peer.root.path()), before);
    // The peer is still up, and an upload that fits lands whole.
    let small = b"fits".to_vec();
    let (status, _, body) = raw_http(
        &proc.addr,
        &format!(
            "PUT /inbox/small.txt HTTP/1.1\r\nContent-Length: 4\r\nX-Hubshare-Id: {}",
            b3(&small)
        ),
        &small,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(fs::read(peer.share().join("small.txt")).unwrap(), small);
}

fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(500) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Reads what the peer sends until it closes the connection; fails the
/// test if it has not closed it within 15 s (far beyond its timeouts).
fn read_until_closed(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut got = Vec::new();
    if let Err(e) = s.read_to_end(&mut got) {
        assert!(
            e.kind() == std::io::ErrorKind::ConnectionReset,
            "the peer did not close the connection: {e}"
        );
    }
    got
}

#[test]
fn slow_and_silent_clients_are_dropped_and_connections_are_capped() {
    use std::io::Write;
    use std::net::TcpStream;
    let f = fixture(HOSTILE);
    let host = f.proc.addr.trim_start_matches("http://").to_string();

    // Headers trickled a byte every 300 ms: cut off with 408 once the
    // header timeout (2 s) has passed, long before they would end.
    let mut slow = TcpStream::connect(&host).unwrap();
    let trickle = slow.try_clone().unwrap();
    let head = b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let writer = std::thread::spawn(move || {
        let mut t = trickle;
        for (sent, b) in head.iter().enumerate() {
            if t.write_all(&[*b]).is_err() {
                return sent;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        head.len()
    });
    let got = String::from_utf8_lossy(&read_until_closed(&mut slow)).to_string();
    assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    let sent = writer.join().unwrap();
    assert!(
        sent < head.len(),
        "cut off after {sent} of {} bytes",
        head.len()
    );

    // A client that connects and says nothing is closed after the timeout,
    // with no answer (it asked nothing).
    let mut silent = TcpStream::connect(&host).unwrap();
    let got = read_until_closed(&mut silent);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));

    // At most four connections at once: a fifth is told 503 and closed.
    // (The peer counts a connection once its accept loop has taken it: on a
    // busy machine that may lag, so a probe that is not refused at once is
    // dropped and another tried, after four fresh idle connections: the
    // peer closes an idle one after its 2 s timeout, so those of an
    // earlier try may be gone.)
    let mut idle: Vec<TcpStream> = Vec::new();
    let mut refusal = String::new();
    eventually(
        Duration::from_secs(10),
        "a fifth connection is refused",
        || {
            use std::io::Read;
            idle.extend((0..4).map(|_| TcpStream::connect(&host).unwrap()));
            let mut fifth = TcpStream::connect(&host).unwrap();
            fifth
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut got = Vec::new();
            let _ = fifth.read_to_end(&mut got);
            refusal = String::from_utf8_lossy(&got).to_string();
            refusal.starts_with("HTTP/1.1 503")
        },
    );
    assert!(refusal.contains("Retry-After: 1"), "{refusal:?}");
    drop(idle);

    // Once they are gone the peer serves again, and the file is intact.
    eventually(Duration::from_secs(5), "the peer serves again", || {
        let (status, _, body) =
            raw_http(&f.proc.addr, &format!("GET /files/{} HTTP/1.1", f.id), b"");
        status == 200 && body == f.content
    });
}

#[test]
fn connections_opened_in_a_burst_are_all_served_while_all_stay_open() {
    // Each connection is a thread: one accepted while the pool's idle
    // threads were already spoken for used to wait, unserved, until another
    // connection closed.
    use std::io::Write;
    use std::net::TcpStream;
    let f = fixture("");
    let host = f.proc.addr.trim_start_matches("http://").to_string();
    for round in 0..3 {
        let mut conns: Vec<TcpStream> = (0..24)
            .map(|_| TcpStream::connect(&host).unwrap())
            .collect();
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let (status, _, _) = read_answer(c)
                .unwrap_or_else(|e| panic!("round {round}: connection {i} not answered: {e}"));
            assert_eq!(status, 200, "round {round}, connection {i}");
        }
        // And each is still served on the same connection.
        for (i, c) in conns.iter_mut().enumerate() {
            c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_answer(c).unwrap().0, 200, "round {round}, again {i}");
        }
    }
}
