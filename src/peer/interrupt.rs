//! Where Ctrl-C goes while the menu runs: to the fetch running in the
//! foreground when there is one (it stops, keeping what it verified, and
//! the menu stays), else to the whole peer (it logs out and quits).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::MutexExt;

/// The menu's Ctrl-C switch, shared by the menu and the signal handler.
#[derive(Debug, Default)]
pub struct Interrupt {
    foreground: Mutex<Option<Arc<AtomicBool>>>,
}

impl Interrupt {
    /// A Ctrl-C: stops the foreground work if any runs (returns true),
    /// else leaves it to the caller to stop the peer (false).
    pub fn interrupt(&self) -> bool {
        match self.foreground.locked().as_ref() {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Marks foreground work until the guard is dropped; a Ctrl-C
    /// meanwhile sets the guard's flag instead of stopping the peer.
    pub fn foreground(&self) -> Foreground<'_> {
        let flag = Arc::new(AtomicBool::new(false));
        *self.foreground.locked() = Some(flag.clone());
        Foreground { owner: self, flag }
    }
}

/// Foreground work in progress (see [`Interrupt::foreground`]).
#[derive(Debug)]
pub struct Foreground<'a> {
    owner: &'a Interrupt,
    /// Set by a Ctrl-C: the work should stop.
    pub flag: Arc<AtomicBool>,
}

impl Foreground<'_> {
    /// Whether a Ctrl-C stopped it.
    pub fn interrupted(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for Foreground<'_> {
    fn drop(&mut self) {
        *self.owner.foreground.locked() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_stops_the_foreground_work_and_only_then_the_peer() {
        let i = Interrupt::default();
        assert!(!i.interrupt(), "nothing in the foreground: the peer stops");
        let work = i.foreground();
        assert!(!work.interrupted());
        assert!(i.interrupt());
        assert!(work.interrupted());
        drop(work);
        assert!(!i.interrupt());
    }
}
