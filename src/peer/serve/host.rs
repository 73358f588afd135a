//! [`Host`]: what the HTTP server needs of the peer it serves, and nothing
//! more. The peer's core implements it; the routes' tests implement it over
//! a folder of their own.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use blake3::hazmat::ChainingValue;

use crate::id::FileId;
use crate::wire::{
    FileList, GroupPassword, HttpAddr, InboxPolicy, KeyPrint, QueueEntry, QueueOp, Rescanned,
    SearchOutcome, SharedFile, Status, Wish, WishOp,
};

/// What the HTTP server needs of the peer it serves. The peer's core
/// implements it; tests implement it over a folder of their own.
pub trait Host: Send + Sync {
    /// The peer's name (in `GET /health`).
    fn name(&self) -> &str;
    /// Every shared file (`GET /files`).
    fn files(&self) -> std::sync::Arc<dyn FileList>;
    /// Files found changing that are not shared until they settle.
    fn unsettled(&self) -> usize;
    /// The shared file with this id, if there is one.
    fn file(&self, id: &FileId) -> Option<SharedFile>;
    /// Opens the shared file with this id for reading; with its length as
    /// opened.
    fn open(&self, id: &FileId) -> io::Result<(File, u64)>;
    /// The piece chaining values of a shared file, checked against its id
    /// (empty for a one-piece file).
    fn pieces(&self, id: &FileId) -> io::Result<Vec<ChainingValue>>;
    /// Whether uploads are accepted, and up to what size.
    fn inbox(&self) -> InboxPolicy;
    /// The folder uploads are stored in.
    fn inbox_dir(&self) -> &Path;
    /// A verified upload now stands at `path`: share it.
    fn received(&self, path: &Path, id: FileId);
    /// The secret the control routes need.
    fn secret(&self) -> &str;
    /// `GET /control/status`.
    fn status(&self) -> Status;
    /// The download queue, in queue order (empty without one).
    fn queue_list(&self) -> Vec<QueueEntry> {
        Vec::new()
    }
    /// A change to the download queue.
    fn queue_apply(&self, op: QueueOp) -> Result<QueueEntry, String> {
        let _ = op;
        Err("this peer has no download queue".to_string())
    }
    /// The hash of the owner's password (`web_password_hash`), if set.
    fn owner_password_hash(&self) -> Option<&str> {
        None
    }
    /// The wishlist, oldest first (empty without one).
    fn wishes_list(&self) -> Vec<Wish> {
        Vec::new()
    }
    /// A change to the wishlist.
    fn wishes_apply(&self, op: WishOp) -> Result<Wish, String> {
        let _ = op;
        Err("this peer has no wishlist".to_string())
    }
    /// `POST /control/rescan`; the error is shown to the caller.
    fn rescan(&self) -> Result<Rescanned, String>;
    /// `POST /control/logout`; the error is shown to the caller.
    fn logout(&self) -> Result<(), String>;
    /// `POST /control/login` (again, after a logout); the error is shown
    /// to the caller.
    fn login(&self) -> Result<(), String>;
    /// Searches the group's directory (for the web page): the `limit` best
    /// results for `query`.
    fn search(&self, query: &str, limit: u32) -> Result<SearchOutcome, SearchFailed>;
    /// Another peer's address and shared files, looked up through the
    /// directory (for the page's view of that peer's share).
    fn browse(&self, peer: &str) -> Result<(HttpAddr, Vec<SharedFile>), SearchFailed> {
        Err(SearchFailed::Unreachable(format!(
            "this peer cannot list {peer}'s files"
        )))
    }
    /// Adds the peer's own metrics (its downloads) to those of `/metrics`.
    /// The keyprint of this peer's certificate (`None` without TLS),
    /// shown on its page.
    fn keyprint(&self) -> Option<crate::wire::KeyPrint> {
        None
    }
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
    /// The group password, in a closed group: files, piece lists,
    /// `/files`, uploads and the page are then for members only (see
    /// `member.rs`). `None`: an open group, everything served to anyone.
    fn group_password(&self) -> Option<&GroupPassword> {
        None
    }
    /// The keyprint the directory lists for the live member `name` now
    /// (`None`: no such member online), asked of the directory.
    fn member(&self, name: &str) -> Result<Option<KeyPrint>, String> {
        Err(format!("this peer cannot ask its directory about {name}"))
    }
    /// How long a member's access may outlive its session: this peer's
    /// heartbeat interval (what the directory asked of it).
    fn membership_ttl(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// Why a search through [`Host::search`] has no results to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchFailed {
    /// The directory refused the query (the reason is for the visitor).
    Refused(String),
    /// The directory (or this peer) is busy: try again later.
    Busy(String),
    /// The directory cannot be reached.
    Unreachable(String),
    /// No such peer is online (the text says which).
    NotFound(String),
}
