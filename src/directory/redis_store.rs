//! [`RedisStore`]: one replica of a directory whose state several replicas
//! share through Redis. Writes go to Redis, reads never do:
//!
//! - Each write (login, announce, heartbeat, logout, a sweep of lapsed
//!   leases) is one Lua script: it checks and updates the keys and, when
//!   the roster changes, appends one [`Event`] to a single stream, with the
//!   store's epoch and the next sequence number.
//! - Every replica keeps its own [`Roster`] (and so its own search index),
//!   fed by a `redis-follower` thread that reads the stream (blocking) and
//!   applies each event in order. Search, Locate, GetPeer and ListPeers
//!   answer from it.
//! - A write waits until this replica's follower has applied its own event
//!   before it answers: a peer sees its own announce on the replica it sent
//!   it to (read your writes).
//! - A follower that starts, or that finds a gap (the next event is not the
//!   next number, or the epoch changed: the stream was trimmed past it, or
//!   Redis came back empty), notes the stream's position, reads every peer
//!   from Redis into a new roster and follows on from that position.
//!   Events are whole-state per peer or set-like, so applying one the
//!   snapshot already holds changes nothing in the end.
//! - Leases run on a clock kept in Redis that only sweeps move forward, and
//!   by at most [`CLOCK_STEP_MAX`] per sweep: when Redis was away (or no
//!   replica swept), peers get a whole lease to heartbeat again rather than
//!   all expiring at once. A sweep is one script, so with any number of
//!   replicas sweeping each lapsed session leaves exactly once.
//! - Redis away: writes answer [`DirError::Unavailable`]; reads answer from
//!   memory for one lease after the last contact, then also fail, and
//!   [`DirectoryStore::serving`] says no until Redis answers again.
//!
//! Keys (all under the configured prefix): `epoch`, `seq`, `clock`,
//! `clock_wall`, `events` (the stream), `leases` (session -> lease end on
//! the clock), `sess:{print}` (name), `peer:{name}` (session, addr),
//! `files:{name}` (file id -> the file as JSON), `bind:{name}` (owner,
//! released). Sessions are kept by the print of their token, never the
//! token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Script, Value};

use super::event::Event;
use super::memory::check_limit;
use super::query::Query;
use super::roster::Roster;
use super::store::{Batch, DirError, DirectoryStore, Limits, Session, Token};
use crate::id::FileId;
use crate::random::random_hex;
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::{Hit, HitView, HttpAddr, KeyPrint, Matches, PeerListing, SharedFile};

/// Most the lease clock moves in one sweep (less for a lease shorter than
/// twice this: half the lease).
pub const CLOCK_STEP_MAX: Duration = Duration::from_secs(10);
/// About how many events the stream keeps (`XADD MAXLEN ~`): a replica
/// further behind than this resynchronises from a snapshot.
pub const STREAM_KEEP: usize = 100_000;
/// How long a write waits for its own event to be applied here.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long one blocking read of the stream waits.
const FOLLOW_BLOCK_MS: usize = 500;
/// Longest a connection, a script or a read waits for Redis before the
/// call fails as unavailable (a Redis that hangs must not hold writers).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Sessions one sweep ends at most (the next sweep takes the rest).
const SWEEP_BATCH: usize = 1000;
/// Tests only: milliseconds the follower waits before applying what it
/// read, to show that a write waits for its own event (read your writes)
/// rather than winning a race with the follower.
pub const FOLLOW_LAG_VAR: &str = "HUBSHARE_TEST_FOLLOW_LAG_MS";

/// Lua shared by the scripts: the prefix is `ARGV[1]`, an epoch to use if
/// the store has none `ARGV[2]`, the stream's length `ARGV[3]`.
const PRELUDE: &str = r#"
local p = ARGV[1]
local function emit(event)
  local epoch = redis.call('GET', p .. 'epoch')
  if not epoch then
    epoch = ARGV[2]
    redis.call('SET', p .. 'epoch', epoch)
  end
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', ARGV[3], '*',
    'seq', seq, 'epoch', epoch, 'e', event)
  return epoch .. ':' .. seq
end
local function clock()
  return tonumber(redis.call('GET', p .. 'clock') or '0')
end
local function wall_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_name(sess)
  local name = redis.call('HGET', p .. 'sess:' .. sess, 'name')
  if not name then return nil end
  local ends = redis.call('ZSCORE', p .. 'leases', sess)
  if not ends or tonumber(ends) < clock() then return nil end
  return name
end
local function end_session(sess, name, hold_ms)
  redis.call('DEL', p .. 'sess:' .. sess)
  redis.call('ZREM', p .. 'leases', sess)
  redis.call('DEL', p .. 'peer:' .. name, p .. 'files:' .. name)
  local bind = p .. 'bind:' .. name
  if redis.call('EXISTS', bind) == 1 then
    redis.call('HSET', bind, 'released', wall_ms())
    redis.call('PEXPIRE', bind, hold_ms)
  end
  return emit('{"event":"left","name":' .. cjson.encode(name) .. ',"session":"' .. sess .. '"}')
end
"#;

/// ARGV[4..]: name, owner, session, addr, lease_ms, hold_ms, the Joined
/// event, then (id, file JSON) pairs. Returns {"ok", mark} (`epoch:seq` of
/// its event) or {"taken", "live"|"held"}.
const LOGIN: &str = r#"
local name, owner, sess, addr = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local lease_ms, hold_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
local bind = p .. 'bind:' .. name
local b = redis.call('HMGET', bind, 'owner', 'released')
if b[1] and b[1] ~= owner then
  if not b[2] or b[2] == '' then return {'taken', 'live'} end
  return {'taken', 'held'}
end
local old = redis.call('HGET', p .. 'peer:' .. name, 'session')
if old then
  redis.call('DEL', p .. 'sess:' .. old)
  redis.call('ZREM', p .. 'leases', old)
end
redis.call('DEL', p .. 'files:' .. name)
for i = 11, #ARGV, 2 do
  redis.call('HSET', p .. 'files:' .. name, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', p .. 'peer:' .. name, 'session', sess, 'addr', addr)
redis.call('HSET', p .. 'sess:' .. sess, 'name', name)
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
redis.call('DEL', bind)
redis.call('HSET', bind, 'owner', owner, 'released', '')
return {'ok', emit(ARGV[10])}
"#;

/// ARGV[4..]: session, lease_ms, the removed ids as a JSON array, how many
/// removed ids follow, the ids, then (id, file JSON) pairs added. Returns
/// {"ok", mark, files} or {"unauth"}.
const ANNOUNCE: &str = r#"
local sess, lease_ms = ARGV[4], tonumber(ARGV[5])
local name = live_name(sess)
if not name then return {'unauth'} end
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
local files = p .. 'files:' .. name
local n_removed = tonumber(ARGV[7])
for i = 8, 7 + n_removed do
  redis.call('HDEL', files, ARGV[i])
end
local added = {}
for i = 8 + n_removed, #ARGV, 2 do
  redis.call('HSET', files, ARGV[i], ARGV[i + 1])
  added[#added + 1] = ARGV[i + 1]
end
local event = '{"event":"changed","name":' .. cjson.encode(name) .. ',"session":"' .. sess ..
  '","added":[' .. table.concat(added, ',') .. '],"removed":' .. ARGV[6] .. '}'
return {'ok', emit(event), redis.call('HLEN', files)}
"#;

/// ARGV[4..]: session, lease_ms. Returns {"ok"} or {"unauth"}.
const HEARTBEAT: &str = r#"
local sess, lease_ms = ARGV[4], tonumber(ARGV[5])
if not live_name(sess) then return {'unauth'} end
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
return {'ok'}
"#;

/// ARGV[4..]: session, hold_ms. Returns {"ok", mark} or {"unauth"}.
const LOGOUT: &str = r#"
local sess, hold_ms = ARGV[4], tonumber(ARGV[5])
local name = live_name(sess)
if not name then return {'unauth'} end
return {'ok', end_session(sess, name, hold_ms)}
"#;

/// ARGV[4..]: the clock's largest step (ms), hold_ms, the batch size.
/// Moves the lease clock by the wall time since the last sweep (at most
/// the step), then ends every session whose lease ended. Returns {mark,
/// name, addr, name, addr, ...} (mark 0: nothing ended).
const SWEEP: &str = r#"
local step_max, hold_ms, batch = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = wall_ms()
local last = tonumber(redis.call('GET', p .. 'clock_wall') or now)
local step = math.min(math.max(now - last, 0), step_max)
local c = clock() + step
redis.call('SET', p .. 'clock', c)
redis.call('SET', p .. 'clock_wall', now)
local lapsed = redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', '(' .. c, 'LIMIT', 0, batch)
local out = {0}
for _, sess in ipairs(lapsed) do
  local name = redis.call('HGET', p .. 'sess:' .. sess, 'name')
  if name then
    local addr = redis.call('HGET', p .. 'peer:' .. name, 'addr') or ''
    out[1] = end_session(sess, name, hold_ms)
    out[#out + 1] = name
    out[#out + 1] = addr
  else
    redis.call('ZREM', p .. 'leases', sess)
  end
end
return out
"#;

/// Where the follower stands: the epoch and number of the last event
/// applied to the roster.
#[derive(Debug, Clone, Default, PartialEq)]
struct Applied {
    epoch: Option<String>,
    seq: u64,
    /// The stream id to read on from.
    id: String,
}

struct Scripts {
    login: Script,
    announce: Script,
    heartbeat: Script,
    logout: Script,
    sweep: Script,
}

/// Connections for writes: each with [`REDIS_TIMEOUT`] on connect, reads
/// and writes.
struct Conns(redis::Client);

/// A pooled connection, and whether a call on it failed: one that timed
/// out may still get the late answer, so it is never used again.
struct Conn {
    c: redis::Connection,
    failed: bool,
}

/// A connection to `client` with [`REDIS_TIMEOUT`] on every step; reads
/// may also take `block` (a blocking stream read).
fn connect(client: &redis::Client, block: Duration) -> redis::RedisResult<redis::Connection> {
    let c = client.get_connection_with_timeout(REDIS_TIMEOUT)?;
    c.set_read_timeout(Some(REDIS_TIMEOUT + block))?;
    c.set_write_timeout(Some(REDIS_TIMEOUT))?;
    Ok(c)
}

impl r2d2::ManageConnection for Conns {
    type Connection = Conn;
    type Error = redis::RedisError;

    fn connect(&self) -> Result<Conn, redis::RedisError> {
        Ok(Conn {
            c: connect(&self.0, Duration::ZERO)?,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query(&mut conn.c)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.failed || !redis::ConnectionLike::is_open(&conn.c)
    }
}

struct Shared {
    limits: Limits,
    client: redis::Client,
    pool: r2d2::Pool<Conns>,
    prefix: String,
    scripts: Scripts,
    roster: RwLock<Roster>,
    applied: Mutex<Applied>,
    applied_changed: Condvar,
    /// The last time Redis answered this replica (writes or the follower).
    last_contact: Mutex<Instant>,
    /// The roster holds a snapshot and everything after it.
    synced: AtomicBool,
    stop: AtomicBool,
    /// See [`FOLLOW_LAG_VAR`].
    lag: Duration,
}

/// One replica of a directory whose state lives in Redis.
pub struct RedisStore {
    shared: Arc<Shared>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

/// A Redis failure, as the caller sees it.
fn unavailable(e: impl std::fmt::Display) -> DirError {
    DirError::Unavailable(format!("the directory's shared store is unreachable: {e}"))
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db` or `unix:///path`), keys
    /// under `prefix`, and starts following the stream; the roster is
    /// filled from a snapshot before this returns, if Redis answers within
    /// `wait`.
    pub fn start(
        url: &str,
        prefix: &str,
        limits: Limits,
        wait: Duration,
    ) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis_url {url:?}: {e}"))?;
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(0))
            .connection_timeout(REDIS_TIMEOUT)
            .build_unchecked(Conns(client.clone()));
        let script = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        let shared = Arc::new(Shared {
            limits,
            client,
            pool,
            prefix: prefix.to_string(),
            scripts: Scripts {
                login: script(LOGIN),
                announce: script(ANNOUNCE),
                heartbeat: script(HEARTBEAT),
                logout: script(LOGOUT),
                sweep: script(SWEEP),
            },
            roster: RwLock::new(Roster::default()),
            applied: Mutex::new(Applied::default()),
            applied_changed: Condvar::new(),
            last_contact: Mutex::new(Instant::now()),
            synced: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            lag: Duration::from_millis(
                std::env::var(FOLLOW_LAG_VAR)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
        });
        let follower = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("redis-follower".into())
                .spawn(move || follow(&shared))
                .map_err(|e| format!("cannot start the follower thread: {e}"))?
        };
        let store = RedisStore {
            shared,
            follower: Mutex::new(Some(follower)),
        };
        let deadline = Instant::now() + wait;
        while !store.shared.synced.load(Ordering::Acquire) {
            if Instant::now() > deadline {
                return Err(format!(
                    "Redis at {url} did not answer within {wait:?}: is it running?"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(store)
    }

    /// Runs a write script with the common arguments first.
    fn run(&self, script: &Script, args: Vec<Vec<u8>>) -> Result<Vec<Value>, DirError> {
        let sh = &*self.shared;
        let mut conn = sh.pool.get().map_err(unavailable)?;
        let mut inv = script.prepare_invoke();
        inv.arg(&sh.prefix).arg(random_hex(8)).arg(STREAM_KEEP);
        for a in args {
            inv.arg(a);
        }
        let out: Vec<Value> = inv.invoke(&mut conn.c).map_err(|e| {
            conn.failed = true;
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                unavailable(e)
            } else {
                DirError::Internal(format!("a store script failed: {e}"))
            }
        })?;
        *sh.last_contact.locked() = Instant::now();
        Ok(out)
    }

    /// Waits until this replica's roster holds the event a script marked
    /// (`epoch:seq`: its own write), so a read here after the write sees it.
    fn await_applied(&self, mark: &Value) {
        let Some((epoch, seq)) = as_str(mark).and_then(|m| {
            let (e, s) = m.rsplit_once(':')?;
            Some((e.to_string(), s.parse::<u64>().ok()?))
        }) else {
            log::warn!("a store script marked its event oddly: {mark:?}");
            return;
        };
        let sh = &*self.shared;
        let deadline = Instant::now() + APPLY_WAIT;
        let mut at = sh.applied.locked();
        while at.epoch.as_deref() != Some(epoch.as_str()) || at.seq < seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!("event {epoch}:{seq} not applied here within {APPLY_WAIT:?}");
                return;
            }
            at = sh
                .applied_changed
                .wait_timeout(at, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Reads fail once Redis has not answered for a whole lease.
    fn check_fresh(&self) -> Result<(), DirError> {
        if self.fresh() {
            Ok(())
        } else {
            Err(DirError::Unavailable(
                "this directory replica has lost its shared store for longer than a lease; \
                 its answers would be stale"
                    .into(),
            ))
        }
    }

    fn fresh(&self) -> bool {
        let sh = &*self.shared;
        sh.synced.load(Ordering::Acquire) && sh.last_contact.locked().elapsed() <= sh.limits.lease
    }
}

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_str(other)?.parse().ok(),
    }
}

/// A script's answer did not have the agreed shape.
fn odd(what: &str, out: &[Value]) -> DirError {
    DirError::Internal(format!("unexpected answer of the {what} script: {out:?}"))
}

fn file_pairs(files: &[SharedFile]) -> Result<Vec<Vec<u8>>, DirError> {
    let mut args = Vec::with_capacity(files.len() * 2);
    for f in files {
        args.push(f.id.to_string().into_bytes());
        args.push(serde_json::to_vec(f).map_err(|e| DirError::Internal(e.to_string()))?);
    }
    Ok(args)
}

impl DirectoryStore for RedisStore {
    fn login(
        &self,
        name: &str,
        owner: KeyPrint,
        http_addr: &HttpAddr,
        files: Batch,
        _now: Instant,
    ) -> Result<Session, DirError> {
        let (files, _) = files.into_parts();
        let token = Token::generate();
        let limits = &self.shared.limits;
        let pairs = file_pairs(&files)?;
        let event = Event::Joined {
            name: name.to_string(),
            session: token.print(),
            http_addr: http_addr.clone(),
            files,
        };
        let mut args: Vec<Vec<u8>> = vec![
            name.into(),
            owner.to_hex().into_bytes(),
            token.print().into_bytes(),
            http_addr.to_string().into_bytes(),
            millis(limits.lease).to_string().into_bytes(),
            millis(limits.name_hold).to_string().into_bytes(),
            serde_json::to_vec(&event).map_err(|e| DirError::Internal(e.to_string()))?,
        ];
        args.extend(pairs);
        let out = self.run(&self.shared.scripts.login, args)?;
        match (out.first().and_then(as_str).as_deref(), out.get(1)) {
            (Some("ok"), Some(mark)) => self.await_applied(mark),
            (Some("taken"), Some(how)) => {
                let live = as_str(how).as_deref() == Some("live");
                let held_for = (!live).then_some(limits.name_hold);
                return Err(super::memory::name_taken(name, held_for));
            }
            _ => return Err(odd("login", &out)),
        }
        Ok(Session {
            token,
            lease: limits.lease,
            heartbeat: limits.heartbeat,
            max_files_per_call: limits.max_files_per_call,
        })
    }

    fn announce(&self, token: &Token, change: Batch, _now: Instant) -> Result<usize, DirError> {
        let (added, removed) = change.into_parts();
        let removed_ids: Vec<String> = removed.iter().map(FileId::to_string).collect();
        let mut args: Vec<Vec<u8>> = vec![
            token.print().into_bytes(),
            millis(self.shared.limits.lease).to_string().into_bytes(),
            serde_json::to_vec(&removed_ids).map_err(|e| DirError::Internal(e.to_string()))?,
            removed_ids.len().to_string().into_bytes(),
        ];
        args.extend(removed_ids.into_iter().map(String::into_bytes));
        args.extend(file_pairs(&added)?);
        let out = self.run(&self.shared.scripts.announce, args)?;
        match out.first().and_then(as_str).as_deref() {
            Some("ok") => {
                let (Some(mark), Some(files)) = (out.get(1), out.get(2).and_then(as_u64)) else {
                    return Err(odd("announce", &out));
                };
                self.await_applied(mark);
                Ok(files as usize)
            }
            Some("unauth") => Err(DirError::Unauthenticated),
            _ => Err(odd("announce", &out)),
        }
    }

    fn heartbeat(&self, token: &Token, _now: Instant) -> Result<Duration, DirError> {
        let lease = self.shared.limits.lease;
        let args = vec![
            token.print().into_bytes(),
            millis(lease).to_string().into_bytes(),
        ];
        let out = self.run(&self.shared.scripts.heartbeat, args)?;
        match out.first().and_then(as_str).as_deref() {
            Some("ok") => Ok(lease),
            Some("unauth") => Err(DirError::Unauthenticated),
            _ => Err(odd("heartbeat", &out)),
        }
    }

    fn search_each(
        &self,
        query: &Query,
        limit: u32,
        each: &mut dyn FnMut(HitView<'_>),
    ) -> Result<Matches, DirError> {
        check_limit(limit, &self.shared.limits)?;
        self.check_fresh()?;
        Ok(self.shared.roster.reading().search_each(query, limit, each))
    }

    fn locate(&self, id: &FileId) -> Result<Hit, DirError> {
        self.check_fresh()?;
        self.shared.roster.reading().locate(id)
    }

    fn peer(&self, name: &str) -> Result<(HttpAddr, usize), DirError> {
        self.check_fresh()?;
        self.shared.roster.reading().peer(name)
    }

    fn peers(&self, limit: usize) -> (Vec<PeerListing>, usize) {
        if !self.fresh() {
            return (Vec::new(), 0);
        }
        self.shared.roster.reading().peers(limit)
    }

    fn counts(&self) -> (usize, usize) {
        let r = self.shared.roster.reading();
        (r.len(), r.files())
    }

    fn session_name(&self, token: &Token) -> Option<String> {
        self.shared.roster.reading().session_name(&token.print())
    }

    fn logout(&self, token: &Token, _now: Instant) -> Result<(), DirError> {
        let args = vec![
            token.print().into_bytes(),
            millis(self.shared.limits.name_hold)
                .to_string()
                .into_bytes(),
        ];
        let out = self.run(&self.shared.scripts.logout, args)?;
        match out.first().and_then(as_str).as_deref() {
            Some("ok") => {
                if let Some(mark) = out.get(1) {
                    self.await_applied(mark);
                }
                Ok(())
            }
            Some("unauth") => Err(DirError::Unauthenticated),
            _ => Err(odd("logout", &out)),
        }
    }

    fn expire(&self, _now: Instant) -> Vec<(String, Option<HttpAddr>)> {
        let args = vec![
            millis(CLOCK_STEP_MAX.min(self.shared.limits.lease / 2))
                .to_string()
                .into_bytes(),
            millis(self.shared.limits.name_hold)
                .to_string()
                .into_bytes(),
            SWEEP_BATCH.to_string().into_bytes(),
        ];
        match self.run(&self.shared.scripts.sweep, args) {
            Ok(out) => {
                let names = out[1.min(out.len())..]
                    .chunks(2)
                    .filter_map(|pair| {
                        let name = as_str(pair.first()?)?;
                        let addr = pair
                            .get(1)
                            .and_then(as_str)
                            .and_then(|a| HttpAddr::parse(&a).ok());
                        Some((name, addr))
                    })
                    .collect();
                if let Some(mark) = out.first().filter(|m| as_u64(m) != Some(0)) {
                    self.await_applied(mark);
                }
                names
            }
            Err(e) => {
                log::warn!("lease sweep: {e}");
                Vec::new()
            }
        }
    }

    fn serving(&self) -> bool {
        self.fresh()
    }

    fn limits(&self) -> &Limits {
        &self.shared.limits
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.follower.locked().take() {
            let _ = h.join();
        }
    }
}

/// The follower thread: snapshot, then apply the stream in order; again
/// from a snapshot after a gap; retrying while Redis is away.
fn follow(sh: &Shared) {
    let mut conn: Option<redis::Connection> = None;
    let mut need_snapshot = true;
    while !sh.stop.load(Ordering::Acquire) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&sh.client, Duration::from_millis(FOLLOW_BLOCK_MS as u64)) {
                Ok(c) => {
                    // After an outage the store may be another one (Redis
                    // restarted empty): the epoch check below decides.
                    conn.insert(c)
                }
                Err(e) => {
                    log::debug!("follower: Redis unreachable: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            },
        };
        let step = if need_snapshot {
            snapshot(sh, c).map(|()| false)
        } else {
            follow_once(sh, c)
        };
        match step {
            Ok(gap) => {
                *sh.last_contact.locked() = Instant::now();
                need_snapshot = gap;
            }
            Err(e) => {
                log::warn!("follower: {e}");
                conn = None;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// The last entry of the stream, as `XREVRANGE .. COUNT 1` gives it.
type StreamTail = Vec<(String, Vec<(String, String)>)>;

/// Notes the stream's position, reads every peer into a new roster, and
/// puts it in place.
fn snapshot(sh: &Shared, c: &mut redis::Connection) -> redis::RedisResult<()> {
    let p = &sh.prefix;
    let t = Instant::now();
    // The epoch, the last number and the last stream id, together.
    let (epoch, seq, last): (Option<String>, Option<u64>, StreamTail) = redis::pipe()
        .atomic()
        .get(format!("{p}epoch"))
        .get(format!("{p}seq"))
        .cmd("XREVRANGE")
        .arg(format!("{p}events"))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(c)?;
    let id = last
        .first()
        .map_or_else(|| "0-0".to_string(), |(id, _)| id.clone());
    let mut roster = Roster::default();
    let names: Vec<String> = c
        .scan_match::<_, String>(format!("{p}peer:*"))?
        .map(|k| k[p.len() + "peer:".len()..].to_string())
        .collect();
    let mut peers = 0usize;
    for chunk in names.chunks(256) {
        let mut pipe = redis::pipe();
        for name in chunk {
            pipe.hget(format!("{p}peer:{name}"), &["session", "addr"])
                .hvals(format!("{p}files:{name}"));
        }
        let rows: Vec<Value> = pipe.query(c)?;
        for (name, pair) in chunk.iter().zip(rows.chunks(2)) {
            let Some(event) = joined_from(name, pair) else {
                continue;
            };
            roster.apply(event);
            peers += 1;
        }
    }
    *sh.roster.writing() = roster;
    let mut at = sh.applied.locked();
    *at = Applied {
        epoch,
        seq: seq.unwrap_or(0),
        id,
    };
    sh.synced.store(true, Ordering::Release);
    sh.applied_changed.notify_all();
    log::info!(
        "replica synchronised from Redis: {peers} peers in {:.2}s, at event {}",
        t.elapsed().as_secs_f64(),
        at.seq
    );
    Ok(())
}

/// A peer as the snapshot reads it, as the event that makes it.
fn joined_from(name: &str, pair: &[Value]) -> Option<Event> {
    let [fields, files] = pair else { return None };
    let (session, addr) = match fields {
        Value::Array(v) if v.len() == 2 => (as_str(&v[0])?, as_str(&v[1])?),
        _ => return None,
    };
    let files = match files {
        Value::Array(v) => v
            .iter()
            .filter_map(|f| serde_json::from_str::<SharedFile>(&as_str(f)?).ok())
            .collect(),
        _ => Vec::new(),
    };
    Some(Event::Joined {
        name: name.to_string(),
        session,
        http_addr: HttpAddr::parse(&addr).ok()?,
        files,
    })
}

/// One blocking read of the stream, applied in order. Returns whether a
/// gap was found (a snapshot is needed).
fn follow_once(sh: &Shared, c: &mut redis::Connection) -> redis::RedisResult<bool> {
    let p = &sh.prefix;
    let from = sh.applied.locked().clone();
    let opts = StreamReadOptions::default()
        .block(FOLLOW_BLOCK_MS)
        .count(1000);
    let reply: Option<StreamReadReply> =
        c.xread_options(&[format!("{p}events")], &[from.id.as_str()], &opts)?;
    let entries = reply
        .and_then(|r| r.keys.into_iter().next())
        .map(|k| k.ids)
        .unwrap_or_default();
    if entries.is_empty() {
        // Quiet: is it still the same store? (Redis may have restarted
        // empty, with no event since.)
        let epoch: Option<String> = c.get(format!("{p}epoch"))?;
        let seq: Option<u64> = c.get(format!("{p}seq"))?;
        // (Events added since the read are read next time; a store whose
        // epoch changed or whose count went back is another store.)
        return Ok(epoch != from.epoch || seq.unwrap_or(0) < from.seq);
    }
    if !sh.lag.is_zero() {
        std::thread::sleep(sh.lag);
    }
    let mut roster = sh.roster.writing();
    let mut at = sh.applied.locked();
    for entry in entries {
        let get = |k: &str| entry.map.get(k).and_then(as_str);
        let (Some(seq), Some(epoch), Some(body)) = (
            get("seq").and_then(|s| s.parse::<u64>().ok()),
            get("epoch"),
            get("e"),
        ) else {
            log::warn!("follower: event {} has no seq, epoch or body", entry.id);
            return Ok(true);
        };
        let same_epoch = at.epoch.as_deref().is_none_or(|e| e == epoch);
        if !same_epoch || seq != at.seq + 1 {
            log::info!(
                "follower: gap before event {seq} (epoch {epoch}); at {} (epoch {:?}): resynchronising",
                at.seq,
                at.epoch
            );
            return Ok(true);
        }
        match serde_json::from_str::<Event>(&body) {
            Ok(event) => {
                roster.apply(event);
            }
            Err(e) => log::warn!("follower: event {seq} unreadable ({e}); skipped"),
        }
        at.seq = seq;
        at.epoch = Some(epoch);
        at.id = entry.id.clone();
    }
    drop(roster);
    sh.applied_changed.notify_all();
    Ok(false)
}
