//! The peer's HTTP door: files served by id only, exact ranges, and uploads
//! that are refused cleanly (nothing written, nothing outside the folders
//! touched) or land whole.

use std::fs;
use std::time::Duration;

use crate::support::*;

/// A directory, and one serving peer that accepts uploads of up to 1000 bytes
/// and shares one 100 000-byte file.
struct Fixture {
    _server: Proc,
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

    let (status, _, body) = raw_http(addr, "GET /files HTTP/1.1", b"");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["id"], f.id.as_str());
    assert_eq!(list[0]["size"], 100_000);
    assert_eq!(raw_http(addr, "GET /health HTTP/1.1", b"").0, 200);
}

#[test]
fn hostile_paths_ids_and_uploads_are_refused_and_touch_nothing() {
    let f = fixture("accept_uploads = true\nmax_upload_bytes = 1000");
    let addr = &f.proc.addr;
    // A file beside the peer's folders that no request may reach.
    let secret = f.peer.root.path().join("secret.txt");
    fs::write(&secret, b"do not serve").unwrap();
    let before = tree(f.peer.root.path());

    let small = b"0123456789";
    let small_id = b3(small);
    let cases: Vec<(String, Vec<u8>, u16)> = vec![
        ("GET /files/../../etc/passwd HTTP/1.1".into(), vec![], 404),
        (
            "GET /files/..%2F..%2Fetc%2Fpasswd HTTP/1.1".into(),
            vec![],
            400,
        ),
        (
            "GET /files/%2e%2e%2f%2e%2e%2fsecret.txt HTTP/1.1".into(),
            vec![],
            400,
        ),
        (
            "GET /files/..%252F..%252Fsecret.txt HTTP/1.1".into(),
            vec![],
            400,
        ),
        ("GET /files/../secret.txt HTTP/1.1".into(), vec![], 404),
        ("GET /files/not-an-id HTTP/1.1".into(), vec![], 400),
        (
            format!("GET /files/{} HTTP/1.1", "g".repeat(64)),
            vec![],
            400,
        ),
        (
            format!("GET /files/{} HTTP/1.1", b3(b"not shared")),
            vec![],
            404,
        ),
        (
            format!("GET /files/{}/../secret.txt HTTP/1.1", f.id),
            vec![],
            404,
        ),
        (format!("DELETE /files/{} HTTP/1.1", f.id), vec![], 405),
        (format!("GET /{} HTTP/1.1", "a".repeat(5000)), vec![], 414),
        (
            "PUT /inbox/..%2Fx HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/../x HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            404,
        ),
        (
            "PUT /inbox/%2E%2E HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/%2Fetc%2Fx HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/a%00b HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/a%0Ab HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/.hidden HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/%ff HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/big.bin HTTP/1.1\r\nContent-Length: 1001".into(),
            vec![b'x'; 1001],
            413,
        ),
        (
            "PUT /inbox/chunked.bin HTTP/1.1\r\nTransfer-Encoding: chunked".into(),
            chunked(&[b'y'; 1500]),
            413,
        ),
        (
            format!(
                "PUT /inbox/wrong.bin HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: {}",
                b3(b"other")
            ),
            small.to_vec(),
            422,
        ),
        (
            "PUT /inbox/badid.bin HTTP/1.1\r\nContent-Length: 10\r\nX-Hubshare-Id: 1234".into(),
            small.to_vec(),
            400,
        ),
        (
            "PUT /inbox/data%20set.csv HTTP/1.1\r\nContent-Length: 10".into(),
            small.to_vec(),
            409,
        ),
        ("GET /inbox/x.bin HTTP/1.1".into(), vec![], 405),
        (
            "POST /control/logout HTTP/1.1\r\nContent-Length: 0".into(),
            vec![],
            403,
        ),
        (
            "GET /control/status HTTP/1.1\r\nX-Hubshare-Secret: guess".into(),
            vec![],
            403,
        ),
    ];
    for (head, body, want) in &cases {
        let (status, _, text) = raw_http(addr, head, body);
        assert_eq!(status, *want, "{head}: {}", String::from_utf8_lossy(&text));
        if *want >= 400 && *want != 404 && *want != 405 {
            assert!(!text.is_empty(), "{head}: no explanation in the body");
        }
    }
    // Nothing was written anywhere, no temp file stayed behind.
    assert_eq!(tree(f.peer.root.path()), before);
    assert_eq!(fs::read(&secret).unwrap(), b"do not serve");

    // A truncated upload (client gone after 5 of 10 bytes) leaves nothing.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr.trim_start_matches("http://")).unwrap();
        s.write_all(b"PUT /inbox/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
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
        ok(f.peer.run(&["search", "ok", "file"])).contains(&small_id)
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
