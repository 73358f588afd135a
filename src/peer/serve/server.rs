//! [`HttpServer`]: tiny_http on a listener we build ourselves, each request
//! served on its connection's thread behind the gate, and its shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::context::Ctx;
use super::gate::Gate;
use super::host::Host;
use super::metrics::PeerMetrics;
use super::queue::UploadQueue;
use super::respond::{send, text};
use super::routes::handle;
use super::throttle::TokenBucket;
use crate::wire::UploadsNow;

/// Most bytes of request line and headers together (431 beyond).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long shutdown waits for transfers in flight before leaving them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

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
    /// Serve TLS with this configuration (`None`: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
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
    server: Arc<tiny_http::Server>,
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
        HttpServer::start_diverting(listener, opts, host, None)
    }

    /// [`start`](Self::start); over TLS, a connection that does not open
    /// with a TLS handshake goes to `divert`, unread, instead of being
    /// closed (a reverse connection's first line).
    pub fn start_diverting(
        listener: TcpListener,
        opts: &ServeOptions,
        host: Arc<dyn Host>,
        divert: Option<tiny_http::Divert>,
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
        let metrics = PeerMetrics::new(&*host);
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
            members: Default::default(),
            owner: Default::default(),
            metrics,
        });
        let gate = Arc::new(Gate::new(opts.workers));
        let counting = ctx.clone();
        let handler: tiny_http::Handler = {
            let gate = gate.clone();
            Arc::new(move |rq| match gate.enter() {
                Some(_pass) => handle(&ctx, rq),
                None => send(rq, text(503, "this peer is shutting down")),
            })
        };
        let server = match &opts.tls {
            Some(tls) => {
                let failed: tiny_http::TlsOutcome =
                    Arc::new(move |end| counting.metrics.tls_handshake(end));
                match divert {
                    Some(divert) => tiny_http::Server::from_listener_serving_tls_diverting(
                        listener,
                        tls.clone(),
                        limits,
                        handler,
                        failed,
                        divert,
                    ),
                    None => tiny_http::Server::from_listener_serving_tls(
                        listener,
                        tls.clone(),
                        limits,
                        handler,
                        failed,
                    ),
                }
            }
            None => tiny_http::Server::from_listener_serving(listener, None, limits, handler),
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(HttpServer {
            server: Arc::new(server),
            gate,
            uploads,
        })
    }

    /// What serves sockets this peer dialed out (reverse connections)
    /// while the server runs.
    pub fn dialer(&self) -> Dialer {
        Dialer(Arc::downgrade(&self.server))
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

/// Serves, as this peer's HTTPS server, a socket it dialed out.
#[derive(Clone)]
pub struct Dialer(std::sync::Weak<tiny_http::Server>);

impl Dialer {
    /// Serves `sock` as if accepted, as the TLS server, admitting only a
    /// client whose certificate `admit` accepts (see
    /// `tiny_http::Server::serve_tls_stream`).
    pub fn serve(&self, sock: std::net::TcpStream, admit: tiny_http::Admit) -> io::Result<()> {
        match self.0.upgrade() {
            Some(server) => server.serve_tls_stream(sock, admit),
            None => Err(io::Error::other("this peer has stopped serving")),
        }
    }
}
