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
mod limits;
pub mod metrics;
pub mod proto;
mod queue;
mod records;
mod ticket;

pub use addr::{
    check_directory_addr, one_or_many, BadHttpAddr, DirectoryTarget, HttpAddr, INVITE_SCHEME,
    MAX_HTTP_ADDR_LEN,
};
pub use http::{
    percent_decode, percent_encode, read_head, write_answer, Deadline, InboxPolicy, PathUse,
    PieceList, Rescanned, Status, TunnelAnswer, UploadsNow, ID_HEADER, PATH_HEADER, PEER_HEADER,
    QUEUE_HEADER, SECRET_HEADER,
};
pub use identity::{
    BadGroupPassword, BadIdentityKey, BadKeyPrint, Credentials, GroupPassword, IdentityKey,
    KeyPrint, IDENTITY_KEY_HEX, MAX_GROUP_PASSWORD_LEN,
};
pub use limits::{LOGIN_FILES, MAX_FILES_PER_MESSAGE, MAX_MESSAGE_BYTES};
pub use queue::{QueueEntry, QueueOp, QueueState, Wish, WishMatch, WishOp};
pub use records::{
    is_below, FileList, Hit, HitView, Matches, PeerListing, SearchOutcome, SharedFile, Source,
    SourceView,
};
pub use ticket::{is_connect_token, unix_now, BadTicket, Ticket, TICKET_LIFE};
