//! A byte-rate cap shared by the threads that move bytes through it (the
//! relay's sessions, a peer's downloads): a token bucket holding at most a
//! second's worth.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::MutexExt;

/// At most `rate` bytes per second through [`Pace::take`] (0: no cap).
#[derive(Debug)]
pub struct Pace {
    rate: u64,
    bucket: Mutex<(f64, Instant)>,
}

impl Pace {
    pub fn new(rate: u64) -> Pace {
        Pace {
            rate,
            bucket: Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// How long to wait before sending `n` bytes (they are counted now).
    pub fn take(&self, n: usize, now: Instant) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let rate = self.rate as f64;
        let mut b = self.bucket.locked();
        let (level, at) = *b;
        let level = (level + now.saturating_duration_since(at).as_secs_f64() * rate).min(rate);
        let left = level - n as f64;
        *b = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_bytes_passes_then_the_rest_waits_its_turn() {
        let t = Instant::now();
        let p = Pace::new(1000);
        assert_eq!(p.take(1000, t), Duration::ZERO);
        assert_eq!(p.take(500, t), Duration::from_millis(500));
        // Half a second later the debt is paid: the next 500 wait 0.5 s.
        let later = t + Duration::from_millis(500);
        assert_eq!(p.take(500, later), Duration::from_millis(500));
        assert_eq!(Pace::new(0).take(1 << 30, t), Duration::ZERO);
    }
}
