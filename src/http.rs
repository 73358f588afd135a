//! The peer's HTTP server: tiny_http on a listener we build ourselves (with
//! `TCP_NODELAY`, which tiny_http leaves off), served by a fixed pool of named
//! worker threads. Routes:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /health` | liveness |
//! | `GET /files` | JSON list of shared files |
//! | `GET`, `HEAD /files/{id}` | the bytes; single `Range` -> 206, unsatisfiable -> 416 |
//! | `GET /inbox` | whether uploads are accepted, and the size cap |
//! | `PUT /inbox/{name}` | upload a file into the share |
//! | `GET /control/status`, `POST /control/{rescan,logout}` | need the control secret |
//!
//! A file is found by id in the share table, never by turning the URL into a
//! path, and an upload is written under a temporary name and renamed into
//! place only when it is complete and verified.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::id::FileId;
use crate::names;
use crate::peer::Core;
use crate::range::ByteRange;
use crate::throttle::Throttled;

/// Header an uploader puts the file id in, so the receiver can verify the bytes.
pub const ID_HEADER: &str = "X-Hubshare-Id";
/// Header carrying the control secret.
pub const SECRET_HEADER: &str = "X-Hubshare-Secret";
/// Longest request path accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Most bytes of request line and headers together (431 beyond).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// One entry of `GET /files`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub id: FileId,
    pub name: String,
    pub size: u64,
}

/// The answer of `GET /files/{id}/pieces`: the piece size and the chaining
/// value of every piece, hex (empty for a one-piece file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PieceList {
    pub id: FileId,
    pub size: u64,
    pub piece_size: u64,
    pub pieces: Vec<String>,
}

/// The answer of `GET /inbox`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InboxPolicy {
    pub accepting: bool,
    pub max_bytes: u64,
}

/// Binds a TCP listener with `TCP_NODELAY` set before `listen`, so accepted
/// sockets inherit it: without it every request after the first on a
/// keep-alive connection waits for the client's delayed ACK.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// How long shutdown waits for transfers in flight before leaving them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A running HTTP server and its workers.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    /// Each worker drops its sender when it ends; all gone means all done.
    done: crossbeam_channel::Receiver<()>,
}

impl HttpServer {
    /// Serves `core` on `listener` with `workers` threads.
    pub fn start(listener: TcpListener, workers: usize, core: Arc<Core>) -> io::Result<HttpServer> {
        let config = core.config();
        let timeout = Duration::from_secs(config.http_timeout_secs);
        let limits = tiny_http::ConnectionLimits {
            read_timeout: Some(timeout),
            write_timeout: Some(timeout),
            header_timeout: timeout,
            max_header_bytes: MAX_HEADER_BYTES,
            max_connections: config.max_connections,
        };
        let server = Arc::new(
            tiny_http::Server::from_listener_with_limits(listener, None, limits)
                .map_err(|e| io::Error::other(e.to_string()))?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (server, stop, core) = (server.clone(), stop.clone(), core.clone());
            let done_tx = done_tx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("http-worker-{i}"))
                    .spawn(move || {
                        let _done = done_tx;
                        while !stop.load(Ordering::Relaxed) {
                            match server.recv_timeout(Duration::from_millis(200)) {
                                Ok(Some(rq)) => handle(&core, rq),
                                Ok(None) => {}
                                Err(e) => log::debug!("http accept: {e}"),
                            }
                        }
                    })?,
            );
        }
        Ok(HttpServer {
            server,
            stop,
            workers: handles,
            done,
        })
    }

    /// Stops taking requests and joins the workers once the requests they
    /// serve are done. A transfer still running after [`SHUTDOWN_GRACE`] is
    /// left to end with the process, so Ctrl-C never hangs on a slow client.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for _ in &self.workers {
            self.server.unblock();
        }
        let deadline = std::time::Instant::now() + SHUTDOWN_GRACE;
        // Nothing is ever sent: the wait ends when every worker has dropped
        // its sender (disconnected), or at the deadline.
        if let Err(crossbeam_channel::RecvTimeoutError::Timeout) = self.done.recv_deadline(deadline)
        {
            let busy = self.workers.iter().filter(|w| !w.is_finished()).count();
            log::warn!(
                "{busy} transfer(s) still running after {SHUTDOWN_GRACE:?}; not waiting for them"
            );
            return;
        }
        for w in self.workers {
            let _ = w.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values we build are ASCII")
}

fn text(status: u16, body: &str) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(format!("{body}\n"))
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn json<T: Serialize>(status: u16, value: &T) -> Response<io::Cursor<Vec<u8>>> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "application/json"))
}

fn request_header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn send<R: Read>(rq: Request, resp: Response<R>) {
    if let Err(e) = rq.respond(resp) {
        log::debug!("response not delivered: {e}");
    }
}

/// Routes one request. Never panics on input: every branch answers.
fn handle(core: &Core, rq: Request) {
    let url = rq.url().to_string();
    if url.len() > MAX_URL_LEN {
        return send(rq, text(414, "URL too long"));
    }
    // Request smuggling: a body whose length two headers disagree on (or
    // that has a length and a transfer coding) has no single meaning.
    let lengths = rq
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Content-Length"))
        .count();
    let coded = request_header(&rq, "Transfer-Encoding").is_some();
    if lengths > 1 || (lengths == 1 && coded) {
        return send(
            rq,
            text(
                400,
                "the request gives its body length twice (Content-Length and Transfer-Encoding, or two Content-Length headers)",
            ),
        );
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = rq.method().clone();
    match segments.as_slice() {
        ["health"] => match method {
            Method::Get | Method::Head => send(
                rq,
                json(
                    200,
                    &serde_json::json!({ "status": "ok", "name": core.name() }),
                ),
            ),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files"] => match method {
            Method::Get | Method::Head => {
                let list: Vec<FileInfo> = core
                    .share()
                    .list()
                    .into_iter()
                    .map(|e| FileInfo {
                        id: e.id,
                        name: e.name,
                        size: e.size,
                    })
                    .collect();
                send(rq, json(200, &list))
            }
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id] => match method {
            Method::Get | Method::Head => serve_file(core, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id, "pieces"] => match method {
            Method::Get | Method::Head => serve_pieces(core, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["inbox"] => match method {
            Method::Get | Method::Head => send(rq, json(200, &core.inbox_policy())),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["inbox", name] => match method {
            Method::Put => receive_upload(core, rq, name),
            _ => not_allowed(rq, "PUT"),
        },
        ["control", action] => control(core, rq, action),
        _ => send(rq, text(404, "no such route")),
    }
}

fn not_allowed(rq: Request, allow: &str) {
    send(
        rq,
        text(405, "method not allowed").with_header(header("Allow", allow)),
    )
}

fn serve_pieces(core: &Core, rq: Request, raw_id: &str) {
    let id = match FileId::parse(raw_id) {
        Ok(id) => id,
        Err(e) => return send(rq, text(400, &e.to_string())),
    };
    let Some(entry) = core.share().get(&id) else {
        return send(rq, text(404, &format!("this peer does not share {id}")));
    };
    match core.share().pieces(&id) {
        Ok(cvs) => send(
            rq,
            json(
                200,
                &PieceList {
                    id,
                    size: entry.size,
                    piece_size: crate::pieces::piece_size(entry.size),
                    pieces: cvs
                        .iter()
                        .map(|cv| cv.iter().map(|b| format!("{b:02x}")).collect())
                        .collect(),
                },
            ),
        ),
        Err(e) => {
            log::warn!("piece list of {id}: {e}");
            send(rq, text(404, &format!("{id} is no longer available here")))
        }
    }
}

fn serve_file(core: &Core, rq: Request, raw_id: &str) {
    let id = match FileId::parse(raw_id) {
        Ok(id) => id,
        Err(e) => return send(rq, text(400, &e.to_string())),
    };
    let Some(entry) = core.share().get(&id) else {
        return send(rq, text(404, &format!("this peer does not share {id}")));
    };
    // The id is the hash of the bytes: the ETag never changes for a URL.
    let etag = format!("\"{id}\"");
    if request_header(&rq, "If-None-Match").is_some_and(|v| etag_listed(v, &etag)) {
        return send(rq, Response::empty(304).with_header(header("ETag", &etag)));
    }
    // Only a body costs a slot; HEAD and refusals do not.
    let _slot = if *rq.method() == Method::Get {
        match core.upload_slots().try_take() {
            Some(slot) => Some(slot),
            None => {
                return send(
                    rq,
                    text(
                        503,
                        "all upload slots of this peer are busy; try again shortly",
                    )
                    .with_header(header("Retry-After", "1")),
                )
            }
        }
    } else {
        None
    };
    let mut file = match core.share().open(&entry.path) {
        Ok(f) => f,
        Err(e) => {
            log::warn!("cannot open shared file {}: {e}", entry.path.display());
            return send(rq, text(404, &format!("{id} is no longer available here")));
        }
    };
    let len = match file.metadata() {
        Ok(m) if m.len() == entry.size => m.len(),
        _ => {
            // Changed since it was hashed: its bytes no longer match the id.
            log::warn!(
                "{} changed since it was hashed; not serving it",
                entry.path.display()
            );
            return send(rq, text(404, &format!("{id} is no longer available here")));
        }
    };
    let common = [
        header("Accept-Ranges", "bytes"),
        header("ETag", &etag),
        header("Content-Disposition", &content_disposition(&entry.name)),
    ];
    // If-Range: the range only if the validator is our (strong) ETag;
    // anything else (another ETag, a date: we send no Last-Modified) means
    // the client's copy may differ, so it gets the whole file.
    let range_header = match request_header(&rq, "If-Range") {
        Some(v) if v.trim() != etag => None,
        _ => request_header(&rq, "Range"),
    };
    let range = ByteRange::parse(range_header, len);
    let (status, start, count) = match range {
        ByteRange::Full => (200, 0, len),
        ByteRange::Part { start, end } => (206, start, end - start + 1),
        ByteRange::Unsatisfiable => {
            let mut resp = text(
                416,
                &format!("range not satisfiable: the file has {len} bytes"),
            )
            .with_header(header("Content-Range", &format!("bytes */{len}")));
            for h in common {
                resp.add_header(h);
            }
            return send(rq, resp);
        }
    };
    if start > 0 {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            log::warn!("seek in {}: {e}", entry.path.display());
            return send(rq, text(500, "read error"));
        }
    }
    let mut headers: Vec<Header> = common.into();
    headers.push(header("Content-Type", "application/octet-stream"));
    if status == 206 {
        headers.push(header(
            "Content-Range",
            &format!("bytes {start}-{}/{len}", start + count - 1),
        ));
    }
    let body: Box<dyn Read + Send> = match core.upload_bucket() {
        Some(bucket) => Box::new(Throttled::new(file.take(count), bucket.clone())),
        None => Box::new(file.take(count)),
    };
    let resp = Response::new(
        StatusCode(status),
        headers,
        io::BufReader::with_capacity(256 * 1024, body),
        Some(count as usize),
        None,
    )
    // Always send Content-Length (tiny_http would switch to chunked for
    // large bodies), so clients know the size and HEAD reports it.
    .with_chunked_threshold(usize::MAX);
    send(rq, resp)
}

/// Whether an `If-None-Match` value lists `etag` (weak comparison, so a
/// `W/` prefix is ignored) or is `*`.
fn etag_listed(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

/// Removes a temporary file when dropped, unless disarmed: every early return
/// of an upload cleans up after itself.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn temp_path(dir: &Path) -> PathBuf {
    let mut b = [0u8; 8];
    let suffix: String = match getrandom::getrandom(&mut b) {
        Ok(()) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(_) => std::process::id().to_string(),
    };
    // Hidden, so no scan shares it while it is being written; fixed length,
    // so a name at the length limit still gets a temp name.
    dir.join(format!(".hubshare-upload-{suffix}"))
}

fn receive_upload(core: &Core, mut rq: Request, raw_name: &str) {
    let policy = core.inbox_policy();
    if !policy.accepting {
        return send(
            rq,
            text(
                403,
                "this peer does not accept uploads (its config has accept_uploads = false)",
            ),
        );
    }
    let name = match percent_decode(raw_name) {
        Some(n) => n,
        None => {
            return send(
                rq,
                text(400, "upload name is not valid percent-encoded UTF-8"),
            )
        }
    };
    if let Err(e) = names::check_file_name(&name) {
        return send(rq, text(400, &e.to_string()));
    }
    if rq.body_length().is_none() && request_header(&rq, "Transfer-Encoding").is_none() {
        return send(
            rq,
            text(
                411,
                "an upload needs a Content-Length (or chunked Transfer-Encoding)",
            ),
        );
    }
    if let Some(n) = rq.body_length() {
        if n as u64 > policy.max_bytes {
            return send(
                rq,
                text(
                    413,
                    &format!(
                        "upload of {n} bytes exceeds this peer's limit of {} bytes",
                        policy.max_bytes
                    ),
                ),
            );
        }
    }
    let claimed = match request_header(&rq, ID_HEADER).map(FileId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return send(rq, text(400, &format!("{ID_HEADER}: {e}"))),
    };
    let dir = core.share().dir().to_path_buf();
    let dest = dir.join(&name);
    if dest.symlink_metadata().is_ok() {
        return send(
            rq,
            text(
                409,
                &format!("a file named {name:?} is already shared here"),
            ),
        );
    }
    let (id, written) = match store_upload(&mut rq, &dir, &dest, &name, &policy, claimed) {
        Ok(stored) => stored,
        Err(refusal) => return send(rq, refusal),
    };
    core.shared_file_added(&dest, id);
    send(
        rq,
        json(
            201,
            &FileInfo {
                id,
                name,
                size: written,
            },
        ),
    )
}

/// Writes an upload's body to a hidden temp file in `dir`, checks it (cap,
/// length, claimed id), and publishes it as `dest` without overwriting.
/// On any failure the temp file is gone before the refusal is returned, so
/// the client never sees an answer while a stray file still exists.
fn store_upload(
    rq: &mut Request,
    dir: &Path,
    dest: &Path,
    name: &str,
    policy: &InboxPolicy,
    claimed: Option<FileId>,
) -> Result<(FileId, u64), Response<io::Cursor<Vec<u8>>>> {
    let expected_len = rq.body_length().map(|n| n as u64);
    let tmp = TempFile {
        path: temp_path(dir),
        armed: true,
    };
    let mut out = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp.path)
    {
        Ok(f) => f,
        Err(e) => {
            log::warn!("cannot create {}: {e}", tmp.path.display());
            return Err(text(500, "cannot store the upload"));
        }
    };
    // Read at most one byte past the cap, to tell "at the cap" from "over it".
    let mut body = HashingWriter::new(&mut out);
    let copied = io::copy(&mut rq.as_reader().take(policy.max_bytes + 1), &mut body);
    let write_error = body.write_error.take();
    let (id, written) = body.finish();
    match (copied, write_error) {
        // The disk (or a quota, or a file-size limit) said no.
        (Err(_), Some(e)) => {
            log::warn!("cannot store upload {name:?} after {written} bytes: {e}");
            return Err(storage_refused(&e));
        }
        (Err(e), None) => {
            log::info!("upload of {name:?} failed after {written} bytes: {e}");
            return Err(text(400, "upload interrupted"));
        }
        (Ok(_), _) if written > policy.max_bytes => {
            return Err(text(
                413,
                &format!(
                    "upload exceeds this peer's limit of {} bytes",
                    policy.max_bytes
                ),
            ));
        }
        (Ok(_), _) => {}
    }
    if let Some(n) = expected_len {
        if written != n {
            return Err(text(
                400,
                &format!("upload truncated: {written} of {n} bytes arrived"),
            ));
        }
    }
    if let Some(want) = claimed {
        if want != id {
            return Err(text(
                422,
                &format!("the bytes received hash to {id}, not to the {want} the sender gave"),
            ));
        }
    }
    if let Err(e) = out.sync_all() {
        log::warn!("cannot flush {}: {e}", tmp.path.display());
        return Err(storage_refused(&e));
    }
    drop(out);
    match crate::transfer::publish(&tmp.path, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(text(
                409,
                &format!("a file named {name:?} is already shared here"),
            ));
        }
        Err(e) => {
            log::warn!("cannot move upload into {}: {e}", dest.display());
            return Err(text(500, "cannot store the upload"));
        }
    }
    drop(tmp);
    log::info!(
        "received upload {name:?} ({written} bytes, {id}) from {:?}",
        rq.remote_addr()
    );
    Ok((id, written))
}

/// 507: the disk (full, a quota, a file-size limit) would not take the upload.
fn storage_refused(e: &io::Error) -> Response<io::Cursor<Vec<u8>>> {
    text(507, &format!("this peer cannot store the upload: {e}"))
}

/// Writes through to a file while hashing what passes.
struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: blake3::Hasher,
    written: u64,
    /// The error writing to the file met, if any (as opposed to reading).
    write_error: Option<io::Error>,
}

impl<'a> HashingWriter<'a> {
    fn new(inner: &'a mut File) -> HashingWriter<'a> {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
            written: 0,
            write_error: None,
        }
    }

    fn finish(self) -> (FileId, u64) {
        (self.hasher.finalize().into(), self.written)
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.inner.write(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                self.write_error = Some(e);
                return Err(io::Error::new(
                    kind,
                    "write to the upload's temp file failed",
                ));
            }
        };
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn control(core: &Core, rq: Request, action: &str) {
    let authorised = request_header(&rq, SECRET_HEADER)
        .is_some_and(|s| constant_time_eq(s.as_bytes(), core.secret().as_bytes()));
    if !authorised {
        return send(rq, text(403, "control routes need the peer's secret"));
    }
    match (action, rq.method()) {
        ("status", Method::Get) => send(rq, json(200, &core.status())),
        ("rescan", Method::Post) => match core.rescan() {
            Ok(change) => send(
                rq,
                json(
                    200,
                    &serde_json::json!({
                        "added": change.added.len(),
                        "removed": change.removed.len(),
                    }),
                ),
            ),
            Err(e) => send(rq, text(500, &crate::error_chain(&e))),
        },
        ("logout", Method::Post) => match core.session().logout() {
            Ok(()) => send(rq, json(200, &serde_json::json!({ "logged_out": true }))),
            Err(e) => send(rq, text(502, &e.to_string())),
        },
        ("status", _) => not_allowed(rq, "GET"),
        ("rescan" | "logout", _) => not_allowed(rq, "POST"),
        _ => send(rq, text(404, "no such control action")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    fn percent_round_trip() {
        for s in ["plain.txt", "a b/c?d%e", "é😀", "../x"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%2e%2E%2f").as_deref(), Some("../"));
        for bad in ["%", "%4", "%zz", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_none_match_lists() {
        let tag = "\"ab\"";
        for (value, hit) in [
            ("\"ab\"", true),
            ("W/\"ab\"", true),
            ("\"x\", \"ab\"", true),
            ("*", true),
            ("\"abc\"", false),
            ("ab", false),
            ("", false),
        ] {
            assert_eq!(etag_listed(value, tag), hit, "{value}");
        }
    }

    #[test]
    fn disposition_keeps_header_safe() {
        let d = content_disposition("weird \"name\"\\é.txt");
        assert!(d.starts_with("attachment; filename=\"weird _name__"));
        assert!(d.contains("filename*=UTF-8''weird%20%22name%22%5C%C3%A9.txt"));
    }
}
