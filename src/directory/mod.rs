//! The directory process: who is online, at which address, sharing what.
//! The state sits behind [`DirectoryStore`] (`store.rs`), which one
//! `DirectoryState` (`state.rs`) implements over a `Ledger` (`ledger.rs`):
//! the roster (`roster.rs`, with the search index in `index/` and the query
//! language in `query.rs`) answers the reads, and the ledger decides the
//! writes, in memory ([`MemoryStore`], `memory.rs`) or in Redis shared by
//! replicas ([`RedisStore`], `redis/`). `service.rs` is the gRPC face
//! (checked types in, flood limits from `flood.rs`, status codes out);
//! `server.rs` runs it.
//!
//! Import rule: `directory/` imports the leaves, `wire/`, `config` and
//! `tls/`, never `peer/`.

mod book;
mod caller;
mod event;
mod flood;
mod index;
mod ledger;
mod memory;
mod metrics;
mod notices;
pub mod query;
mod reach;
mod redis;
mod reply;
mod roster;
mod server;
mod service;
mod state;
mod status;
mod store;
#[cfg(test)]
mod suite;

#[cfg(test)]
pub(crate) use ledger::TestWall;
pub use memory::MemoryStore;
pub use query::{BadQuery, NameQuery, Query, MAX_QUERY_LEN};
pub use redis::RedisStore;
pub use reply::EncodedReply;
pub use server::{directory_identity, invite_of, DirectoryServer, ServerError};
pub use store::{Batch, DirError, DirectoryStore, Limits, Token};
