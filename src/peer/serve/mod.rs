//! The peer's HTTP server: tiny_http on a listener we build ourselves (with
//! `TCP_NODELAY`, which tiny_http leaves off). Each request is served on the
//! thread of the connection that read it (the vendored tiny_http's
//! `from_listener_serving`), at most `workers` at once (`gate.rs`). Routes:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /` | the web page: this peer's files, a search of the group (`page.rs`) |
//! | `GET /page.css` | its stylesheet |
//! | `GET /health` | liveness |
//! | `GET /metrics` | Prometheus metrics (`metrics.rs`) |
//! | `GET /files` | JSON list of shared files (the web page for `Accept: text/html`) |
//! | `GET`, `HEAD /files/{id}` | the bytes; single `Range` -> 206, unsatisfiable -> 416 (`files.rs`) |
//! | `GET /files/{id}/pieces` | the piece list (`files.rs`) |
//! | `GET /inbox` | whether uploads are accepted, and the size cap |
//! | `PUT /inbox/{path}` | upload a file into the share, under a path (`upload.rs`) |
//! | `GET /control/status`, `POST /control/{rescan,logout}` | need the control secret (`control.rs`) |
//!
//! The server sees the peer only through the [`Host`] trait: it can look a
//! file up by id (a URL never becomes a path), hand over a verified upload,
//! and run the control actions, nothing more. Upload slots, their queue
//! (`queue.rs`) and the rate limit (`throttle.rs`) are the server's own.
//! Small things never wait for a slot: files up to `free_slot_bytes`, piece
//! lists, HEAD, the page, `/files`, `/health`, `/inbox`.

mod control;
mod files;
mod gate;
mod metrics;
mod page;
pub mod queue;
mod range;
mod throttle;
mod upload;

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::id::FileId;
use crate::wire::{InboxPolicy, Rescanned, SearchOutcome, SharedFile, Status, UploadsNow};
use gate::Gate;
use queue::UploadQueue;
pub use range::ByteRange;
use throttle::{SharedBucket, TokenBucket};

/// Longest request path accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Most bytes of request line and headers together (431 beyond).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long shutdown waits for transfers in flight before leaving them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What the HTTP server needs of the peer it serves. The peer's core
/// implements it; tests implement it over a folder of their own.
pub trait Host: Send + Sync {
    /// The peer's name (in `GET /health`).
    fn name(&self) -> &str;
    /// Every shared file (`GET /files`).
    fn files(&self) -> Vec<SharedFile>;
    /// Files found changing that are not shared until they settle.
    fn unsettled(&self) -> usize;
    /// The shared file with this id, if there is one.
    fn file(&self, id: &FileId) -> Option<SharedFile>;
    /// Opens the shared file with this id for reading.
    fn open(&self, id: &FileId) -> io::Result<File>;
    /// The piece chaining values of a shared file, checked against its id
    /// (empty for a one-piece file).
    fn pieces(&self, id: &FileId) -> io::Result<Vec<ChainingValue>>;
    /// Whether uploads are accepted, and up to what size.
    fn inbox(&self) -> InboxPolicy;
    /// The folder uploads are stored in.
    fn inbox_dir(&self) -> &Path;
    /// A verified upload now stands at `path`: share it.
    fn received(&self, path: &Path, id: FileId);
    /// The secret the control routes need.
    fn secret(&self) -> &str;
    /// `GET /control/status`.
    fn status(&self) -> Status;
    /// `POST /control/rescan`; the error is shown to the caller.
    fn rescan(&self) -> Result<Rescanned, String>;
    /// `POST /control/logout`; the error is shown to the caller.
    fn logout(&self) -> Result<(), String>;
    /// `POST /control/login` (again, after a logout); the error is shown
    /// to the caller.
    fn login(&self) -> Result<(), String>;
    /// Searches the group's directory (for the web page): the `limit` best
    /// results for `query`.
    fn search(&self, query: &str, limit: u32) -> Result<SearchOutcome, SearchFailed>;
    /// Adds the peer's own metrics (its downloads) to those of `/metrics`.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// Why a search through [`Host::search`] has no results to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchFailed {
    /// The directory refused the query (the reason is for the visitor).
    Refused(String),
    /// The directory (or this peer) is busy: try again later.
    Busy(String),
    /// The directory cannot be reached.
    Unreachable(String),
}

/// How the server serves: its threads, its limits on connections, and what
/// it sends at once.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests served at once (`http_workers`); more wait for a place.
    pub workers: usize,
    /// Read and write timeout of every socket, and the time a client has to
    /// send its request headers.
    pub timeout: Duration,
    pub max_connections: usize,
    /// Downloaders served at once; others are queued (503, `Retry-After`,
    /// their place in line).
    pub upload_slots: usize,
    /// Files up to this size are served without a slot.
    pub free_slot_bytes: u64,
    /// A served downloader gives its slot up after this long when others
    /// wait (`None`: never).
    pub upload_turn: Option<Duration>,
    /// Bytes per second sent over all transfers (0: no cap).
    pub upload_rate_limit: u64,
}

/// What every worker shares.
struct Ctx {
    host: Arc<dyn Host>,
    uploads: Arc<UploadQueue>,
    free_slot_bytes: u64,
    bucket: Option<SharedBucket>,
    /// Searches the web page is running on the directory now.
    page_searches: std::sync::atomic::AtomicUsize,
    metrics: metrics::PeerMetrics,
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

/// A running HTTP server.
pub struct HttpServer {
    server: tiny_http::Server,
    gate: Arc<Gate>,
    uploads: Arc<UploadQueue>,
}

impl HttpServer {
    /// Serves `host` on `listener`.
    pub fn start(
        listener: TcpListener,
        opts: &ServeOptions,
        host: Arc<dyn Host>,
    ) -> io::Result<HttpServer> {
        let limits = tiny_http::ConnectionLimits {
            read_timeout: Some(opts.timeout),
            write_timeout: Some(opts.timeout),
            header_timeout: opts.timeout,
            max_header_bytes: MAX_HEADER_BYTES,
            max_connections: opts.max_connections,
        };
        let uploads = Arc::new(UploadQueue::new(
            opts.upload_slots,
            opts.upload_turn,
            opts.upload_rate_limit,
        ));
        let metrics = metrics::PeerMetrics::new(&*host);
        let ctx = Arc::new(Ctx {
            host,
            uploads: uploads.clone(),
            free_slot_bytes: opts.free_slot_bytes,
            bucket: (opts.upload_rate_limit > 0).then(|| {
                Arc::new(Mutex::new(TokenBucket::new(
                    opts.upload_rate_limit,
                    Instant::now(),
                )))
            }),
            page_searches: Default::default(),
            metrics,
        });
        let gate = Arc::new(Gate::new(opts.workers));
        let handler: tiny_http::Handler = {
            let gate = gate.clone();
            Arc::new(move |rq| match gate.enter() {
                Some(_pass) => handle(&ctx, rq),
                None => send(rq, text(503, "this peer is shutting down")),
            })
        };
        let server = tiny_http::Server::from_listener_serving(listener, None, limits, handler)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(HttpServer {
            server,
            gate,
            uploads,
        })
    }

    /// Who this peer is sending to, and who waits for a slot.
    pub fn uploads(&self) -> UploadsNow {
        self.uploads.now(Instant::now())
    }

    /// Stops taking requests (a request arriving now is answered 503) and
    /// waits for those being served. A transfer still running after
    /// `SHUTDOWN_GRACE` is left to end with the process, so Ctrl-C never
    /// hangs on a slow client. The listening socket closes on return.
    pub fn shutdown(self) {
        let busy = self.gate.close(Instant::now() + SHUTDOWN_GRACE);
        if busy > 0 {
            log::warn!(
                "{busy} transfer(s) still running after {SHUTDOWN_GRACE:?}; not waiting for them"
            );
        }
        drop(self.server);
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values we build are ASCII")
}

/// A body built in memory.
type Answer = Response<io::Cursor<Vec<u8>>>;

fn text(status: u16, body: &str) -> Answer {
    Response::from_string(format!("{body}\n"))
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn json<T: Serialize>(status: u16, value: &T) -> Answer {
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

fn not_allowed(rq: Request, allow: &str) {
    send(
        rq,
        text(405, "method not allowed").with_header(header("Allow", allow)),
    )
}

/// Routes one request. Never panics on input: every branch answers.
fn handle(ctx: &Ctx, rq: Request) {
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
    let host = &*ctx.host;
    match segments.as_slice() {
        [""] => match method {
            Method::Get | Method::Head => page::serve_page(ctx, rq),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["page.css"] => match method {
            Method::Get | Method::Head => page::serve_css(rq),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["metrics"] => match method {
            Method::Get | Method::Head => {
                use crate::wire::metrics::{
                    openmetrics_to_text, wants_openmetrics, OPENMETRICS_TYPE, PROMETHEUS_TEXT_TYPE,
                };
                let page = ctx
                    .metrics
                    .render(&ctx.uploads.now(Instant::now()), &host.files());
                let resp = if wants_openmetrics(request_header(&rq, "Accept")) {
                    Response::from_string(page)
                        .with_header(header("Content-Type", OPENMETRICS_TYPE))
                } else {
                    Response::from_string(openmetrics_to_text(&page))
                        .with_header(header("Content-Type", PROMETHEUS_TEXT_TYPE))
                };
                send(rq, resp)
            }
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["health"] => match method {
            Method::Get | Method::Head => send(
                rq,
                json(
                    200,
                    &serde_json::json!({ "status": "ok", "name": host.name() }),
                ),
            ),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files"] => match method {
            Method::Get | Method::Head if page::wants_html(&rq) => page::serve_page(ctx, rq),
            Method::Get | Method::Head => send(
                rq,
                json(200, &host.files()).with_header(header("Vary", "Accept")),
            ),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id] => match method {
            Method::Get | Method::Head => files::serve_file(ctx, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id, "pieces"] => match method {
            Method::Get | Method::Head => files::serve_pieces(host, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["inbox"] => match method {
            Method::Get | Method::Head => send(rq, json(200, &host.inbox())),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        // A path below the inbox, its slashes literal or encoded.
        ["inbox", path @ ..] => match method {
            Method::Put => upload::receive_upload(host, &ctx.metrics, rq, &path.join("/")),
            _ => not_allowed(rq, "PUT"),
        },
        ["control", action] => control::control(host, &ctx.uploads, rq, action),
        _ => send(rq, text(404, "no such route")),
    }
}

/// The routes against a fake host: a folder of the test's own, a list of
/// what it shares, and a record of what it was handed.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Hit, Source, ID_HEADER, SECRET_HEADER};
    use std::path::PathBuf;

    struct Fake {
        dir: tempfile::TempDir,
        shared: Vec<SharedFile>,
        received: Mutex<Vec<(PathBuf, FileId)>>,
    }

    impl Host for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn files(&self) -> Vec<SharedFile> {
            self.shared.clone()
        }
        fn unsettled(&self) -> usize {
            0
        }
        fn file(&self, id: &FileId) -> Option<SharedFile> {
            self.shared.iter().find(|f| f.id == *id).cloned()
        }
        fn open(&self, id: &FileId) -> io::Result<File> {
            let f = self.file(id).ok_or(io::ErrorKind::NotFound)?;
            File::open(self.dir.path().join(f.name))
        }
        fn pieces(&self, _: &FileId) -> io::Result<Vec<ChainingValue>> {
            Ok(Vec::new())
        }
        fn inbox(&self) -> InboxPolicy {
            InboxPolicy {
                accepting: true,
                max_bytes: 100,
            }
        }
        fn inbox_dir(&self) -> &Path {
            self.dir.path()
        }
        fn received(&self, path: &Path, id: FileId) {
            self.received.lock().unwrap().push((path.to_path_buf(), id));
        }
        fn secret(&self) -> &str {
            "s3cret"
        }
        fn status(&self) -> Status {
            Status {
                name: "fake".into(),
                http_addr: String::new(),
                directory: String::new(),
                session: "online".into(),
                files: self.shared.len(),
                shared_bytes: 0,
                bytes_hashed: 0,
                unsettled: 0,
                uploads: Default::default(),
            }
        }
        fn rescan(&self) -> Result<Rescanned, String> {
            Err("the share folder is gone".into())
        }
        fn logout(&self) -> Result<(), String> {
            Ok(())
        }
        fn login(&self) -> Result<(), String> {
            Err("the directory is away".into())
        }
        /// One file for "digits", a refusal for a query with a colon,
        /// nothing else.
        fn search(&self, query: &str, _: u32) -> Result<SearchOutcome, SearchFailed> {
            if query.contains(':') {
                return Err(SearchFailed::Refused("unknown filter".into()));
            }
            let hits: Vec<Hit> = self
                .shared
                .iter()
                .filter(|f| query == "digits" && f.name.starts_with("digits"))
                .map(|f| Hit {
                    id: f.id,
                    size: f.size,
                    names: vec![f.name.clone()],
                    sources: vec![Source {
                        peer: "<b>other</b>".into(),
                        http_addr: crate::wire::HttpAddr::parse("http://127.0.0.1:9").unwrap(),
                        name: f.name.clone(),
                        size: f.size,
                    }],
                    source_count: 1,
                })
                .collect();
            Ok(SearchOutcome {
                total: hits.len(),
                hits,
                total_estimated: false,
            })
        }
    }

    fn json<T: serde::de::DeserializeOwned>(r: ureq::Response) -> T {
        serde_json::from_str(&r.into_string().unwrap()).unwrap()
    }

    #[test]
    fn routes_answer_from_the_host_alone() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"0123456789abcdef";
        std::fs::write(dir.path().join("digits.txt"), body).unwrap();
        let shared = SharedFile {
            id: FileId::of(body),
            name: "digits.txt".into(),
            size: body.len() as u64,
            other_names: Vec::new(),
        };
        let host = Arc::new(Fake {
            dir,
            shared: vec![shared.clone()],
            received: Mutex::new(Vec::new()),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let opts = ServeOptions {
            workers: 2,
            timeout: Duration::from_secs(5),
            max_connections: 8,
            upload_slots: 2,
            free_slot_bytes: 64 * 1024,
            upload_turn: None,
            upload_rate_limit: 0,
        };
        let server = HttpServer::start(listener, &opts, host.clone()).unwrap();
        let agent = ureq::agent();
        let get = |path: &str| agent.get(&format!("{base}{path}"));

        let listed: Vec<SharedFile> = json(get("/files").call().unwrap());
        assert_eq!(listed, vec![shared.clone()]);
        let part = get(&format!("/files/{}", shared.id))
            .set("Range", "bytes=4-7")
            .call()
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.into_string().unwrap(), "4567");
        let missing = get(&format!("/files/{}", FileId::of(b"other"))).call();
        assert!(matches!(missing, Err(ureq::Error::Status(404, _))));

        // The page: for a browser at `/` and at `/files`, with its headers;
        // a search through the host; a bad query or folder is said so.
        for path in ["/", "/files"] {
            let page = get(path)
                .set("Accept", "text/html,*/*;q=0.8")
                .call()
                .unwrap();
            assert_eq!(page.content_type(), "text/html", "{path}");
            assert!(page
                .header("Content-Security-Policy")
                .unwrap()
                .contains("default-src 'none'"));
            assert_eq!(page.header("X-Content-Type-Options"), Some("nosniff"));
            let body = page.into_string().unwrap();
            assert!(
                body.contains(&format!("<a href=\"/files/{}\">digits.txt</a>", shared.id)),
                "{body}"
            );
        }
        let found = get("/?q=digits").call().unwrap().into_string().unwrap();
        assert!(
            found.contains(&format!(
                "href=\"http://127.0.0.1:9/files/{}\">&lt;b&gt;other&lt;/b&gt;</a>",
                shared.id
            )),
            "{found}"
        );
        for (path, status) in [
            ("/?q=size%3A1", 400),
            ("/?in=nowhere", 404),
            ("/?limit=0", 400),
        ] {
            match get(path).call() {
                Err(ureq::Error::Status(s, r)) => {
                    assert_eq!(s, status, "{path}");
                    assert_eq!(r.content_type(), "text/html");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        let css = get("/page.css").call().unwrap();
        assert_eq!(css.content_type(), "text/css");
        let post = agent.post(&format!("{base}/")).call();
        assert!(matches!(post, Err(ureq::Error::Status(405, _))));

        // An upload lands whole in the host's folder and is handed over.
        let sent = b"uploaded bytes";
        let put = agent
            .put(&format!("{base}/inbox/new%20file.bin"))
            .set(ID_HEADER, &FileId::of(sent).to_string())
            .send_bytes(sent)
            .unwrap();
        assert_eq!(put.status(), 201);
        let path = host.dir.path().join("new file.bin");
        assert_eq!(std::fs::read(&path).unwrap(), sent);
        assert_eq!(
            *host.received.lock().unwrap(),
            vec![(path, FileId::of(sent))]
        );
        let too_big = agent
            .put(&format!("{base}/inbox/big.bin"))
            .send_bytes(&[0u8; 101]);
        assert!(matches!(too_big, Err(ureq::Error::Status(413, _))));

        // Control needs the host's secret, and shows the host's answers.
        let status = get("/control/status").call();
        assert!(matches!(status, Err(ureq::Error::Status(403, _))));
        let status: Status = json(
            get("/control/status")
                .set(SECRET_HEADER, "s3cret")
                .call()
                .unwrap(),
        );
        assert_eq!((status.name.as_str(), status.files), ("fake", 1));
        match agent
            .post(&format!("{base}/control/rescan"))
            .set(SECRET_HEADER, "s3cret")
            .call()
        {
            Err(ureq::Error::Status(500, r)) => {
                assert!(r.into_string().unwrap().contains("share folder is gone"))
            }
            other => panic!("{other:?}"),
        }
        server.shutdown();
    }
}
