//! TLS for both processes: each one's key pair and self-signed certificate
//! (made on first start, kept in its state folder), keyprints of
//! certificates, the verifiers that pin a keyprint instead of trusting a
//! certificate authority, the rustls configurations of a peer's HTTP server
//! and of its client, a probe that learns which certificate a server shows,
//! and the HTTP agents that pin each source.
//!
//! Import rule: `tls/` imports the leaves and `wire/` (for [`KeyPrint`] and
//! [`HttpAddr`](crate::wire::HttpAddr)); the directory and the peer import it.
//!
//! [`KeyPrint`]: crate::wire::KeyPrint

mod agent;
mod configs;
mod identity;
mod probe;
mod verify;

pub use agent::{
    agent_for, path_to, reverse_possible, set_client_identity, set_client_name, set_reverse_proxy,
};
pub use configs::{client_config, server_config};
pub use identity::{load_or_create, TlsIdentity, TlsPaths, DIRECTORY_NAME};
pub use probe::{probe, probe_speaking, ProbeError};
pub use verify::{keyprint_of, pin_mismatch, PinMismatch};
