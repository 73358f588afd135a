//! What a peer's HTTP server counts, at `GET /metrics` (Prometheus,
//! OpenMetrics text): file bytes sent, files served, uploads received,
//! requests turned away by reason; gauges of the upload slots and the share
//! read when scraped. Handles are made once; counting is an atomic add.

use std::io::{self, Read};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::wire::{FileList, UploadsNow};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// The peer server's metrics.
pub struct PeerMetrics {
    registry: Registry,
    pub bytes_sent: Counter,
    pub files_served: Counter,
    pub uploads_received: Counter,
    pub bytes_received: Counter,
    turned_away: Family<Reason, Counter>,
    tls_handshakes: Counter,
    tls_failures: Family<Reason, Counter>,
    uploads_running: Gauge,
    uploads_queued: Gauge,
    files: Gauge,
    shared_bytes: Gauge,
}

impl PeerMetrics {
    /// The server's metrics, and whatever `host` adds of its own.
    pub fn new(host: &dyn super::host::Host) -> PeerMetrics {
        let mut registry = Registry::with_prefix("hubshare_peer");
        host.register_metrics(&mut registry);
        let bytes_sent = Counter::default();
        registry.register(
            "bytes_sent",
            "File bytes sent to downloaders",
            bytes_sent.clone(),
        );
        let files_served = Counter::default();
        registry.register(
            "files_served",
            "Files and ranges whose sending began (200 and 206 answers)",
            files_served.clone(),
        );
        let uploads_received = Counter::default();
        registry.register(
            "uploads_received",
            "Uploads received whole and verified",
            uploads_received.clone(),
        );
        let bytes_received = Counter::default();
        registry.register(
            "upload_bytes_received",
            "Bytes of uploads received whole and verified",
            bytes_received.clone(),
        );
        let turned_away = Family::<Reason, Counter>::default();
        registry.register(
            "turned_away",
            "Requests for files answered without the file, by reason",
            turned_away.clone(),
        );
        let tls_handshakes = Counter::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes completed (new connections; a kept-alive one makes none)",
            tls_handshakes.clone(),
        );
        let tls_failures = Family::<Reason, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "Connections whose TLS handshake failed, by reason (plaintext: the client \
             does not speak TLS; timeout; closed: the client went away, e.g. on a \
             certificate it refused; refused: a TLS error)",
            tls_failures.clone(),
        );
        let uploads_running = Gauge::default();
        registry.register(
            "uploads_running",
            "Downloaders holding an upload slot (being sent a file, or until their place lapses)",
            uploads_running.clone(),
        );
        let uploads_queued = Gauge::default();
        registry.register(
            "uploads_queued",
            "Downloaders waiting for an upload slot",
            uploads_queued.clone(),
        );
        let files = Gauge::default();
        registry.register("shared_files", "Files this peer shares", files.clone());
        let shared_bytes = Gauge::default();
        registry.register(
            "shared_bytes",
            "Bytes this peer shares",
            shared_bytes.clone(),
        );
        PeerMetrics {
            registry,
            bytes_sent,
            files_served,
            uploads_received,
            bytes_received,
            turned_away,
            tls_handshakes,
            tls_failures,
            uploads_running,
            uploads_queued,
            files,
            shared_bytes,
        }
    }

    /// A request for a file answered without it: `queued` (no slot free),
    /// `not_found`, `unsatisfiable` (range), `gone` (changed or unreadable).
    pub fn turned_away(&self, reason: &'static str) {
        self.turned_away.get_or_create(&Reason { reason }).inc();
    }

    /// A TLS handshake that completed, or failed with this error.
    pub fn tls_handshake(&self, end: Result<(), &io::Error>) {
        let Err(e) = end else {
            self.tls_handshakes.inc();
            return;
        };
        let reason = if e.to_string() == tiny_http::NOT_TLS {
            "plaintext"
        } else {
            match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout",
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => "closed",
                _ => "refused",
            }
        };
        self.tls_failures.get_or_create(&Reason { reason }).inc();
    }

    /// The page, with the gauges read now.
    pub fn render(&self, uploads: &UploadsNow, files: &dyn FileList) -> String {
        self.uploads_running.set(uploads.serving.len() as i64);
        self.uploads_queued.set(uploads.queued.len() as i64);
        self.files.set(files.count() as i64);
        self.shared_bytes.set(files.bytes() as i64);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::warn!("metrics not encoded: {e}");
        }
        out
    }
}

/// A body that counts the bytes read from it into `counter`.
pub struct Counting<R> {
    inner: R,
    counter: Counter,
}

impl<R> Counting<R> {
    pub fn new(inner: R, counter: Counter) -> Counting<R> {
        Counting { inner, counter }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.inc_by(n as u64);
        Ok(n)
    }
}
