//! What both processes speak, and nothing else: the generated protobuf code
//! of the directory protocol, the records that cross it (a shared file, a
//! source, a search hit), the one rule for what an advertised HTTP address
//! is, and the names and bodies of the peers' HTTP protocol (header names,
//! JSON answers, the percent codec).
//!
//! Import rule: `wire/` imports only the leaves (`id`, `names`, ...), never
//! `directory/` or `peer/`; both of those import it. A type lives here when
//! the directory and a peer, or two peers, must agree on it.

mod addr;
mod http;
mod identity;
pub mod metrics;
pub mod proto;
mod records;

pub use addr::{BadHttpAddr, HttpAddr, MAX_HTTP_ADDR_LEN};
pub use http::{
    percent_decode, percent_encode, InboxPolicy, PieceList, Rescanned, Status, UploadsNow,
    ID_HEADER, PEER_HEADER, QUEUE_HEADER, SECRET_HEADER,
};
pub use identity::{
    BadGroupPassword, BadIdentityKey, Credentials, GroupPassword, IdentityKey, KeyPrint,
    IDENTITY_KEY_HEX, MAX_GROUP_PASSWORD_LEN,
};
pub use records::{
    Hit, HitView, Matches, PeerListing, SearchOutcome, SharedFile, Source, SourceView,
};

/// Largest gRPC message either side sends or accepts (a Login or Announce
/// with a long file list, a Search reply with many hits).
pub const MAX_MESSAGE_BYTES: i32 = 16 << 20;

/// Most files (added and removed together) one Login or Announce may
/// carry: a directory may not be configured for more, and a peer never
/// sends more, because more may not fit in [`MAX_MESSAGE_BYTES`] (an entry
/// is at most 64 hex digits of id, a 255-byte name, a size and framing:
/// under 400 bytes).
pub const MAX_FILES_PER_MESSAGE: u32 = 40_000;
const _: () = assert!(MAX_FILES_PER_MESSAGE as i64 * 400 <= MAX_MESSAGE_BYTES as i64);

/// Files a Login carries at most: every directory accepts at least this
/// many in one call (its `max_files_per_call` may not be set lower), and
/// tells the peer its real limit in the reply, so the rest of a long list
/// follows in Announce calls of that size.
pub const LOGIN_FILES: u32 = 100;
