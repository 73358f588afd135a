//! [`DirectoryState`]: one directory over a [`Ledger`]. It owns the
//! [`Roster`] the ledger's events reach, answers every read from it,
//! checks the result limit and builds the session grant; the ledger (in
//! memory, or Redis shared by replicas) decides the writes. So the reads,
//! the limits and the grant are written once for both.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::event::Event;
use super::ledger::Ledger;
use super::query::Query;
use super::roster::Roster;
use super::store::{Batch, DirError, DirectoryStore, Limits, Removed, Session, Token};
use crate::id::FileId;
use crate::sync::RwLockExt;
use crate::wire::{Hit, HitView, HttpAddr, KeyPrint, Matches, PeerListing, SharedFile};

/// A directory: the reads over its roster, the writes through `L`.
pub struct DirectoryState<L> {
    pub(super) limits: Limits,
    pub(super) roster: Arc<RwLock<Roster>>,
    pub(super) ledger: L,
}

impl<L: Ledger> DirectoryState<L> {
    /// A directory over `ledger`, which feeds `roster`.
    pub(super) fn over(limits: Limits, roster: Arc<RwLock<Roster>>, ledger: L) -> Self {
        DirectoryState {
            limits,
            roster,
            ledger,
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
        self.ledger.login(
            owner,
            Event::Joined {
                name: name.to_string(),
                session: token.print(),
                http_addr: http_addr.clone(),
                files,
            },
        )?;
        Ok(Session {
            token,
            lease: self.limits.lease,
            heartbeat: self.limits.heartbeat,
            max_files_per_call: self.limits.max_files_per_call,
        })
    }

    fn announce(&self, token: &Token, change: Batch) -> Result<usize, DirError> {
        let (added, removed) = change.into_parts();
        self.ledger.announce(Event::Changed {
            session: token.print(),
            added,
            removed,
        })
    }

    fn heartbeat(&self, token: &Token) -> Result<Duration, DirError> {
        self.ledger.heartbeat(&token.print())?;
        Ok(self.limits.lease)
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
        self.ledger.expire()
    }

    fn serving(&self) -> bool {
        self.ledger.fresh().is_ok()
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}
