//! The peer's HTTP server: tiny_http on a listener we build ourselves (with
//! `TCP_NODELAY`, which tiny_http leaves off). Each request is served on the
//! thread of the connection that read it (the vendored tiny_http's
//! `from_listener_serving`), at most `workers` at once (`gate.rs`). Routes:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /` | the web page: this peer's files as a tree (`tree.rs`), a search of the group (`page.rs`), what it asks for (`form.rs`) |
//! | `GET /page.css` | its stylesheet |
//! | `GET /health` | liveness |
//! | `GET /metrics` | Prometheus metrics (`metrics.rs`) |
//! | `GET /files` | JSON list of shared files (the web page for `Accept: text/html`) |
//! | `GET`, `HEAD /files/{id}` | the bytes; single `Range` -> 206, unsatisfiable -> 416 (`files.rs`) |
//! | `GET /files/{id}/pieces` | the piece list (`files.rs`) |
//! | `GET /inbox` | whether uploads are accepted, and the size cap |
//! | `PUT /inbox/{path}` | upload a file into the share, under a path (`upload.rs`) |
//! | `GET /control/status`, `POST /control/{rescan,logout}` | need the control secret (`control.rs`) |
//!
//! The server sees the peer only through the [`Host`] trait: it can look a
//! file up by id (a URL never becomes a path), hand over a verified upload,
//! and run the control actions, nothing more. Upload slots, their queue
//! (`queue.rs`) and the rate limit (`throttle.rs`) are the server's own.
//! Small things never wait for a slot: files up to `free_slot_bytes`, piece
//! lists, HEAD, the page, `/files`, `/health`, `/inbox`.
//!
//! In a closed group (a group password in the config) every route but
//! `/health`, `/page.css`, `/metrics` and the control routes (which need
//! their own secret) answers members only (`member.rs`): a live member's
//! certificate, or the password as HTTP Basic credentials.

mod context;
mod control;
mod files;
mod form;
mod gate;
mod host;
mod member;
mod metrics;
mod owner;
mod owner_page;
mod page;
pub mod queue;
mod range;
mod respond;
mod routes;
mod server;
mod throttle;
mod tree;
mod upload;

pub use host::{Host, SearchFailed};
pub use range::ByteRange;
pub use server::{bind, Dialer, HttpServer, ServeOptions};
