//! [`Ctx`]: what every request's handler shares.

use std::sync::Arc;

use super::host::Host;
use super::member::Members;
use super::metrics::PeerMetrics;
use super::queue::UploadQueue;
use super::throttle::SharedBucket;

/// What every worker shares.
pub(super) struct Ctx {
    pub host: Arc<dyn Host>,
    pub uploads: Arc<UploadQueue>,
    pub free_slot_bytes: u64,
    pub bucket: Option<SharedBucket>,
    /// Searches the web page is running on the directory now.
    pub page_searches: std::sync::atomic::AtomicUsize,
    pub metrics: PeerMetrics,
    /// Who the directory lists as members, recently (a closed group).
    pub members: Members,
    /// The owner's sessions on the page (`/owner`).
    pub owner: super::owner::Owner,
}
