//! What the TLS tests need around real processes: a directory process over
//! TLS with its invite, a relay that records every byte it passes, and a
//! man in the middle that shows its own certificate and forwards to the
//! real server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::proc::{Proc, SERVER};

/// A directory process over TLS, with its invite and keyprint.
pub struct TlsDirectory {
    pub proc: Proc,
    pub invite: String,
    pub keyprint: String,
    pub dir: tempfile::TempDir,
}

/// A directory process speaking TLS, its key in `state` (a fresh temp
/// folder when `None`), on `listen` (`127.0.0.1:0` when `None`), with
/// `extra` config lines.
pub fn start_tls_directory(
    state: Option<&Path>,
    listen: Option<&str>,
    extra: &str,
) -> TlsDirectory {
    let dir = tempfile::tempdir().unwrap();
    let state = state.map_or_else(|| dir.path().join("state"), Path::to_path_buf);
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "tls = true\nlisten = \"{}\"\nstate_dir = \"{}\"\n{extra}\n",
            listen.unwrap_or("127.0.0.1:0"),
            state.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(SERVER);
    cmd.arg("--config").arg(&config);
    let proc = Proc::spawn(cmd);
    let invite = proc.printed_after("invite: ");
    let keyprint = proc.printed_after("keyprint: ");
    TlsDirectory {
        proc,
        invite,
        keyprint,
        dir,
    }
}

/// A TCP relay to `target` that records every byte, both ways.
pub struct Relay {
    pub addr: String,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    pub fn start(target: &str) -> Relay {
        Relay::start_on("127.0.0.1:0", target)
    }

    /// [`start`](Self::start), listening on `bind`.
    pub fn start_on(bind: &str, target: &str) -> Relay {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let target = target.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let Ok(up) = TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (conn.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, conn),
                ] {
                    let kept = kept.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            kept.lock().unwrap().extend_from_slice(&buf[..n]);
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Relay { addr, seen }
    }

    /// Every byte it passed so far.
    pub fn recorded(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A TLS man in the middle: shows its own certificate, and forwards what
/// it decrypts to `target` over a TLS connection of its own (accepting any
/// certificate there). The first `honest` connections it only splices,
/// bytes as they are (so the directory's look at the port at Login sees
/// the real peer), and steps in after.
pub struct Mitm {
    pub addr: String,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl Mitm {
    pub fn start_after(target: &str, honest: usize) -> Mitm {
        let state = tempfile::tempdir().unwrap();
        let me = hubshare::tls::load_or_create(
            &hubshare::tls::TlsPaths::in_state(state.path()),
            &["mallory".to_string()],
            "mallory",
        )
        .unwrap();
        let server = hubshare::tls::server_config(&me).unwrap();
        let client = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
            .with_no_client_auth(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let target = target.to_string();
        std::thread::spawn(move || {
            let _state = state;
            for conn in listener.incoming().map_while(Result::ok) {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (server, client, target) = (server.clone(), client.clone(), target.clone());
                std::thread::spawn(move || {
                    if n < honest {
                        let _ = splice(conn, &target);
                    } else {
                        let _ = forward(conn, server, client, &target);
                    }
                });
            }
        });
        Mitm { addr, connections }
    }
}

/// Copies bytes both ways between `conn` and `target` until either ends.
fn splice(conn: TcpStream, target: &str) -> std::io::Result<()> {
    let up = TcpStream::connect(target)?;
    let (mut up_r, mut down_w) = (up.try_clone()?, conn.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut down_w);
        let _ = down_w.shutdown(std::net::Shutdown::Both);
    });
    let (mut down_r, mut up_w) = (conn, up);
    let _ = std::io::copy(&mut down_r, &mut up_w);
    let _ = up_w.shutdown(std::net::Shutdown::Both);
    let _ = back.join();
    Ok(())
}

fn forward(
    conn: TcpStream,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    target: &str,
) -> std::io::Result<()> {
    let tick = Some(Duration::from_millis(10));
    let mut down = rustls::StreamOwned::new(
        rustls::ServerConnection::new(server).map_err(std::io::Error::other)?,
        conn,
    );
    while down.conn.is_handshaking() {
        down.conn.complete_io(&mut down.sock)?;
    }
    let name = ServerName::try_from("hubshare-peer").unwrap();
    let mut up = rustls::StreamOwned::new(
        rustls::ClientConnection::new(client, name).map_err(std::io::Error::other)?,
        TcpStream::connect(target)?,
    );
    down.sock.set_read_timeout(tick)?;
    up.sock.set_read_timeout(tick)?;
    let mut buf = [0u8; 16 * 1024];
    while pump(&mut down, &mut up, &mut buf)? && pump(&mut up, &mut down, &mut buf)? {}
    Ok(())
}

/// Moves what `from` has now (within its read timeout) to `to`; false at its end.
fn pump(from: &mut dyn Read, to: &mut dyn Write, buf: &mut [u8]) -> std::io::Result<bool> {
    match from.read(buf) {
        Ok(0) => Ok(false),
        Ok(n) => to.write_all(&buf[..n]).map(|()| true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// The man in the middle's client side: it trusts anyone.
#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
