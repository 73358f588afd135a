//! Keeping a peer owner in control of their link: a token bucket shared by
//! every transfer a peer serves (`upload_rate_limit`), and a counter of
//! upload slots (`upload_slots`) beyond which requests are turned away with
//! 503 and `Retry-After`. The bucket's arithmetic takes the time as an
//! argument, so it is tested without sleeping.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::MutexExt;

/// Largest read a throttled transfer makes at once, so many transfers share
/// the bucket smoothly.
const MAX_SLICE: usize = 64 * 1024;

/// A token bucket: `rate` bytes per second, bursts of up to `burst` bytes.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        let burst = (rate as f64 / 10.0).max(MAX_SLICE as f64);
        TokenBucket {
            rate: rate as f64,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `n` bytes' worth of tokens, going into debt if need be, and says
    /// how long the caller must wait before sending them.
    pub fn reserve(&mut self, n: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// A bucket shared between threads.
pub type SharedBucket = Arc<Mutex<TokenBucket>>;

/// A reader that paces what it yields through a shared bucket.
pub struct Throttled<R> {
    inner: R,
    bucket: SharedBucket,
}

impl<R> Throttled<R> {
    pub fn new(inner: R, bucket: SharedBucket) -> Throttled<R> {
        Throttled { inner, bucket }
    }
}

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(MAX_SLICE);
        let n = self.inner.read(&mut buf[..want])?;
        if n > 0 {
            let wait = self.bucket.locked().reserve(n, Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        Ok(n)
    }
}

/// Counts transfers in progress against a maximum.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    used: AtomicUsize,
}

/// A taken slot; given back when dropped.
pub struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max,
            used: AtomicUsize::new(0),
        }
    }

    /// A slot, or `None` when all are taken.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if used >= self.max {
                return None;
            }
            match self
                .used
                .compare_exchange(used, used + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(Slot(self)),
                Err(now) => used = now,
            }
        }
    }

    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_paces_to_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1_000_000, t0);
        // The burst (100 KB) goes at once; the next 100 KB waits 0.1 s.
        assert_eq!(b.reserve(100_000, t0), Duration::ZERO);
        let wait = b.reserve(100_000, t0);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // A second later the debt is paid and the burst refilled, no more.
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(b.reserve(100_000, t1), Duration::ZERO);
        assert!(b.reserve(1, t1) > Duration::ZERO);
        // Sending 10 MB through it takes 10 s of bucket time.
        let mut b = TokenBucket::new(1_000_000, t0);
        let mut now = t0;
        for _ in 0..160 {
            now += b.reserve(65_536, now);
        }
        let secs = (now - t0).as_secs_f64();
        assert!((10.3..10.6).contains(&secs), "{secs}");
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let s = Slots::new(2);
        let a = s.try_take().unwrap();
        let b = s.try_take().unwrap();
        assert!(s.try_take().is_none());
        drop(a);
        assert_eq!(s.in_use(), 1);
        assert!(s.try_take().is_some());
        drop(b);
        assert_eq!(s.in_use(), 0);
    }
}
