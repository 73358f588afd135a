//! A peer's session with the directory, kept alive by a named background
//! thread: it logs in (retrying with capped, jittered backoff while the
//! directory is unreachable), heartbeats, and logs in again by itself when the
//! directory answers `UNAUTHENTICATED` (it restarted, or the lease lapsed).
//! Every directory call of the session goes through one lock, so an announce
//! can never slip between a login's file snapshot and its reply.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::client::{ClientError, Directory};
use crate::share::{Change, ShareTable};

/// First retry delay after a failed login.
pub const LOGIN_BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay after failed logins.
pub const LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where the session stands, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Logged in and heartbeating.
    Online,
    /// Trying to log in; the text is the last failure.
    Connecting(String),
    /// Logged out on request.
    Offline,
}

struct Inner {
    token: Option<String>,
    want_online: bool,
    heartbeat: Duration,
    backoff: Duration,
    last_error: Option<String>,
}

struct Shared {
    dir: Directory,
    name: String,
    http_addr: String,
    share: Arc<ShareTable>,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs in with the full file list; the caller holds the lock.
    fn login_locked(&self, inner: &mut Inner) -> Result<(), ClientError> {
        let files = self.share.files();
        match self.dir.login(&self.name, &self.http_addr, &files) {
            Ok(login) => {
                log::info!(
                    "logged in to the directory at {} as {} with {} files",
                    self.dir.addr(),
                    self.name,
                    files.len()
                );
                inner.token = Some(login.token);
                inner.heartbeat = login.heartbeat;
                inner.backoff = LOGIN_BACKOFF_MIN;
                inner.last_error = None;
                Ok(())
            }
            Err(e) => {
                inner.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// One step of the background loop; returns how long to sleep.
    fn tick(&self) -> Duration {
        let mut inner = self.lock();
        if !inner.want_online {
            return Duration::from_secs(3600);
        }
        if let Some(token) = inner.token.clone() {
            match self.dir.heartbeat(&token) {
                Ok(()) => {
                    inner.backoff = LOGIN_BACKOFF_MIN;
                    return inner.heartbeat;
                }
                Err(ClientError::Unauthenticated) => {
                    log::warn!("the directory no longer knows this session (restarted, or the lease lapsed): logging in again");
                    inner.token = None;
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
                    return wait;
                }
            }
        }
        match self.login_locked(&mut inner) {
            Ok(()) => inner.heartbeat,
            Err(e) => {
                let wait = jitter(inner.backoff);
                log::warn!("login failed: {e}; retrying in {:.1}s", wait.as_secs_f64());
                inner.backoff = (inner.backoff * 2).min(LOGIN_BACKOFF_MAX);
                wait
            }
        }
    }
}

/// A random delay between 75% and 125% of `d`, so peers that lost the
/// directory together do not all come back in the same instant.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = match getrandom::getrandom(&mut b) {
        Ok(()) => u16::from_le_bytes(b) as f64 / u16::MAX as f64,
        Err(_) => 0.5,
    };
    d.mul_f64(0.75 + r * 0.5)
}

/// The session and its thread.
pub struct Session {
    shared: Arc<Shared>,
    wake: Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    /// Starts the session thread, which logs in at once.
    pub fn start(dir: Directory, name: &str, http_addr: &str, share: Arc<ShareTable>) -> Session {
        let shared = Arc::new(Shared {
            dir,
            name: name.to_string(),
            http_addr: http_addr.to_string(),
            share,
            inner: Mutex::new(Inner {
                token: None,
                want_online: true,
                heartbeat: Duration::from_secs(10),
                backoff: LOGIN_BACKOFF_MIN,
                last_error: None,
            }),
        });
        let (wake, rx) = bounded::<bool>(4);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("directory-session".into())
            .spawn(move || run(&thread_shared, &rx))
            .expect("spawn the session thread");
        Session {
            shared,
            wake,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Where the session stands.
    pub fn state(&self) -> SessionState {
        let inner = self.shared.lock();
        match (&inner.token, inner.want_online) {
            (Some(_), _) => SessionState::Online,
            (None, true) => SessionState::Connecting(
                inner
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "logging in".into()),
            ),
            (None, false) => SessionState::Offline,
        }
    }

    /// The session token, when logged in.
    pub fn token(&self) -> Option<String> {
        self.shared.lock().token.clone()
    }

    /// Logs in now (replacing the current session) and keeps the session alive.
    pub fn login(&self) -> Result<(), ClientError> {
        let mut inner = self.shared.lock();
        inner.want_online = true;
        let r = self.shared.login_locked(&mut inner);
        drop(inner);
        // Let the thread pick up the new heartbeat interval or retry.
        let _ = self.wake.try_send(true);
        r
    }

    /// Logs out: the directory forgets this peer's files at once, and the
    /// session stays offline until [`login`](Self::login).
    pub fn logout(&self) -> Result<(), ClientError> {
        let mut inner = self.shared.lock();
        inner.want_online = false;
        let r = match inner.token.take() {
            Some(token) => self.shared.dir.logout(&token).map(|()| {
                log::info!("logged out of the directory");
            }),
            None => Ok(()),
        };
        drop(inner);
        let _ = self.wake.try_send(true);
        r
    }

    /// Tells the directory about a change in the share. When offline the
    /// change rides along with the next login, which sends the full list.
    pub fn announce(&self, change: &Change) {
        if change.is_empty() {
            return;
        }
        let mut inner = self.shared.lock();
        let Some(token) = inner.token.clone() else {
            return;
        };
        match self
            .shared
            .dir
            .announce(&token, &change.added, &change.removed)
        {
            Ok(n) => log::info!(
                "announced {} added, {} removed; sharing {n} files",
                change.added.len(),
                change.removed.len()
            ),
            Err(ClientError::Unauthenticated) => {
                inner.token = None;
                drop(inner);
                let _ = self.wake.try_send(true);
            }
            Err(e) => log::warn!("announce failed: {e}; the next login will carry it"),
        }
    }

    /// Logs out (bounded by the call deadline) and joins the thread. Later
    /// calls do nothing.
    pub fn shutdown(&self) {
        let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        if let Err(e) = self.logout() {
            log::warn!("logout on shutdown failed: {e}");
        }
        let _ = self.wake.send(false);
        let _ = thread.join();
    }
}

fn run(shared: &Shared, wake: &Receiver<bool>) {
    let mut wait = Duration::ZERO;
    loop {
        match wake.recv_timeout(wait) {
            Ok(false) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(true) | Err(RecvTimeoutError::Timeout) => wait = shared.tick(),
        }
    }
}
