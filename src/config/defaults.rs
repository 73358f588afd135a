//! The defaults of both configs, named (every limit has a constant).

/// Default address of the directory's gRPC port.
pub const DEFAULT_DIRECTORY_ADDR: &str = "127.0.0.1:50051";
/// Default lease: a peer not heard from for this long is dropped.
pub const DEFAULT_LEASE_SECS: u32 = 30;
/// Default cap on the heartbeats a second a directory asks of its group:
/// about a fifth of what one core answers as empty gRPC calls on a small
/// machine, so 20,000 peers heartbeat at the interval the lease gives and
/// 100,000 every 50 s.
pub const DEFAULT_HEARTBEAT_RATE: u32 = 2000;
/// Default cap on results per search.
pub const DEFAULT_MAX_RESULTS: u32 = 1000;
/// Default cap on files in one Login or Announce call.
pub const DEFAULT_MAX_FILES_PER_CALL: u32 = 5000;
/// Default upload cap: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;
/// Default number of HTTP requests a peer serves at once.
pub const DEFAULT_HTTP_WORKERS: usize = 8;
/// Default number of downloaders a peer sends to at once.
pub const DEFAULT_UPLOAD_SLOTS: usize = 4;
/// Default size up to which a file is sent without a slot (DC++'s "mini-slot").
pub const DEFAULT_FREE_SLOT_BYTES: u64 = 64 * 1024;
/// Default turn of a served downloader while others wait: five minutes.
pub const DEFAULT_UPLOAD_TURN_SECS: u64 = 300;
/// Default time a download waits in sources' queues without progress
/// before it gives up: an hour.
pub const DEFAULT_DOWNLOAD_PATIENCE_SECS: u64 = 3600;
/// Default seconds an HTTP client may stay silent (and may take over its
/// request headers) before the peer drops it.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 30;
/// Default cap on HTTP connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default seconds between rescans of the share folder.
pub const DEFAULT_RESCAN_SECS: u64 = 60;
/// Default seconds a file must stay unchanged before it is shared.
pub const DEFAULT_SETTLE_SECS: u64 = 2;
/// Default seconds a name stays bound to its owner's identity key after
/// the owner's last session ended: a week.
pub const DEFAULT_NAME_HOLD_SECS: u64 = 7 * 24 * 3600;
