//! Locks that keep working after a thread panicked while holding them. A
//! panic in one HTTP worker, search or rescan must not turn every later
//! request into a second panic: the state behind these locks is only ever
//! updated in steps that leave it usable, so a poisoned lock is taken as it
//! stands rather than refused forever.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

/// [`Mutex::lock`] that ignores poisoning (see the module documentation).
pub trait MutexExt<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> MutexExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`RwLock::read`] and [`RwLock::write`] that ignore poisoning.
pub trait RwLockExt<T> {
    fn reading(&self) -> RwLockReadGuard<'_, T>;
    fn writing(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> RwLockExt<T> for RwLock<T> {
    fn reading(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|e| e.into_inner())
    }

    fn writing(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A joined thread that panicked, already logged at error level with its
/// name and message.
pub struct Panicked {
    payload: Box<dyn std::any::Any + Send>,
}

impl Panicked {
    /// What the thread panicked with, when it was a message.
    pub fn message(&self) -> &str {
        panic_message(&*self.payload)
    }

    /// Raises the panic again in this thread, so that its owner fails as
    /// loudly as the thread did (a test fails, a binary exits non-zero).
    /// A thread that is already unwinding only logs it: a second panic
    /// would abort the process.
    pub fn raise(self) {
        if !std::thread::panicking() {
            std::panic::resume_unwind(self.payload);
        }
    }
}

impl std::fmt::Debug for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Panicked({:?})", self.message())
    }
}

/// What a panic payload says, when it is a message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Joins `handle`. A thread that panicked is logged at error level (by its
/// name) and returned as [`Panicked`], for the owner to raise once it has
/// finished shutting down the rest.
pub fn join<T>(handle: JoinHandle<T>) -> Result<T, Panicked> {
    let name = handle.thread().name().unwrap_or("unnamed").to_string();
    handle.join().map_err(|payload| {
        let panicked = Panicked { payload };
        log::error!("the {name} thread panicked: {}", panicked.message());
        panicked
    })
}

/// [`join`], raising a panic of the thread at once. `None` only when the
/// caller is already unwinding.
pub fn join_or_raise<T>(handle: JoinHandle<T>) -> Option<T> {
    match join(handle) {
        Ok(value) => Some(value),
        Err(panicked) => {
            panicked.raise();
            None
        }
    }
}
