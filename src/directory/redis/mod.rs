//! [`RedisStore`]: one replica of a directory whose state several replicas
//! share through Redis, a `DirectoryState` over the `RedisLedger`. Writes
//! go to Redis, reads never do:
//!
//! - Each write (login, announce, heartbeat, logout, a sweep of lapsed
//!   leases) is one Lua script: it checks and updates the keys and, when
//!   the roster changes, appends one [`Event`] to a single stream, with the
//!   store's epoch and the next sequence number.
//! - Every replica keeps its own [`Roster`] (and so its own search index),
//!   fed by a `redis-follower` thread that reads the stream (blocking) and
//!   applies each event in order. Search, Locate, GetPeer and ListPeers
//!   answer from it.
//! - A write waits until this replica's follower has applied its own event
//!   before it answers: a peer sees its own announce on the replica it sent
//!   it to (read your writes).
//! - A follower that starts, or that finds a gap (the next event is not the
//!   next number, or the epoch changed: the stream was trimmed past it, or
//!   Redis came back empty), notes the stream's position, reads every peer
//!   from Redis into a new roster and follows on from that position.
//!   Events are whole-state per peer or set-like, so applying one the
//!   snapshot already holds changes nothing in the end.
//! - Leases and name holds run on the lease clock (`ledger.rs`), kept in
//!   Redis: only sweeps move it, by Redis's time since the last sweep and
//!   at most `CLOCK_STEP_MAX` per sweep: when Redis was away (or no
//!   replica swept), peers get a whole lease to heartbeat again rather than
//!   all expiring at once. A sweep is one script, so with any number of
//!   replicas sweeping each lapsed session leaves exactly once.
//! - Redis away: writes answer [`DirError::Unavailable`]; reads answer from
//!   memory for one lease after the last contact, then also fail, and
//!   [`DirectoryStore::serving`] says no until Redis answers again.
//!
//! Keys (all under the configured prefix): `epoch`, `seq`, `clock`,
//! `clock_wall`, `events` (the stream), `leases` (session -> lease end on
//! the clock), `sess:{print}` (name), `peer:{name}` (session, addr),
//! `files:{name}` (file id -> the file as JSON), `bind:{name}` (owner,
//! released: on the lease clock, empty while live), `holds` (name -> the
//! end of its hold on the clock). Sessions are kept by the print of their
//! token, never the token. The scripts append the events Rust serialized
//! (the sweep's Left, a session print, is the one built in Lua).

mod conn;
mod follower;
mod scripts;
mod shared;
mod store;

pub use store::RedisStore;
