//! The running peer's download queue as its control routes speak it: an
//! entry as `peer queue --json` lists it, and the changes a front end asks.

use serde::{Deserialize, Serialize};

/// Where a queued download stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum QueueState {
    /// Waits for a place (`max_active_downloads` run at once).
    Queued,
    /// No source could serve it now; its sources are looked up again
    /// every little while.
    Waiting {
        why: String,
    },
    Active,
    /// Stopped by its owner; what is verified is kept.
    Paused,
    Done {
        path: String,
        summary: String,
    },
    /// It cannot succeed as asked (a bad name, a disk error).
    Failed {
        why: String,
    },
}

/// One download of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Its number, for `pause N` and the rest (never reused).
    pub n: u64,
    /// The file's id.
    pub id: String,
    /// The name asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub state: QueueState,
    /// Verified bytes so far, and the size once known (0 before).
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub size: u64,
}

/// A change to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum QueueOp {
    Add {
        id: String,
        name: Option<String>,
    },
    Pause {
        n: u64,
    },
    Resume {
        n: u64,
    },
    /// Takes it off the queue (a running one stops; its verified part is
    /// kept, so a later download of it resumes).
    Cancel {
        n: u64,
    },
    /// Puts it at place `to` (1: first) in queue order.
    Move {
        n: u64,
        to: usize,
    },
}
