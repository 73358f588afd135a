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
//! - Find and fetch: [`Directory::search`], then [`transfer::download`].
//! - Push a file to a peer that accepts uploads: [`transfer::upload`].
//!
//! The binaries in `src/bin/` only parse arguments and call these.

mod cache;
mod client;
mod config;
mod console;
mod directory;
pub mod download;
#[doc(hidden)]
pub mod fuzz;
mod http;
mod id;
mod index;
mod names;
mod peer;
pub mod pieces;
pub mod proto;
pub mod query;
mod range;
mod server;
mod service;
mod session;
mod share;
mod throttle;
pub mod transfer;

pub use client::{ClientError, Directory, Login};
pub use config::{ConfigError, PeerConfig, ServerConfig};
pub use console::{download_summary, format_files, format_hits, human_size, run_menu};
pub use directory::{
    DirError, DirectoryStore, Hit, Limits, MemoryStore, Query, SearchOutcome, SharedFile, Source,
    Token, DEFAULT_SEARCH_LIMIT,
};
pub use http::{FileInfo, InboxPolicy, ID_HEADER, SECRET_HEADER};
pub use id::{BadFileId, FileId};
pub use names::{check_file_name, check_peer_name, sanitize_file_name, BadName};
pub use peer::{Control, ControlInfo, Peer, PeerError, Status, CONTROL_FILE};
pub use query::{BadQuery, NameQuery, MAX_QUERY_LEN};
pub use range::ByteRange;
pub use server::{DirectoryServer, ServerError};
pub use session::SessionState;
pub use share::{Change, ShareEntry, ShareError, ShareTable};

/// An error and every cause under it, one per line, for a person to read.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
        cause = c.source();
    }
    out
}
