//! [`DirectoryState`]: one directory over a [`Ledger`]. It owns the
//! [`Roster`] the ledger's events reach, answers every read from it,
//! checks the result limit and builds the session grant; the ledger (in
//! memory, or Redis shared by replicas) decides the writes. So the reads,
//! the limits and the grant are written once for both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::event::Event;
use super::ledger::Ledger;
use super::query::Query;
use super::roster::Roster;
use super::store::{Batch, DirError, DirectoryStore, Grant, Limits, Removed, Session, Token};
use crate::id::FileId;
use crate::sync::RwLockExt;
use crate::wire::{Hit, HitView, HttpAddr, KeyPrint, Matches, PeerListing, SharedFile};

/// A directory: the reads over its roster, the writes through `L`.
pub struct DirectoryState<L> {
    pub(super) limits: Limits,
    pub(super) roster: Arc<RwLock<Roster>>,
    pub(super) ledger: L,
    /// The longest heartbeat interval asked of a session so far, in
    /// seconds: it grows with the group ([`Limits::heartbeat_for`]) and
    /// never shrinks, so no session, of whatever peer version, heartbeats
    /// less often than a lease handed out later allows.
    asked: AtomicU64,
}

impl<L: Ledger> DirectoryState<L> {
    /// A directory over `ledger`, which feeds `roster`.
    pub(super) fn over(limits: Limits, roster: Arc<RwLock<Roster>>, ledger: L) -> Self {
        DirectoryState {
            asked: AtomicU64::new(limits.heartbeat.as_secs()),
            limits,
            roster,
            ledger,
        }
    }

    /// What a session is asked now: its heartbeat interval, and its lease.
    fn grant(&self) -> Grant {
        let heartbeat =
            Duration::from_secs(self.asked.load(Ordering::Relaxed)).max(self.limits.heartbeat);
        Grant {
            heartbeat,
            lease: self.limits.lease_for(heartbeat),
        }
    }

    /// Asks for a longer heartbeat interval from now on if the group grew
    /// past what the current one keeps within `heartbeat_rate`.
    fn count_group(&self) {
        let online = self.roster.reading().len();
        let wanted = self.limits.heartbeat_for(online).as_secs();
        let before = self.asked.fetch_max(wanted, Ordering::Relaxed);
        if wanted > before {
            log::info!(
                "{online} peers online: heartbeats asked every {wanted} s from now on \
                 (to keep them within heartbeat_rate = {} a second)",
                self.limits.heartbeat_rate
            );
        }
    }

    /// The ledger deciding the writes.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }
}

/// The `limit` of a search, checked against the store's `max_results`.
fn check_limit(limit: u32, limits: &Limits) -> Result<(), DirError> {
    if limit == 0 || limit > limits.max_results {
        return Err(DirError::Invalid(format!(
            "result limit {limit} is out of range: ask for 1 to {}",
            limits.max_results
        )));
    }
    Ok(())
}

impl<L: Ledger> DirectoryStore for DirectoryState<L> {
    fn login(
        &self,
        name: &str,
        owner: KeyPrint,
        http_addr: &HttpAddr,
        files: Batch,
    ) -> Result<Session, DirError> {
        let (files, _) = files.into_parts();
        let token = Token::generate();
        let grant = self.grant();
        self.ledger.login(
            owner,
            Event::Joined {
                name: name.to_string(),
                session: token.print(),
                http_addr: http_addr.clone(),
                files,
            },
            grant.lease,
        )?;
        self.count_group();
        Ok(Session {
            token,
            grant,
            max_files_per_call: self.limits.max_files_per_call,
        })
    }

    fn announce(&self, token: &Token, change: Batch) -> Result<usize, DirError> {
        let (added, removed) = change.into_parts();
        self.ledger.announce(
            Event::Changed {
                session: token.print(),
                added,
                removed,
            },
            self.grant().lease,
        )
    }

    fn heartbeat(&self, token: &Token) -> Result<Grant, DirError> {
        let grant = self.grant();
        self.ledger.heartbeat(&token.print(), grant.lease)?;
        Ok(grant)
    }

    fn search_each(
        &self,
        query: &Query,
        limit: u32,
        each: &mut dyn FnMut(HitView<'_>),
    ) -> Result<Matches, DirError> {
        check_limit(limit, &self.limits)?;
        self.ledger.fresh()?;
        Ok(self.roster.reading().search_each(query, limit, each))
    }

    fn locate(&self, id: &FileId) -> Result<Hit, DirError> {
        self.ledger.fresh()?;
        self.roster.reading().locate(id)
    }

    fn peer(&self, name: &str) -> Result<(HttpAddr, usize), DirError> {
        self.ledger.fresh()?;
        self.roster.reading().peer(name)
    }

    fn peers(&self, limit: usize) -> (Vec<PeerListing>, usize) {
        if self.ledger.fresh().is_err() {
            return (Vec::new(), 0);
        }
        self.roster.reading().peers(limit)
    }

    fn peer_files(&self, name: &str, limit: usize) -> Result<(Vec<SharedFile>, usize), DirError> {
        self.ledger.fresh()?;
        self.roster.reading().peer_files(name, limit)
    }

    fn counts(&self) -> (usize, usize) {
        let r = self.roster.reading();
        (r.len(), r.files())
    }

    fn session_name(&self, token: &Token) -> Option<String> {
        self.roster.reading().session_name(&token.print())
    }

    fn logout(&self, token: &Token) -> Result<(), DirError> {
        self.ledger.logout(Event::Left {
            session: token.print(),
        })
    }

    fn remove(&self, name: &str) -> Result<Removed, DirError> {
        self.ledger.remove(name)
    }

    fn expire(&self) -> Vec<(String, Option<HttpAddr>)> {
        let gone = self.ledger.expire();
        // A replica's group also grows by other replicas' logins.
        self.count_group();
        gone
    }

    fn serving(&self) -> bool {
        self.ledger.fresh().is_ok()
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}
