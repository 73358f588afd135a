//! Who the peer is, and which directories it trusts. Over TLS its identity
//! is its key pair (`state_dir/tls.key`, 0600) and certificate: the
//! directory binds the peer's name to the keyprint, so keeping the key is
//! what keeps the name. With `tls = false` it is the identity key
//! (`state_dir/identity.key`, 0600), sent with every Login. A peer that
//! loses either is a stranger to the directory until the name's hold runs
//! out (or the operator frees the name).
//!
//! A directory given by address, not by invite, is trusted on first use:
//! its keyprint is kept in `state_dir/known_directories` (one line each,
//! the address and the keyprint) and required from then on.

use std::fs;
use std::io;
use std::path::Path;

use crate::fsutil::{create_once, warn_if_readable_by_others, write_atomic};
use crate::tls::{self, TlsIdentity, TlsPaths};
use crate::wire::{IdentityKey, KeyPrint};

/// File name of the key in the state folder.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of the directories trusted on first use.
pub const KNOWN_DIRECTORIES: &str = "known_directories";

/// The peer's TLS identity in `state_dir` (made on first start), also
/// the certificate it shows the peers it downloads from.
pub fn tls_identity(state_dir: &Path, name: &str) -> io::Result<TlsIdentity> {
    let me = tls::load_or_create(
        &TlsPaths::in_state(state_dir),
        &["hubshare-peer".to_string(), "localhost".to_string()],
        &format!("hubshare peer {name}"),
    )?;
    tls::set_client_identity(&me);
    Ok(me)
}

/// The keyprint trusted for the directory at `addrs`, if one was kept.
pub fn known_directory(known: &Path, addrs: &str) -> Option<KeyPrint> {
    let text = fs::read_to_string(known).ok()?;
    text.lines().find_map(|line| {
        let (a, kp) = line.trim().rsplit_once(' ')?;
        (a == addrs).then(|| KeyPrint::parse(kp).ok()).flatten()
    })
}

/// Keeps `kp` as the keyprint of the directory at `addrs` (atomically,
/// beside the others already kept).
pub fn remember_directory(known: &Path, addrs: &str, kp: KeyPrint) -> io::Result<()> {
    let mut text = fs::read_to_string(known).unwrap_or_default();
    text.retain(|c| c != '\r');
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.trim().rsplit_once(' ').is_some_and(|(a, _)| a != addrs))
        .map(str::to_string)
        .collect();
    lines.push(format!("{addrs} {kp}"));
    write_atomic(known, (lines.join("\n") + "\n").as_bytes())
}

/// The key in `state_dir`, made (0600, never over an existing one) if there
/// is none yet. A file that holds no key is an error that names the file,
/// never replaced silently: replacing it would give the name away.
pub fn load_or_create(state_dir: &Path) -> io::Result<IdentityKey> {
    let path = state_dir.join(IDENTITY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => return parse(&path, &text),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let key = IdentityKey::generate();
    if create_once(&path, format!("{}\n", key.expose()).as_bytes(), true)? {
        log::info!("made a new identity key in {}", path.display());
        Ok(key)
    } else {
        // Another process made one first: that one is ours.
        parse(&path, &fs::read_to_string(&path)?)
    }
}

fn parse(path: &Path, text: &str) -> io::Result<IdentityKey> {
    let key = IdentityKey::parse(text.trim()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} does not hold an identity key ({e}); restore it from a backup, or delete \
                 it to make a new one (the directory then treats this peer as a stranger \
                 until its name is freed)",
                path.display()
            ),
        )
    })?;
    warn_if_readable_by_others(path);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn directories_trusted_on_first_use_are_kept_by_address() {
        let dir = tempfile::tempdir().unwrap();
        let known = dir.path().join(KNOWN_DIRECTORIES);
        let (a, b) = (KeyPrint::of_spki(b"a"), KeyPrint::of_spki(b"b"));
        assert_eq!(known_directory(&known, "127.0.0.1:1"), None);
        remember_directory(&known, "127.0.0.1:1", a).unwrap();
        remember_directory(&known, "127.0.0.1:2,127.0.0.1:3", b).unwrap();
        assert_eq!(known_directory(&known, "127.0.0.1:1"), Some(a));
        assert_eq!(known_directory(&known, "127.0.0.1:2,127.0.0.1:3"), Some(b));
        remember_directory(&known, "127.0.0.1:1", b).unwrap();
        assert_eq!(known_directory(&known, "127.0.0.1:1"), Some(b));
        assert_eq!(fs::read_to_string(&known).unwrap().lines().count(), 2);
    }

    #[test]
    fn made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let path = dir.path().join(IDENTITY_FILE);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");
        fs::write(&path, "not a key").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("identity.key"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
    }
}
