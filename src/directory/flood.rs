//! Flood limits: how many calls of a kind one caller may make per second,
//! with a burst. A caller is a session's peer when the call carries a valid
//! token, else the client's address; Logins count per address, and the
//! searches of all sessions of one address share a ceiling too. Each allowance is a small token bucket
//! whose arithmetic takes the time as an argument, so it is tested without
//! sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::store::DirError;
use crate::sync::MutexExt;

/// Flood limits: calls per second and burst, per session (or per client
/// address for calls without a valid token).
#[derive(Debug, Clone, Copy)]
pub struct FloodLimits {
    pub search_rate: u32,
    pub search_burst: u32,
    pub announce_rate: u32,
    pub announce_burst: u32,
    /// Logins per second per client address, and their burst.
    pub login_rate: u32,
    pub login_burst: u32,
    /// Searches per second per client address, all its sessions together.
    pub address_search_rate: u32,
    pub address_search_burst: u32,
}

/// Callers' allowances for one kind of call.
pub struct Allowances {
    rate: u32,
    burst: u32,
    what: &'static str,
    map: Mutex<HashMap<String, Allowance>>,
}

/// Forget callers whose allowance is full again once the map is this big.
const PRUNE_AT: usize = 10_000;

impl Allowances {
    pub fn new(rate: u32, burst: u32, what: &'static str) -> Allowances {
        Allowances {
            rate,
            burst,
            what,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `key`'s allowance, or says why it cannot.
    pub fn check(&self, key: String) -> Result<(), DirError> {
        let now = Instant::now();
        let mut map = self.map.locked();
        if map.len() >= PRUNE_AT {
            map.retain(|_, a| !a.is_full(now));
        }
        let allowed = map
            .entry(key)
            .or_insert_with(|| Allowance::new(self.rate, self.burst, now))
            .try_take(now);
        if allowed {
            Ok(())
        } else {
            Err(DirError::Exhausted(format!(
                "too many {} calls: at most {} a second (bursts of {}); slow down and retry",
                self.what, self.rate, self.burst
            )))
        }
    }
}

/// A call allowance: `rate` calls per second, bursts of `burst`. Unlike the
/// byte bucket it never goes into debt: a call either fits or is refused.
#[derive(Debug, Clone)]
pub struct Allowance {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Allowance {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Allowance {
        Allowance {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            tokens: burst.max(1) as f64,
            last: now,
        }
    }

    /// Takes one call's worth; false when the allowance is used up.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether it is full again (nothing to remember about this caller).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allowance_refuses_past_the_burst_and_refills() {
        let t0 = Instant::now();
        let mut a = Allowance::new(10, 3, t0);
        assert!(a.try_take(t0) && a.try_take(t0) && a.try_take(t0));
        assert!(!a.try_take(t0));
        assert!(!a.try_take(t0 + Duration::from_millis(50)));
        assert!(a.try_take(t0 + Duration::from_millis(150)));
        assert!(!a.is_full(t0 + Duration::from_millis(150)));
        assert!(a.is_full(t0 + Duration::from_secs(1)));
    }
}
