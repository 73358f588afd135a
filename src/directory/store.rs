//! The directory's state as the service sees it: one narrow trait,
//! [`DirectoryStore`], so that the gRPC service (`service.rs`) stays a thin
//! translation layer and another store (a shared one, for several directory
//! replicas) can replace [`MemoryStore`](super::MemoryStore) without
//! touching the service or the peers. Everything here takes parsed, checked
//! types: no I/O, no network. Time is the ledger's lease clock (see
//! `ledger.rs`), which only sweeps move.

use std::fmt;
use std::time::Duration;

use super::query::{BadQuery, Query};
use crate::id::FileId;
use crate::names;
use crate::random::random_hex;
use crate::wire::{
    Hit, HitView, HttpAddr, KeyPrint, Matches, PeerListing, SearchOutcome, SharedFile,
};

/// Sources listed per search result (the count says how many there are).
pub const MAX_SOURCES_PER_HIT: usize = 3;
/// Sources listed by Locate: more than any download uses at once.
pub const MAX_SOURCES_PER_LOCATE: usize = 200;

/// A session token: 128 random bits, as 32 hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A fresh random token.
    pub fn generate() -> Token {
        Token(random_hex(16))
    }

    /// Wraps a token a client presented (unchecked: an unknown token simply
    /// fails lookup). One longer than any token we issue is not even copied.
    pub fn from_client(s: &str) -> Token {
        if s.len() > 64 {
            return Token(String::new());
        }
        Token(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A one-way print of the token (128 bits of its BLAKE3, hex): what
    /// events and a shared store hold instead of the token itself.
    pub fn print(&self) -> String {
        blake3::hash(self.0.as_bytes()).to_hex()[..32].to_string()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never show a token, even in part.
        f.write_str("Token(..)")
    }
}

/// What a login or a heartbeat grants: the lease (renewed), and the
/// interval to heartbeat at from now on (longer as the group grows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub lease: Duration,
    pub heartbeat: Duration,
}

impl Grant {
    /// The lease and the interval in whole seconds, as replies carry them
    /// (an interval of at least 1 s).
    pub fn secs(&self) -> (u32, u32) {
        (
            self.lease.as_secs() as u32,
            self.heartbeat.as_secs().max(1) as u32,
        )
    }
}

/// What a login grants.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: Token,
    pub grant: Grant,
    /// Most files one call may carry (so the peer can split the rest).
    pub max_files_per_call: u32,
}

/// What removing a member did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// The keyprint its name was bound to, now refused at every Login
    /// (`None`: the name was not bound).
    pub owner: Option<KeyPrint>,
    /// Whether a session of it was live (and has ended).
    pub was_online: bool,
}

/// Limits the store enforces on what one call may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_results: u32,
    /// Most files one Login or Announce may carry, added and removed
    /// together.
    pub max_files_per_call: u32,
    /// How long a name stays bound to its owner's identity key after the
    /// owner's last session ended (while one is live, it always is).
    pub name_hold: Duration,
    /// Most heartbeats a second asked of the group (see
    /// [`Limits::heartbeat_for`]).
    pub heartbeat_rate: u32,
}

/// The longest heartbeat interval a directory asks for, however large its
/// group.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(600);

impl Limits {
    /// The heartbeat interval to ask of a group of `online` sessions:
    /// `heartbeat`, or longer once the group's heartbeats would come more
    /// often than `heartbeat_rate` a second (whole seconds, at most
    /// [`MAX_HEARTBEAT`]). 100,000 peers at 2,000 a second: every 50 s.
    pub fn heartbeat_for(&self, online: usize) -> Duration {
        let rate = u64::from(self.heartbeat_rate.max(1));
        let needed = Duration::from_secs((online as u64).div_ceil(rate));
        self.heartbeat.max(needed.min(MAX_HEARTBEAT))
    }

    /// The lease that goes with heartbeat interval `heartbeat`: as many
    /// intervals long as `lease` is of `heartbeat` (`lease` itself for
    /// `heartbeat`, and never shorter).
    pub fn lease_for(&self, heartbeat: Duration) -> Duration {
        if heartbeat <= self.heartbeat || self.heartbeat.is_zero() {
            return self.lease;
        }
        let scaled =
            self.lease.as_secs_f64() * heartbeat.as_secs_f64() / self.heartbeat.as_secs_f64();
        Duration::from_secs(scaled.ceil() as u64).max(self.lease)
    }

    /// The one rule on the size of a call: `files` (added and removed
    /// together) at most `max_files_per_call`. The service asks before it
    /// parses a list; [`Limits::batch`] asks again of the parsed one.
    pub fn check_call(&self, files: usize) -> Result<(), DirError> {
        let limit = self.max_files_per_call;
        if files > limit as usize {
            return Err(DirError::Invalid(format!(
                "{files} files in one call (added and removed together), the limit is {limit}: \
                 send the rest in further Announce calls"
            )));
        }
        Ok(())
    }

    /// The files of one Login (nothing removed) or Announce: within the
    /// limit, each name a shared path a peer may share a file under
    /// (`folder/name.ext`, see `names::check_shared_path`).
    pub fn batch(&self, added: Vec<SharedFile>, removed: Vec<FileId>) -> Result<Batch, DirError> {
        self.check_call(added.len() + removed.len())?;
        for f in &added {
            for path in f.paths() {
                names::check_shared_path(path).map_err(|e| DirError::Invalid(e.to_string()))?;
            }
            if f.other_names.len() > names::MAX_OTHER_NAMES {
                return Err(DirError::Invalid(format!(
                    "{} is announced under {} further names; at most {} are accepted",
                    f.name,
                    f.other_names.len(),
                    names::MAX_OTHER_NAMES
                )));
            }
        }
        Ok(Batch { added, removed })
    }
}

/// The files one Login or Announce carries, known to be within the call
/// limit and to have names that pass the file-name check: it can only be
/// made by [`Limits::batch`].
#[derive(Debug, Clone)]
pub struct Batch {
    added: Vec<SharedFile>,
    removed: Vec<FileId>,
}

impl Batch {
    /// Files added (or shared under another name), and ids no longer shared.
    pub fn into_parts(self) -> (Vec<SharedFile>, Vec<FileId>) {
        (self.added, self.removed)
    }
}

/// Why the directory refused a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirError {
    /// The token is unknown or its lease lapsed: log in again.
    Unauthenticated,
    /// The thing asked for does not exist (or has no live source).
    NotFound(String),
    /// The request is malformed; the message says how.
    Invalid(String),
    /// The caller is over its flood limit; the message says which.
    Exhausted(String),
    /// The name is bound to another peer's identity key; the message says which.
    Taken(String),
    /// The caller may not do this (no or wrong group password, an address
    /// that is not its own); the message says why.
    Denied(String),
    /// The directory failed on its side (a bug); the message says where.
    Internal(String),
    /// The directory cannot answer now (its shared store is away): retry.
    Unavailable(String),
}

impl fmt::Display for DirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirError::Unauthenticated => {
                write!(f, "unknown or expired session token: log in again")
            }
            DirError::NotFound(m)
            | DirError::Invalid(m)
            | DirError::Exhausted(m)
            | DirError::Taken(m)
            | DirError::Denied(m)
            | DirError::Internal(m)
            | DirError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DirError {}

impl From<BadQuery> for DirError {
    fn from(e: BadQuery) -> DirError {
        DirError::Invalid(e.0)
    }
}

/// The directory's state, as the service sees it. Every call that carries a
/// token acts only for that token's peer.
pub trait DirectoryStore: Send + Sync {
    /// Starts a session for `name` with the files of `files` (a Login
    /// removes nothing). The name is bound to `owner`, the print of the
    /// peer's identity key: while a session of it lives, and for
    /// `Limits::name_hold` after (on the lease clock), a Login with another key is refused with
    /// [`DirError::Taken`] and changes nothing; the owner's own Login
    /// replaces its earlier session at once.
    fn login(
        &self,
        name: &str,
        owner: KeyPrint,
        http_addr: &HttpAddr,
        files: Batch,
    ) -> Result<Session, DirError>;
    /// Adds and removes files of the token's peer; returns how many it shares now.
    fn announce(&self, token: &Token, change: Batch) -> Result<usize, DirError>;
    /// Renews the token's lease; returns it with the interval the session
    /// is asked to heartbeat at from now on.
    fn heartbeat(&self, token: &Token) -> Result<Grant, DirError>;
    /// Files matching `query`, most sources first, at most `limit`
    /// (1..=max_results), each lent to `each` in that order while the store
    /// holds its state (no string is copied); returns how many matched.
    fn search_each(
        &self,
        query: &Query,
        limit: u32,
        each: &mut dyn FnMut(HitView<'_>),
    ) -> Result<Matches, DirError>;
    /// [`DirectoryStore::search_each`] with the results copied out.
    fn search(&self, query: &Query, limit: u32) -> Result<SearchOutcome, DirError> {
        let mut hits = Vec::new();
        let matches = self.search_each(query, limit, &mut |h| hits.push(h.to_hit()))?;
        Ok(SearchOutcome {
            hits,
            total: matches.total,
            total_estimated: matches.estimated,
        })
    }
    /// Size and live sources of a file (at most `MAX_SOURCES_PER_LOCATE`).
    fn locate(&self, id: &FileId) -> Result<Hit, DirError>;
    /// A peer's address and number of shared files, by name.
    fn peer(&self, name: &str) -> Result<(HttpAddr, usize), DirError>;
    /// The first `limit` peers online by name (name, address, files), and
    /// how many are online in all.
    fn peers(&self, limit: usize) -> (Vec<PeerListing>, usize);
    /// The first `limit` files peer `name` shares, by path, and how many it
    /// shares in all (for the status page).
    fn peer_files(&self, name: &str, limit: usize) -> Result<(Vec<SharedFile>, usize), DirError>;
    /// The name of the peer whose session `token` is, if it is one.
    fn session_name(&self, token: &Token) -> Option<String>;
    /// Ends the token's session; its files are gone at once (its name stays
    /// bound to its owner for `Limits::name_hold` from now).
    fn logout(&self, token: &Token) -> Result<(), DirError>;
    /// The operator removes the member `name`: its session (if any) ends
    /// at once, the name is freed, and the keyprint it was bound to is
    /// refused at every Login from now on, under any name.
    fn remove(&self, name: &str) -> Result<Removed, DirError>;
    /// A sweep: moves the lease clock, drops every session whose lease ran
    /// out, and name bindings whose hold is over; returns the names whose
    /// sessions were dropped, with the address each had.
    fn expire(&self) -> Vec<(String, Option<HttpAddr>)>;
    /// Peers online and distinct files they share (for metrics).
    fn counts(&self) -> (usize, usize);
    /// Whether this store can answer (false: the health service says
    /// NOT_SERVING, so a load balancer sends calls elsewhere).
    fn serving(&self) -> bool {
        true
    }
    /// Limits in force.
    fn limits(&self) -> &Limits;
}
