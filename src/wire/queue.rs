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
        /// The download's report, as `peer get --json` prints it.
        #[serde(default)]
        report: serde_json::Value,
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
    /// Fetch it even if the file is already at its name (`peer get --copy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copy: bool,
    #[serde(flatten)]
    pub state: QueueState,
    /// Verified bytes so far, and the size once known (0 before).
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub size: u64,
}

impl QueueEntry {
    /// What a person calls it: the name asked for, else the name it was
    /// saved under, else its id.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if let QueueState::Done { path, .. } = &self.state {
            if let Some(file) = std::path::Path::new(path).file_name() {
                return file.to_string_lossy().into_owned();
            }
        }
        self.id.clone()
    }
}

/// A change to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum QueueOp {
    Add {
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        copy: bool,
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

/// One saved search of the running peer's wishlist (`peer wish`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wish {
    /// Its number, for `peer wish remove N` (never reused).
    pub n: u64,
    /// The search, as `peer search` takes it.
    pub query: String,
    /// Whether a new match is queued for download (else only shown).
    pub queue: bool,
    /// What its searches found, first found first (each id once).
    #[serde(default)]
    pub matches: Vec<WishMatch>,
    /// When it was last searched (Unix seconds; 0: not yet).
    #[serde(default)]
    pub searched_at: u64,
    /// Why its last search failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A file a wish found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishMatch {
    pub id: String,
    /// Its first name at the sources.
    pub name: String,
    pub size: u64,
    /// When it was found (Unix seconds).
    pub found_at: u64,
    /// Its download in the queue, when the wish queued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<u64>,
}

/// A change to the wishlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum WishOp {
    Add {
        query: String,
        #[serde(default = "yes")]
        queue: bool,
    },
    Remove {
        n: u64,
    },
}

fn yes() -> bool {
    true
}
