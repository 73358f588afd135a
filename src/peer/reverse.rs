//! Reverse connections: how a firewalled source, which nobody can connect
//! to, still serves a downloader that can be reached.
//!
//! - **The downloader's side.** A loopback proxy (the address and secret in
//!   the control file, so one-shot commands of this config use it too): an
//!   HTTP `CONNECT` whose user is the source's keyprint (hex) and whose
//!   password is the control secret. It issues a one-time token, asks the
//!   directory (`ConnectMe`) to have the source connect out to this peer's
//!   listed port, waits for a connection that opens with
//!   `HUBSHARE-REVERSE <token>` (taken off the HTTPS port before its TLS
//!   handshake, see [`Waiting::divert`]), answers `200` and splices the two.
//!   The client (ureq) then runs TLS through it as it would directly,
//!   pinning the source's keyprint: the piece protocol is the usual one.
//! - **The source's side.** A thread follows the session's notice stream;
//!   for each notice it connects to the downloader's listed address (the
//!   directory names it, never the downloader), sends the line, and serves
//!   HTTPS on that socket as the TLS server, admitting only a client
//!   showing the keyprint the notice names.
//!
//! A token is accepted once and only if this process issued it; a line
//! with any other is closed unanswered.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::client::{ClientError, ConnectTo, Directory};
use super::serve::Dialer;
use crate::random::random_hex;
use crate::sync::MutexExt;
use crate::wire::{
    is_connect_token, read_head, write_answer, Deadline, KeyPrint, PathUse, TunnelAnswer,
    PATH_HEADER,
};

/// The first bytes of a reverse connection, before its token.
pub const PREAMBLE: &str = "HUBSHARE-REVERSE ";
/// How long the proxy waits for the source's connection.
pub const REVERSE_WAIT: Duration = Duration::from_secs(10);
/// How long a connection has to send its first line (the preamble, or the
/// proxy's request).
const LINE_WAIT: Duration = Duration::from_secs(5);
/// Most bytes of the proxy's request head.
const MAX_HEAD: usize = 8 * 1024;
/// How long a source waits to connect out to a downloader.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Most reverse connections being made at once by a source; notices
/// beyond it are dropped (the downloader's wait times out).
const MAX_DIALS: usize = 32;
/// How long the proxy waits before asking again for a source that is not
/// listening for notices yet.
const ASK_AGAIN: Duration = Duration::from_millis(250);
/// How long the notice stream waits before opening again after it ended.
const NOTICES_RETRY: Duration = Duration::from_secs(2);

/// Tokens this process issued and is waiting on, with where their
/// connection goes.
#[derive(Default)]
pub struct Waiting {
    tokens: Mutex<HashMap<String, Sender<TcpStream>>>,
}

impl Waiting {
    /// Takes a connection the HTTPS port received that does not open with
    /// a TLS handshake (on its thread): a reverse connection with a token
    /// issued here is handed to its waiter; anything else is refused.
    pub fn divert(&self, sock: TcpStream) -> io::Result<()> {
        let token = read_preamble(&sock)?;
        let to = self.tokens.locked().remove(&token);
        match to {
            Some(to) => to
                .send(sock)
                .map_err(|_| io::Error::other("nobody waits for it any more")),
            None => {
                log::info!("a reverse connection with a token not issued here: closed");
                Err(io::Error::other("a token not issued here"))
            }
        }
    }

    fn issue(&self) -> (String, Receiver<TcpStream>) {
        let token = random_hex(16);
        let (tx, rx) = bounded(1);
        self.tokens.locked().insert(token.clone(), tx);
        (token, rx)
    }

    fn forget(&self, token: &str) {
        self.tokens.locked().remove(token);
    }
}

/// Reads `HUBSHARE-REVERSE <token>\r\n` within [`LINE_WAIT`], byte by
/// byte (nothing after it is read: the TLS handshake that follows is the
/// client's).
fn read_preamble(sock: &TcpStream) -> io::Result<String> {
    let max = PREAMBLE.len() + 35;
    let line = read_head(&mut Deadline::new(sock, LINE_WAIT), max, |h| {
        h.ends_with(b"\n")
    })?;
    let line = String::from_utf8_lossy(&line);
    let token = line
        .trim_end_matches(['\r', '\n'])
        .strip_prefix(PREAMBLE)
        .filter(|t| is_connect_token(t))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a reverse connection"))?;
    Ok(token.to_string())
}

/// The downloader's loopback proxy (see the module doc).
pub struct Proxy {
    addr: SocketAddr,
}

impl Proxy {
    /// Listens on a free loopback port and serves each `CONNECT` on a
    /// thread of its own while the process lives.
    pub fn start(
        dir: Arc<Directory>,
        session: Arc<SessionToken>,
        waiting: Arc<Waiting>,
        secret: String,
    ) -> io::Result<Proxy> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let ask = Arc::new(Asker {
            dir,
            session,
            waiting,
            secret,
        });
        std::thread::Builder::new()
            .name("reverse-proxy".into())
            .spawn(move || {
                for sock in listener.incoming().flatten() {
                    let ask = ask.clone();
                    let _ = std::thread::Builder::new()
                        .name("reverse-connect".into())
                        .spawn(move || ask.serve(sock));
                }
            })?;
        Ok(Proxy { addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The running peer's session, as the proxy and the notice stream see it:
/// its token when logged in, and whether the directory reached this peer
/// (a firewalled peer cannot take reverse connections); `None` from `now`
/// and `true` from `gone` once the peer has stopped. `check` tells the
/// session that the directory may have forgotten it (see
/// `Session::check_soon`).
pub struct SessionToken {
    pub now: Box<dyn Fn() -> Option<(String, bool)> + Send + Sync>,
    pub gone: Box<dyn Fn() -> bool + Send + Sync>,
    pub check: Box<dyn Fn() + Send + Sync>,
}

impl SessionToken {
    fn now(&self) -> Option<(String, bool)> {
        (self.now)()
    }

    fn gone(&self) -> bool {
        (self.gone)()
    }

    fn check(&self) {
        (self.check)()
    }
}

/// The connections made for firewalled peers (see `Status::paths`).
static PATHS_USED: Mutex<Vec<PathUse>> = Mutex::new(Vec::new());

/// Most (peer, path) entries kept; the oldest go first.
const PATHS_KEPT: usize = 64;

fn used(peer: String, path: &str, out: bool) {
    let mut all = PATHS_USED.locked();
    let at = all
        .iter()
        .position(|u| u.peer == peer && u.path == path && u.out == out);
    let mut entry = match at {
        Some(i) => all.remove(i),
        None => PathUse {
            peer,
            path: path.to_string(),
            out,
            connections: 0,
        },
    };
    entry.connections += 1;
    all.insert(0, entry);
    all.truncate(PATHS_KEPT);
}

/// The connections made for firewalled peers since start, most recent
/// first.
pub fn paths_used() -> Vec<PathUse> {
    PATHS_USED.locked().clone()
}

struct Asker {
    dir: Arc<Directory>,
    session: Arc<SessionToken>,
    waiting: Arc<Waiting>,
    secret: String,
}

impl Asker {
    fn serve(&self, mut client: TcpStream) {
        // Without it, the end of each answer waits for the client's
        // delayed ACK (Nagle).
        let _ = client.set_nodelay(true);
        let source = match self.read_connect(&client) {
            Ok(source) => source,
            Err((status, why)) => return refuse(&mut client, status, &why),
        };
        match self.reach(&source) {
            Ok((upstream, path)) => {
                let ok =
                    format!("HTTP/1.1 200 Connection established\r\n{PATH_HEADER}: {path}\r\n\r\n");
                if client.write_all(ok.as_bytes()).is_ok() {
                    used(source.to_string(), path, false);
                    splice(client, upstream);
                }
            }
            Err(why) => {
                log::warn!("cannot reach {source}: {why}");
                refuse(&mut client, 502, &why);
            }
        }
    }

    /// A connection to the firewalled `source`: reverse when this peer is
    /// reachable, else (or when that fails) through the directory's relay.
    fn reach(&self, source: &KeyPrint) -> Result<(TcpStream, &'static str), String> {
        let Some((token, reachable)) = self.session.now() else {
            return Err("this peer is not logged in to the directory".to_string());
        };
        let reverse = if reachable {
            match self.reverse(&token, source) {
                Ok(sock) => return Ok((sock, "reverse")),
                Err(why) => why,
            }
        } else {
            "this peer is firewalled too".to_string()
        };
        match self.relayed(&token, source) {
            Ok(sock) => Ok((sock, "relayed")),
            Err(relay) => Err(format!("reverse: {reverse}; relay: {relay}")),
        }
    }

    /// Meets the source at the directory's relay.
    fn relayed(&self, token: &str, source: &KeyPrint) -> Result<TcpStream, String> {
        let connect_token = random_hex(16);
        let deadline = Instant::now() + REVERSE_WAIT;
        let (addr, ticket) = self
            .ask(token, source, &connect_token, true, deadline)?
            .ok_or("the directory named no relay")?;
        let to = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
            .map_err(|e| format!("the relay {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("the relay {addr} has no address"))?;
        let mut sock = TcpStream::connect_timeout(&to, DIAL_TIMEOUT)
            .map_err(|e| format!("the relay {addr}: {e}"))?;
        let _ = sock.set_nodelay(true);
        let _ = sock.set_read_timeout(Some(REVERSE_WAIT + LINE_WAIT));
        write!(sock, "CONNECT {ticket} HTTP/1.1\r\n\r\n").map_err(|e| e.to_string())?;
        let answer = TunnelAnswer::read(&mut sock).map_err(|e| format!("the relay {addr}: {e}"))?;
        match answer.status {
            200 => Ok(sock),
            status => Err(format!(
                "the relay {addr} answered {status}: {}",
                answer.reason
            )),
        }
    }

    /// The source's keyprint from a `CONNECT` with this process's secret
    /// (its head read within [`LINE_WAIT`], byte by byte).
    fn read_connect(&self, client: &TcpStream) -> Result<KeyPrint, (u16, String)> {
        let end = |h: &[u8]| h.ends_with(b"\r\n\r\n") || h.ends_with(b"\n\n");
        let head =
            read_head(&mut Deadline::new(client, LINE_WAIT), MAX_HEAD, end).map_err(|e| {
                let why = match e.kind() {
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
                        "the request head is cut short or too long".to_string()
                    }
                    _ => e.to_string(),
                };
                (400, why)
            })?;
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.lines();
        if !lines.next().is_some_and(|l| l.starts_with("CONNECT ")) {
            return Err((405, "only CONNECT is served here".to_string()));
        }
        let credentials = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
            .and_then(|(_, v)| {
                let (scheme, b64) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then_some(b64.trim())
            })
            .and_then(crate::base64::decode)
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
            return Err((407, "no credentials".to_string()));
        };
        // BLAKE3 hashes compare in constant time.
        if blake3::hash(password.as_bytes()) != blake3::hash(self.secret.as_bytes()) {
            return Err((407, "wrong secret".to_string()));
        }
        KeyPrint::from_hex(user)
            .ok_or_else(|| (400, "the user is not a keyprint in hex".to_string()))
    }

    /// A connection from the source, asked through the directory.
    fn reverse(&self, token: &str, source: &KeyPrint) -> Result<TcpStream, String> {
        let (connect_token, arrives) = self.waiting.issue();
        let deadline = Instant::now() + REVERSE_WAIT;
        let got = self
            .ask(token, source, &connect_token, false, deadline)
            .and_then(|_| {
                match arrives.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(sock) => Ok(sock),
                    Err(RecvTimeoutError::Timeout) => Err(format!(
                        "the source did not connect within {}s",
                        REVERSE_WAIT.as_secs()
                    )),
                    Err(RecvTimeoutError::Disconnected) => Err("stopped waiting".to_string()),
                }
            });
        self.waiting.forget(&connect_token);
        got
    }

    /// Asks the directory, again while the source is not listening yet (it
    /// opens its notice stream just after its Login) until `deadline`.
    fn ask(
        &self,
        token: &str,
        source: &KeyPrint,
        connect_token: &str,
        via_relay: bool,
        deadline: Instant,
    ) -> Result<Option<(String, String)>, String> {
        loop {
            match self.dir.connect_me(token, source, connect_token, via_relay) {
                Err(ClientError::NotFound(why)) if Instant::now() < deadline => {
                    log::debug!("reverse connection: {why}; asking again");
                    std::thread::sleep(ASK_AGAIN);
                }
                done => return done.map_err(|e| e.to_string()),
            }
        }
    }
}

fn refuse(client: &mut TcpStream, status: u16, why: &str) {
    let reason = match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        _ => "Bad Gateway",
    };
    let _ = write_answer(client, &format!("{status} {reason}"), why);
}

/// Copies each way until both ends are done (a side that ends its writing
/// ends the other's reading).
fn splice(a: TcpStream, b: TcpStream) {
    let _ = a.set_read_timeout(None);
    let _ = b.set_read_timeout(None);
    let pair = a.try_clone().and_then(|a2| Ok((a2, b.try_clone()?)));
    let Ok((a2, b2)) = pair else {
        return;
    };
    let one_way = |mut from: TcpStream, mut to: TcpStream| {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    };
    let back = std::thread::Builder::new()
        .name("reverse-splice".into())
        .spawn(move || one_way(b2, a2));
    one_way(a, b);
    if let Ok(back) = back {
        let _ = back.join();
    }
}

/// Follows the session's notices while the process lives, connecting out
/// to each downloader that asks.
pub fn follow_notices(dir: Arc<Directory>, session: Arc<SessionToken>, dialer: Dialer) {
    let dials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let spawned = std::thread::Builder::new()
        .name("directory-notices".into())
        .spawn(move || loop {
            if session.gone() {
                return;
            }
            let Some((token, _)) = session.now() else {
                // Not logged in yet: the stream opens soon after a Login.
                std::thread::sleep(ASK_AGAIN);
                continue;
            };
            let opened = Instant::now();
            match dir.notices(&token) {
                Ok(notices) => {
                    let mut ended = None;
                    for notice in notices {
                        match notice {
                            Ok(n) => dial_out(n, &dialer, &dials),
                            Err(e) => {
                                log::debug!("the notice stream ended: {e}");
                                ended = Some(e);
                                break;
                            }
                        }
                    }
                    // The directory went away, or ended the stream, or no
                    // longer knows the session: it may have restarted.
                    if let None
                    | Some(ClientError::Unreachable { .. } | ClientError::Unauthenticated) =
                        ended
                    {
                        session.check();
                    }
                }
                Err(e @ ClientError::Unreachable { .. }) => log::debug!("notices: {e}"),
                Err(ClientError::Unauthenticated) => session.check(),
                Err(e) => log::info!("cannot follow the directory's notices: {e}"),
            }
            // A stream that ended at once is not opened again at once.
            if opened.elapsed() < NOTICES_RETRY {
                std::thread::sleep(NOTICES_RETRY);
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot follow the directory's notices: {e}");
    }
}

/// Connects out to the downloader a notice names and serves it there.
fn dial_out(n: ConnectTo, dialer: &Dialer, dials: &Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering::AcqRel;
    if dials.fetch_add(1, AcqRel) >= MAX_DIALS {
        dials.fetch_sub(1, AcqRel);
        log::warn!("{} asked for a connection; too many are being made", n.peer);
        return;
    }
    let (dialer, counted) = (dialer.clone(), dials.clone());
    let spawned = std::thread::Builder::new()
        .name("reverse-out".into())
        .spawn(move || {
            let done = dial_and_serve(&n, &dialer);
            counted.fetch_sub(1, AcqRel);
            match done {
                Ok(()) if n.relay => {
                    used(n.peer.clone(), "relayed", true);
                    log::info!(
                        "connected out to {} through the relay at {}",
                        n.peer,
                        n.addr
                    )
                }
                Ok(()) => {
                    used(n.peer.clone(), "reverse", true);
                    log::info!("connected out to {} at {} (reverse)", n.peer, n.addr)
                }
                Err(e) => log::warn!("cannot connect out to {} at {}: {e}", n.peer, n.addr),
            }
        });
    if spawned.is_err() {
        dials.fetch_sub(1, AcqRel);
    }
}

fn dial_and_serve(n: &ConnectTo, dialer: &Dialer) -> io::Result<()> {
    let to = match n.addr.ip() {
        Some(ip) => SocketAddr::new(ip, n.addr.port_or_default()),
        None => std::net::ToSocketAddrs::to_socket_addrs(n.addr.authority())?
            .next()
            .ok_or_else(|| io::Error::other("the address has no IP address"))?,
    };
    let mut sock = TcpStream::connect_timeout(&to, DIAL_TIMEOUT)?;
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(DIAL_TIMEOUT))?;
    sock.write_all(format!("{PREAMBLE}{}\r\n", n.token).as_bytes())?;
    let expected = n.keyprint;
    dialer.serve(
        sock,
        Box::new(move |shown| {
            let ok = shown
                .and_then(|der| crate::tls::keyprint_of(der).ok())
                .is_some_and(|kp| kp == expected);
            if !ok {
                log::warn!("a reverse connection's client is not the one the directory named");
            }
            ok
        }),
    )
}
