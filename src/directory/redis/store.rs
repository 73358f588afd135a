//! [`RedisLedger`]: the ledger of one replica of a directory shared through
//! Redis (the writes as scripts, each accepted one appending its event to
//! the stream; waiting for a write's own event to reach this replica's
//! roster: read your writes), and [`RedisStore`], a directory over it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{Script, Value};

use super::super::event::Event;
use super::super::ledger::{LeaseClock, Ledger};
use super::super::memory::{name_taken, removed_refusal};
use super::super::roster::Roster;
use super::super::state::DirectoryState;
use super::super::store::{DirError, Limits, Removed};
use super::conn::{as_str, as_u64, odd, unavailable, Conns, REDIS_TIMEOUT};
use super::follower::follow;
use super::scripts::Scripts;
use super::shared::{Applied, Shared};
use crate::random::random_hex;
use crate::sync::MutexExt;
use crate::wire::{HttpAddr, KeyPrint, SharedFile};

/// About how many events the stream keeps (`XADD MAXLEN ~`): a replica
/// further behind than this resynchronises from a snapshot.
pub const STREAM_KEEP: usize = 100_000;
/// How long a write waits for its own event to be applied here.
pub(super) const APPLY_WAIT: Duration = Duration::from_secs(5);
/// Sessions one sweep ends at most (the next sweep takes the rest).
pub(super) const SWEEP_BATCH: usize = 1000;
/// Tests only: milliseconds the follower waits before applying what it
/// read, to show that a write waits for its own event (read your writes)
/// rather than winning a race with the follower.
pub const FOLLOW_LAG_VAR: &str = "HUBSHARE_TEST_FOLLOW_LAG_MS";

/// One replica of a directory whose state lives in Redis.
pub type RedisStore = DirectoryState<RedisLedger>;

/// The ledger of one replica: the writes go to Redis, and its follower
/// thread feeds the directory's roster from the event stream.
pub struct RedisLedger {
    pub(super) shared: Arc<Shared>,
    pub(super) follower: Mutex<Option<JoinHandle<()>>>,
    /// Test hook: milliseconds added to Redis's time in sweeps.
    wall_shift_ms: AtomicU64,
}

pub(super) fn millis(d: Duration) -> u64 {
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
        let roster = Arc::new(RwLock::new(Roster::default()));
        let shared = Arc::new(Shared {
            limits: limits.clone(),
            client,
            pool,
            prefix: prefix.to_string(),
            scripts: Scripts::load(),
            roster: roster.clone(),
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
        let ledger = RedisLedger {
            shared,
            follower: Mutex::new(Some(follower)),
            wall_shift_ms: AtomicU64::new(0),
        };
        let deadline = Instant::now() + wait;
        while !ledger.shared.synced.load(Ordering::Acquire) {
            if Instant::now() > deadline {
                return Err(format!(
                    "Redis at {url} did not answer within {wait:?}: is it running?"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(DirectoryState::over(limits, roster, ledger))
    }
}

impl RedisLedger {
    /// Test hook: sweeps read Redis's time as `by` later than it is, so a
    /// test can move the lease clock without waiting.
    #[doc(hidden)]
    pub fn shift_wall_for_tests(&self, by: Duration) {
        self.wall_shift_ms.fetch_add(millis(by), Ordering::Relaxed);
    }

    /// Runs a write script with the common arguments first.
    pub(super) fn run(&self, script: &Script, args: Vec<Vec<u8>>) -> Result<Vec<Value>, DirError> {
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
    pub(super) fn await_applied(&self, mark: &Value) {
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
    pub(super) fn check_fresh(&self) -> Result<(), DirError> {
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

    pub(super) fn fresh(&self) -> bool {
        let sh = &*self.shared;
        sh.synced.load(Ordering::Acquire) && sh.last_contact.locked().elapsed() <= sh.limits.lease
    }
}

pub(super) fn file_pairs(files: &[SharedFile]) -> Result<Vec<Vec<u8>>, DirError> {
    let mut args = Vec::with_capacity(files.len() * 2);
    for f in files {
        args.push(f.id.to_string().into_bytes());
        args.push(serde_json::to_vec(f).map_err(|e| DirError::Internal(e.to_string()))?);
    }
    Ok(args)
}

/// The Joined event's files, or an error for any other event.
fn joined_files(joined: &Event) -> Result<(&str, &str, &HttpAddr, &[SharedFile]), DirError> {
    match joined {
        Event::Joined {
            name,
            session,
            http_addr,
            files,
        } => Ok((name, session, http_addr, files)),
        _ => Err(DirError::Internal("a login needs a Joined event".into())),
    }
}

fn to_json(event: &Event) -> Result<Vec<u8>, DirError> {
    serde_json::to_vec(event).map_err(|e| DirError::Internal(e.to_string()))
}

impl Ledger for RedisLedger {
    fn login(&self, owner: KeyPrint, joined: Event, lease: Duration) -> Result<(), DirError> {
        let (name, session, http_addr, files) = joined_files(&joined)?;
        let limits = &self.shared.limits;
        let mut args: Vec<Vec<u8>> = vec![
            name.into(),
            owner.to_hex().into_bytes(),
            session.into(),
            http_addr.stored().into_bytes(),
            millis(lease).to_string().into_bytes(),
            millis(limits.name_hold).to_string().into_bytes(),
            to_json(&joined)?,
        ];
        args.extend(file_pairs(files)?);
        let out = self.run(&self.shared.scripts.login, args)?;
        match (out.first().and_then(as_str).as_deref(), out.get(1)) {
            (Some("ok"), Some(mark)) => {
                self.await_applied(mark);
                Ok(())
            }
            (Some("banned"), _) => Err(removed_refusal()),
            (Some("taken"), Some(how)) => {
                let live = as_str(how).as_deref() == Some("live");
                let held_for = (!live).then_some(limits.name_hold);
                Err(name_taken(name, held_for))
            }
            _ => Err(odd("login", &out)),
        }
    }

    fn announce(&self, changed: Event, lease: Duration) -> Result<usize, DirError> {
        let Event::Changed {
            session,
            added,
            removed,
        } = &changed
        else {
            return Err(DirError::Internal(
                "an announce needs a Changed event".into(),
            ));
        };
        let mut args: Vec<Vec<u8>> = vec![
            session.clone().into_bytes(),
            millis(lease).to_string().into_bytes(),
            to_json(&changed)?,
            removed.len().to_string().into_bytes(),
        ];
        args.extend(removed.iter().map(|id| id.to_string().into_bytes()));
        args.extend(file_pairs(added)?);
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

    fn heartbeat(&self, session: &str, lease: Duration) -> Result<(), DirError> {
        let args = vec![
            session.as_bytes().to_vec(),
            millis(lease).to_string().into_bytes(),
        ];
        let out = self.run(&self.shared.scripts.heartbeat, args)?;
        match out.first().and_then(as_str).as_deref() {
            Some("ok") => Ok(()),
            Some("unauth") => Err(DirError::Unauthenticated),
            _ => Err(odd("heartbeat", &out)),
        }
    }

    fn logout(&self, left: Event) -> Result<(), DirError> {
        let Event::Left { session } = &left else {
            return Err(DirError::Internal("a logout needs a Left event".into()));
        };
        let args = vec![
            session.clone().into_bytes(),
            millis(self.shared.limits.name_hold)
                .to_string()
                .into_bytes(),
            to_json(&left)?,
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

    fn remove(&self, name: &str) -> Result<Removed, DirError> {
        let args = vec![
            name.as_bytes().to_vec(),
            millis(self.shared.limits.name_hold)
                .to_string()
                .into_bytes(),
        ];
        let out = self.run(&self.shared.scripts.remove, args)?;
        let field = |i: usize| out.get(i).and_then(as_str).unwrap_or_default();
        let owner = match field(0).as_str() {
            "" => None,
            hex => Some(KeyPrint::from_hex(hex).ok_or_else(|| odd("remove", &out))?),
        };
        let mark = field(2);
        if !mark.is_empty() {
            if let Some(m) = out.get(2) {
                self.await_applied(m);
            }
        }
        Ok(Removed {
            owner,
            was_online: field(1) == "online",
        })
    }

    fn expire(&self) -> Vec<(String, Option<HttpAddr>)> {
        let args = vec![
            millis(LeaseClock::step_max(&self.shared.limits))
                .to_string()
                .into_bytes(),
            millis(self.shared.limits.name_hold)
                .to_string()
                .into_bytes(),
            SWEEP_BATCH.to_string().into_bytes(),
            self.wall_shift_ms
                .load(Ordering::Relaxed)
                .to_string()
                .into_bytes(),
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

    fn fresh(&self) -> Result<(), DirError> {
        self.check_fresh()
    }
}

impl Drop for RedisLedger {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.follower.locked().take() {
            crate::sync::join_or_raise(h);
        }
    }
}
