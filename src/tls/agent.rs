//! The HTTP agents a peer talks to other peers with. An `https://`
//! address carries the keyprint the directory listed for it; its agent
//! accepts only that certificate and shows this process's own (set once
//! at start), so the other side knows the downloader by its keyprint.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::configs::client_config;
use super::identity::TlsIdentity;
use crate::sync::MutexExt;
use crate::wire::{GroupPassword, HttpAddr, KeyPrint, PATH_HEADER, PEER_HEADER};

static ME: OnceLock<TlsIdentity> = OnceLock::new();

/// Who this process says it is on every request to a peer: its name
/// (`X-Hubshare-Peer`), and in a closed group without TLS the group
/// password as Basic credentials (with TLS, a source checks the
/// certificate and the name with the directory instead).
struct Who {
    name: String,
    plain_basic: Option<String>,
}

static WHO: OnceLock<Who> = OnceLock::new();

/// The reverse-connection proxy of this peer's running process: where a
/// firewalled source is reached (see `peer/reverse.rs`).
struct Reverse {
    addr: std::net::SocketAddr,
    secret: String,
}

static REVERSE: OnceLock<Reverse> = OnceLock::new();

/// Where to reach firewalled sources from now on: through the reverse
/// proxy at `addr` (on loopback) with `secret` (once: later calls keep
/// the first).
pub fn set_reverse_proxy(addr: std::net::SocketAddr, secret: &str) {
    crate::logging::redact(secret);
    let _ = REVERSE.set(Reverse {
        addr,
        secret: secret.to_string(),
    });
}

/// Whether a firewalled source at `base` can be reached here: through a
/// reverse connection, which needs TLS (the source is pinned by its
/// keyprint) and a running peer of this process's config to take it.
pub fn reverse_possible(base: &HttpAddr) -> bool {
    base.is_tls() && base.pin().is_some() && REVERSE.get().is_some()
}

/// The certificate this process shows to the peers it connects to (once:
/// later calls keep the first).
pub fn set_client_identity(me: &TlsIdentity) {
    let _ = ME.set(me.clone());
}

/// The name this process gives on every request to a peer, and the group
/// password it shows to `http://` peers of a closed group (once: later
/// calls keep the first). The Basic value is redacted from every log line.
pub fn set_client_name(name: &str, password: Option<&GroupPassword>) {
    let plain_basic = password.map(|p| {
        let value = format!(
            "Basic {}",
            crate::base64::encode(format!(":{}", p.expose()).as_bytes())
        );
        crate::logging::redact(&value[6..]);
        value
    });
    let _ = WHO.set(Who {
        name: name.to_string(),
        plain_basic,
    });
}

/// A new agent for `base` with the given timeouts (its connections are
/// kept for the requests it makes): plain for `http://`; for `https://`,
/// pinned to the address's keyprint (an address without one cannot be
/// checked, so every request to it fails, saying so).
pub fn agent_for(
    base: &HttpAddr,
    connect: Duration,
    read: Duration,
    write: Duration,
) -> ureq::Agent {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout_read(read)
        .timeout_write(write)
        .user_agent(concat!("hubshare/", env!("CARGO_PKG_VERSION")));
    if let Some(who) = WHO.get() {
        let basic = if base.is_tls() {
            None
        } else {
            who.plain_basic.as_deref()
        };
        builder = builder.middleware(Introduce {
            name: &who.name,
            basic,
        });
    }
    // A firewalled source: every connection goes to the reverse proxy,
    // and the TLS connector asks it for a tunnel first. (Not ureq's own
    // proxy support: it pools such connections under another key than it
    // looks them up by, so none would be reused.)
    let tunnel = match (base.firewalled(), base.pin(), REVERSE.get()) {
        (true, Some(pin), Some(reverse)) => {
            let to = reverse.addr;
            builder = builder.resolver(move |_: &str| Ok(vec![to]));
            Some(Tunnel {
                source: pin,
                user_pass: crate::base64::encode(
                    format!("{}:{}", pin.to_hex(), reverse.secret).as_bytes(),
                ),
            })
        }
        _ => None,
    };
    if base.is_tls() {
        // No keyprint: pin one nobody has, so the failure says why.
        let pin = base
            .pin()
            .unwrap_or_else(|| KeyPrint::of_spki(b"no keyprint is known for this address"));
        match client_config(ME.get(), pin) {
            Ok(config) => builder = builder.tls_connector(Arc::new(Gulping(config, tunnel))),
            Err(e) => log::error!("cannot make a TLS client: {e}"),
        }
    }
    builder.build()
}

/// Adds who this process is to every request (see [`Who`]).
struct Introduce {
    name: &'static str,
    basic: Option<&'static str>,
}

impl ureq::Middleware for Introduce {
    fn handle(
        &self,
        req: ureq::Request,
        next: ureq::MiddlewareNext,
    ) -> Result<ureq::Response, ureq::Error> {
        let mut req = req.set(PEER_HEADER, self.name);
        if let Some(b) = self.basic {
            req = req.set("Authorization", b);
        }
        next.handle(req)
    }
}

/// How much is read from the socket at once under TLS.
const GULP: usize = 256 * 1024;

/// ureq's TLS, but over a socket read in large gulps: rustls asks its
/// input 4 KiB at a time, a read system call each; under it, a buffer
/// makes that a copy, and a call per [`GULP`]. (A 1 GiB download is 65,536
/// records: 262,144 calls without it.)
struct Gulping(Arc<ClientConfig>, Option<Tunnel>);

/// A `CONNECT` to the reverse proxy, made before the TLS handshake: its
/// user names the source by keyprint, its password is the secret.
struct Tunnel {
    source: KeyPrint,
    user_pass: String,
}

/// How each firewalled source was last reached: `reverse` or `relayed`.
static PATHS: std::sync::Mutex<Vec<(KeyPrint, &'static str)>> = std::sync::Mutex::new(Vec::new());

/// How this process last reached the firewalled source with `keyprint`
/// (`reverse` or `relayed`), if it did.
pub fn path_to(keyprint: &KeyPrint) -> Option<&'static str> {
    PATHS
        .locked()
        .iter()
        .find(|(k, _)| k == keyprint)
        .map(|(_, p)| *p)
}

impl Tunnel {
    /// Asks for the tunnel on `io` and reads the answer (its head byte by
    /// byte, so nothing of the TLS that follows is taken); a refusal is an
    /// error with the proxy's reason.
    fn open(&self, io: &mut dyn ureq::ReadWrite) -> io::Result<()> {
        write!(
            io,
            "CONNECT source:443 HTTP/1.1\r\nProxy-Authorization: Basic {}\r\n\r\n",
            self.user_pass
        )?;
        io.flush()?;
        let answer = crate::wire::TunnelAnswer::read(io)?;
        if answer.status != 200 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("no reverse connection: {}", answer.reason),
            ));
        }
        let path = match answer.header(PATH_HEADER) {
            Some("relayed") => "relayed",
            _ => "reverse",
        };
        let mut paths = PATHS.locked();
        paths.retain(|(k, _)| *k != self.source);
        paths.push((self.source, path));
        Ok(())
    }
}

impl ureq::TlsConnector for Gulping {
    fn connect(
        &self,
        dns_name: &str,
        mut io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        if let Some(tunnel) = &self.1 {
            tunnel.open(&mut *io)?;
        }
        // rustls takes an IPv6 address without its brackets.
        let name = dns_name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(name.to_string()).map_err(io::Error::other)?;
        let conn = ClientConnection::new(self.0.clone(), name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, Gulps::new(io));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Box::new(TlsIo(tls)))
    }
}

/// A socket read through a buffer of [`GULP`] bytes.
struct Gulps {
    inner: Box<dyn ureq::ReadWrite>,
    buf: Vec<u8>,
    at: usize,
    end: usize,
}

impl Gulps {
    fn new(inner: Box<dyn ureq::ReadWrite>) -> Gulps {
        Gulps {
            inner,
            buf: vec![0; GULP],
            at: 0,
            end: 0,
        }
    }
}

impl Read for Gulps {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.end {
            self.at = 0;
            self.end = self.inner.read(&mut self.buf)?;
        }
        let n = out.len().min(self.end - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Gulps {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The TLS stream ureq reads and writes.
struct TlsIo(StreamOwned<ClientConnection, Gulps>);

impl Read for TlsIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl std::fmt::Debug for TlsIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsIo({:?})", self.0.sock.inner)
    }
}

impl ureq::ReadWrite for TlsIo {
    fn socket(&self) -> Option<&TcpStream> {
        self.0.sock.inner.socket()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that hands out its bytes at most 1,000 at a time.
    #[derive(Debug)]
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1000);
            self.0.read(&mut buf[..n])
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl ureq::ReadWrite for Trickle {
        fn socket(&self) -> Option<&TcpStream> {
            None
        }
    }

    #[test]
    fn gulps_pass_every_byte_in_order() {
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut g = Gulps::new(Box::new(Trickle(io::Cursor::new(bytes.clone()))));
        let mut out = Vec::new();
        let mut chunk = vec![0; 4096];
        loop {
            let n = g.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, bytes);
    }
}
