//! Upload slots that count people, and a queue for those who wait.
//!
//! - **A slot per downloader**: a downloader is the keyprint of the client
//!   certificate it shows over TLS; without one (curl, a browser, or
//!   `tls = false`), the peer name it sends in [`PEER_HEADER`] together
//!   with its IP address (so nobody elsewhere can ride on its slot), else
//!   its IP address alone. However many connections
//!   it opens, it holds one slot; it keeps the slot between requests for
//!   [`LINGER`], so the next piece does not have to queue again.
//! - **A queue instead of a refusal**: a request that finds no free slot
//!   gets its place in line (503, `Retry-After`, [`QUEUE_HEADER`]); it
//!   keeps the place if it asks again within [`HOLD`]; free slots go to the
//!   head of the queue first.
//! - **Turns**: a downloader served for `turn` while others wait gets no
//!   new request served: it goes to the back of the queue, and its slot goes
//!   to the next one as soon as its requests in flight end.
//! - **A fair share of the rate**: each served downloader has a bucket of
//!   its own at `upload_rate_limit / downloaders being served`, on top of
//!   the peer's shared bucket, so one downloader cannot take it all.
//!
//! Small things never wait (files up to `free_slot_bytes`, piece lists,
//! HEAD, `/files`): the routes decide that before asking for a slot.
//! Everything takes the time as an argument, so it is tested without
//! sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::throttle::{SharedBucket, TokenBucket};
use crate::sync::MutexExt;

pub use crate::wire::{UploadsNow, PEER_HEADER, QUEUE_HEADER};

/// A served downloader keeps its slot this long after its last request
/// ended, waiting for its next one.
pub const LINGER: Duration = Duration::from_secs(1);
/// A place in the queue is kept this long without the downloader asking.
pub const HOLD: Duration = Duration::from_secs(20);
/// Longest `Retry-After` given (a place is held for [`HOLD`], longer).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// One downloader being served.
struct Served {
    since: Instant,
    /// Requests in flight.
    conns: usize,
    last_active: Instant,
    /// Bytes sent to it while served (shared with its tickets).
    bytes: Arc<AtomicU64>,
    /// Its own share of the rate, when there is a cap.
    bucket: Option<SharedBucket>,
    /// Its turn is over: no new request is served; the slot goes when the
    /// ones in flight end.
    done: bool,
}

struct Waiting {
    who: String,
    since: Instant,
    last_poll: Instant,
}

#[derive(Default)]
struct Inner {
    served: HashMap<String, Served>,
    queue: VecDeque<Waiting>,
}

/// The upload slots of one peer, and its queue.
pub struct UploadQueue {
    slots: usize,
    turn: Option<Duration>,
    rate: u64,
    /// Downloaders with a request in flight (the rate is split between them).
    active: Arc<AtomicUsize>,
    inner: Mutex<Inner>,
}

/// The right to send one response to a served downloader; the slot's
/// request count goes down when it is dropped.
pub struct Ticket {
    queue: Arc<UploadQueue>,
    who: String,
    /// Bytes sent to this downloader (for status).
    pub bytes: Arc<AtomicU64>,
    /// The downloader's own rate bucket and how many share the cap.
    pub share: Option<(SharedBucket, Arc<AtomicUsize>, u64)>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.queue.release(&self.who, Instant::now());
    }
}

/// What a request for a slot got.
pub enum Admission {
    Served(Ticket),
    /// In line: 1-based position, and when to ask again.
    Queued {
        position: usize,
        retry_after: Duration,
    },
}

impl UploadQueue {
    /// `slots` downloaders served at once; a turn of `turn` when others
    /// wait (`None`: no rotation); `rate` bytes per second shared by all
    /// (0: no cap).
    pub fn new(slots: usize, turn: Option<Duration>, rate: u64) -> UploadQueue {
        UploadQueue {
            slots: slots.max(1),
            turn,
            rate,
            active: Arc::new(AtomicUsize::new(0)),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Asks for a slot for `who`.
    pub fn admit(self: &Arc<Self>, who: &str, now: Instant) -> Admission {
        let mut st = self.inner.locked();
        self.tidy(&mut st, now);
        // Rotation: a downloader whose turn is over while others wait
        // goes to the back of the line.
        let others_wait = !st.queue.is_empty();
        if let (Some(turn), Some(s)) = (self.turn, st.served.get_mut(who)) {
            if !s.done && others_wait && now.saturating_duration_since(s.since) >= turn {
                s.done = true;
                log::info!("upload turn of {who} is over; the slot goes to the next in line");
            }
        }
        let done = st.served.get(who).is_some_and(|s| s.done);
        if done {
            if st.served.get(who).is_some_and(|s| s.conns == 0) {
                st.served.remove(who);
                log::info!("upload slot freed by {who}");
            }
            return self.wait(&mut st, who, now);
        }
        if let Some(s) = st.served.get_mut(who) {
            return Admission::Served(self.ticket(s, who, now));
        }
        let free = self.slots.saturating_sub(st.served.len());
        let place = st.queue.iter().position(|w| w.who == who);
        // Free slots go to the head of the queue first.
        let first_in_line = match place {
            Some(i) => i < free,
            None => st.queue.len() < free,
        };
        if !first_in_line {
            return self.wait(&mut st, who, now);
        }
        if let Some(i) = place {
            st.queue.remove(i);
        }
        let bucket =
            (self.rate > 0).then(|| Arc::new(Mutex::new(TokenBucket::new(self.rate, now))));
        st.served.insert(
            who.to_string(),
            Served {
                since: now,
                conns: 0,
                last_active: now,
                bytes: Arc::new(AtomicU64::new(0)),
                bucket,
                done: false,
            },
        );
        log::info!(
            "upload slot {} of {} to {who} ({} waiting)",
            st.served.len(),
            self.slots,
            st.queue.len()
        );
        let s = st.served.get_mut(who).expect("just inserted");
        Admission::Served(self.ticket(s, who, now))
    }

    fn ticket(self: &Arc<Self>, s: &mut Served, who: &str, now: Instant) -> Ticket {
        if s.conns == 0 {
            self.active.fetch_add(1, Ordering::AcqRel);
        }
        s.conns += 1;
        s.last_active = now;
        Ticket {
            queue: self.clone(),
            who: who.to_string(),
            bytes: s.bytes.clone(),
            share: s
                .bucket
                .clone()
                .map(|b| (b, self.active.clone(), self.rate)),
        }
    }

    /// Puts `who` in line (or refreshes its place) and says where it stands.
    fn wait(&self, st: &mut Inner, who: &str, now: Instant) -> Admission {
        let i = match st.queue.iter().position(|w| w.who == who) {
            Some(i) => {
                st.queue[i].last_poll = now;
                i
            }
            None => {
                st.queue.push_back(Waiting {
                    who: who.to_string(),
                    since: now,
                    last_poll: now,
                });
                log::info!(
                    "{who} queued for an upload slot at position {}",
                    st.queue.len()
                );
                st.queue.len() - 1
            }
        };
        let position = i + 1;
        let retry_after = Duration::from_secs(1 + position as u64 / 2).min(MAX_RETRY_AFTER);
        Admission::Queued {
            position,
            retry_after,
        }
    }

    /// A request of `who` ended.
    fn release(&self, who: &str, now: Instant) {
        let mut st = self.inner.locked();
        let Some(s) = st.served.get_mut(who) else {
            return;
        };
        s.conns = s.conns.saturating_sub(1);
        s.last_active = now;
        if s.conns == 0 {
            self.active.fetch_sub(1, Ordering::AcqRel);
            if s.done {
                st.served.remove(who);
                log::info!("upload slot freed by {who}");
            }
        }
    }

    /// Drops served downloaders idle past [`LINGER`] and places not
    /// renewed within [`HOLD`].
    fn tidy(&self, st: &mut Inner, now: Instant) {
        let idle: Vec<String> = st
            .served
            .iter()
            .filter(|(_, s)| s.conns == 0 && now.saturating_duration_since(s.last_active) > LINGER)
            .map(|(w, _)| w.clone())
            .collect();
        for who in idle {
            st.served.remove(&who);
            log::info!("upload slot freed by {who}");
        }
        st.queue
            .retain(|w| now.saturating_duration_since(w.last_poll) <= HOLD);
    }

    /// Who is served and who waits.
    pub fn now(&self, now: Instant) -> UploadsNow {
        let mut st = self.inner.locked();
        self.tidy(&mut st, now);
        let mut serving: Vec<(String, u64, u64)> = st
            .served
            .iter()
            .map(|(w, s)| {
                (
                    w.clone(),
                    now.saturating_duration_since(s.since).as_secs(),
                    s.bytes.load(Ordering::Relaxed),
                )
            })
            .collect();
        serving.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let queued = st
            .queue
            .iter()
            .map(|w| {
                (
                    w.who.clone(),
                    now.saturating_duration_since(w.since).as_secs(),
                )
            })
            .collect();
        UploadsNow { serving, queued }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(a: Admission) -> Ticket {
        match a {
            Admission::Served(t) => t,
            Admission::Queued { position, .. } => panic!("queued at {position}"),
        }
    }

    fn position(a: Admission) -> usize {
        match a {
            Admission::Served(_) => panic!("served"),
            Admission::Queued { position, .. } => position,
        }
    }

    #[test]
    fn one_slot_per_downloader_and_the_queue_goes_in_order() {
        let q = Arc::new(UploadQueue::new(1, None, 0));
        let t0 = Instant::now();
        // Four connections of one downloader share its slot.
        let a: Vec<Ticket> = (0..4).map(|_| served(q.admit("a", t0))).collect();
        assert_eq!(position(q.admit("b", t0)), 1);
        assert_eq!(position(q.admit("c", t0)), 2);
        assert_eq!(
            position(q.admit("b", t0)),
            1,
            "asking again keeps the place"
        );
        drop(a);
        // Between its requests a keeps the slot for a moment...
        let t1 = t0 + LINGER / 2;
        let again = served(q.admit("a", t1));
        drop(again);
        assert_eq!(position(q.admit("c", t1)), 2);
        // ...then the head of the line gets it, not whoever asks first.
        let t2 = t1 + LINGER + Duration::from_millis(1);
        assert_eq!(position(q.admit("c", t2)), 2);
        let b = served(q.admit("b", t2));
        assert_eq!(position(q.admit("c", t2)), 1);
        let now = q.now(t2);
        assert_eq!(now.serving.len(), 1);
        assert_eq!(now.serving[0].0, "b");
        assert_eq!(now.queued, vec![("c".to_string(), (t2 - t0).as_secs())]);
        drop(b);
    }

    #[test]
    fn a_place_not_renewed_is_lost_and_a_turn_ends_when_others_wait() {
        let q = Arc::new(UploadQueue::new(1, Some(Duration::from_secs(60)), 0));
        let t0 = Instant::now();
        let a = served(q.admit("a", t0));
        assert_eq!(position(q.admit("b", t0)), 1);
        assert_eq!(position(q.admit("c", t0)), 2);
        // b does not come back in time: c moves up.
        let t1 = t0 + HOLD + Duration::from_secs(1);
        assert_eq!(position(q.admit("c", t1)), 1);
        // a's turn is over: its new requests wait at the back, the one in
        // flight finishes, then c is served.
        let t2 = t0 + Duration::from_secs(61);
        assert_eq!(position(q.admit("c", t2)), 1);
        assert_eq!(position(q.admit("a", t2)), 2);
        drop(a);
        let c = served(q.admit("c", t2));
        assert_eq!(q.now(t2).serving[0].0, "c");
        // Alone, a turn never ends.
        drop(c);
        let q = Arc::new(UploadQueue::new(1, Some(Duration::from_secs(60)), 0));
        let _a = served(q.admit("a", t0));
        let _b = served(q.admit("a", t0 + Duration::from_secs(600)));
    }

    #[test]
    fn several_slots_fill_before_anyone_waits() {
        let q = Arc::new(UploadQueue::new(2, None, 1_000_000));
        let t0 = Instant::now();
        let a = served(q.admit("a", t0));
        let _b = served(q.admit("b", t0));
        assert_eq!(position(q.admit("c", t0)), 1);
        assert_eq!(q.active.load(Ordering::Relaxed), 2);
        assert!(a.share.is_some());
        drop(a);
        assert_eq!(q.active.load(Ordering::Relaxed), 1);
    }
}
