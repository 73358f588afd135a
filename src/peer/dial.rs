//! Opening the directory as the config says: plaintext with `tls = false`;
//! otherwise over TLS, showing the peer's certificate (made on first start)
//! and pinning the directory's keyprint, from the invite or trusted on
//! first use.

use std::io;

use super::client::{Directory, TlsDial};
use super::identity::{self, KNOWN_DIRECTORIES};
use super::share::make_state_dir;
use crate::config::PeerConfig;
use crate::tls::TlsIdentity;

/// The directory of `config`, and the peer's TLS identity when it speaks TLS.
pub fn open_directory(config: &PeerConfig) -> io::Result<(Directory, Option<TlsIdentity>)> {
    let target = config.directory_target();
    let password = config.group_password();
    crate::tls::set_client_name(&config.name, password.as_ref());
    if !config.tls {
        let dir = Directory::connect(&target.addrs).with_group_password(password);
        return Ok((dir, None));
    }
    let state = config.state_dir();
    make_state_dir(&state)?;
    let me = identity::tls_identity(&state, &config.name).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the peer's TLS key in {}: {e}", state.display()),
        )
    })?;
    let dial = TlsDial {
        me: me.clone(),
        pin: None,
        known: Some(state.join(KNOWN_DIRECTORIES)),
    };
    let dir = Directory::connect_tls(&target, dial).with_group_password(password);
    Ok((dir, Some(me)))
}
