//! The owner of a running peer, signed in on its own page: by the
//! password whose hash is in the config (`web_password_hash`), or by a
//! one-time link that `peer web-login` prints (through the control
//! routes). A sign-in is a session: a random token in a cookie that is
//! `HttpOnly`, `Secure` and `SameSite=Strict` (named `__Host-`, so that
//! it is also tied to this origin and path `/`), and a second random
//! token, tied to the session, that every form that changes something
//! carries. Only tokens' use is checked: a session is looked up by its
//! cookie, and its form token compared in constant time.
//!
//! Wrong passwords are slowed down: after [`FREE_TRIES`] in a row, every
//! further attempt (right or wrong) is refused for a while that doubles
//! with each wrong one, up to [`MAX_PAUSE`]; the one-time link still
//! works meanwhile, so a guesser cannot lock the owner out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tiny_http::Request;

use crate::passhash::PasswordHash;
use crate::random::random_hex;
use crate::sync::MutexExt;

/// The session cookie.
pub const COOKIE: &str = "__Host-hubshare-owner";
/// A session unused this long ends.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A one-time sign-in link works this long.
pub const LINK_LIFE: Duration = Duration::from_secs(600);
/// Wrong passwords in a row before attempts are slowed down.
pub const FREE_TRIES: u32 = 5;
/// The first pause after them; each further wrong one doubles it.
pub const FIRST_PAUSE: Duration = Duration::from_secs(30);
/// The longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(900);
/// Sessions kept at once (the least recently used goes first).
const MAX_SESSIONS: usize = 32;
/// One-time links kept at once.
const MAX_LINKS: usize = 16;

/// A signed-in owner's session, as a request shows it.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The token every changing form must carry.
    pub form_token: String,
}

/// Why a sign-in was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The config has no `web_password_hash`.
    NoPassword,
    Wrong,
    /// Too many wrong passwords: try again after this long.
    Slowed(Duration),
}

struct Session {
    form_token: String,
    used: Instant,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    links: HashMap<String, Instant>,
    wrong: u32,
    /// Until when attempts are refused.
    paused_until: Option<Instant>,
}

/// Every owner session of this peer (see the module doc).
#[derive(Default)]
pub struct Owner {
    inner: Mutex<Inner>,
}

impl Owner {
    /// The session `rq`'s cookie names, if it is live (and marks it used).
    pub fn session(&self, rq: &Request, now: Instant) -> Option<Signed> {
        let token = cookie(rq, COOKIE)?;
        let mut inner = self.inner.locked();
        inner
            .sessions
            .retain(|_, s| now.duration_since(s.used) < SESSION_IDLE);
        let s = inner.sessions.get_mut(token)?;
        s.used = now;
        Some(Signed {
            form_token: s.form_token.clone(),
        })
    }

    /// Whether `given` is the form token of `rq`'s live session.
    pub fn form_ok(&self, rq: &Request, given: &str, now: Instant) -> bool {
        self.session(rq, now).is_some_and(|s| {
            crate::passhash::constant_time_eq(s.form_token.as_bytes(), given.as_bytes())
        })
    }

    /// Signs in with `password` against `hash`: the new session's cookie
    /// token.
    pub fn sign_in(
        &self,
        hash: Option<&str>,
        password: &str,
        now: Instant,
    ) -> Result<String, Refused> {
        let hash = hash
            .and_then(|h| PasswordHash::parse(h).ok())
            .ok_or(Refused::NoPassword)?;
        {
            let inner = self.inner.locked();
            if let Some(until) = inner.paused_until.filter(|u| *u > now) {
                return Err(Refused::Slowed(until - now));
            }
        }
        // The slow hash runs without the lock held.
        let right = hash.verify(password);
        let mut inner = self.inner.locked();
        if !right {
            inner.wrong += 1;
            if inner.wrong >= FREE_TRIES {
                let doublings = (inner.wrong - FREE_TRIES).min(10);
                let pause = (FIRST_PAUSE * 2u32.pow(doublings)).min(MAX_PAUSE);
                inner.paused_until = Some(now + pause);
                log::warn!(
                    "owner sign-in: {} wrong passwords in a row; sign-ins refused for {} s",
                    inner.wrong,
                    pause.as_secs()
                );
            } else {
                log::info!("owner sign-in: wrong password");
            }
            return Err(Refused::Wrong);
        }
        inner.wrong = 0;
        inner.paused_until = None;
        log::info!("owner signed in (password)");
        Ok(new_session(&mut inner, now))
    }

    /// A new one-time sign-in token (for `peer web-login`).
    pub fn link(&self, now: Instant) -> String {
        let mut inner = self.inner.locked();
        inner
            .links
            .retain(|_, made| now.duration_since(*made) < LINK_LIFE);
        if inner.links.len() >= MAX_LINKS {
            let oldest = inner
                .links
                .iter()
                .min_by_key(|(_, m)| **m)
                .map(|(t, _)| t.clone());
            if let Some(t) = oldest {
                inner.links.remove(&t);
            }
        }
        let token = random_hex(32);
        crate::logging::redact(&token);
        inner.links.insert(token.clone(), now);
        token
    }

    /// Signs in with a one-time link's token (used up by this); the new
    /// session's cookie token.
    pub fn sign_in_by_link(&self, token: &str, now: Instant) -> Option<String> {
        let mut inner = self.inner.locked();
        let made = inner.links.remove(token)?;
        if now.duration_since(made) >= LINK_LIFE {
            return None;
        }
        log::info!("owner signed in (one-time link)");
        Some(new_session(&mut inner, now))
    }

    /// Ends `rq`'s session.
    pub fn sign_out(&self, rq: &Request) {
        if let Some(token) = cookie(rq, COOKIE) {
            self.inner.locked().sessions.remove(token);
        }
    }
}

fn new_session(inner: &mut Inner, now: Instant) -> String {
    if inner.sessions.len() >= MAX_SESSIONS {
        let oldest = inner
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.used)
            .map(|(t, _)| t.clone());
        if let Some(t) = oldest {
            inner.sessions.remove(&t);
        }
    }
    let token = random_hex(32);
    crate::logging::redact(&token);
    let form_token = random_hex(32);
    crate::logging::redact(&form_token);
    inner.sessions.insert(
        token.clone(),
        Session {
            form_token,
            used: now,
        },
    );
    token
}

/// The `Set-Cookie` value that gives a browser session `token`.
pub fn session_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_IDLE.as_secs()
    )
}

/// The `Set-Cookie` value that ends a browser's session.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in `rq`, if it sent one.
fn cookie<'a>(rq: &'a Request, name: &str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .filter(|h| h.field.equiv("Cookie"))
        .flat_map(|h| h.value.as_str().split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_wrong_passwords_pause_sign_ins_and_a_link_still_works() {
        let owner = Owner::default();
        let hash = PasswordHash::new("open sesame").to_string();
        let t0 = Instant::now();
        assert_eq!(owner.sign_in(None, "x", t0), Err(Refused::NoPassword));
        for _ in 0..FREE_TRIES {
            assert_eq!(owner.sign_in(Some(&hash), "guess", t0), Err(Refused::Wrong));
        }
        // Even the right one waits now.
        assert!(matches!(
            owner.sign_in(Some(&hash), "open sesame", t0 + Duration::from_secs(1)),
            Err(Refused::Slowed(d)) if d > Duration::from_secs(25)
        ));
        let link = owner.link(t0);
        assert!(owner.sign_in_by_link(&link, t0).is_some());
        assert!(owner.sign_in_by_link(&link, t0).is_none(), "used once");
        let later = t0 + FIRST_PAUSE + Duration::from_secs(1);
        assert!(owner.sign_in(Some(&hash), "open sesame", later).is_ok());
        // An old link does nothing.
        let old = owner.link(t0);
        assert!(owner.sign_in_by_link(&old, t0 + LINK_LIFE).is_none());
    }
}
