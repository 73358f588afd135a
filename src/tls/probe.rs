//! Learning which certificate a server shows: a TLS handshake that accepts
//! any certificate and keeps it. A peer probes its directory before it
//! trusts it, then compares the keyprint with the invite or with what it
//! saw the first time; the gRPC channel it then opens accepts only that
//! certificate.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::configs::client_with;
use super::identity::{TlsIdentity, DIRECTORY_NAME};
use super::verify::{keyprint_of, Expect};
use crate::wire::KeyPrint;

/// Why a probe learned nothing.
#[derive(Debug)]
pub enum ProbeError {
    /// No connection.
    Connect(io::Error),
    /// Connected, but the other side did not show a certificate: it does
    /// not speak TLS (a directory with `tls = false`), or broke off.
    NoTls(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Connect(e) => write!(f, "cannot connect: {e}"),
            ProbeError::NoTls(why) => write!(
                f,
                "it does not answer in TLS ({why}); if that directory runs with tls = false, \
                 set tls = false in this peer's config too"
            ),
        }
    }
}

impl std::error::Error for ProbeError {}

/// Connects to `addr` (`host:port`), handshakes showing `me`, and returns
/// the certificate (DER) the server showed and its keyprint.
pub fn probe(
    addr: &str,
    me: Option<&TlsIdentity>,
    timeout: Duration,
) -> Result<(KeyPrint, Vec<u8>), ProbeError> {
    probe_speaking(addr, me, timeout, b"h2")
}

/// [`probe`] for a server speaking `alpn` (`b"h2"`: a directory;
/// `b"http/1.1"`: a peer).
pub fn probe_speaking(
    addr: &str,
    me: Option<&TlsIdentity>,
    timeout: Duration,
    alpn: &[u8],
) -> Result<(KeyPrint, Vec<u8>), ProbeError> {
    let (config, pinned) =
        client_with(me, Expect::Anything, &[alpn]).map_err(|e| ProbeError::NoTls(e.to_string()))?;
    let target = addr
        .to_socket_addrs()
        .map_err(ProbeError::Connect)?
        .next()
        .ok_or_else(|| ProbeError::Connect(io::Error::other("the name has no address")))?;
    let mut sock = TcpStream::connect_timeout(&target, timeout).map_err(ProbeError::Connect)?;
    sock.set_read_timeout(Some(timeout))
        .map_err(ProbeError::Connect)?;
    sock.set_write_timeout(Some(timeout))
        .map_err(ProbeError::Connect)?;
    let name = ServerName::try_from(DIRECTORY_NAME).expect("a valid DNS name");
    let mut conn = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| ProbeError::NoTls(e.to_string()))?;
    let mut failure = None;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            failure = Some(e.to_string());
            break;
        }
    }
    let seen = pinned.seen.lock().ok().and_then(|s| s.clone());
    match seen {
        Some(der) => {
            let kp = keyprint_of(&der).map_err(ProbeError::NoTls)?;
            Ok((kp, der))
        }
        None => Err(ProbeError::NoTls(
            failure.unwrap_or_else(|| "no certificate shown".into()),
        )),
    }
}
