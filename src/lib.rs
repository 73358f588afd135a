//! hubshare: a centralized peer-to-peer file-sharing system.
//!
//! One **directory** ([`DirectoryServer`], gRPC) knows which peers are online
//! and what each shares; **peers** ([`Peer`]) serve their files over HTTP and
//! fetch files from each other, verified by BLAKE3 hash ([`FileId`]). Files
//! never pass through the directory.
//!
//! - Start a directory: [`DirectoryServer::start`] with a [`ServerConfig`].
//! - Start a peer: [`Peer::start`] with a [`PeerConfig`]; it scans its share
//!   folder, serves it, and keeps a session with the directory.
//! - Find and fetch: [`Directory::search`], then [`download`].
//! - Push a file to a peer that accepts uploads: [`upload`].
//!
//! The source tree shows the two processes: `wire/` is what they both speak,
//! `directory/` is the directory, `peer/` the peer, and the files at the top
//! are leaves both use (see ARCHITECTURE.md for the import rules). The
//! binaries in `src/bin/` only parse arguments and call what is exported
//! here.

pub mod base64;
mod config;
mod directory;
mod error;
mod fsutil;
#[doc(hidden)]
pub mod fuzz;
mod hash;
mod html;
mod id;
mod in_process;
pub mod logging;
mod names;
mod pace;
pub mod passhash;
mod peer;
pub mod pieces;
mod random;
pub mod relay;
mod sync;
pub mod tls;
mod units;
pub mod wire;

pub use config::{ConfigError, PeerConfig, RelayConfig, ServerConfig, StoreKind};
pub use directory::{
    directory_identity, invite_of, BadQuery, Batch, DirError, DirectoryServer, DirectoryStore,
    EncodedReply, Limits, MemoryStore, NameQuery, Query, RedisStore, ServerError, Token,
    MAX_QUERY_LEN,
};
pub use error::error_chain;
pub use fsutil::write_atomic;
pub use hash::hash_file;
pub use id::{BadFileId, FileId};
pub use in_process::InProcessDirectory;
pub use names::{check_file_name, check_peer_name, check_shared_path, sanitize_file_name, BadName};
pub use peer::fetch::{
    browse, download, download_folder, download_report_json, is_folder_target, resolve_peer,
    upload, DownloadOptions, DownloadReport, FolderEvent, FolderFetch, FolderReport, TransferError,
    UploadReport,
};
pub use peer::{
    download_summary, folder_event_text, folder_summary, follow, follow_one, followed_text,
    format_files, format_hits, format_peers, format_queue, format_status, format_uploads,
    format_wishes, human_size, listing_of_files, listing_of_hits, make_state_dir,
    map_big_allocations_apart, open_directory, path_of, pick_file, pick_from_last, read_secret,
    remember_listing, reverse_through_running, run_menu, search_words_last, still_waiting,
    ByteRange, Change, ClientError, Control, ControlInfo, Core, Directory, DirectoryApi, Followed,
    FollowedOne, Host, HttpServer, Interrupt, Listing, Login, Peer, PeerError, SearchFailed,
    ServeOptions, Session, SessionState, ShareEntry, ShareError, ShareTable, TlsDial, CHECK_SPREAD,
    CONTROL_FILE, DEFAULT_SEARCH_LIMIT,
};
pub use tls::{keyprint_of, TlsIdentity};
pub use wire::proto;
pub use wire::{
    Credentials, DirectoryTarget, GroupPassword, Hit, HitView, HttpAddr, IdentityKey, KeyPrint,
    Matches, SearchOutcome, SharedFile, Source, SourceView,
};
