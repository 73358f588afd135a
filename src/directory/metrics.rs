//! [`Metrics`]: what the directory counts, for Prometheus (`GET /metrics`
//! on its optional HTTP port, `status.rs`). Every handle is made once; a
//! call that succeeds bumps a counter kept per call (an atomic add, no
//! lock), a refusal looks its reason up in a small family (a read lock,
//! on the rare path). Gauges of the state (peers online, files) are read
//! from the store when the page is asked for.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::store::{DirError, DirectoryStore};
use crate::sync::MutexExt;

/// The calls counted, as the service names them.
pub const CALLS: [&str; 10] = [
    "Login",
    "Announce",
    "Heartbeat",
    "Logout",
    "Search",
    "Locate",
    "GetPeer",
    "ListPeers",
    "Notices",
    "ConnectMe",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    call: &'static str,
    reason: &'static str,
}

/// The directory's metrics and the registry they are encoded from.
pub struct Metrics {
    registry: Registry,
    /// Answered calls, per call (the handles of `calls`, by `CALLS` index).
    answered: Vec<Counter>,
    refused: Family<RefusalLabels, Counter>,
    search_seconds: Histogram,
    expired: Counter,
    sessions: Gauge,
    files: Gauge,
    uptime: Gauge<f64, std::sync::atomic::AtomicU64>,
    started: Instant,
    /// (when, searches answered by then), a sample a few seconds apart:
    /// the status page's searches per second over the last minute.
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

/// The reason label of a refusal: the gRPC status it is sent as.
fn reason(e: &DirError) -> &'static str {
    match e {
        DirError::Unauthenticated => "unauthenticated",
        DirError::NotFound(_) => "not_found",
        DirError::Invalid(_) => "invalid_argument",
        DirError::Exhausted(_) => "resource_exhausted",
        DirError::Taken(_) => "already_exists",
        DirError::Denied(_) => "permission_denied",
        DirError::Internal(_) => "internal",
        DirError::Unavailable(_) => "unavailable",
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hubshare_directory");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Calls answered with success, by call",
            calls.clone(),
        );
        let answered = CALLS
            .iter()
            .map(|&call| calls.get_or_create(&CallLabels { call }).clone())
            .collect();
        let refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "refused",
            "Calls refused, by call and reason (the gRPC status sent)",
            refused.clone(),
        );
        let search_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "search_duration",
            "Time from a Search's arrival to its reply (queue, index and encoding)",
            Unit::Seconds,
            search_seconds.clone(),
        );
        let expired = Counter::default();
        registry.register(
            "expired_sessions",
            "Sessions ended because their lease ran out",
            expired.clone(),
        );
        let sessions = Gauge::default();
        registry.register("sessions", "Peers online", sessions.clone());
        let files = Gauge::default();
        registry.register(
            "files",
            "Distinct files shared by peers online",
            files.clone(),
        );
        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "uptime",
            "Time since this directory started",
            Unit::Seconds,
            uptime.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register("build_info", "The running version", build.clone());
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Metrics {
            registry,
            answered,
            refused,
            search_seconds,
            expired,
            sessions,
            files,
            uptime,
            started: Instant::now(),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts the answer to one `call` (one of [`CALLS`]).
    pub fn answered(&self, call: &'static str, outcome: Result<(), &DirError>) {
        match outcome {
            Ok(()) => {
                if let Some(i) = CALLS.iter().position(|c| *c == call) {
                    self.answered[i].inc();
                }
            }
            Err(e) => {
                self.refused
                    .get_or_create(&RefusalLabels {
                        call,
                        reason: reason(e),
                    })
                    .inc();
            }
        }
    }

    /// A Search answered after `took`.
    pub fn searched(&self, took: Duration) {
        self.search_seconds.observe(took.as_secs_f64());
    }

    /// `n` sessions ended by lease expiry.
    pub fn expired(&self, n: usize) {
        self.expired.inc_by(n as u64);
    }

    /// Searches answered with success so far.
    pub fn searches(&self) -> u64 {
        self.answered[CALLS.iter().position(|c| *c == "Search").unwrap_or(0)].get()
    }

    /// Notes the search count now (called every few seconds).
    pub fn sample(&self) {
        let mut s = self.samples.locked();
        s.push_back((Instant::now(), self.searches()));
        while s.len() > 2
            && s.front()
                .is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(60))
        {
            s.pop_front();
        }
    }

    /// Searches per second over the last minute (or since the start).
    pub fn search_rate(&self) -> f64 {
        let s = self.samples.locked();
        let now = (Instant::now(), self.searches());
        let first = s.front().copied().unwrap_or((self.started, 0));
        let secs = now.0.duration_since(first.0).as_secs_f64();
        if secs < 0.5 {
            return 0.0;
        }
        now.1.saturating_sub(first.1) as f64 / secs
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The metrics page (OpenMetrics text), with the gauges read from
    /// `store` now.
    pub fn render(&self, store: &dyn DirectoryStore) -> String {
        let (peers, files) = store.counts();
        self.sessions.set(peers as i64);
        self.files.set(files as i64);
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::warn!("metrics not encoded: {e}");
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}
