//! [`Relay`]: its accept loop, the meeting of the two ends of a ticket,
//! the caps, and the paced splice.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use crate::config::RelayConfig;
use crate::pace::Pace;
use crate::sync::MutexExt;
use crate::wire::{write_answer, Deadline, KeyPrint, Ticket};

/// How long the first end of a ticket waits for the other.
pub const MEET_WAIT: Duration = Duration::from_secs(10);
/// How long a connection has to send its first line.
const LINE_WAIT: Duration = Duration::from_secs(5);
/// Most bytes of a first line or request head.
const MAX_HEAD: usize = 4096;
/// Bytes read and written at once.
const CHUNK: usize = 64 * 1024;

/// What the relay has done, for `/metrics` and tests.
#[derive(Default)]
pub struct RelayStats {
    pub sessions: AtomicU64,
    pub active: AtomicUsize,
    pub bytes: AtomicU64,
    refusals: Mutex<HashMap<&'static str, u64>>,
}

impl RelayStats {
    fn refused(&self, reason: &'static str) {
        *self.refusals.locked().entry(reason).or_default() += 1;
    }

    /// Refusals by reason.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        let mut out: Vec<_> = self
            .refusals
            .locked()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        out.sort();
        out
    }

    /// The counters in the Prometheus text format.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "hubshare_relay_sessions_total",
            "counter",
            "Sessions relayed (both ends met).",
            self.sessions.load(Ordering::Relaxed),
        );
        metric(
            "hubshare_relay_sessions_active",
            "gauge",
            "Sessions being relayed now.",
            self.active.load(Ordering::Relaxed) as u64,
        );
        metric(
            "hubshare_relay_bytes_total",
            "counter",
            "Bytes relayed, both ways.",
            self.bytes.load(Ordering::Relaxed),
        );
        out.push_str("# HELP hubshare_relay_refusals_total Connections refused, by reason.\n");
        out.push_str("# TYPE hubshare_relay_refusals_total counter\n");
        for (reason, n) in self.refusals() {
            out.push_str(&format!(
                "hubshare_relay_refusals_total{{reason=\"{reason}\"}} {n}\n"
            ));
        }
        out
    }
}

/// A running relay; it serves until the process ends.
pub struct Relay {
    addr: SocketAddr,
    stats: Arc<RelayStats>,
}

/// Which end of a ticket a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Downloader,
    Source,
}

struct Waiting {
    end: End,
    ticket: Ticket,
    to: Sender<TcpStream>,
}

struct Shared {
    secret: Vec<u8>,
    config: RelayConfig,
    stats: Arc<RelayStats>,
    waiting: Mutex<HashMap<String, Waiting>>,
    /// Tickets already met, until they expire: none is used twice.
    used: Mutex<HashMap<String, u64>>,
    /// Sessions now, by peer keyprint (source and downloader both count).
    per_peer: Mutex<HashMap<KeyPrint, usize>>,
    total: Pace,
    /// Connections being served (each holds a thread): at most
    /// [`CONNECTIONS_PER_SESSION`] times `max_sessions`.
    connections: AtomicUsize,
}

/// Connections allowed per session of `max_sessions`: its two ends, and
/// room for ends waiting and heads being read.
const CONNECTIONS_PER_SESSION: usize = 4;

impl Relay {
    /// Serves on `listener`, checking tickets with `secret`.
    pub fn start(
        listener: TcpListener,
        config: &RelayConfig,
        secret: Vec<u8>,
    ) -> io::Result<Relay> {
        let addr = listener.local_addr()?;
        let stats = Arc::new(RelayStats::default());
        let shared = Arc::new(Shared {
            secret,
            total: Pace::new(config.total_rate),
            config: config.clone(),
            stats: stats.clone(),
            waiting: Mutex::default(),
            used: Mutex::default(),
            per_peer: Mutex::default(),
            connections: AtomicUsize::new(0),
        });
        std::thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || {
                for sock in listener.incoming() {
                    let sock = match sock {
                        Ok(s) => s,
                        Err(e) => {
                            log::warn!("relay: accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    };
                    let cap = shared.config.max_sessions * CONNECTIONS_PER_SESSION;
                    if shared.connections.fetch_add(1, Ordering::AcqRel) >= cap {
                        shared.connections.fetch_sub(1, Ordering::AcqRel);
                        shared.stats.refused("busy");
                        let mut sock = sock;
                        answer(&mut sock, "503 Service Unavailable", "the relay is full\n");
                        continue;
                    }
                    let shared = shared.clone();
                    let spawned = std::thread::Builder::new()
                        .name("relay-conn".into())
                        .spawn({
                            let shared = shared.clone();
                            move || {
                                shared.serve(sock);
                                shared.connections.fetch_sub(1, Ordering::AcqRel);
                            }
                        });
                    if spawned.is_err() {
                        shared.connections.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            })?;
        log::info!("relay listening on {addr}");
        Ok(Relay { addr, stats })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &Arc<RelayStats> {
        &self.stats
    }
}

/// Reads a connection's head within [`LINE_WAIT`], a byte at a time
/// (nothing after it is taken from the socket): up to the blank line that
/// ends a request head, or the first line of a source's.
fn read_head(sock: &TcpStream) -> io::Result<String> {
    let done = |h: &[u8]| {
        h.ends_with(b"\r\n\r\n") || (h.ends_with(b"\n") && h.starts_with(b"HUBSHARE-REVERSE "))
    };
    let head = crate::wire::read_head(&mut Deadline::new(sock, LINE_WAIT), MAX_HEAD, done)?;
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn answer(sock: &mut TcpStream, status: &str, body: &str) {
    let _ = write_answer(sock, status, body);
}

impl Shared {
    fn serve(&self, mut sock: TcpStream) {
        let _ = sock.set_nodelay(true);
        let head = match read_head(&sock) {
            Ok(h) => h,
            Err(_) => return self.stats.refused("not_relay"),
        };
        let first = head.lines().next().unwrap_or("").trim();
        let (end, ticket) = if let Some(t) = first.strip_prefix("HUBSHARE-REVERSE ") {
            (End::Source, t)
        } else if let Some(rest) = first.strip_prefix("CONNECT ") {
            (End::Downloader, rest.split(' ').next().unwrap_or(""))
        } else if first.starts_with("GET /metrics ") {
            return answer(&mut sock, "200 OK", &self.stats.text());
        } else if first.starts_with("GET /health ") {
            return answer(&mut sock, "200 OK", "ok\n");
        } else {
            self.stats.refused("not_relay");
            return answer(
                &mut sock,
                "400 Bad Request",
                "a hubshare relay: CONNECT <ticket>\n",
            );
        };
        let ticket = match Ticket::open(ticket, &self.secret) {
            Ok(t) => t,
            Err(e) => {
                self.stats.refused("bad_ticket");
                log::info!("relay: refused a {end:?}: {e}");
                if end == End::Downloader {
                    answer(&mut sock, "403 Forbidden", &format!("{e}\n"));
                }
                return;
            }
        };
        self.meet(end, ticket, sock);
    }

    /// Waits for the other end of `ticket`, or hands `sock` to it.
    fn meet(&self, end: End, ticket: Ticket, mut sock: TcpStream) {
        let arrives = {
            let mut waiting = self.waiting.locked();
            match waiting.remove(&ticket.token) {
                Some(w) if w.end != end && w.ticket == ticket => {
                    let _ = w.to.send(sock);
                    return;
                }
                Some(w) => {
                    // The same end twice: the first keeps its place.
                    waiting.insert(ticket.token.clone(), w);
                    drop(waiting);
                    return self.refuse(end, &mut sock, "ticket_used", "this ticket is in use");
                }
                None => {
                    if self.used.locked().contains_key(&ticket.token) {
                        drop(waiting);
                        return self.refuse(end, &mut sock, "ticket_used", "this ticket was used");
                    }
                    let (to, arrives) = bounded(1);
                    waiting.insert(
                        ticket.token.clone(),
                        Waiting {
                            end,
                            ticket: ticket.clone(),
                            to,
                        },
                    );
                    arrives
                }
            }
        };
        let other = arrives.recv_timeout(MEET_WAIT);
        self.waiting.locked().remove(&ticket.token);
        let Ok(other) = other else {
            return self.refuse(
                end,
                &mut sock,
                "no_other_end",
                "the other end did not come in time",
            );
        };
        let (downloader, source) = match end {
            End::Downloader => (sock, other),
            End::Source => (other, sock),
        };
        self.session(ticket, downloader, source);
    }

    fn refuse(&self, end: End, sock: &mut TcpStream, reason: &'static str, why: &str) {
        self.stats.refused(reason);
        log::info!("relay: refused a {end:?}: {why}");
        if end == End::Downloader {
            answer(sock, "429 Too Many Requests", &format!("{reason}: {why}\n"));
        }
    }

    /// Checks the caps, answers the downloader and relays until both ends
    /// are done or the session is idle.
    fn session(&self, ticket: Ticket, mut downloader: TcpStream, source: TcpStream) {
        {
            let mut used = self.used.locked();
            let now = crate::wire::unix_now();
            used.retain(|_, expires| *expires >= now);
            used.insert(ticket.token.clone(), ticket.expires);
        }
        let peers = [ticket.source, ticket.downloader];
        let refusal = {
            let mut per_peer = self.per_peer.locked();
            let cap = self.config.sessions_per_peer;
            if self.stats.active.load(Ordering::Relaxed) >= self.config.max_sessions {
                Some((
                    "max_sessions",
                    format!(
                        "the relay has {} sessions (max_sessions)",
                        self.config.max_sessions
                    ),
                ))
            } else if let Some(busy) = peers
                .iter()
                .find(|p| per_peer.get(p).copied().unwrap_or(0) >= cap)
            {
                Some((
                    "sessions_per_peer",
                    format!("{busy} has {cap} sessions at this relay (sessions_per_peer = {cap})"),
                ))
            } else {
                for p in peers {
                    *per_peer.entry(p).or_default() += 1;
                }
                self.stats.active.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        if let Some((reason, why)) = refusal {
            return self.refuse(End::Downloader, &mut downloader, reason, &why);
        }
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let from = downloader.peer_addr().ok();
        let started = Instant::now();
        let relayed = if downloader
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_ok()
        {
            self.splice(downloader, source)
        } else {
            0
        };
        {
            let mut per_peer = self.per_peer.locked();
            for p in peers {
                if let Some(n) = per_peer.get_mut(&p) {
                    *n -= 1;
                    if *n == 0 {
                        per_peer.remove(&p);
                    }
                }
            }
        }
        self.stats.active.fetch_sub(1, Ordering::Relaxed);
        log::info!(
            "relay: session of {} (from {}) with {}: {relayed} bytes in {:.1}s",
            ticket.downloader,
            from.map_or_else(|| "?".to_string(), |a| a.to_string()),
            ticket.source,
            started.elapsed().as_secs_f64()
        );
    }

    /// Relays both ways, paced, until both are done or both are silent for
    /// `idle_secs`; returns the bytes relayed.
    fn splice(&self, a: TcpStream, b: TcpStream) -> u64 {
        let idle = Duration::from_secs(self.config.idle_secs);
        let session = Pace::new(self.config.session_rate);
        let last = AtomicU64::new(0);
        let started = Instant::now();
        let pair = a.try_clone().and_then(|a2| Ok((a2, b.try_clone()?)));
        let Ok((a2, b2)) = pair else {
            return 0;
        };
        let one_way = |mut from: TcpStream, mut to: TcpStream| -> u64 {
            let _ = from.set_read_timeout(Some(idle));
            let mut buf = vec![0u8; CHUNK];
            let mut moved = 0u64;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        // Silent this way: the session lives while the
                        // other way is not.
                        let quiet =
                            started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                        if quiet >= idle.as_millis() as u64 {
                            log::info!("relay: a session idle for {}s: ended", idle.as_secs());
                            let _ = from.shutdown(Shutdown::Both);
                            let _ = to.shutdown(Shutdown::Both);
                            break;
                        }
                        continue;
                    }
                    Err(_) => break,
                };
                last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                let now = Instant::now();
                let wait = session.take(n, now).max(self.total.take(n, now));
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                moved += n as u64;
                self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            let _ = to.shutdown(Shutdown::Write);
            moved
        };
        std::thread::scope(|s| {
            let back = s.spawn(|| one_way(b2, a2));
            let there = one_way(a, b);
            there + back.join().unwrap_or(0)
        })
    }
}
