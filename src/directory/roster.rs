//! [`Roster`]: who is online, at which address, sharing what, and the
//! search index over it: the state every read of the directory answers
//! from. It changes only by [`Roster::apply`] of an [`Event`], so the
//! memory store and a replica following a shared stream hold the same
//! roster after the same events. It knows no token, lease or name binding:
//! those belong to whoever decides the events.

use std::collections::HashMap;

use super::event::Event;
use super::index::{Found, Index, PeerIdx};
use super::query::Query;
use super::store::{DirError, MAX_SOURCES_PER_HIT, MAX_SOURCES_PER_LOCATE};
use crate::id::FileId;
use crate::wire::{Hit, HitView, HttpAddr, Matches, PeerListing, SourceView};

struct PeerEntry {
    name: String,
    /// The print of its session's token.
    session: String,
    http_addr: HttpAddr,
}

/// Peers in slots (a slot number is the peer's index in [`Index`]), the
/// maps that find them, and the search index.
#[derive(Default)]
pub struct Roster {
    peers: Vec<Option<PeerEntry>>,
    free: Vec<PeerIdx>,
    by_name: HashMap<String, PeerIdx>,
    by_session: HashMap<String, PeerIdx>,
    index: Index,
}

impl Roster {
    /// Applies one event; returns how many files its peer shares after it
    /// (0 when it left, or when the event is of a session that is not the
    /// name's current one and so changes nothing).
    pub fn apply(&mut self, event: Event) -> usize {
        match event {
            Event::Joined {
                name,
                session,
                http_addr,
                files,
            } => {
                if let Some(old) = self.by_name.get(&name).copied() {
                    self.remove(old);
                }
                let entry = PeerEntry {
                    name: name.clone(),
                    session: session.clone(),
                    http_addr,
                };
                let idx = match self.free.pop() {
                    Some(i) => {
                        self.peers[i as usize] = Some(entry);
                        i
                    }
                    None => {
                        self.peers.push(Some(entry));
                        (self.peers.len() - 1) as PeerIdx
                    }
                };
                self.by_name.insert(name, idx);
                self.by_session.insert(session, idx);
                for f in files {
                    self.index.add(idx, f.id, f.size, &f.name, &f.other_names);
                }
                self.index.peer_file_count(idx)
            }
            Event::Changed {
                name,
                session,
                added,
                removed,
            } => {
                let Some(idx) = self.current(&name, &session) else {
                    return 0;
                };
                for id in removed {
                    self.index.remove(idx, &id);
                }
                for f in added {
                    self.index.add(idx, f.id, f.size, &f.name, &f.other_names);
                }
                self.index.peer_file_count(idx)
            }
            Event::Left { name, session } => {
                if let Some(idx) = self.current(&name, &session) {
                    self.remove(idx);
                }
                0
            }
        }
    }

    /// The slot of `name` if `session` is its current session.
    fn current(&self, name: &str, session: &str) -> Option<PeerIdx> {
        let idx = *self.by_name.get(name)?;
        let p = self.peers[idx as usize].as_ref()?;
        (p.session == session).then_some(idx)
    }

    fn remove(&mut self, idx: PeerIdx) {
        if let Some(p) = self.peers[idx as usize].take() {
            self.by_session.remove(&p.session);
            self.by_name.remove(&p.name);
            self.index.remove_peer(idx);
            self.free.push(idx);
        }
    }

    /// How many peers are online.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The name of the peer whose session has this token print.
    pub fn session_name(&self, session: &str) -> Option<String> {
        let idx = *self.by_session.get(session)?;
        self.peers[idx as usize].as_ref().map(|p| p.name.clone())
    }

    /// Lends `f` to `each` as a [`HitView`]: its distinct names sorted, its
    /// sources by peer name. `names` and `sources` are buffers kept from
    /// one result to the next.
    fn view<'s>(
        &'s self,
        f: &Found<'s>,
        names: &mut Vec<&'s str>,
        sources: &mut Vec<SourceView<'s>>,
        each: &mut dyn FnMut(HitView<'_>),
    ) {
        names.clear();
        names.extend(f.sources.iter().map(|(_, n, _)| *n));
        names.extend(f.other_names.iter().map(|(_, n)| *n));
        names.sort_unstable();
        names.dedup();
        sources.clear();
        sources.extend(f.sources.iter().filter_map(|(p, n, size)| {
            let peer = self.peers.get(*p as usize)?.as_ref()?;
            Some(SourceView {
                peer: &peer.name,
                http_addr: &peer.http_addr,
                name: n,
                size: *size,
            })
        }));
        // Peer names are unique: the order is total.
        sources.sort_unstable_by(|a, b| a.peer.cmp(b.peer));
        each(HitView {
            id: &f.id,
            size: f.size,
            names,
            sources,
            source_count: f.source_count,
        });
    }

    /// See [`DirectoryStore::search_each`](super::DirectoryStore::search_each);
    /// `limit` is checked by the caller.
    pub fn search_each(
        &self,
        query: &Query,
        limit: u32,
        each: &mut dyn FnMut(HitView<'_>),
    ) -> Matches {
        let (found, total) = self
            .index
            .search(query, limit as usize, MAX_SOURCES_PER_HIT);
        let (mut names, mut sources) = (Vec::new(), Vec::new());
        for f in &found {
            self.view(f, &mut names, &mut sources, each);
        }
        Matches {
            total: total.count,
            estimated: total.estimated,
        }
    }

    pub fn locate(&self, id: &FileId) -> Result<Hit, DirError> {
        let f = self
            .index
            .sources(id, MAX_SOURCES_PER_LOCATE)
            .ok_or_else(|| DirError::NotFound(format!("no online peer shares {id}")))?;
        let mut hit = None;
        self.view(&f, &mut Vec::new(), &mut Vec::new(), &mut |h| {
            hit = Some(h.to_hit())
        });
        Ok(hit.expect("view lends the hit once"))
    }

    pub fn peer(&self, name: &str) -> Result<(HttpAddr, usize), DirError> {
        self.by_name
            .get(name)
            .and_then(|i| Some((self.peers[*i as usize].as_ref()?, *i)))
            .map(|(p, i)| (p.http_addr.clone(), self.index.peer_file_count(i)))
            .ok_or_else(|| DirError::NotFound(format!("no peer named {name:?} is online")))
    }

    pub fn peers(&self, limit: usize) -> (Vec<PeerListing>, usize) {
        let mut names: Vec<(&String, &PeerIdx)> = self.by_name.iter().collect();
        let total = names.len();
        let limit = limit.min(total);
        if limit < total {
            names.select_nth_unstable_by(limit, |a, b| a.0.cmp(b.0));
            names.truncate(limit);
        }
        names.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let listed = names
            .into_iter()
            .filter_map(|(name, &i)| {
                let p = self.peers[i as usize].as_ref()?;
                Some(PeerListing {
                    name: name.clone(),
                    http_addr: p.http_addr.clone(),
                    files: self.index.peer_file_count(i) as u64,
                })
            })
            .collect();
        (listed, total)
    }
}
