//! Who may read from a peer of a closed group (one with a group password):
//! a live member, or someone who gives the password.
//!
//! - **A member's peer** shows its client certificate (TLS) and names
//!   itself in `X-Hubshare-Peer`; it is let in when the directory lists a
//!   live member of that name with that certificate's keyprint. The
//!   answer is asked of the directory once and kept for this peer's
//!   heartbeat interval (an absence for a second), so a member that logs
//!   out, loses its lease or is removed loses access within one heartbeat
//!   interval, without a round trip per request. At most 50 questions a
//!   second go to the directory, so names made up per request cost it
//!   nothing more.
//! - **A browser or curl** gives the password as HTTP Basic credentials
//!   (any user name: `curl -u :PASSWORD`), over TLS unless the peer runs
//!   with `tls = false`, where peers prove membership that way too.
//!
//! A refusal is a 401 that says what is missing (with a Basic challenge,
//! so a browser asks for the password), never what this peer shares.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tiny_http::Request;

use super::host::Host;
use super::respond::request_header;
use crate::names::check_peer_name;
use crate::sync::MutexExt;
use crate::wire::{KeyPrint, PEER_HEADER};

/// How long the directory's "not online" is believed.
const ABSENT_TTL: Duration = Duration::from_secs(1);
/// Most members' answers kept at once (beyond: the stale ones go, then all).
const MAX_KEPT: usize = 4096;
/// Most questions asked of the directory in one second: a client making up
/// a new name for every request costs the directory no more than this.
const MAX_ASKS_PER_SEC: u32 = 50;

/// The challenge a refusal carries.
pub(super) const CHALLENGE: &str = "Basic realm=\"hubshare group\", charset=\"UTF-8\"";

/// The directory's recent answers: name -> the keyprint it listed (`None`:
/// not online), and when it was asked.
#[derive(Default)]
pub(super) struct Members {
    answers: Mutex<HashMap<String, (Option<KeyPrint>, Instant)>>,
    asks: Mutex<Asks>,
}

/// Questions to the directory in the current one-second window.
#[derive(Default)]
struct Asks {
    since: Option<Instant>,
    asked: u32,
}

impl Asks {
    /// Whether one more question may be asked at `now`.
    fn allow(&mut self, now: Instant) -> bool {
        let fresh = self
            .since
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        if !fresh {
            self.since = Some(now);
            self.asked = 0;
        }
        if self.asked >= MAX_ASKS_PER_SEC {
            return false;
        }
        self.asked += 1;
        true
    }
}

impl Members {
    /// The keyprint the directory lists for `name`, from an answer younger
    /// than `ttl` (an absence: younger than a second), else asked now.
    fn listed(
        &self,
        host: &dyn Host,
        name: &str,
        now: Instant,
    ) -> Result<Option<KeyPrint>, String> {
        let ttl = host.membership_ttl();
        if let Some((kp, asked)) = self.answers.locked().get(name) {
            let fresh = if kp.is_some() {
                ttl
            } else {
                ttl.min(ABSENT_TTL)
            };
            if now.saturating_duration_since(*asked) < fresh {
                return Ok(*kp);
            }
        }
        if !self.asks.locked().allow(now) {
            return Err("this peer is asking the directory about many names at once".into());
        }
        // Asked without the lock: a slow directory holds only this request.
        let kp = host.member(name)?;
        let mut answers = self.answers.locked();
        if answers.len() >= MAX_KEPT {
            answers.retain(|_, (_, asked)| now.saturating_duration_since(*asked) < ttl);
            if answers.len() >= MAX_KEPT {
                answers.clear();
            }
        }
        answers.insert(name.to_string(), (kp, now));
        Ok(kp)
    }
}

/// Whether `rq` may be answered: `Ok` in an open group, for the password,
/// and for a live member's peer; else why not, for the 401.
pub(super) fn admit(
    host: &dyn Host,
    members: &Members,
    rq: &Request,
    now: Instant,
) -> Result<(), String> {
    let Some(password) = host.group_password() else {
        return Ok(());
    };
    if let Some(offered) = basic_password(rq) {
        if password.matches(&offered) {
            return Ok(());
        }
        return Err("wrong group password".to_string());
    }
    let closed = "this group is closed: its peers serve members only";
    let how = "give the group password (curl -u :PASSWORD, or the browser's login box)";
    let Some(kp) = rq
        .client_certificate()
        .and_then(|c| crate::tls::keyprint_of(c).ok())
    else {
        return Err(format!("{closed}; {how}"));
    };
    let Some(name) = request_header(rq, PEER_HEADER).filter(|n| check_peer_name(n).is_ok()) else {
        return Err(format!(
            "{closed}; a member's peer names itself in {PEER_HEADER}, or {how}"
        ));
    };
    match members.listed(host, name, now) {
        Ok(Some(listed)) if listed == kp => Ok(()),
        Ok(Some(_)) => Err(format!(
            "{closed}; the member {name} is online with another certificate than this one"
        )),
        Ok(None) => Err(format!(
            "{closed}; {name} is not logged in to the group's directory (start `peer serve`, \
             or log in from the menu, with the group password in its config)"
        )),
        Err(e) => Err(format!(
            "{closed}; the directory cannot confirm that {name} is a member now ({e}): try again"
        )),
    }
}

/// The password of `Authorization: Basic ...` (whatever the user name).
fn basic_password(rq: &Request) -> Option<String> {
    let value = request_header(rq, "Authorization")?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(crate::base64::decode(encoded.trim())?).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_asked_at_most_so_often_a_second() {
        let mut asks = Asks::default();
        let t0 = Instant::now();
        for _ in 0..MAX_ASKS_PER_SEC {
            assert!(asks.allow(t0));
        }
        assert!(!asks.allow(t0));
        assert!(!asks.allow(t0 + Duration::from_millis(999)));
        // A new second: as many again.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..MAX_ASKS_PER_SEC {
            assert!(asks.allow(t1));
        }
        assert!(!asks.allow(t1));
    }
}
