//! The peer's HTTP client side: verified multi-source downloads
//! (`download.rs` runs one, what it is asked and reports in `options.rs`;
//! the size proved and the name chosen in `plan.rs`; every decision in
//! `coordinator.rs`, run on threads by `swarm.rs`, each worker fetching
//! through a `PieceSource` (`worker.rs`, one range in `range.rs`); the part
//! file in `part.rs`, the lock beside it in `lock.rs`), folders of other peers fetched file by file (`folder.rs`),
//! and pushing files to, browsing and resolving other peers
//! (`transfer.rs`).
//!
//! A download asks the directory for the sources and the size each claims;
//! a claim is trusted only once a source proves it (a piece list that
//! merges to the file id, raced between sources; see `plan.rs`), and
//! sources claiming another size are dropped; every piece is checked
//! against the list before it is written into `<name>.part`; a crash or
//! Ctrl-C loses at most a second of verified work; the final name is taken
//! only when every piece is verified, from the sources that sent verified
//! pieces, and never over an existing file.

mod coordinator;
mod download;
pub mod folder;
mod lock;
mod options;
mod part;
mod plan;
mod progress;
pub(crate) use progress::progress_bar;
mod range;
mod swarm;
pub mod transfer;
#[cfg(test)]
mod twins;
mod worker;

pub use download::download;
pub use folder::{download_folder, is_folder_target, FolderEvent, FolderFetch, FolderReport};
pub use options::{
    download_report_json, download_summary, path_of, DownloadCounters, DownloadOptions,
    DownloadReport,
};
pub use transfer::{browse, direct, resolve_peer, upload, TransferError, UploadReport};
