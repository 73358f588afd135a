//! [`Ledger`]: the half of a directory that decides the writes (logins,
//! announces, heartbeats, logouts, expiry: tokens by their print, leases,
//! name bindings) and turns each accepted one into an [`Event`] that
//! reaches the directory's [`Roster`](super::roster::Roster) before the
//! call returns. The other half, the same for every ledger, is
//! [`DirectoryState`](super::state::DirectoryState): it owns the roster,
//! answers the reads from it, checks limits and builds the grant.
//!
//! One clock for both ledgers, the **lease clock**: leases and name holds
//! are measured on it, and only sweeps ([`Ledger::expire`]) move it, each
//! by the wall time since the previous sweep but at most
//! [`LeaseClock::step_max`] (min([`CLOCK_STEP_MAX`], lease/2)). So a
//! directory that was stopped, suspended or cut off from its store gives
//! every peer a whole lease to heartbeat again instead of expiring them all
//! at once, and a lapsed lease leaves once, whoever sweeps. The wall it
//! steps by is the ledger's own: the memory ledger's monotonic [`Wall`],
//! Redis's `TIME` for replicas (one clock every replica shares).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::Event;
use super::store::{DirError, Limits, Removed};
use crate::wire::{HttpAddr, KeyPrint};

/// Most the lease clock moves in one sweep (less for a lease shorter than
/// twice this: half the lease).
pub const CLOCK_STEP_MAX: Duration = Duration::from_secs(10);

/// What decides a directory's writes. Each accepted write's event is in
/// the directory's roster when the call returns (read your writes); a
/// refused one changes nothing.
pub trait Ledger: Send + Sync {
    /// Starts the session of `joined` (an [`Event::Joined`]) for its name,
    /// bound to `owner`, replacing the name's earlier session. Refused with
    /// [`DirError::Taken`] while the name is bound to another owner: while
    /// that owner has a live session, and for `Limits::name_hold` on the
    /// lease clock after its last one ended.
    /// Its lease is `lease` (on the lease clock, from now).
    fn login(&self, owner: KeyPrint, joined: Event, lease: Duration) -> Result<(), DirError>;
    /// Applies `changed` (an [`Event::Changed`]) of a live session and
    /// renews its lease for `lease`; returns how many files its peer
    /// shares now.
    fn announce(&self, changed: Event, lease: Duration) -> Result<usize, DirError>;
    /// Renews the lease of the session with this token print for `lease`.
    fn heartbeat(&self, session: &str, lease: Duration) -> Result<(), DirError>;
    /// Ends the session of `left` (an [`Event::Left`]); its name is held
    /// for its owner from now.
    fn logout(&self, left: Event) -> Result<(), DirError>;
    /// Removes the member `name` (see
    /// [`DirectoryStore::remove`](super::store::DirectoryStore::remove)):
    /// ends its session with a Left event, frees the name, bans its owner.
    fn remove(&self, name: &str) -> Result<Removed, DirError>;
    /// A sweep: moves the lease clock, ends every session whose lease
    /// ended (with the address each had) and forgets bindings whose hold
    /// is over.
    fn expire(&self) -> Vec<(String, Option<HttpAddr>)>;
    /// Whether the roster it feeds is current enough to answer reads.
    fn fresh(&self) -> Result<(), DirError> {
        Ok(())
    }
}

/// Where the memory ledger reads the time its lease clock steps by.
pub type Wall = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The system's monotonic clock.
pub fn system_wall() -> Wall {
    Arc::new(Instant::now)
}

/// The lease clock of one process (the Redis ledger keeps the same rule in
/// its sweep script): a reading that only [`LeaseClock::sweep`] moves.
pub struct LeaseClock {
    wall: Wall,
    /// The wall when the clock last moved.
    last: Instant,
    now: Duration,
    step_max: Duration,
}

impl LeaseClock {
    pub fn new(wall: Wall, limits: &Limits) -> LeaseClock {
        let last = wall();
        LeaseClock {
            wall,
            last,
            now: Duration::ZERO,
            step_max: LeaseClock::step_max(limits),
        }
    }

    /// The most one sweep moves the clock for these limits.
    pub fn step_max(limits: &Limits) -> Duration {
        CLOCK_STEP_MAX.min(limits.lease / 2)
    }

    /// The clock's reading.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Moves the clock by the wall time since it last moved, at most
    /// `step_max`; returns the new reading.
    pub fn sweep(&mut self) -> Duration {
        let wall = (self.wall)();
        self.now += wall.saturating_duration_since(self.last).min(self.step_max);
        self.last = wall;
        self.now
    }
}

/// A wall that tests move by hand, and time passing on a directory over it
/// (as many sweeps as the clock's step needs).
#[cfg(test)]
#[derive(Clone)]
pub struct TestWall(Arc<std::sync::Mutex<Instant>>);

#[cfg(test)]
impl TestWall {
    pub fn new() -> TestWall {
        TestWall(Arc::new(std::sync::Mutex::new(Instant::now())))
    }

    /// The wall, for [`MemoryStore::with_wall`](super::MemoryStore::with_wall).
    pub fn wall(&self) -> Wall {
        let at = self.0.clone();
        Arc::new(move || *at.lock().unwrap())
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    /// Lets `by` pass on `store`'s lease clock: the wall moves a step at a
    /// time, a sweep after each. Returns the names the sweeps expired.
    pub fn pass(&self, store: &dyn super::DirectoryStore, by: Duration) -> Vec<String> {
        pass_in_steps(store, by, &|d| self.advance(d))
    }
}

/// Lets `by` pass on `store`'s lease clock: `shift` moves its wall a clock
/// step at a time, with a sweep after each. Returns the names expired.
#[cfg(test)]
pub fn pass_in_steps(
    store: &dyn super::DirectoryStore,
    by: Duration,
    shift: &dyn Fn(Duration),
) -> Vec<String> {
    let step = LeaseClock::step_max(store.limits());
    let mut left = by;
    let mut gone = Vec::new();
    while !left.is_zero() {
        let now = left.min(step);
        shift(now);
        left -= now;
        gone.extend(store.expire().into_iter().map(|(name, _)| name));
    }
    gone
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn the_clock_moves_only_in_sweeps_and_at_most_a_step_each() {
        let t0 = Instant::now();
        let wall_at = Arc::new(Mutex::new(t0));
        let reading = wall_at.clone();
        let wall: Wall = Arc::new(move || *reading.lock().unwrap());
        let limits = Limits {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            max_results: 10,
            max_files_per_call: 10,
            name_hold: Duration::from_secs(60),
            heartbeat_rate: 2000,
        };
        let mut clock = LeaseClock::new(wall, &limits);
        *wall_at.lock().unwrap() = t0 + Duration::from_secs(4);
        assert_eq!(clock.now(), Duration::ZERO, "only a sweep moves it");
        assert_eq!(clock.sweep(), Duration::from_secs(4));
        // A minute away: one step of at most min(10 s, lease/2).
        *wall_at.lock().unwrap() = t0 + Duration::from_secs(64);
        assert_eq!(clock.sweep(), Duration::from_secs(14));
        assert_eq!(
            clock.sweep(),
            Duration::from_secs(14),
            "no wall time, no move"
        );
    }
}
