//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```no_run
//! let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```no_run
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]

#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use zeroize::Zeroizing;

use std::error::Error;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::ClientConnection;
use connection::Connection;
use util::MessagesQueue;

pub use common::{HTTPVersion, Header, HeaderField, Method, StatusCode};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use request::{ReadWrite, Request};
pub use response::{Response, ResponseBox};
pub use test::TestRequest;

mod client;
mod common;
mod connection;
mod request;
mod response;
mod ssl;
mod test;
mod util;

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket and the reading
///  part of all the client's connections. Requests that have already been returned by
///  the `recv()` function will not close and the responses will be transferred to the client.
pub struct Server {
    // should be false as long as the server exists
    // when set to true, all the subtasks will close within a few hundreds ms
    close: Arc<AtomicBool>,

    // queue for messages received by child threads
    messages: Arc<MessagesQueue<Message>>,

    // result of TcpListener::local_addr()
    listening_addr: ListenAddr,

    // hubshare patch: what serving a socket this server did not accept
    // needs (see `Server::serve_tls_stream`).
    inject: Option<Arc<Inject>>,
}

/// hubshare patch: a TLS server's configuration, handler and limits, kept
/// to serve sockets it did not accept.
struct Inject {
    tls: std::sync::Arc<rustls::ServerConfig>,
    outcome: TlsOutcome,
    handler: Handler,
    limits: ConnectionLimits,
    live: Arc<std::sync::atomic::AtomicUsize>,
    close: Arc<AtomicBool>,
}

enum Message {
    Error(IoError),
    NewRequest(Request),
}

impl From<IoError> for Message {
    fn from(e: IoError) -> Message {
        Message::Error(e)
    }
}

impl From<Request> for Message {
    fn from(rq: Request) -> Message {
        Message::NewRequest(rq)
    }
}

// this trait is to make sure that Server implements Share and Send
#[doc(hidden)]
trait MustBeShareDummy: Sync + Send {}
#[doc(hidden)]
impl MustBeShareDummy for Server {}

pub struct IncomingRequests<'a> {
    server: &'a Server,
}

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,

    /// If `Some`, then the server will use SSL to encode the communications.
    pub ssl: Option<SslConfig>,
}

/// hubshare patch: limits on every client connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest wait for any single read from the client.
    pub read_timeout: Option<Duration>,
    /// Longest wait for any single write to the client.
    pub write_timeout: Option<Duration>,
    /// Longest time from waiting for a request to having all its headers
    /// (408 after it), so a client cannot trickle headers forever.
    pub header_timeout: Duration,
    /// Most bytes of request line and headers together (431 beyond).
    pub max_header_bytes: usize,
    /// Most connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
        }
    }
}

/// hubshare patch: serves each request on the thread of the connection that
/// read it (see `Server::from_listener_serving`).
pub type Handler = Arc<dyn Fn(Request) + Send + Sync>;

/// hubshare patch: answers a connection over the cap with 503 and closes it.
fn refuse_busy(sock: Connection) {
    use std::io::Write;
    let mut sock = sock;
    let _ = sock.set_timeouts(Some(Duration::from_secs(1)), Some(Duration::from_secs(1)));
    let _ = sock.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let _ = sock.shutdown(Shutdown::Both);
}

/// hubshare patch: an accepted connection, ready to read requests from or
/// still to complete its TLS handshake.
enum Accepted {
    Ready(ClientConnection),
    Tls(Connection, std::sync::Arc<rustls::ServerConfig>, TlsOutcome, Option<Connection>, Option<Divert>),
}

/// hubshare patch: takes a connection that did not start with a TLS
/// handshake record, its bytes unread, on the connection's thread; an
/// error refuses it (and is told to the handshake outcome as [`NOT_TLS`]).
pub type Divert = Arc<dyn Fn(TcpStream) -> std::io::Result<()> + Send + Sync>;

/// hubshare patch: whether a TLS server admits the client certificate
/// (DER) shown on a socket it did not accept, if any.
pub type Admit = Box<dyn FnOnce(Option<&[u8]>) -> bool + Send>;

/// hubshare patch: told how every TLS handshake ended (to count them, and
/// the failures by reason).
pub type TlsOutcome = Arc<dyn Fn(Result<(), &std::io::Error>) + Send + Sync>;

/// hubshare patch: the error text of a connection that did not start with
/// a TLS handshake (a plaintext client).
pub const NOT_TLS: &str = "the client does not speak TLS";

/// hubshare patch: completes a TLS handshake on `sock` within `within`
/// (the socket's own timeouts bound each read), so a client that never
/// finishes it holds only its own thread, and only that long.
fn tls_handshake(
    mut sock: Connection,
    tls: std::sync::Arc<rustls::ServerConfig>,
    within: Duration,
    divert: Option<&Divert>,
) -> std::io::Result<Option<util::refined_tcp_stream::TlsStream>> {
    use std::io::Read;
    let deadline = std::time::Instant::now() + within;
    let mut conn = rustls::ServerConnection::new(tls)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // A TLS client starts with a handshake record (0x16). Anything else
    // (a plaintext HTTP request) is closed without a byte of answer, or
    // handed on unread.
    let mut first = [0u8; 1];
    if let (Some(divert), Connection::Tcp(tcp)) = (divert, &sock) {
        if tcp.peek(&mut first)? == 1 && first[0] != 0x16 {
            let Connection::Tcp(tcp) = sock else {
                return Ok(None);
            };
            // Refused there: counted as what it is, a client without TLS.
            return match divert(tcp) {
                Ok(()) => Ok(None),
                Err(e) => {
                    log::debug!("a connection neither TLS nor diverted: {}", e);
                    Err(std::io::Error::new(std::io::ErrorKind::InvalidData, NOT_TLS))
                }
            };
        }
    }
    sock.read_exact(&mut first)?;
    if first[0] != 0x16 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            NOT_TLS,
        ));
    }
    conn.read_tls(&mut &first[..])?;
    while conn.is_handshaking() {
        if std::time::Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the TLS handshake took too long",
            ));
        }
        let (read, _) = conn.complete_io(&mut sock)?;
        if read == 0 && conn.is_handshaking() && !conn.wants_write() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client closed the connection during the TLS handshake",
            ));
        }
    }
    Ok(Some(Arc::new(std::sync::Mutex::new(rustls::StreamOwned::new(conn, sock)))))
}

/// hubshare patch: a TLS connection ready to read requests from, once its
/// handshake is done (`outcome` is told how it ended) and, when `admit` is
/// given, the certificate the client showed is one it admits; `None` when
/// the connection was diverted, failed its handshake or was not admitted.
fn tls_connection(
    sock: Connection,
    tls: std::sync::Arc<rustls::ServerConfig>,
    limits: ConnectionLimits,
    control: Option<Connection>,
    divert: Option<&Divert>,
    outcome: &TlsOutcome,
    admit: Option<Admit>,
) -> Option<ClientConnection> {
    match tls_handshake(sock, tls, limits.header_timeout, divert) {
        Ok(None) => None,
        Ok(Some(stream)) => {
            outcome(Ok(()));
            let (read, write) = util::RefinedTcpStream::new(stream);
            if let Some(admit) = admit {
                if !admit(read.peer_certificate().as_deref()) {
                    return None;
                }
            }
            Some(ClientConnection::new(write, read, limits, control))
        }
        Err(e) => {
            log::debug!("TLS handshake failed: {}", e);
            outcome(Err(&e));
            None
        }
    }
}

/// Counts a connection as live until dropped.
struct LiveConnection(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Configuration of the server for SSL.
#[derive(Debug, Clone)]
pub struct SslConfig {
    /// Contains the public certificate to send to clients.
    pub certificate: Vec<u8>,
    /// Contains the ultra-secret private key used to decode communications.
    pub private_key: Vec<u8>,
}

impl Server {
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: None,
        })
    }

    /// Shortcut for an HTTPS server on a specific address.
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    #[inline]
    pub fn https<A>(
        addr: A,
        config: SslConfig,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: Some(config),
        })
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub fn http_unix(
        path: &std::path::Path,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::unix_from_path(path),
            ssl: None,
        })
    }

    /// Builds a new server that listens on the specified address.
    pub fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = config.addr.bind()?;
        Self::from_listener(listener, config.ssl)
    }

    /// Builds a new server using the specified TCP listener.
    ///
    /// This is useful if you've constructed TcpListener using some less usual method
    /// such as from systemd. For other cases, you probably want the `new()` function.
    pub fn from_listener<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::from_listener_with_limits(listener, ssl_config, ConnectionLimits::default())
    }

    /// hubshare patch: like `from_listener`, with limits on every connection.
    pub fn from_listener_with_limits<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
        limits: ConnectionLimits,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::start(listener.into(), ssl_config, limits, None, None)
    }

    /// hubshare patch: like `from_listener_with_limits`, but each request is
    /// given to `handler` on the thread that read it from its connection
    /// instead of being queued for `recv`: no hand-off between threads per
    /// request (two thread switches, most of the cost of a small request on
    /// a keep-alive connection). The next request on that connection is read
    /// once `handler` returns. `recv` on such a server never returns a
    /// request.
    pub fn from_listener_serving<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
        limits: ConnectionLimits,
        handler: Handler,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::start(listener.into(), ssl_config, limits, Some(handler), None)
    }

    /// hubshare patch: as `from_listener_serving`, each connection first
    /// completing a TLS handshake under `tls` on its own thread (never on
    /// the accept thread, so a slow or silent client holds up nobody else),
    /// within the header timeout. A client that does not speak TLS gets
    /// no answer.
    pub fn from_listener_serving_tls<L: Into<Listener>>(
        listener: L,
        tls: std::sync::Arc<rustls::ServerConfig>,
        limits: ConnectionLimits,
        handler: Handler,
        failed: TlsOutcome,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::start(listener.into(), None, limits, Some(handler), Some((tls, failed, None)))
    }

    /// hubshare patch: [`Server::from_listener_serving_tls`], and a
    /// connection whose first byte is not a TLS handshake record is handed,
    /// unread, to `divert` on its own thread (within the connection cap)
    /// instead of being closed.
    pub fn from_listener_serving_tls_diverting<L: Into<Listener>>(
        listener: L,
        tls: std::sync::Arc<rustls::ServerConfig>,
        limits: ConnectionLimits,
        handler: Handler,
        failed: TlsOutcome,
        divert: Divert,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::start(
            listener.into(),
            None,
            limits,
            Some(handler),
            Some((tls, failed, Some(divert))),
        )
    }

    fn start(
        listener: Listener,
        ssl_config: Option<SslConfig>,
        limits: ConnectionLimits,
        handler: Option<Handler>,
        tls: Option<(std::sync::Arc<rustls::ServerConfig>, TlsOutcome, Option<Divert>)>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // building the "close" variable
        let close_trigger = Arc::new(AtomicBool::new(false));
        let inject = match (&tls, &handler) {
            (Some((tls, outcome, _)), Some(handler)) => Some(Arc::new(Inject {
                tls: tls.clone(),
                outcome: outcome.clone(),
                handler: handler.clone(),
                limits,
                live: live.clone(),
                close: close_trigger.clone(),
            })),
            _ => None,
        };

        // building the TcpListener
        let (server, local_addr) = {
            let local_addr = listener.local_addr()?;
            log::debug!("Server listening on {}", local_addr);
            (listener, local_addr)
        };

        // building the SSL capabilities
        #[cfg(all(feature = "ssl-openssl", feature = "ssl-rustls"))]
        compile_error!(
            "Features 'ssl-openssl' and 'ssl-rustls' must not be enabled at the same time"
        );
        #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
        type SslContext = ();
        #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
        type SslContext = crate::ssl::SslContextImpl;
        let ssl: Option<SslContext> = {
            match ssl_config {
                #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                Some(config) => Some(SslContext::from_pem(
                    config.certificate,
                    Zeroizing::new(config.private_key),
                )?),
                #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                Some(_) => return Err(
                    "Building a server with SSL requires enabling the `ssl` feature in tiny-http"
                        .into(),
                ),
                None => None,
            }
        };

        // creating a task where server.accept() is continuously called
        // and ClientConnection objects are pushed in the messages queue
        let messages = MessagesQueue::with_capacity(8);

        let inside_close_trigger = close_trigger.clone();
        let inside_messages = messages.clone();
        thread::spawn(move || {
            // a tasks pool is used to dispatch the connections into threads
            let tasks_pool = util::TaskPool::new();

            log::debug!("Running accept thread");
            while !inside_close_trigger.load(Relaxed) {
                let new_client = match server.accept() {
                    Ok((sock, _)) => {
                        // hubshare patch: a cap on live connections (each
                        // one holds a thread), and timeouts on each.
                        if live.load(std::sync::atomic::Ordering::Acquire) >= limits.max_connections {
                            refuse_busy(sock);
                            continue;
                        }
                        if let Err(e) = sock.set_timeouts(limits.read_timeout, limits.write_timeout) {
                            log::debug!("cannot set timeouts on a new connection: {}", e);
                            continue;
                        }
                        use util::RefinedTcpStream;
                        let control = sock.try_clone().ok();
                        // hubshare patch: the handshake runs on the
                        // connection's thread (below).
                        if let Some((tls, failed, divert)) = &tls {
                            Ok(Accepted::Tls(sock, tls.clone(), failed.clone(), control, divert.clone()))
                        } else {
                        let (read_closable, write_closable) = match ssl {
                            None => RefinedTcpStream::new(sock),
                            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                            Some(ref ssl) => {
                                // trying to apply SSL over the connection
                                // if an error occurs, we just close the socket and resume listening
                                let sock = match ssl.accept(sock) {
                                    Ok(s) => s,
                                    Err(_) => continue,
                                };

                                RefinedTcpStream::new(sock)
                            }
                            #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                            Some(ref _ssl) => unreachable!(),
                        };

                        Ok(Accepted::Ready(ClientConnection::new(write_closable, read_closable, limits, control)))
                        }
                    }
                    Err(e) => Err(e),
                };

                match new_client {
                    Ok(client) => {
                        let messages = inside_messages.clone();
                        let handler = handler.clone();
                        let mut client = Some(client);
                        live.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        let mut live = Some(LiveConnection(live.clone()));
                        tasks_pool.spawn(Box::new(move || {
                            let _live = live.take();
                            let client = match client.take() {
                                Some(Accepted::Ready(client)) => Some(client),
                                Some(Accepted::Tls(sock, tls, failed, control, divert)) => {
                                    tls_connection(sock, tls, limits, control, divert.as_ref(), &failed, None)
                                }
                                None => None,
                            };
                            if let Some(client) = client {
                                if let Some(handler) = &handler {
                                    // hubshare patch: served here, in order.
                                    for rq in client {
                                        handler(rq);
                                    }
                                } else if client.secure() {
                                    // Synchronization is needed for HTTPS requests to avoid a deadlock
                                    let (sender, receiver) = mpsc::channel();
                                    for rq in client {
                                        messages.push(rq.with_notify_sender(sender.clone()).into());
                                        receiver.recv().unwrap();
                                    }
                                } else {
                                    for rq in client {
                                        messages.push(rq.into());
                                    }
                                }
                            }
                        }));
                    }

                    // hubshare patch: an accept error (out of file
                    // descriptors, a connection reset before it was
                    // accepted) is not the end of the server: wait a moment
                    // and go on accepting.
                    Err(e) => {
                        if inside_close_trigger.load(Relaxed) {
                            break;
                        }
                        log::warn!("Error accepting new client: {}", e);
                        thread::sleep(Duration::from_millis(50));
                    }
                }
            }
            log::debug!("Terminating accept thread");
        });

        // result
        Ok(Server {
            messages,
            close: close_trigger,
            listening_addr: local_addr,
            inject,
        })
    }

    /// hubshare patch: serves a socket this server did not accept (one it
    /// dialed out) as if it had: on a thread of its own, counted against
    /// the connection cap, as the TLS server, and only if `admit` accepts
    /// the certificate the client shows. Refused when the server does not
    /// serve TLS with a handler, or is at its cap.
    pub fn serve_tls_stream(&self, sock: TcpStream, admit: Admit) -> IoResult<()> {
        use std::sync::atomic::Ordering::AcqRel;
        let Some(inject) = self.inject.clone() else {
            return Err(IoError::other("this server does not serve TLS with a handler"));
        };
        if inject.close.load(Relaxed) {
            return Err(IoError::other("this server is shutting down"));
        }
        if inject.live.fetch_add(1, AcqRel) >= inject.limits.max_connections {
            inject.live.fetch_sub(1, AcqRel);
            return Err(IoError::other("this server is at its connection cap"));
        }
        let live = LiveConnection(inject.live.clone());
        let sock = Connection::from(sock);
        sock.set_timeouts(inject.limits.read_timeout, inject.limits.write_timeout)?;
        let control = sock.try_clone().ok();
        thread::Builder::new()
            .name("tls-dialed".into())
            .spawn(move || {
                let _live = live;
                let client = tls_connection(
                    sock,
                    inject.tls.clone(),
                    inject.limits,
                    control,
                    None,
                    &inject.outcome,
                    Some(admit),
                );
                for rq in client.into_iter().flatten() {
                    (inject.handler)(rq);
                }
            })?;
        Ok(())
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub fn incoming_requests(&self) -> IncomingRequests<'_> {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub fn server_addr(&self) -> ListenAddr {
        self.listening_addr.clone()
    }

    /// Returns the number of clients currently connected to the server.
    pub fn num_connections(&self) -> usize {
        unimplemented!()
        //self.requests_receiver.lock().len()
    }

    /// Blocks until an HTTP request has been submitted and returns it.
    pub fn recv(&self) -> IoResult<Request> {
        match self.messages.pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(rq),
            None => Err(IoError::new(IoErrorKind::Other, "thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub fn recv_timeout(&self, timeout: Duration) -> IoResult<Option<Request>> {
        match self.messages.pop_timeout(timeout) {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Same as `recv()` but doesn't block.
    pub fn try_recv(&self) -> IoResult<Option<Request>> {
        match self.messages.try_pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub fn unblock(&self) {
        self.messages.unblock();
    }
}

impl Iterator for IncomingRequests<'_> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        self.server.recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close.store(true, Relaxed);
        // Connect briefly to ourselves to unblock the accept thread
        let maybe_stream = match &self.listening_addr {
            ListenAddr::IP(addr) => TcpStream::connect(addr).map(Connection::from),
            #[cfg(unix)]
            ListenAddr::Unix(addr) => {
                // TODO: use connect_addr when its stabilized.
                let path = addr.as_pathname().unwrap();
                std::os::unix::net::UnixStream::connect(path).map(Connection::from)
            }
        };
        if let Ok(stream) = maybe_stream {
            let _ = stream.shutdown(Shutdown::Both);
        }

        #[cfg(unix)]
        if let ListenAddr::Unix(addr) = &self.listening_addr {
            if let Some(path) = addr.as_pathname() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
