//! The directory process: who is online, at which address, sharing what.
//! The state sits behind [`DirectoryStore`] (`store.rs`); [`MemoryStore`]
//! (`memory.rs`) keeps it in this process, with the search index (`index.rs`) and
//! the query language (`query.rs`); `service.rs` is the gRPC face (checked types in,
//! flood limits from `flood.rs`, status codes out); `server.rs` runs it.
//!
//! Import rule: `directory/` imports the leaves, `wire/` and `config`, never
//! `peer/`.

mod event;
mod flood;
mod index;
mod ledger;
mod memory;
mod metrics;
pub mod query;
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
pub use server::{DirectoryServer, ServerError};
pub use store::{Batch, DirError, DirectoryStore, Limits, Token};
