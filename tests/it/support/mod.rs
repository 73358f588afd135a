//! Shared builders for the integration tests, by role: real `server` and
//! `peer` processes on 127.0.0.1 ports chosen at run time (or a directory
//! in the test process), each peer with a temp folder of its own, killed
//! when dropped; the menu driven line by line; a raw HTTP client for
//! requests no well-behaved client would send; a direct gRPC client; fake
//! sources; and the checks tests make.

mod cdp;
mod check;
mod directory;
mod fake_source;
mod grpc;
mod http;
mod menu;
mod metrics;
mod peer;
mod proc;
mod tls;

pub use cdp::*;
pub use check::*;
pub use directory::*;
pub use fake_source::*;
pub use grpc::*;
pub use http::*;
pub use metrics::*;
pub use peer::*;
pub use proc::*;
pub use tls::*;
