//! The peers' HTTP protocol, as both ends need it: header names, the JSON
//! bodies of `GET /files/{id}/pieces`, `GET /inbox` and the control routes,
//! and the percent codec for names in URLs. The routes themselves are in
//! `peer/serve/`; the client side in `peer/fetch/` and `peer/control.rs`.

use blake3::hazmat::ChainingValue;
use serde::{Deserialize, Serialize};

use crate::id::FileId;
use crate::pieces::{merge, piece_size};

/// Header an uploader puts the file id in, so the receiver can verify the bytes.
pub const ID_HEADER: &str = "X-Hubshare-Id";
/// Header carrying the control secret.
pub const SECRET_HEADER: &str = "X-Hubshare-Secret";
/// Header a downloader names itself in (its peer name), so a source counts
/// its connections against one upload slot.
pub const PEER_HEADER: &str = "X-Hubshare-Peer";
/// Header of a 503 that queued the request: its 1-based place in line.
pub const QUEUE_HEADER: &str = "X-Hubshare-Queue-Position";
/// On a reverse proxy's `200` to `CONNECT`: how the firewalled source was
/// reached, `reverse` or `relayed`.
pub const PATH_HEADER: &str = "X-Hubshare-Path";

/// The answer of `GET /files/{id}/pieces`: the piece size and the chaining
/// value of every piece, hex (empty for a one-piece file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PieceList {
    pub id: FileId,
    pub size: u64,
    pub piece_size: u64,
    pub pieces: Vec<String>,
}

impl PieceList {
    /// The list for a file of `size` bytes whose pieces have these values.
    pub fn new(id: FileId, size: u64, cvs: &[ChainingValue]) -> PieceList {
        PieceList {
            id,
            size,
            piece_size: piece_size(size),
            pieces: cvs.iter().map(|cv| FileId::from(*cv).to_hex()).collect(),
        }
    }

    /// The chaining values, if the list is about the file `id` of `size`
    /// bytes, has the piece size every peer uses for it, and its values
    /// merge to the id. The error says what is wrong with it.
    pub fn verified(&self, id: FileId, size: u64) -> Result<Vec<ChainingValue>, String> {
        if self.id != id || self.size != size || self.piece_size != piece_size(size) {
            return Err(format!(
                "it describes {} ({} bytes, pieces of {})",
                self.id, self.size, self.piece_size
            ));
        }
        let cvs = self
            .pieces
            .iter()
            .map(|hex| Ok(*FileId::parse(hex).map_err(|e| e.to_string())?.as_bytes()))
            .collect::<Result<Vec<ChainingValue>, String>>()?;
        if merge(size, &cvs) != Some(id) {
            return Err("its chaining values do not merge to the id".into());
        }
        Ok(cvs)
    }
}

/// The answer of `GET /inbox`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InboxPolicy {
    pub accepting: bool,
    pub max_bytes: u64,
}

/// The answer of `GET /control/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    pub http_addr: String,
    pub directory: String,
    /// Where the directory session stands (`online`, `logged out`,
    /// `connecting: <last error>`).
    pub session: String,
    pub files: usize,
    pub shared_bytes: u64,
    /// Bytes hashed since the peer started (0 after a restart over an unchanged share).
    pub bytes_hashed: u64,
    /// Files left out because they were still being written at the last look.
    pub unsettled: usize,
    /// Who this peer is sending to, and who waits for a slot.
    #[serde(default)]
    pub uploads: UploadsNow,
    /// The keyprint of this peer's certificate (none with `tls = false`):
    /// what others pin, and what `curl --pinnedpubkey sha256//...` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyprint: Option<String>,
    /// The keyprint of the directory's certificate, once checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_keyprint: Option<String>,
    /// Whether the directory reached this peer's port at its last Login
    /// (false: it is listed as firewalled); none before a Login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// Where the directory lists this peer (behind NAT: the router's
    /// address, not `http_addr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_at: Option<String>,
    /// The connections made for firewalled peers since start: each way
    /// and path, with the peer (a source's keyprint, or the downloader's
    /// name), most recent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathUse>,
}

/// Connections made on one path with one peer (see [`Status::paths`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PathUse {
    /// A source's keyprint (this peer downloaded), or the downloader's
    /// name (this peer connected out to it).
    pub peer: String,
    /// `reverse` or `relayed`.
    pub path: String,
    /// Whether this peer connected out (as a firewalled source).
    pub out: bool,
    pub connections: u64,
}

/// Who a peer is sending files to, and who waits for a slot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadsNow {
    /// (downloader, seconds served, bytes sent), longest served first.
    pub serving: Vec<(String, u64, u64)>,
    /// (downloader, seconds waiting), in queue order.
    pub queued: Vec<(String, u64)>,
}

/// The answer of `POST /control/rescan`: what the rescan found.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rescanned {
    pub added: usize,
    pub removed: usize,
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` when an escape is broken or the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tunnel_answer_leaves_what_follows_and_keeps_a_refusals_reason() {
        let mut ok: &[u8] =
            b"HTTP/1.1 200 Connection established\r\nX-Hubshare-Path: relayed\r\n\r\n\x16\x03";
        let a = TunnelAnswer::read(&mut ok).unwrap();
        assert_eq!(
            (a.status, a.header("x-hubshare-path")),
            (200, Some("relayed"))
        );
        assert_eq!(ok, b"\x16\x03", "the TLS bytes after it are left");
        let mut no: &[u8] = b"HTTP/1.1 429 Too Many\r\nContent-Length: 9\r\n\r\ntoo many!rest";
        let a = TunnelAnswer::read(&mut no).unwrap();
        assert_eq!((a.status, a.reason.as_str()), (429, "too many!"));
        assert!(TunnelAnswer::read(&mut &b"garbage\r\n\r\n"[..]).is_err());
        assert!(TunnelAnswer::read(&mut &b"HTTP/1.1 200"[..]).is_err());
    }

    #[test]
    fn piece_lists_must_merge_to_the_id() {
        let size = 3 * crate::pieces::MIN_PIECE_SIZE;
        let data = crate::fuzz::noise(size as usize, 4);
        let mut h = crate::pieces::PieceHasher::new(size);
        h.update(&data);
        let (id, cvs) = h.finish().unwrap();
        let good = PieceList::new(id, size, &cvs);
        assert_eq!(good.verified(id, size).unwrap(), cvs);
        assert!(good.verified(FileId::of(b"other"), size).is_err());
        let mut forged = good.clone();
        forged.pieces.swap(0, 1);
        assert!(forged.verified(id, size).is_err());
        let mut short = good.clone();
        short.pieces.pop();
        assert!(short.verified(id, size).is_err());
        let mut wrong_size = good.clone();
        wrong_size.piece_size *= 2;
        assert!(wrong_size.verified(id, size).is_err());
        let mut junk = good;
        junk.pieces[0] = "zz".into();
        assert!(junk.verified(id, size).is_err());
    }

    #[test]
    fn percent_round_trip() {
        for s in ["plain.txt", "a b/c?d%e", "é😀", "../x"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%2e%2E%2f").as_deref(), Some("../"));
        for bad in ["%", "%4", "%zz", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}

/// A short HTTP answer read off a socket that goes on to carry other bytes
/// (a proxy's or a relay's answer to `CONNECT`): its head byte by byte, so
/// nothing after it is taken, and for an answer other than 200 its body
/// of at most 4 KiB (the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAnswer {
    pub status: u16,
    /// The head's header lines, as sent.
    pub head: String,
    /// The reason given with a refusal (empty for a 200).
    pub reason: String,
}

impl TunnelAnswer {
    /// The value of header `name`, if the head has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Reads one from `io`.
    pub fn read(io: &mut dyn std::io::Read) -> std::io::Result<TunnelAnswer> {
        use std::io::{Error, ErrorKind, Read};
        let head = read_head(io, 8 * 1024, |h| h.ends_with(b"\r\n\r\n"))?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "not an HTTP answer"))?;
        let mut answer = TunnelAnswer {
            status,
            head,
            reason: String::new(),
        };
        if status != 200 {
            let length = answer
                .header("content-length")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let mut reason = String::new();
            let _ = io.take(length.min(4096)).read_to_string(&mut reason);
            answer.reason = reason.trim().to_string();
        }
        Ok(answer)
    }
}

/// Reads from `io` a byte at a time (so nothing after it is taken: a TLS
/// handshake or relayed bytes follow) until `done` says the head is whole;
/// more than `max` bytes is an error (`InvalidData`), and so is an end
/// before it (`UnexpectedEof`).
pub fn read_head(
    io: &mut dyn std::io::Read,
    max: usize,
    done: impl Fn(&[u8]) -> bool,
) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !done(&head) {
        if head.len() >= max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the head is too long",
            ));
        }
        io.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    Ok(head)
}

/// A socket read under one deadline for all its reads (not one per read:
/// a client trickling a byte at a time holds a thread no longer).
pub struct Deadline<'a> {
    sock: &'a std::net::TcpStream,
    until: std::time::Instant,
}

impl Deadline<'_> {
    /// Reads of `sock` for the next `within`.
    pub fn new(sock: &std::net::TcpStream, within: std::time::Duration) -> Deadline<'_> {
        Deadline {
            sock,
            until: std::time::Instant::now() + within,
        }
    }
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "it took too long",
            ));
        }
        self.sock.set_read_timeout(Some(left))?;
        std::io::Read::read(&mut self.sock, buf)
    }
}

/// Writes a short plain-text HTTP answer that closes the connection
/// (`status` is the code and its reason: `403 Forbidden`).
pub fn write_answer(io: &mut dyn std::io::Write, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        io,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
