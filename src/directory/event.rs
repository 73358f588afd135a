//! [`Event`]: every change to who is online and what they share, as one
//! value. A store that decides (the memory store, or a Redis script for
//! replicas) turns each accepted write into an event; [`Roster::apply`]
//! (`roster.rs`) turns events into the state searches read. So a single
//! directory and every replica following a shared stream build the same
//! state from the same events.

use serde::{Deserialize, Serialize};

use crate::id::FileId;
use crate::wire::{HttpAddr, SharedFile};

/// One change to the roster. `session` is the print of the session's token
/// (never the token), unique to one session: a change or leave of a
/// session that is not live (an earlier session of the name, replaced by a
/// later one) is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A session began with these files, replacing any earlier session of
    /// the name.
    Joined {
        name: String,
        session: String,
        http_addr: HttpAddr,
        files: Vec<SharedFile>,
    },
    /// Files added (or renamed) and removed by the session.
    Changed {
        session: String,
        added: Vec<SharedFile>,
        removed: Vec<FileId>,
    },
    /// The session ended (logout or an expired lease).
    Left { session: String },
}
