//! The directory's state: who is online, at which address, sharing what. It
//! sits behind one narrow trait, [`DirectoryStore`], so that the gRPC service
//! (`service.rs`) stays a thin translation layer and another store (a shared
//! one, for several directory replicas) can replace [`MemoryStore`] without
//! touching the service or the peers. Everything here takes parsed, checked
//! types and the current time as an argument: no I/O, no clock, no network.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::id::FileId;

/// Longest search query, in bytes.
pub const MAX_QUERY_LEN: usize = 256;
/// Longest HTTP address a peer may register, in bytes.
pub const MAX_HTTP_ADDR_LEN: usize = 256;
/// Results returned when a client does not say.
pub const DEFAULT_SEARCH_LIMIT: u32 = 100;

/// A session token: 128 random bits, as 32 hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A fresh random token.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).expect("the OS random source works");
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Wraps a token a client presented (unchecked: an unknown token simply fails lookup).
    pub fn from_client(s: &str) -> Token {
        Token(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log a whole token.
        write!(f, "Token({}..)", &self.0.get(..4).unwrap_or(""))
    }
}

/// One file as a peer shares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub id: FileId,
    pub size: u64,
    pub name: String,
}

/// A peer that holds a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub peer: String,
    pub http_addr: String,
    /// The name this peer shares the file under.
    pub name: String,
}

/// One search result: a file and everyone who has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: FileId,
    pub size: u64,
    /// Distinct names the file is shared under, sorted.
    pub names: Vec<String>,
    pub sources: Vec<Source>,
}

/// What a search found: at most `limit` hits, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    pub total: usize,
}

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Words that must all occur in the file name, lower-cased.
    Words(Vec<String>),
    /// A lookup by content hash.
    Id(FileId),
}

impl Query {
    /// Parses a query: a file id (64 hex digits, optionally `id:<hex>`) alone,
    /// or words that must all occur in the name, case-insensitive.
    pub fn parse(text: &str) -> Result<Query, DirError> {
        if text.len() > MAX_QUERY_LEN {
            return Err(DirError::Invalid(format!(
                "query is {} bytes long, the limit is {MAX_QUERY_LEN}",
                text.len()
            )));
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            [] => Err(DirError::Invalid(
                "query is empty: give words of a file name, or a file id".into(),
            )),
            [one] if one.starts_with("id:") => FileId::parse(&one[3..])
                .map(Query::Id)
                .map_err(|e| DirError::Invalid(e.to_string())),
            [one] if FileId::looks_like(one) => Ok(Query::Id(
                FileId::parse(one).map_err(|e| DirError::Invalid(e.to_string()))?,
            )),
            many => {
                if many.iter().any(|w| w.starts_with("id:")) {
                    return Err(DirError::Invalid(
                        "an id search takes the id alone (id:<64 hex digits>)".into(),
                    ));
                }
                Ok(Query::Words(
                    many.iter().map(|w| w.to_lowercase()).collect(),
                ))
            }
        }
    }

    fn matches_name(&self, lower_name: &str) -> bool {
        match self {
            Query::Words(words) => words.iter().all(|w| lower_name.contains(w.as_str())),
            Query::Id(_) => false,
        }
    }
}

/// What a login grants.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: Token,
    pub lease: Duration,
    pub heartbeat: Duration,
}

/// Limits the store enforces on what one call may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_results: u32,
    pub max_files_per_call: u32,
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
}

impl fmt::Display for DirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirError::Unauthenticated => {
                write!(f, "unknown or expired session token: log in again")
            }
            DirError::NotFound(m) | DirError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DirError {}

/// The directory's state, as the service sees it. Every call that carries a
/// token acts only for that token's peer.
pub trait DirectoryStore: Send + Sync {
    /// Starts a session for `name`, replacing any earlier session of that name.
    fn login(
        &self,
        name: &str,
        http_addr: &str,
        files: Vec<SharedFile>,
        now: Instant,
    ) -> Result<Session, DirError>;
    /// Adds and removes files of the token's peer; returns how many it shares now.
    fn announce(
        &self,
        token: &Token,
        added: Vec<SharedFile>,
        removed: Vec<FileId>,
        now: Instant,
    ) -> Result<usize, DirError>;
    /// Renews the token's lease.
    fn heartbeat(&self, token: &Token, now: Instant) -> Result<Duration, DirError>;
    /// Files matching `query`, most sources first, at most `limit` (1..=max_results).
    fn search(&self, query: &Query, limit: u32) -> Result<SearchOutcome, DirError>;
    /// Size and live sources of a file.
    fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), DirError>;
    /// A peer's address and number of shared files, by name.
    fn peer(&self, name: &str) -> Result<(String, usize), DirError>;
    /// Ends the token's session; its files are gone at once.
    fn logout(&self, token: &Token) -> Result<(), DirError>;
    /// Drops every session whose lease ran out; returns the names dropped.
    fn expire(&self, now: Instant) -> Vec<String>;
    /// Limits in force.
    fn limits(&self) -> &Limits;
}

#[derive(Debug)]
struct PeerState {
    token: Token,
    http_addr: String,
    files: HashMap<FileId, (u64, String)>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct State {
    peers: HashMap<String, PeerState>,
    tokens: HashMap<Token, String>,
}

impl State {
    fn peer_of(&mut self, token: &Token) -> Result<&mut PeerState, DirError> {
        let name = self.tokens.get(token).ok_or(DirError::Unauthenticated)?;
        self.peers.get_mut(name).ok_or(DirError::Unauthenticated)
    }

    fn remove_peer(&mut self, name: &str) {
        if let Some(p) = self.peers.remove(name) {
            self.tokens.remove(&p.token);
        }
    }
}

/// The directory's state in this process's memory.
#[derive(Debug)]
pub struct MemoryStore {
    state: RwLock<State>,
    limits: Limits,
}

impl MemoryStore {
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore {
            state: RwLock::new(State::default()),
            limits,
        }
    }

    fn check_files(&self, n: usize) -> Result<(), DirError> {
        if n > self.limits.max_files_per_call as usize {
            return Err(DirError::Invalid(format!(
                "{n} files in one call, the limit is {}: send the rest with Announce",
                self.limits.max_files_per_call
            )));
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a
        // way that matters more than refusing service forever would.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl DirectoryStore for MemoryStore {
    fn login(
        &self,
        name: &str,
        http_addr: &str,
        files: Vec<SharedFile>,
        now: Instant,
    ) -> Result<Session, DirError> {
        self.check_files(files.len())?;
        let token = Token::generate();
        let mut st = self.write();
        st.remove_peer(name);
        st.tokens.insert(token.clone(), name.to_string());
        st.peers.insert(
            name.to_string(),
            PeerState {
                token: token.clone(),
                http_addr: http_addr.to_string(),
                files: files
                    .into_iter()
                    .map(|f| (f.id, (f.size, f.name)))
                    .collect(),
                last_seen: now,
            },
        );
        Ok(Session {
            token,
            lease: self.limits.lease,
            heartbeat: self.limits.heartbeat,
        })
    }

    fn announce(
        &self,
        token: &Token,
        added: Vec<SharedFile>,
        removed: Vec<FileId>,
        now: Instant,
    ) -> Result<usize, DirError> {
        self.check_files(added.len() + removed.len())?;
        let mut st = self.write();
        let peer = st.peer_of(token)?;
        peer.last_seen = now;
        for id in removed {
            peer.files.remove(&id);
        }
        for f in added {
            peer.files.insert(f.id, (f.size, f.name));
        }
        Ok(peer.files.len())
    }

    fn heartbeat(&self, token: &Token, now: Instant) -> Result<Duration, DirError> {
        let mut st = self.write();
        st.peer_of(token)?.last_seen = now;
        Ok(self.limits.lease)
    }

    fn search(&self, query: &Query, limit: u32) -> Result<SearchOutcome, DirError> {
        if limit == 0 || limit > self.limits.max_results {
            return Err(DirError::Invalid(format!(
                "result limit {limit} is out of range: ask for 1 to {}",
                self.limits.max_results
            )));
        }
        let st = self.read();
        let mut by_id: HashMap<FileId, Hit> = HashMap::new();
        for (peer_name, peer) in &st.peers {
            for (id, (size, name)) in &peer.files {
                let wanted = match query {
                    Query::Id(want) => want == id,
                    words => words.matches_name(&name.to_lowercase()),
                };
                if !wanted {
                    continue;
                }
                let hit = by_id.entry(*id).or_insert_with(|| Hit {
                    id: *id,
                    size: *size,
                    names: Vec::new(),
                    sources: Vec::new(),
                });
                if !hit.names.contains(name) {
                    hit.names.push(name.clone());
                }
                hit.sources.push(Source {
                    peer: peer_name.clone(),
                    http_addr: peer.http_addr.clone(),
                    name: name.clone(),
                });
            }
        }
        let total = by_id.len();
        let mut hits: Vec<Hit> = by_id.into_values().collect();
        for h in &mut hits {
            h.names.sort();
            h.sources.sort_by(|a, b| a.peer.cmp(&b.peer));
        }
        hits.sort_by(|a, b| {
            b.sources
                .len()
                .cmp(&a.sources.len())
                .then_with(|| a.names.cmp(&b.names))
                .then_with(|| a.id.cmp(&b.id))
        });
        hits.truncate(limit as usize);
        Ok(SearchOutcome { hits, total })
    }

    fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), DirError> {
        let outcome = self.search(&Query::Id(*id), 1)?;
        match outcome.hits.into_iter().next() {
            Some(hit) => Ok((hit.size, hit.sources)),
            None => Err(DirError::NotFound(format!("no online peer shares {id}"))),
        }
    }

    fn peer(&self, name: &str) -> Result<(String, usize), DirError> {
        let st = self.read();
        st.peers
            .get(name)
            .map(|p| (p.http_addr.clone(), p.files.len()))
            .ok_or_else(|| DirError::NotFound(format!("no peer named {name:?} is online")))
    }

    fn logout(&self, token: &Token) -> Result<(), DirError> {
        let mut st = self.write();
        let name = st
            .tokens
            .get(token)
            .cloned()
            .ok_or(DirError::Unauthenticated)?;
        st.remove_peer(&name);
        Ok(())
    }

    fn expire(&self, now: Instant) -> Vec<String> {
        let lease = self.limits.lease;
        let stale: Vec<String> = self
            .read()
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_seen) > lease)
            .map(|(n, _)| n.clone())
            .collect();
        if stale.is_empty() {
            return stale;
        }
        let mut st = self.write();
        stale
            .into_iter()
            .filter(|name| {
                // Re-check under the write lock: a heartbeat may have come in between.
                let lapsed = st
                    .peers
                    .get(name)
                    .is_some_and(|p| now.saturating_duration_since(p.last_seen) > lease);
                if lapsed {
                    st.remove_peer(name);
                }
                lapsed
            })
            .collect()
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MemoryStore {
        MemoryStore::new(Limits {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(3),
            max_results: 50,
            max_files_per_call: 100,
        })
    }

    fn file(name: &str) -> SharedFile {
        SharedFile {
            id: FileId::of(name.as_bytes()),
            size: name.len() as u64,
            name: name.to_string(),
        }
    }

    fn words(q: &str) -> Query {
        Query::parse(q).unwrap()
    }

    fn names(outcome: &SearchOutcome) -> Vec<String> {
        outcome.hits.iter().map(|h| h.names[0].clone()).collect()
    }

    #[test]
    fn query_parsing() {
        let id = FileId::of(b"x");
        assert_eq!(Query::parse(&id.to_string()).unwrap(), Query::Id(id));
        assert_eq!(Query::parse(&format!("id:{id}")).unwrap(), Query::Id(id));
        assert_eq!(
            Query::parse("  Holiday  PHOTOS ").unwrap(),
            Query::Words(vec!["holiday".into(), "photos".into()])
        );
        for bad in [
            "",
            "   ",
            "id:1234",
            "id:zz",
            &"a".repeat(MAX_QUERY_LEN + 1),
        ] {
            assert!(
                matches!(Query::parse(bad), Err(DirError::Invalid(_))),
                "{bad:?}"
            );
        }
        let msg = Query::parse("id:abc").unwrap_err().to_string();
        assert!(msg.contains("64 hex digits"), "{msg}");
    }

    #[test]
    fn search_needs_every_word_case_insensitive_and_ranks_by_sources() {
        let s = store();
        let now = Instant::now();
        s.login(
            "a",
            "http://a",
            vec![file("Holiday Photos.zip"), file("report.pdf")],
            now,
        )
        .unwrap();
        s.login(
            "b",
            "http://b",
            vec![file("holiday-video.mp4"), file("report.pdf")],
            now,
        )
        .unwrap();
        assert_eq!(
            names(&s.search(&words("HOLIDAY"), 10).unwrap()),
            vec!["Holiday Photos.zip", "holiday-video.mp4"]
        );
        assert_eq!(
            names(&s.search(&words("holiday photos"), 10).unwrap()),
            vec!["Holiday Photos.zip"]
        );
        assert!(s.search(&words("holiday pdf"), 10).unwrap().hits.is_empty());
        // Two sources rank first; the hit lists both.
        let all = s.search(&words("o"), 10).unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(all.hits[0].names, vec!["report.pdf"]);
        let peers: Vec<_> = all.hits[0]
            .sources
            .iter()
            .map(|x| x.peer.as_str())
            .collect();
        assert_eq!(peers, vec!["a", "b"]);
        // Limit cuts the hits, not the total.
        let one = s.search(&words("o"), 1).unwrap();
        assert_eq!((one.hits.len(), one.total), (1, 3));
        assert!(s.search(&words("o"), 0).is_err());
        assert!(s.search(&words("o"), 51).is_err());
    }

    #[test]
    fn search_by_id_and_locate() {
        let s = store();
        let f = file("x.bin");
        s.login("a", "http://a", vec![f.clone()], Instant::now())
            .unwrap();
        let hit = &s.search(&Query::Id(f.id), 5).unwrap().hits[0];
        assert_eq!((hit.id, hit.size), (f.id, f.size));
        let (size, sources) = s.locate(&f.id).unwrap();
        assert_eq!((size, sources[0].http_addr.as_str()), (f.size, "http://a"));
        assert!(matches!(
            s.locate(&FileId::of(b"nope")),
            Err(DirError::NotFound(_))
        ));
    }

    #[test]
    fn tokens_act_only_for_their_peer() {
        let s = store();
        let now = Instant::now();
        let a = s.login("a", "http://a", vec![file("a.txt")], now).unwrap();
        let wrong = Token::from_client("0123456789abcdef0123456789abcdef");
        assert_eq!(
            s.announce(&wrong, vec![file("evil.txt")], vec![file("a.txt").id], now),
            Err(DirError::Unauthenticated)
        );
        assert_eq!(s.logout(&wrong), Err(DirError::Unauthenticated));
        assert_eq!(s.heartbeat(&wrong, now), Err(DirError::Unauthenticated));
        assert_eq!(names(&s.search(&words("txt"), 10).unwrap()), vec!["a.txt"]);
        assert_eq!(
            s.announce(&a.token, vec![file("b.txt")], vec![], now),
            Ok(2)
        );
        s.logout(&a.token).unwrap();
        assert_eq!(s.search(&words("txt"), 10).unwrap().total, 0);
        assert_eq!(s.logout(&a.token), Err(DirError::Unauthenticated));
    }

    #[test]
    fn second_login_replaces_first_session() {
        let s = store();
        let now = Instant::now();
        let first = s
            .login("a", "http://old", vec![file("old.txt")], now)
            .unwrap();
        let second = s
            .login("a", "http://new", vec![file("new.txt")], now)
            .unwrap();
        assert_ne!(first.token, second.token);
        assert_eq!(
            s.heartbeat(&first.token, now),
            Err(DirError::Unauthenticated)
        );
        assert_eq!(s.peer("a").unwrap(), ("http://new".to_string(), 1));
        assert_eq!(s.search(&words("old"), 10).unwrap().total, 0);
    }

    #[test]
    fn leases_expire_unless_renewed() {
        let s = store();
        let t0 = Instant::now();
        let a = s.login("a", "http://a", vec![file("a.txt")], t0).unwrap();
        s.login("b", "http://b", vec![file("b.txt")], t0).unwrap();
        s.heartbeat(&a.token, t0 + Duration::from_secs(8)).unwrap();
        assert_eq!(
            s.expire(t0 + Duration::from_secs(11)),
            vec!["b".to_string()]
        );
        assert_eq!(names(&s.search(&words("txt"), 10).unwrap()), vec!["a.txt"]);
        assert!(s.expire(t0 + Duration::from_secs(17)).is_empty());
        assert_eq!(
            s.expire(t0 + Duration::from_secs(19)),
            vec!["a".to_string()]
        );
        assert_eq!(s.heartbeat(&a.token, t0), Err(DirError::Unauthenticated));
    }

    #[test]
    fn too_many_files_in_one_call_is_refused() {
        let s = store();
        let many: Vec<_> = (0..101).map(|i| file(&format!("f{i}"))).collect();
        let err = s.login("a", "http://a", many, Instant::now()).unwrap_err();
        assert!(err.to_string().contains("limit is 100"), "{err}");
        assert!(s.peer("a").is_err());
    }
}
