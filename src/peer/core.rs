//! [`Core`]: the parts of a running peer that its HTTP server, its rescan
//! thread and its console share: config, share table, directory session,
//! control secret. It is what the HTTP server's [`Host`] trait is
//! implemented by, so the server reaches the peer through that alone.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blake3::hazmat::ChainingValue;

use super::client::{ClientError, Directory};
use super::fetch::DownloadCounters;
use super::serve::{Host, SearchFailed};
use super::session::Session;
use super::share::{Change, ShareError, ShareTable};
use crate::config::PeerConfig;
use crate::id::FileId;
use crate::wire::{
    FileList, GroupPassword, HttpAddr, InboxPolicy, KeyPrint, QueueEntry, QueueOp, Rescanned,
    SearchOutcome, SharedFile, Status, Wish, WishOp,
};

/// The running peer's download queue, as the control routes and the
/// console drive it (see `downloads.rs`).
pub trait QueueControl: Send + Sync {
    /// Every download of the queue, in queue order.
    fn list(&self) -> Vec<QueueEntry>;
    /// Makes a change; says what the download is now, or why not.
    fn apply(&self, op: QueueOp) -> Result<QueueEntry, String>;
}

/// The running peer's wishlist, as the control routes drive it (see
/// `wishes.rs`).
pub trait WishControl: Send + Sync {
    /// Every wish, oldest first.
    fn list(&self) -> Vec<Wish>;
    /// Makes a change; says what the wish is now, or why not.
    fn apply(&self, op: WishOp) -> Result<Wish, String>;
}

/// The parts of a running peer that its threads and its console share.
pub struct Core {
    config: PeerConfig,
    /// The directory, for what the page looks up (another peer's address).
    dir: Arc<Directory>,
    share: Arc<ShareTable>,
    session: Session,
    secret: String,
    http_addr: HttpAddr,
    downloads: DownloadCounters,
    /// The group password (a closed group), read from the config once.
    password: Option<GroupPassword>,
    /// The download queue, once started.
    queue: std::sync::OnceLock<Arc<dyn QueueControl>>,
    /// The wishlist, once started.
    wishes: std::sync::OnceLock<Arc<dyn WishControl>>,
}

impl Core {
    pub(crate) fn new(
        config: PeerConfig,
        dir: Arc<Directory>,
        share: Arc<ShareTable>,
        session: Session,
        secret: String,
        http_addr: HttpAddr,
    ) -> Core {
        Core {
            password: config.group_password(),
            queue: std::sync::OnceLock::new(),
            wishes: std::sync::OnceLock::new(),
            config,
            dir,
            share,
            session,
            secret,
            http_addr,
            downloads: DownloadCounters::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The directory this peer's session talks to.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    pub fn share(&self) -> &ShareTable {
        &self.share
    }

    /// Gives the peer its download queue (once).
    pub(crate) fn set_queue(&self, queue: Arc<dyn QueueControl>) {
        let _ = self.queue.set(queue);
    }

    /// Gives the peer its wishlist (once).
    pub(crate) fn set_wishes(&self, wishes: Arc<dyn WishControl>) {
        let _ = self.wishes.set(wishes);
    }

    /// The wishlist, once started.
    pub fn wishes(&self) -> Option<&Arc<dyn WishControl>> {
        self.wishes.get()
    }

    /// The download queue, once started.
    pub fn queue(&self) -> Option<&Arc<dyn QueueControl>> {
        self.queue.get()
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// What this peer's own downloads (the menu's) add up to; give it to
    /// each download's options.
    pub fn download_counters(&self) -> DownloadCounters {
        self.downloads.clone()
    }

    /// The address other peers reach this one at.
    pub fn http_addr(&self) -> &HttpAddr {
        &self.http_addr
    }

    /// Shares a file that was just written and verified, and announces it.
    pub fn shared_file_added(&self, path: &Path, id: FileId) {
        match self.share.add_verified(path, id) {
            Ok(change) if !change.is_empty() => self.session.share_changed(),
            Ok(_) => {}
            Err(e) => log::warn!("cannot share {}: {e}", path.display()),
        }
    }

    /// Rescans the share folder and announces what changed.
    pub fn rescan(&self) -> Result<Change, ShareError> {
        let change = self.share.rescan()?;
        if !change.is_empty() {
            self.session.share_changed();
        }
        Ok(change)
    }

    /// [`rescan`](Self::rescan) of `paths` only (what the watcher saw
    /// change). The caller saves the hash cache (`share().save_cache()`)
    /// once the change is on its way.
    pub fn rescan_paths(&self, paths: &[PathBuf]) -> Result<Change, ShareError> {
        let change = self.share.rescan_paths(paths)?;
        if !change.is_empty() {
            self.session.share_changed();
        }
        Ok(change)
    }

    pub fn status(&self) -> Status {
        let files = self.share.files();
        let reached = self.session.reached();
        Status {
            name: self.config.name.clone(),
            http_addr: self.http_addr.to_string(),
            directory: self.config.directory.clone(),
            session: self.session.state().to_string(),
            files: files.count(),
            shared_bytes: files.bytes(),
            bytes_hashed: self.share.bytes_hashed(),
            unsettled: self.share.unsettled(),
            // Filled in by the HTTP server, which keeps the upload queue.
            uploads: Default::default(),
            keyprint: self.http_addr.pin().map(|k| k.to_string()),
            directory_keyprint: self.dir.keyprint().map(|k| k.to_string()),
            reachable: reached.as_ref().map(|r| r.0),
            listed_at: reached.and_then(|r| r.1).map(|a| a.to_string()),
            paths: super::reverse::paths_used(),
        }
    }
}

impl Host for Core {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn files(&self) -> std::sync::Arc<dyn FileList> {
        self.share.files()
    }

    fn unsettled(&self) -> usize {
        self.share.unsettled()
    }

    fn file(&self, id: &FileId) -> Option<SharedFile> {
        self.share.get(id).map(|e| e.file)
    }

    fn open(&self, id: &FileId) -> io::Result<(File, u64)> {
        let entry = self.share.get(id).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{id} is not shared"))
        })?;
        self.share
            .open(&entry.path)
            .map(|(file, meta)| (file, meta.len()))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry.path.display())))
    }

    fn pieces(&self, id: &FileId) -> io::Result<Vec<ChainingValue>> {
        self.share.pieces(id)
    }

    fn inbox(&self) -> InboxPolicy {
        InboxPolicy {
            accepting: self.config.accept_uploads,
            max_bytes: self.config.max_upload_bytes,
        }
    }

    fn inbox_dir(&self) -> &Path {
        self.share.dir()
    }

    fn received(&self, path: &Path, id: FileId) {
        self.shared_file_added(path, id);
    }

    fn secret(&self) -> &str {
        &self.secret
    }

    fn status(&self) -> Status {
        Core::status(self)
    }

    fn queue_list(&self) -> Vec<QueueEntry> {
        self.queue().map(|q| q.list()).unwrap_or_default()
    }

    fn queue_apply(&self, op: QueueOp) -> Result<QueueEntry, String> {
        match self.queue() {
            Some(q) => q.apply(op),
            None => Err("this peer has no download queue yet".to_string()),
        }
    }

    fn owner_password_hash(&self) -> Option<&str> {
        self.config.web_password_hash.as_deref()
    }

    fn wishes_list(&self) -> Vec<Wish> {
        self.wishes().map(|w| w.list()).unwrap_or_default()
    }

    fn wishes_apply(&self, op: WishOp) -> Result<Wish, String> {
        match self.wishes() {
            Some(w) => w.apply(op),
            None => Err("this peer has no wishlist yet".to_string()),
        }
    }

    fn rescan(&self) -> Result<Rescanned, String> {
        Core::rescan(self)
            .map(|c| Rescanned {
                added: c.added.len(),
                removed: c.removed.len(),
            })
            .map_err(|e| crate::error::error_chain(&e))
    }

    fn logout(&self) -> Result<(), String> {
        self.session.logout().map_err(|e| e.to_string())
    }

    fn login(&self) -> Result<(), String> {
        self.session.login().map_err(|e| e.to_string())
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.downloads.register(registry);
    }

    fn browse(&self, peer: &str) -> Result<(HttpAddr, Vec<SharedFile>), SearchFailed> {
        let (addr, _) = self.dir.peer(peer).map_err(|e| match e {
            ClientError::NotFound(why) => SearchFailed::NotFound(why),
            ClientError::Busy(why) => SearchFailed::Busy(why),
            other => SearchFailed::Unreachable(other.to_string()),
        })?;
        let addr = super::fetch::direct(peer, addr)
            .map_err(|e| SearchFailed::Unreachable(e.to_string()))?;
        let files = super::fetch::browse(&addr).map_err(|e| {
            SearchFailed::Unreachable(format!(
                "{peer} does not answer: {}",
                crate::error::error_chain(&e)
            ))
        })?;
        Ok((addr, files))
    }

    fn search(&self, query: &str, limit: u32) -> Result<SearchOutcome, SearchFailed> {
        self.session.search(query, limit).map_err(|e| match e {
            ClientError::Refused(why) | ClientError::Denied(why) => SearchFailed::Refused(why),
            ClientError::Busy(why) => SearchFailed::Busy(why),
            other => SearchFailed::Unreachable(other.to_string()),
        })
    }

    fn keyprint(&self) -> Option<KeyPrint> {
        self.http_addr.pin()
    }

    fn group_password(&self) -> Option<&GroupPassword> {
        self.password.as_ref()
    }

    fn member(&self, name: &str) -> Result<Option<KeyPrint>, String> {
        match self.dir.peer(name) {
            Ok((addr, _)) => Ok(addr.pin()),
            Err(ClientError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn membership_ttl(&self) -> std::time::Duration {
        self.session.heartbeat_interval()
    }
}
