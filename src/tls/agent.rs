//! The HTTP agents a peer talks to other peers with. An `https://`
//! address carries the keyprint the directory listed for it; its agent
//! accepts only that certificate and shows this process's own (set once
//! at start), so the other side knows the downloader by its keyprint.

use std::sync::OnceLock;
use std::time::Duration;

use super::configs::client_config;
use super::identity::TlsIdentity;
use crate::wire::{HttpAddr, KeyPrint};

static ME: OnceLock<TlsIdentity> = OnceLock::new();

/// The certificate this process shows to the peers it connects to (once:
/// later calls keep the first).
pub fn set_client_identity(me: &TlsIdentity) {
    let _ = ME.set(me.clone());
}

/// A new agent for `base` with the given timeouts (its connections are
/// kept for the requests it makes): plain for `http://`; for `https://`,
/// pinned to the address's keyprint (an address without one cannot be
/// checked, so every request to it fails, saying so).
pub fn agent_for(
    base: &HttpAddr,
    connect: Duration,
    read: Duration,
    write: Duration,
) -> ureq::Agent {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout_read(read)
        .timeout_write(write)
        .user_agent(concat!("hubshare/", env!("CARGO_PKG_VERSION")));
    if base.is_tls() {
        // No keyprint: pin one nobody has, so the failure says why.
        let pin = base
            .pin()
            .unwrap_or_else(|| KeyPrint::of_spki(b"no keyprint is known for this address"));
        match client_config(ME.get(), pin) {
            Ok(config) => builder = builder.tls_config(config),
            Err(e) => log::error!("cannot make a TLS client: {e}"),
        }
    }
    builder.build()
}
