//! The relay: for two peers that are both firewalled, it splices two
//! connections that each opened to it, paired by a ticket the directory
//! gave both (`wire::Ticket`: signed under a secret the directory and the
//! relay share, naming the source and the downloader by keyprint, soon
//! expiring). It never connects anywhere itself, so it is not an open
//! proxy, and TLS runs end to end through it: it sees addresses,
//! keyprints and byte counts, never a file name or a byte of a file.
//!
//! Two kinds of connection arrive: a downloader's `CONNECT <ticket>
//! HTTP/1.1` (answered `200` once paired, or a refusal saying why) and a
//! source's `HUBSHARE-REVERSE <ticket>` (closed when refused). `GET
//! /metrics` gives its counters (Prometheus text), `GET /health` `ok`.
//! Its caps (per-session and total bytes per second, sessions per peer and
//! in all, idle time) come from `RelayConfig`.
//!
//! Import rule: the leaves, `wire/` and `config/`. It runs in the
//! directory's process (`[relay] listen` in its config) or as the `relay`
//! binary.

mod server;

pub use server::{Relay, RelayStats};
