//! Keeping a peer owner in control of their link: a token bucket shared by
//! every transfer a peer serves (`upload_rate_limit`), and, for each
//! downloader being served, a bucket of its own at an equal share of that
//! rate (see `queue.rs`). The bucket's arithmetic takes the time as an
//! argument, so it is tested without sleeping.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
        let mut bucket = TokenBucket {
            rate: 0.0,
            burst: 0.0,
            tokens: 0.0,
            last: now,
        };
        bucket.set_rate(rate);
        bucket.tokens = bucket.burst;
        bucket
    }

    /// Changes the rate (keeping what is saved up or owed); the burst is a
    /// tenth of a second's worth, at least one read.
    pub fn set_rate(&mut self, rate: u64) {
        self.rate = rate.max(1) as f64;
        self.burst = (self.rate / 10.0).max(MAX_SLICE as f64);
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

/// A downloader's own bucket, how many downloaders share the cap now, and
/// the cap.
pub type Share = (SharedBucket, Arc<AtomicUsize>, u64);

/// A reader that paces what it yields through the peer's bucket and the
/// downloader's share of it, and counts what it yields.
pub struct Throttled<R> {
    inner: R,
    bucket: Option<SharedBucket>,
    share: Option<Share>,
    sent: Option<Arc<AtomicU64>>,
}

impl<R> Throttled<R> {
    pub fn new(
        inner: R,
        bucket: SharedBucket,
        share: Option<Share>,
        sent: Option<Arc<AtomicU64>>,
    ) -> Throttled<R> {
        Throttled {
            inner,
            bucket: Some(bucket),
            share,
            sent,
        }
    }

    /// No pacing; only counting.
    pub fn unpaced(inner: R, sent: Option<Arc<AtomicU64>>) -> Throttled<R> {
        Throttled {
            inner,
            bucket: None,
            share: None,
            sent,
        }
    }
}

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let paced = self.bucket.is_some() || self.share.is_some();
        // Paced reads are sliced so the wait after each stays short.
        let want = if paced {
            buf.len().min(MAX_SLICE)
        } else {
            buf.len()
        };
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(0);
        }
        if let Some(sent) = &self.sent {
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        if !paced {
            return Ok(n);
        }
        let now = Instant::now();
        let mut wait = match &self.bucket {
            Some(b) => b.locked().reserve(n, now),
            None => Duration::ZERO,
        };
        if let Some((own, sharing, cap)) = &self.share {
            let mut own = own.locked();
            own.set_rate(cap / sharing.load(Ordering::Relaxed).max(1) as u64);
            wait = wait.max(own.reserve(n, now));
        }
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        Ok(n)
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
}
