//! Building and sending answers: headers, plain text and JSON bodies, and
//! `send`, which every answer of a peer goes through.

use std::io::{self, Read};
use std::sync::Arc;

use serde::Serialize;
use tiny_http::{Header, Request, Response, StatusCode};

use crate::wire::FileList;

pub(super) fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values we build are ASCII")
}

/// A body built in memory.
pub(super) type Answer = Response<io::Cursor<Vec<u8>>>;

pub(super) fn text(status: u16, body: &str) -> Answer {
    Response::from_string(format!("{body}\n"))
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Answer {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "application/json"))
}

/// A listing of shared files as a JSON array written while it is sent,
/// one file to a line: a big share costs the server a buffer of a few
/// files, not the whole text, and nothing until the client reads it.
pub(super) fn json_listing(status: u16, files: Arc<dyn FileList>) -> Response<JsonListing> {
    Response::new(
        StatusCode(status),
        vec![header("Content-Type", "application/json")],
        JsonListing {
            files,
            next: 0,
            buf: Vec::new(),
            at: 0,
        },
        None,
        None,
    )
}

/// The body [`json_listing`] sends: `[`, the files each on its own line
/// separated by commas, `]`.
pub(super) struct JsonListing {
    files: Arc<dyn FileList>,
    /// The next file to write; `files.count()` writes the closing bracket,
    /// past it the body has ended.
    next: usize,
    buf: Vec<u8>,
    /// How much of `buf` has been read.
    at: usize,
}

/// Files are written into the buffer until it holds this much.
const LISTING_BUF: usize = 64 * 1024;

impl Read for JsonListing {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
            let count = self.files.count();
            while self.buf.len() < LISTING_BUF && self.next <= count {
                if self.next == 0 {
                    self.buf.push(b'[');
                }
                match self.files.nth(self.next) {
                    Some(file) => {
                        if self.next > 0 {
                            self.buf.push(b',');
                        }
                        self.buf.push(b'\n');
                        file.write_json(&mut self.buf);
                    }
                    None if count == 0 => self.buf.extend_from_slice(b"]\n"),
                    None => self.buf.extend_from_slice(b"\n]\n"),
                }
                self.next += 1;
            }
        }
        let n = (self.buf.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

pub(super) fn request_header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

pub(super) fn send<R: Read>(rq: Request, resp: Response<R>) {
    log::debug!(
        "{} {} {} -> {}",
        rq.remote_addr()
            .map_or_else(|| "?".to_string(), |a| a.to_string()),
        rq.method(),
        rq.url(),
        resp.status_code().0
    );
    // No answer of a peer is to be read as anything but its type.
    let resp = resp.with_header(header("X-Content-Type-Options", "nosniff"));
    if let Err(e) = rq.respond(resp) {
        log::debug!("response not delivered: {e}");
    }
}

pub(super) fn not_allowed(rq: Request, allow: &str) {
    send(
        rq,
        text(405, "method not allowed").with_header(header("Allow", allow)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SharedFile;

    /// Read through `out` buffers of `step` bytes, as a slow socket would.
    fn read_all<R: Read>(mut body: R, step: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut out = vec![0; step];
        loop {
            match body.read(&mut out).unwrap() {
                0 => return all,
                n => all.extend_from_slice(&out[..n]),
            }
        }
    }

    #[test]
    fn a_listing_body_reads_back_as_its_files_at_any_read_size() {
        let empty: Vec<SharedFile> = Vec::new();
        let one = vec![SharedFile::named("only \"one\".txt")];
        // Many more bytes than one buffer holds, so it is written in turns.
        let many: Vec<SharedFile> = (0..20_000)
            .map(|i| {
                let mut f = SharedFile::named(&format!("folder {}/file {i} ünïcode", i % 9));
                if i % 1000 == 0 {
                    f.other_names = vec![format!("copy {i}")];
                }
                f
            })
            .collect();
        for files in [empty, one, many] {
            for step in [1, 7, 4096, 256 * 1024] {
                let resp = json_listing(200, Arc::new(files.clone()));
                let text = read_all(resp.into_reader(), step);
                let back: Vec<SharedFile> = serde_json::from_slice(&text).unwrap();
                assert_eq!(back, files, "read {step} bytes at a time");
                assert!(text.ends_with(b"]\n"));
                // One file to a line, the brackets on their own.
                let lines = text.iter().filter(|&&b| b == b'\n').count();
                let want = if files.is_empty() { 1 } else { files.len() + 2 };
                assert_eq!(lines, want);
            }
        }
    }
}
