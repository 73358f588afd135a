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
use crate::wire::{Hit, HitView, HttpAddr, Matches, PeerListing, SharedFile, SourceView};

struct PeerEntry {
    name: String,
    /// The print of its session's token.
    session: String,
    http_addr: HttpAddr,
    /// When this roster saw it join (Unix seconds), for the status page.
    since: u64,
}

/// The wall clock in Unix seconds (0 before 1970): when a peer joined,
/// for people to read.
pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
                    since: unix_now(),
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
                self.index.reserve(idx, files.len());
                for f in files {
                    self.index.add(idx, f.id, f.size, &f.name, &f.other_names);
                }
                self.index.peer_file_count(idx)
            }
            Event::Changed {
                session,
                added,
                removed,
            } => {
                let Some(idx) = self.by_session.get(&session).copied() else {
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
            Event::Left { session } => {
                if let Some(idx) = self.by_session.get(&session).copied() {
                    self.remove(idx);
                }
                0
            }
        }
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

    /// Distinct files shared by peers online.
    pub fn files(&self) -> usize {
        self.index.file_count()
    }

    /// The print of `name`'s session, if it is online.
    pub fn session_of(&self, name: &str) -> Option<&str> {
        let idx = *self.by_name.get(name)?;
        self.peers[idx as usize]
            .as_ref()
            .map(|p| p.session.as_str())
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

    /// The files peer `name` shares, the first `limit` by path (each under
    /// the path it shares it at first), and how many it shares in all.
    pub fn peer_files(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<(Vec<SharedFile>, usize), DirError> {
        let idx = self
            .by_name
            .get(name)
            .copied()
            .ok_or_else(|| DirError::NotFound(format!("no peer named {name:?} is online")))?;
        let (files, total) = self.index.peer_shares(idx, limit);
        let files = files
            .into_iter()
            .map(|(id, size, path)| SharedFile {
                id,
                name: path.to_string(),
                size,
                other_names: Vec::new(),
            })
            .collect();
        Ok((files, total))
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
                    online_since: Some(p.since),
                })
            })
            .collect();
        (listed, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::Rng;
    use crate::wire::SharedFile;

    fn file(name: &str) -> SharedFile {
        SharedFile::named(name)
    }

    fn joined(name: &str, session: &str, files: &[&str]) -> Event {
        Event::Joined {
            name: name.into(),
            session: session.into(),
            http_addr: HttpAddr::parse("http://127.0.0.1:9").unwrap(),
            files: files.iter().map(|f| file(f)).collect(),
        }
    }

    /// (Events name the session only; `_name` keeps the histories readable.)
    fn changed(_name: &str, session: &str, added: &[&str], removed: &[&str]) -> Event {
        Event::Changed {
            session: session.into(),
            added: added.iter().map(|f| file(f)).collect(),
            removed: removed.iter().map(|f| FileId::of(f.as_bytes())).collect(),
        }
    }

    fn left(_name: &str, session: &str) -> Event {
        Event::Left {
            session: session.into(),
        }
    }

    /// Every (peer, file count) and every file name found for "f", sorted.
    fn state(r: &Roster) -> (Vec<(String, u64)>, Vec<String>) {
        let peers = r
            .peers(1000)
            .0
            .into_iter()
            .map(|p| (p.name, p.files))
            .collect();
        let mut names = Vec::new();
        r.search_each(&Query::parse("f").unwrap(), 1000, &mut |h| {
            names.extend(h.names.iter().map(|n| n.to_string()))
        });
        names.sort();
        (peers, names)
    }

    #[test]
    fn events_of_an_earlier_session_change_nothing() {
        let mut r = Roster::default();
        assert_eq!(r.apply(joined("a", "s1", &["f one", "f two"])), 2);
        assert_eq!(r.apply(changed("a", "s0", &["f old"], &["f one"])), 0);
        r.apply(left("a", "s0"));
        assert_eq!(state(&r).1, ["f one", "f two"]);
        assert_eq!(r.session_name("s1").as_deref(), Some("a"));
        // A new session of the name replaces the old one whole.
        assert_eq!(r.apply(joined("a", "s2", &["f three"])), 1);
        assert_eq!(r.session_name("s1"), None);
        assert_eq!(r.session_of("a"), Some("s2"));
        r.apply(changed("a", "s1", &["f late"], &[]));
        r.apply(left("a", "s1"));
        assert_eq!(state(&r), (vec![("a".into(), 1)], vec!["f three".into()]));
        r.apply(left("a", "s2"));
        assert_eq!(state(&r), (vec![], vec![]));
        assert_eq!(r.session_of("a"), None);
    }

    /// What a replica's snapshot relies on: a roster that already holds
    /// some events' effects (a snapshot taken while they were written)
    /// ends where a roster that applied each once ends, after the events
    /// from a point before the snapshot are applied again.
    #[test]
    fn applying_events_again_from_before_a_snapshot_converges() {
        let mut rng = Rng(7);
        for round in 0..200 {
            let mut events = Vec::new();
            let mut sessions = [0u32; 4];
            for _ in 0..30 {
                let p = rng.below(4);
                let name = format!("p{p}");
                let f = |rng: &mut Rng| format!("f{}", rng.below(6));
                let e = match rng.below(5) {
                    0 => {
                        sessions[p] += 1;
                        let files: Vec<String> = (0..rng.below(3)).map(|_| f(&mut rng)).collect();
                        let files: Vec<&str> = files.iter().map(String::as_str).collect();
                        joined(&name, &format!("{name}-s{}", sessions[p]), &files)
                    }
                    1 => left(&name, &format!("{name}-s{}", sessions[p])),
                    _ => {
                        let (a, b) = (f(&mut rng), f(&mut rng));
                        changed(&name, &format!("{name}-s{}", sessions[p]), &[&a], &[&b])
                    }
                };
                events.push(e);
            }
            let mut once = Roster::default();
            for e in &events {
                once.apply(e.clone());
            }
            // The snapshot: the state after `taken` events, rebuilt as one
            // Joined per peer (what the snapshot reads from Redis); the
            // follower noted its position at `noted` <= `taken`.
            let taken = rng.below(events.len() + 1);
            let noted = rng.below(taken + 1);
            let mut upto = Roster::default();
            for e in &events[..taken] {
                upto.apply(e.clone());
            }
            let mut snap = Roster::default();
            for p in upto.peers(1000).0 {
                let session = upto.session_of(&p.name).unwrap().to_string();
                let mut files = Vec::new();
                upto.search_each(&Query::parse("f").unwrap(), 1000, &mut |h| {
                    if h.sources.iter().any(|s| s.peer == p.name) {
                        files.push(h.names[0].to_string());
                    }
                });
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                snap.apply(joined(&p.name, &session, &files));
            }
            for e in &events[noted..] {
                snap.apply(e.clone());
            }
            assert_eq!(
                state(&snap),
                state(&once),
                "round {round}, noted {noted}, taken {taken}"
            );
        }
    }
}
