//! How many requests are served at once (`http_workers`), and the wait for
//! those in flight at shutdown.
//!
//! Requests are served on the thread of the connection that read them (no
//! hand-off per request); a connection whose request finds every place taken
//! waits here for one, as it waited before for a free worker. Once closed,
//! the gate lets nothing in and shutdown waits for the requests inside.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::sync::MutexExt;

/// At most `places` holders of a [`Pass`] at once.
pub struct Gate {
    places: usize,
    state: Mutex<State>,
    /// A place came free (one waiter is woken for it, not all of them).
    room: Condvar,
    /// Closed and nothing is inside any more.
    emptied: Condvar,
}

#[derive(Default)]
struct State {
    inside: usize,
    /// Threads waiting in `enter`: a `Pass` dropped with nobody waiting
    /// wakes nobody (no system call on the fast path).
    waiting: usize,
    /// Threads waiting in `close` for those inside.
    closing: usize,
    closed: bool,
}

/// A place in the gate, given back when dropped.
pub struct Pass<'a>(&'a Gate);

impl Gate {
    pub fn new(places: usize) -> Gate {
        Gate {
            places: places.max(1),
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            emptied: Condvar::new(),
        }
    }

    /// A place, waiting for one while all are taken; `None` once closed.
    pub fn enter(&self) -> Option<Pass<'_>> {
        let mut st = self.state.locked();
        while !st.closed && st.inside >= self.places {
            st.waiting += 1;
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
        if st.closed {
            return None;
        }
        st.inside += 1;
        Some(Pass(self))
    }

    /// Lets nothing more in and waits until nothing is inside or
    /// `deadline`; returns how many are still inside.
    pub fn close(&self, deadline: Instant) -> usize {
        let mut st = self.state.locked();
        st.closed = true;
        self.room.notify_all();
        while st.inside > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            st.closing += 1;
            st = self
                .emptied
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.closing -= 1;
        }
        st.inside
    }

    /// How many threads wait in `enter` or `close` now (a test's sync
    /// point).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        let st = self.state.locked();
        st.waiting + st.closing
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.locked();
        st.inside -= 1;
        if st.closed {
            if st.inside == 0 {
                self.0.emptied.notify_all();
            }
        } else if st.waiting > 0 {
            // One place came free: one waiter for it. Waking them all
            // (24 at 32 busy connections on the default 8 places) had each
            // take the lock only to wait again.
            self.0.room.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until `n` threads wait in the gate.
    fn until_waiting(gate: &Gate, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.waiting() != n {
            assert!(
                Instant::now() < deadline,
                "{} waiting, not {n}",
                gate.waiting()
            );
            std::thread::yield_now();
        }
    }
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn holds_at_most_its_places_and_closes_after_those_inside() {
        let gate = Arc::new(Gate::new(2));
        let a = gate.enter().expect("a place");
        let _b = gate.enter().expect("a place");
        let (tx, rx) = crossbeam_channel::unbounded();
        let waiter = {
            let (gate, tx) = (gate.clone(), tx.clone());
            std::thread::spawn(move || {
                let pass = gate.enter();
                tx.send(pass.is_some()).unwrap();
            })
        };
        // The third waits while two are inside...
        until_waiting(&gate, 1);
        assert!(rx.try_recv().is_err(), "it waits, it has not entered");
        drop(a);
        // ...and enters when one leaves.
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        waiter.join().unwrap();

        // Closing waits for the one inside, up to the deadline.
        let start = Instant::now();
        assert_eq!(gate.close(start + Duration::from_millis(100)), 1);
        assert!(gate.enter().is_none(), "a closed gate lets nobody in");
        let closer = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.close(Instant::now() + Duration::from_secs(30)))
        };
        until_waiting(&gate, 1);
        drop(_b);
        assert_eq!(closer.join().unwrap(), 0);
    }

    #[test]
    fn each_place_that_comes_free_lets_one_waiter_in_until_all_have_been() {
        // One waiter is woken per place given back: none is left waiting.
        let gate = Arc::new(Gate::new(2));
        let first = gate.enter().expect("a place");
        let second = gate.enter().expect("a place");
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let _pass = gate.enter().expect("a place");
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        until_waiting(&gate, 8);
        drop(first);
        drop(second);
        for w in waiters {
            w.join().unwrap();
        }
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) <= 2);
        assert_eq!(gate.waiting(), 0);
    }

    #[test]
    fn closing_wakes_those_waiting_for_a_place() {
        let gate = Arc::new(Gate::new(1));
        let _inside = gate.enter().expect("a place");
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.enter().is_some())
        };
        until_waiting(&gate, 1);
        gate.close(Instant::now());
        assert!(!waiter.join().unwrap(), "a waiter is turned away at close");
    }
}
