//! What a replica's store and its follower thread share: the roster, where
//! the follower stands, and when Redis last answered.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::super::roster::Roster;
use super::super::store::Limits;
use super::conn::Conns;
use super::scripts::Scripts;

/// Where the follower stands: the epoch and number of the last event
/// applied to the roster.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Applied {
    pub(super) epoch: Option<String>,
    pub(super) seq: u64,
    /// The stream id to read on from.
    pub(super) id: String,
}

pub(super) struct Shared {
    pub(super) limits: Limits,
    pub(super) client: redis::Client,
    pub(super) pool: r2d2::Pool<Conns>,
    pub(super) prefix: String,
    pub(super) scripts: Scripts,
    pub(super) roster: Arc<RwLock<Roster>>,
    pub(super) applied: Mutex<Applied>,
    pub(super) applied_changed: Condvar,
    /// The last time Redis answered this replica (writes or the follower).
    pub(super) last_contact: Mutex<Instant>,
    /// The roster holds a snapshot and everything after it.
    pub(super) synced: AtomicBool,
    pub(super) stop: AtomicBool,
    /// See [`FOLLOW_LAG_VAR`].
    pub(super) lag: Duration,
}
