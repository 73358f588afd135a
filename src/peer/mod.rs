//! The peer process. [`Peer`] is a running peer: its share table
//! (`share/`), its HTTP server (`serve/`), its directory session
//! (`session.rs`, over the client in `client.rs`), the `share-rescan`
//! thread with the watcher that wakes it (`watch.rs`), and the control file through which one-shot subcommands reach it
//! (`control.rs`). [`Peer::start`] brings them up in order;
//! [`Peer::shutdown`] logs out, drains the HTTP requests in flight and removes the
//! control file. Downloads, uploads and browsing other peers are in
//! `fetch/`; the menu and the tables people read in `console.rs`, where its
//! Ctrl-C goes in `interrupt.rs`.
//!
//! Import rules: `peer/` imports the leaves, `wire/` and `config`, never
//! `directory/`. Inside it, `serve/` sees the peer only through its `Host`
//! trait (implemented by `core.rs`), `share/` imports nothing else of
//! `peer/`, and `fetch/` only the directory client.

mod argv;
mod client;
mod console;
mod control;
mod core;
mod dial;
mod downloads;
pub(crate) mod fetch;
mod handoff;
pub mod identity;
mod interrupt;
mod reverse;
mod run;
mod serve;
pub(crate) mod session;
pub(crate) mod share;
mod watch;
mod wishes;

pub use self::core::Core;
pub use argv::search_words_last;
pub use client::{ClientError, Directory, DirectoryApi, Login, TlsDial, DEFAULT_SEARCH_LIMIT};
pub use console::{
    download_summary, folder_event_text, folder_summary, format_files, format_hits, format_peers,
    format_status, format_uploads, human_size, listing_of_files, listing_of_hits, path_of,
    pick_file, pick_from_last, read_secret, remember_listing, run_menu, Listing,
};
pub use control::{reverse_through_running, Control, ControlInfo, CONTROL_FILE};
pub use dial::open_directory;
pub use handoff::{
    follow, follow_one, followed_text, format_queue, format_wishes, still_waiting, Followed,
    FollowedOne,
};
pub use interrupt::Interrupt;
pub use run::{Peer, PeerError};
pub use serve::{ByteRange, Host, HttpServer, SearchFailed, ServeOptions};
pub use session::{Session, SessionState, CHECK_SPREAD};
pub use share::{
    make_state_dir, map_big_allocations_apart, Change, ShareEntry, ShareError, ShareTable,
};
