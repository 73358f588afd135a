//! Stand-in sources: HTTP servers of the test's own that lie, cut or
//! stall, registered in the directory as peers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::check::b3;
use super::grpc::{grpc, key_of};

/// A stand-in source: an HTTP server of the test's own. It answers
/// `GET /files/{id}/pieces` with `pieces` (404 when `None`) and byte ranges
/// of `content` with 206 and an exact `Content-Range`, so the content may be
/// wrong while the protocol is right; with `cut_after`, each answer stops
/// after that many body bytes and the connection closes.
pub struct FakeSource {
    pub addr: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Default)]
pub struct Fake {
    pub content: Vec<u8>,
    pub pieces: Option<String>,
    pub cut_after: Option<usize>,
    /// Send the piece list one byte at a time, this long apart.
    pub trickle: Option<Duration>,
    /// Send the file's bytes one at a time, this long apart.
    pub trickle_bytes: Option<Duration>,
    /// The answer to `GET /files` (404 when `None`).
    pub listing: Option<String>,
    /// Answer 404 to requests for the bytes (as a peer that stopped
    /// sharing the file would), counting them.
    pub bytes_gone: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl FakeSource {
    pub fn start(fake: Fake) -> FakeSource {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake source");
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let fake = Arc::new(fake);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let fake = fake.clone();
                std::thread::spawn(move || answer(conn, &fake));
            }
        });
        FakeSource {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

fn answer(mut conn: TcpStream, fake: &Fake) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
        head.push(byte[0]);
    }
    if head.is_empty() {
        // Connected and gone without a request (the directory seeing
        // whether this port answers).
        return;
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let range = head
        .lines()
        .find_map(|l| l.strip_prefix("Range: bytes="))
        .and_then(|r| r.trim().split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    let len = fake.content.len();
    let (status, extra, body): (&str, String, Vec<u8>) = if path == "/files" {
        match &fake.listing {
            Some(json) => ("200 OK", String::new(), json.as_bytes().to_vec()),
            None => ("404 Not Found", String::new(), b"no".to_vec()),
        }
    } else if path.ends_with("/pieces") {
        match &fake.pieces {
            Some(json) => ("200 OK", String::new(), json.as_bytes().to_vec()),
            None => ("404 Not Found", String::new(), b"no".to_vec()),
        }
    } else if let Some(asked) = &fake.bytes_gone {
        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ("404 Not Found", String::new(), b"not shared".to_vec())
    } else if let Some((a, b)) = range {
        let b = b.min(len - 1);
        (
            "206 Partial Content",
            format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            fake.content[a..=b].to_vec(),
        )
    } else {
        ("200 OK", String::new(), fake.content.clone())
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes());
    let upto = fake.cut_after.unwrap_or(body.len()).min(body.len());
    let gap = if path.ends_with("/pieces") {
        fake.trickle
    } else {
        fake.trickle_bytes
    };
    match gap {
        Some(gap) => {
            for b in &body[..upto] {
                if conn.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(gap);
            }
        }
        None => {
            let _ = conn.write_all(&body[..upto]);
        }
    }
}

/// The `GET /files/{id}/pieces` answer for `content`, as a real peer gives it.
pub fn piece_list_json(content: &[u8]) -> String {
    let size = content.len() as u64;
    let mut h = hubshare::pieces::PieceHasher::new(size);
    h.update(content);
    let (id, cvs) = h.finish().expect("whole content");
    serde_json::json!({
        "id": id.to_string(),
        "size": size,
        "piece_size": hubshare::pieces::piece_size(size),
        "pieces": cvs.iter().map(|cv| cv.iter().map(|b| format!("{b:02x}")).collect::<String>()).collect::<Vec<_>>(),
    })
    .to_string()
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts `fake` for the file `real` and registers it in the directory as
/// the peer `peer` sharing it under `name`.
pub fn fake_source(directory: &str, peer: &str, fake: Fake, real: &[u8], name: &str) -> FakeSource {
    fake_source_claiming(directory, peer, fake, &b3(real), real.len() as u64, name)
}

/// Starts `fake` and registers it as the peer `peer` sharing the file `id`
/// under `name`, claiming it is `size` bytes.
pub fn fake_source_claiming(
    directory: &str,
    peer: &str,
    fake: Fake,
    id: &str,
    size: u64,
    name: &str,
) -> FakeSource {
    use hubshare::proto::directory as pb;
    let source = FakeSource::start(fake);
    grpc(directory)
        .login(&pb::LoginRequest {
            name: peer.to_string(),
            http_addr: source.addr.clone(),
            identity_key: key_of(peer),
            files: vec![pb::SharedFile {
                id: id.to_string(),
                size,
                name: name.to_string(),
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        })
        .expect("register the fake source");
    source
}
