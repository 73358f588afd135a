//! A raw HTTP client for requests no well-behaved client would send.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response: its status, its headers (lower-cased names) and its body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A raw HTTP/1.1 exchange: sends `head` (request line and headers, without
/// the blank line) and `body`, returns the status code, the headers
/// (lower-cased names) and the body.
pub fn raw_http(addr: &str, head: &str, body: &[u8]) -> Answer {
    raw_http_bytes(addr, head.as_bytes(), body)
}

/// [`raw_http`] with a head that need not be UTF-8.
pub fn raw_http_bytes(addr: &str, head: &[u8], body: &[u8]) -> Answer {
    let host = addr.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to peer");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(format!("\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    let head = String::from_utf8_lossy(head);
    s.write_all(&req).expect("send head");
    // The server may answer and close before reading a refused body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response to {head:?}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
    let (status, headers) = parse_head(&raw[..split]);
    let body = &raw[split + 4..];
    let body = match header(&headers, "transfer-encoding") {
        Some(te) if te.eq_ignore_ascii_case("chunked") => dechunk(body),
        _ => body.to_vec(),
    };
    (status, headers, body)
}

/// The status and the headers (lower-cased names) of a response head,
/// without its blank line.
fn parse_head(head: &[u8]) -> (u16, Vec<(String, String)>) {
    let head_text = String::from_utf8_lossy(head).to_string();
    let mut lines = head_text.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// One answer read off a keep-alive connection, as [`raw_http`] returns it,
/// once its body (by `Content-Length`) is in; an error if the connection
/// ends or times out first.
pub fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(split) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let (status, headers) = parse_head(&got[..split]);
            let len: usize = header(&headers, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if got.len() >= split + 4 + len {
                let body = got[split + 4..split + 4 + len].to_vec();
                return Ok((status, headers, body));
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// A chunked body's bytes; panics unless it is well formed and complete.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk's size line");
        let size_text = std::str::from_utf8(&raw[..eol]).expect("an ASCII chunk size");
        let size_text = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("chunk size {size_text:?}"));
        raw = &raw[eol + 2..];
        if size == 0 {
            // No trailers are sent: the body ends with an empty line.
            assert_eq!(raw, b"\r\n", "the end of a chunked body");
            return body;
        }
        assert!(raw.len() >= size + 2, "a chunk cut short");
        body.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n", "a chunk's end");
        raw = &raw[size + 2..];
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
