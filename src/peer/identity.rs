//! The peer's identity key: made on first start, kept in
//! `state_dir/identity.key` (mode 0600), sent with every Login. The
//! directory binds the peer's name to it, so keeping this file is what
//! keeps the name: a peer that loses it is a stranger to the directory
//! until the name's hold runs out (or the operator frees the name).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{publish, write_private};
use crate::random::random_hex;
use crate::wire::IdentityKey;

/// File name of the key in the state folder.
pub const IDENTITY_FILE: &str = "identity.key";

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
    let tmp = state_dir.join(format!(".{IDENTITY_FILE}.{}.tmp", random_hex(6)));
    write_private(&tmp, format!("{}\n", key.expose()).as_bytes())?;
    match publish(&tmp, &path) {
        Ok(()) => {
            log::info!("made a new identity key in {}", path.display());
            Ok(key)
        }
        // Another process made one first: that one is ours.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&tmp);
            parse(&path, &fs::read_to_string(&path)?)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn parse(path: &PathBuf, text: &str) -> io::Result<IdentityKey> {
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
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} can be read by other users: chmod 600 it",
                path.display()
            );
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

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
