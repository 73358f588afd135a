//! A peer's session with the directory, kept alive by a named background
//! thread. The thread runs [`Link::step`] over and over; each step makes at
//! most one directory call and says how long to wait before the next:
//!
//! - log in (retrying with capped, jittered backoff while the directory is
//!   unreachable), with the first [`LOGIN_FILES`] files of the share;
//! - bring the directory up to date with the share, one Announce of at most
//!   the directory's `max_files_per_call` at a time. What the directory has
//!   confirmed is remembered, so what is still to send is always the
//!   difference between the share and that: an Announce that fails (the
//!   directory busy, away, or refusing) is simply sent again after a
//!   backoff, and a change that comes in meanwhile joins it;
//! - heartbeat, and log in again when the directory answers
//!   `UNAUTHENTICATED` (it restarted, or the lease lapsed). A peer that
//!   sees a sign the directory went away (its notice stream ended,
//!   `peer/reverse.rs`) asks for a heartbeat within a few seconds
//!   ([`Session::check_soon`]) rather than at the interval, which in a
//!   large group is up to minutes away.
//!
//! A login the directory denies for what only a change of config can fix
//! (the name is another key's, the address is not this peer's own, the
//! group password is wrong or missing) is not retried: the session goes
//! offline, [`SessionState::Refused`] says why, and
//! [`Session::refusals`] hands the reason to whoever must act (`peer serve`
//! exits non-zero).
//!
//! The steps take the time as an argument and never sleep, so the logic is
//! tested step by step against a directory in this process (see
//! `crate::in_process`). Every directory call of the session happens under
//! one lock, so a login's file snapshot and the announces after it never
//! interleave with a logout.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::client::{ClientError, DirectoryApi};
use super::share::ShareTable;
use crate::id::FileId;
use crate::random::{jitter, spread};
use crate::sync::MutexExt;
use crate::wire::{Credentials, FileList, HttpAddr, SearchOutcome, SharedFile, LOGIN_FILES};

/// First retry delay after a failed login or heartbeat.
pub const LOGIN_BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay after failed logins.
pub const LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// First wait before sending again an Announce that failed.
pub const ANNOUNCE_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait before sending again an Announce that failed.
pub const ANNOUNCE_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long the thread sleeps while logged out (a login wakes it).
const IDLE: Duration = Duration::from_secs(3600);
/// Longest wait for the heartbeat [`Session::check_soon`] asks for (the
/// interval, when it is shorter); each peer waits a random part of it, so
/// that a group whose directory went away does not call in one instant.
pub const CHECK_SPREAD: Duration = Duration::from_secs(10);

/// Where the session stands, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Logged in and heartbeating.
    Online,
    /// Logged in, but the last heartbeat did not reach the directory; the
    /// text is why. (Heartbeats go on; the session is kept if it comes back
    /// before the lease lapses.)
    Unreachable(String),
    /// Trying to log in; the text is the last failure.
    Connecting(String),
    /// Logged out on request.
    Offline,
    /// The directory denied the login for a reason that retrying cannot
    /// change (the text); offline until asked to log in again.
    Refused(String),
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionState::Online => f.write_str("online"),
            SessionState::Unreachable(e) => write!(f, "directory unreachable: {e}; retrying"),
            SessionState::Offline => f.write_str("logged out"),
            SessionState::Connecting(e) => write!(f, "connecting: {e}"),
            SessionState::Refused(e) => write!(
                f,
                "offline, refused by the directory: {e} (not retrying: change the config and start again, or log in to retry)"
            ),
        }
    }
}

/// What the directory lists for this session, as far as it confirmed: for
/// each id, a fingerprint of the names and size it was announced with (a
/// share of 300,000 files would otherwise keep a second copy of every name).
type Announced = HashMap<FileId, u64>;

fn fingerprint(f: &SharedFile) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&f.name, &f.other_names, f.size).hash(&mut h);
    h.finish()
}

/// Files still to announce: what the share has and the directory has not
/// confirmed (by id: each is read from the share when it is sent), and
/// what the directory lists that the share no longer has.
#[derive(Debug, Default)]
struct Pending {
    added: Vec<FileId>,
    removed: Vec<FileId>,
}

impl Pending {
    fn between(files: &dyn FileList, announced: &Announced) -> Pending {
        let added = (0..files.count())
            .map_while(|i| files.nth(i))
            .filter(|f| announced.get(&f.id) != Some(&fingerprint(f)))
            .map(|f| f.id)
            .collect();
        let removed = announced
            .keys()
            .filter(|id| !files.has(id))
            .copied()
            .collect();
        Pending { added, removed }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

struct Inner {
    token: Option<String>,
    want_online: bool,
    heartbeat: Duration,
    next_heartbeat: Instant,
    /// Wait after the next failed login or heartbeat.
    backoff: Duration,
    last_error: Option<String>,
    /// Why the directory denied the last login, when retrying cannot help.
    denied: Option<String>,
    /// Why the last heartbeat failed, while the token is kept.
    heartbeat_error: Option<String>,
    /// What the last Login's directory said: whether it reached this peer,
    /// and where it lists it.
    reached: Option<(bool, Option<HttpAddr>)>,
    /// Most files one Announce may carry, as the directory said at login.
    per_call: usize,
    announced: Announced,
    pending: Pending,
    /// Wait after the next failed Announce.
    announce_backoff: Duration,
    /// No Announce before this, after one failed.
    announce_after: Option<Instant>,
}

impl Inner {
    /// Offline, until asked to log in again, because the directory denied
    /// the login for `why` (see [`SessionState::Refused`]).
    fn go_refused(&mut self, why: &str) {
        self.want_online = false;
        self.denied = Some(why.to_string());
    }
}

/// The session's state and its one-call steps.
pub(crate) struct Link {
    dir: Arc<dyn DirectoryApi>,
    name: String,
    http_addr: HttpAddr,
    /// The identity key (and group password) every Login carries.
    creds: Credentials,
    share: Arc<ShareTable>,
    inner: Mutex<Inner>,
    /// The share changed since the pending list was last worked out.
    changed: AtomicBool,
    /// A heartbeat is due by then, sooner than the interval (see
    /// [`Session::check_soon`]).
    check_by: Mutex<Option<Instant>>,
    /// Where a denied login's reason goes (see [`Session::refusals`]).
    denied_tx: Sender<String>,
}

impl Link {
    pub(crate) fn new(
        dir: Arc<dyn DirectoryApi>,
        name: &str,
        http_addr: &HttpAddr,
        creds: Credentials,
        share: Arc<ShareTable>,
        now: Instant,
        denied_tx: Sender<String>,
    ) -> Link {
        Link {
            dir,
            name: name.to_string(),
            http_addr: http_addr.clone(),
            creds,
            share,
            inner: Mutex::new(Inner {
                token: None,
                want_online: true,
                heartbeat: Duration::from_secs(10),
                next_heartbeat: now,
                backoff: LOGIN_BACKOFF_MIN,
                last_error: None,
                denied: None,
                heartbeat_error: None,
                reached: None,
                per_call: LOGIN_FILES as usize,
                announced: HashMap::new(),
                pending: Pending::default(),
                announce_backoff: ANNOUNCE_BACKOFF_MIN,
                announce_after: None,
            }),
            changed: AtomicBool::new(false),
            check_by: Mutex::new(None),
            denied_tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Notes that the share changed: the next step announces the difference.
    pub(crate) fn share_changed(&self) {
        self.changed.store(true, Ordering::SeqCst);
    }

    /// Heartbeats by `at` at the latest, if logged in then (a login under
    /// way or backing off goes on as it would).
    pub(crate) fn check_by(&self, at: Instant) {
        let mut by = self.check_by.locked();
        *by = Some(by.map_or(at, |b| b.min(at)));
    }

    /// The share's files, with the change flag cleared first: a change made
    /// after the snapshot sets it again and is not lost.
    fn snapshot(&self) -> Arc<dyn FileList> {
        self.changed.store(false, Ordering::SeqCst);
        self.share.files()
    }

    /// Logs in with the first files of the share; the rest become pending.
    fn login_locked(&self, inner: &mut Inner, now: Instant) -> Result<(), ClientError> {
        let files = self.snapshot();
        let first: Vec<SharedFile> = (0..files.count().min(LOGIN_FILES as usize))
            .filter_map(|i| files.nth(i))
            .collect();
        let first = first.as_slice();
        match self
            .dir
            .login(&self.name, &self.http_addr, &self.creds, first)
        {
            Ok(login) => {
                log::info!(
                    "logged in to the directory at {} as {} with {} files",
                    self.dir.addr(),
                    self.name,
                    files.count()
                );
                if !login.reachable {
                    let at = login.listed_at.as_ref().unwrap_or(&self.http_addr);
                    log::warn!(
                        "the directory cannot reach this peer at {at}: it is listed as \
                         firewalled, and others cannot download from it directly (behind NAT: \
                         forward that port to this machine; or set reachable = false to skip \
                         the check)"
                    );
                }
                crate::logging::redact(&login.token);
                inner.reached = Some((login.reachable, login.listed_at));
                inner.token = Some(login.token);
                inner.heartbeat = login.heartbeat;
                inner.next_heartbeat = now + login.heartbeat;
                inner.per_call = login.max_files_per_call.max(1);
                inner.backoff = LOGIN_BACKOFF_MIN;
                inner.last_error = None;
                inner.heartbeat_error = None;
                inner.announced = first.iter().map(|f| (f.id, fingerprint(f))).collect();
                inner.pending = Pending::between(&*files, &inner.announced);
                inner.announce_backoff = ANNOUNCE_BACKOFF_MIN;
                inner.announce_after = None;
                Ok(())
            }
            Err(e) => {
                inner.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Sends the next Announce of the pending list (removals first).
    fn announce_next(&self, inner: &mut Inner) -> Result<(), ClientError> {
        let Some(token) = inner.token.clone() else {
            return Ok(());
        };
        let p = &inner.pending;
        let r = p.removed.len().min(inner.per_call);
        let a = p.added.len().min(inner.per_call - r);
        let removed = &p.removed[p.removed.len() - r..];
        // As the share has them now; one gone meanwhile is not sent (its
        // change makes the pending list again).
        let added: Vec<SharedFile> = p.added[p.added.len() - a..]
            .iter()
            .filter_map(|id| self.share.file(id))
            .collect();
        let shared = self.dir.announce(&token, &added, removed)?;
        for id in removed {
            inner.announced.remove(id);
        }
        for f in &added {
            inner.announced.insert(f.id, fingerprint(f));
        }
        let (ra, rr) = (
            inner.pending.added.len() - a,
            inner.pending.removed.len() - r,
        );
        inner.pending.added.truncate(ra);
        inner.pending.removed.truncate(rr);
        if inner.pending.is_empty() {
            // A first announce of a big share left room for all of it.
            inner.pending = Pending::default();
            crate::peer::share::release_free_memory();
            log::info!("the directory is up to date: it lists {shared} files of this peer");
        } else {
            log::debug!("announced {a} added, {r} removed; {ra} and {rr} to go");
        }
        Ok(())
    }

    /// Does the next thing the session needs (at most one directory call:
    /// log in, else heartbeat when it is due, else announce what is
    /// pending) and returns how long to wait before the next step.
    pub(crate) fn step(&self, now: Instant) -> Duration {
        let mut inner = self.lock();
        if !inner.want_online {
            return IDLE;
        }
        if let Some(by) = self.check_by.locked().take() {
            if inner.token.is_some() && by < inner.next_heartbeat {
                inner.next_heartbeat = by;
            }
        }
        if inner.token.is_none() {
            return match self.login_locked(&mut inner, now) {
                Ok(()) => Duration::ZERO,
                Err(ClientError::Denied(why)) => self.denied(&mut inner, why),
                Err(e) => {
                    let wait = jitter(inner.backoff);
                    log::warn!("login failed: {e}; retrying in {:.1}s", wait.as_secs_f64());
                    inner.backoff = (inner.backoff * 2).min(LOGIN_BACKOFF_MAX);
                    wait
                }
            };
        }
        if now >= inner.next_heartbeat {
            let token = inner.token.clone().unwrap_or_default();
            match self.dir.heartbeat(&token) {
                Ok(asked) => {
                    if inner.heartbeat_error.take().is_some() {
                        log::info!("the directory answers again");
                    }
                    if let Some(interval) = asked.filter(|i| *i != inner.heartbeat) {
                        log::info!(
                            "the directory asks for a heartbeat every {} s from now on",
                            interval.as_secs()
                        );
                        inner.heartbeat = interval;
                    }
                    inner.backoff = LOGIN_BACKOFF_MIN;
                    inner.next_heartbeat = now + inner.heartbeat;
                }
                Err(ClientError::Unauthenticated) => return self.lost(&mut inner),
                // Nothing a retry changes (the directory shows another
                // keyprint than the one pinned): as a denied login.
                Err(ClientError::Denied(why)) => {
                    inner.token = None;
                    return self.denied(&mut inner, why);
                }
                Err(e) => {
                    // Keep the token: a directory that comes back after a
                    // network blip still knows it; one that restarted will
                    // answer UNAUTHENTICATED and we log in again.
                    let wait = jitter(inner.backoff).min(inner.heartbeat);
                    log::warn!(
                        "heartbeat failed: {e}; retrying in {:.1}s",
                        wait.as_secs_f64()
                    );
                    inner.backoff = (inner.backoff * 2).min(LOGIN_BACKOFF_MAX);
                    inner.next_heartbeat = now + wait;
                    inner.heartbeat_error = Some(e.to_string());
                }
            }
        } else if inner.announce_after.is_none_or(|t| now >= t) {
            if self.changed.load(Ordering::SeqCst) {
                let files = self.snapshot();
                inner.pending = Pending::between(&*files, &inner.announced);
            }
            if !inner.pending.is_empty() {
                match self.announce_next(&mut inner) {
                    Ok(()) => {
                        inner.announce_backoff = ANNOUNCE_BACKOFF_MIN;
                        inner.announce_after = None;
                    }
                    Err(ClientError::Unauthenticated) => return self.lost(&mut inner),
                    Err(e) => {
                        let wait = inner.announce_backoff;
                        let level = match e {
                            ClientError::Busy(_) => log::Level::Debug,
                            _ => log::Level::Warn,
                        };
                        log::log!(
                            level,
                            "announce failed: {e}; sending it again in {:.2}s",
                            wait.as_secs_f64()
                        );
                        inner.announce_after = Some(now + wait);
                        inner.announce_backoff = (wait * 2).min(ANNOUNCE_BACKOFF_MAX);
                    }
                }
            }
        }
        // Next: the heartbeat, or sooner the announces still to make.
        let mut next = inner.next_heartbeat;
        if !inner.pending.is_empty() || self.changed.load(Ordering::SeqCst) {
            next = next.min(inner.announce_after.unwrap_or(now));
        }
        next.saturating_duration_since(now)
    }

    /// The directory denied the login for good: offline, said once, and
    /// handed to [`Session::refusals`].
    fn denied(&self, inner: &mut Inner, why: String) -> Duration {
        // Said once, by whoever acts on it (`peer serve` exits with it, the
        // menu shows it above its prompt).
        log::debug!(
            "the directory at {} refuses this peer: {why}",
            self.dir.addr()
        );
        inner.go_refused(&why);
        let _ = self.denied_tx.try_send(why);
        IDLE
    }

    /// The directory no longer knows the session: log in again at once.
    fn lost(&self, inner: &mut Inner) -> Duration {
        log::warn!(
            "the directory no longer knows this session (restarted, or the lease lapsed): logging in again"
        );
        inner.token = None;
        Duration::ZERO
    }

    pub(crate) fn state(&self) -> SessionState {
        let inner = self.lock();
        match (&inner.token, inner.want_online) {
            (Some(_), _) => match &inner.heartbeat_error {
                None => SessionState::Online,
                Some(e) => SessionState::Unreachable(e.clone()),
            },
            (None, true) => SessionState::Connecting(
                inner
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "logging in".into()),
            ),
            (None, false) => match &inner.denied {
                Some(why) => SessionState::Refused(why.clone()),
                None => SessionState::Offline,
            },
        }
    }

    /// Whether the directory reached this peer at its last Login, and
    /// where it lists it (`None` before a Login).
    pub(crate) fn reached(&self) -> Option<(bool, Option<HttpAddr>)> {
        self.lock().reached.clone()
    }

    /// Files the directory has not confirmed yet (added or removed).
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        let inner = self.lock();
        inner.pending.added.len() + inner.pending.removed.len()
    }
}

/// The session and its thread.
pub struct Session {
    link: Arc<Link>,
    wake: Sender<bool>,
    denied: Receiver<String>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    /// Starts the session thread, which logs in at once.
    pub fn start(
        dir: Arc<dyn DirectoryApi>,
        name: &str,
        http_addr: &HttpAddr,
        creds: Credentials,
        share: Arc<ShareTable>,
    ) -> Session {
        let (denied_tx, denied) = bounded(1);
        let link = Arc::new(Link::new(
            dir,
            name,
            http_addr,
            creds,
            share,
            Instant::now(),
            denied_tx,
        ));
        let (wake, rx) = bounded::<bool>(4);
        let thread_link = link.clone();
        let thread = std::thread::Builder::new()
            .name("directory-session".into())
            .spawn(move || run(&thread_link, &rx))
            .expect("spawn the session thread");
        Session {
            link,
            wake,
            denied,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Where the session stands.
    pub fn state(&self) -> SessionState {
        self.link.state()
    }

    /// Receives why the directory denied a login for good, each time it
    /// does (the session is offline then; see [`SessionState::Refused`]).
    pub fn refusals(&self) -> Receiver<String> {
        self.denied.clone()
    }

    /// Whether the directory reached this peer at its last Login, and
    /// where it lists it (`None` before a Login).
    pub fn reached(&self) -> Option<(bool, Option<HttpAddr>)> {
        self.link.reached()
    }

    /// How often the directory asked this peer to heartbeat (before a
    /// login: the interval a session starts with).
    pub fn heartbeat_interval(&self) -> Duration {
        self.link.lock().heartbeat
    }

    /// The session token, when logged in.
    pub fn token(&self) -> Option<String> {
        self.link.lock().token.clone()
    }

    /// Searches the directory, as this peer's session when it has one (the
    /// directory's flood limits then count it against the session, not
    /// against this peer's address); needs no session.
    pub fn search(&self, query: &str, limit: u32) -> Result<SearchOutcome, ClientError> {
        let token = self.token();
        self.link.dir.search(query, limit, token.as_deref())
    }

    /// Logs in now (replacing the current session) and keeps the session
    /// alive; the files beyond the first call follow from the thread.
    pub fn login(&self) -> Result<(), ClientError> {
        let mut inner = self.link.lock();
        inner.want_online = true;
        inner.denied = None;
        let r = self.link.login_locked(&mut inner, Instant::now());
        if let Err(ClientError::Denied(why)) = &r {
            inner.go_refused(why);
        }
        drop(inner);
        // Let the thread announce the rest, or retry.
        let _ = self.wake.try_send(true);
        r
    }

    /// Logs out: the directory forgets this peer's files at once, and the
    /// session stays offline until [`login`](Self::login).
    pub fn logout(&self) -> Result<(), ClientError> {
        let mut inner = self.link.lock();
        inner.want_online = false;
        inner.announced.clear();
        inner.pending = Pending::default();
        let r = match inner.token.take() {
            Some(token) => self.link.dir.logout(&token).map(|()| {
                log::info!("logged out of the directory");
            }),
            None => Ok(()),
        };
        drop(inner);
        let _ = self.wake.try_send(true);
        r
    }

    /// The directory may have forgotten this session (the notice stream it
    /// held ended: it stopped, or restarted): heartbeat within a random
    /// part of [`CHECK_SPREAD`] (or of the interval, when shorter) instead
    /// of at the interval, and log in again at once if it no longer knows
    /// the session. Does nothing while not logged in.
    pub fn check_soon(&self) {
        let within = CHECK_SPREAD.min(self.heartbeat_interval());
        self.link.check_by(Instant::now() + spread(within));
        let _ = self.wake.try_send(true);
    }

    /// The share changed: the session thread announces the difference (or,
    /// when offline, the next login carries it).
    pub fn share_changed(&self) {
        self.link.share_changed();
        let _ = self.wake.try_send(true);
    }

    /// Logs out (bounded by the call deadline) and joins the thread,
    /// raising its panic if it panicked. Later calls do nothing.
    pub fn shutdown(&self) {
        if let Err(panicked) = self.stop() {
            panicked.raise();
        }
    }

    /// [`shutdown`](Self::shutdown), handing a panic of the thread to the
    /// caller (to raise once the rest of the peer is down).
    pub(crate) fn stop(&self) -> Result<(), crate::sync::Panicked> {
        let Some(thread) = self.thread.locked().take() else {
            return Ok(());
        };
        if let Err(e) = self.logout() {
            log::warn!("logout on shutdown failed: {e}");
        }
        let _ = self.wake.send(false);
        crate::sync::join(thread)
    }
}

fn run(link: &Link, wake: &Receiver<bool>) {
    let mut wait = Duration::ZERO;
    loop {
        match wake.recv_timeout(wait) {
            Ok(false) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(true) | Err(RecvTimeoutError::Timeout) => wait = link.step(Instant::now()),
        }
    }
}
