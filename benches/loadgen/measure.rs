//! Measuring: an open-loop schedule, percentiles, announce latency.

use std::time::{Duration, Instant};

use hubshare::proto::directory as pb;

use super::*;

/// The p50 and p99 of `n` Announce calls of one session, one at a time
/// (each adds a file and removes it again), in milliseconds.
pub fn announce_latency(addr: &str, n: usize) -> (f64, f64) {
    let c = client(addr);
    let login = c
        .login(&pb::LoginRequest {
            name: "writer".into(),
            http_addr: "http://127.0.0.1:9".into(),
            identity_key: hubshare::IdentityKey::generate().expose().to_string(),
            ..Default::default()
        })
        .expect("login of the writer");
    let file = pb::SharedFile {
        id: blake3::hash(b"writer's file").to_hex().to_string(),
        size: 13,
        name: "writer's file.txt".into(),
        ..Default::default()
    };
    let mut took: Vec<f64> = (0..n)
        .map(|i| {
            let mut req = pb::AnnounceRequest {
                token: login.token.clone(),
                ..Default::default()
            };
            if i % 2 == 0 {
                req.added.push(file.clone());
            } else {
                req.removed.push(file.id.clone());
            }
            let t = Instant::now();
            c.announce(&req).expect("announce");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    took.sort_by(f64::total_cmp);
    (took[n / 2], took[n * 99 / 100])
}

/// Open loop: the `n`th search of a thread is due at `began + n * interval`,
/// whenever the ones before it returned, so a slow answer also charges the
/// searches queued behind it.
pub struct Schedule {
    pub began: Instant,
    pub interval: Duration,
}

impl Schedule {
    /// Thread `k` of `threads` sharing `rate` searches a second, staggered.
    pub fn new(rate: f64, threads: usize, k: usize) -> Schedule {
        let interval = Duration::from_secs_f64(threads as f64 / rate);
        Schedule {
            began: Instant::now() + interval.mul_f64(k as f64 / threads as f64),
            interval,
        }
    }

    /// Sleeps until search `n` is due; returns when it was due.
    pub fn wait(&self, n: u32) -> Instant {
        let due = self.began + self.interval * n;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        due
    }
}

pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}
