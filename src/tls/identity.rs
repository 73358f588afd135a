//! A process's TLS identity: a private key (ECDSA P-256) in a 0600 file
//! and a self-signed certificate made from it. The key is the identity:
//! the keyprint is the hash of its public half, so a certificate lost or
//! spoilt is made again from the key with the same keyprint, while a key
//! is made only where none exists and never replaced.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::verify::keyprint_of;
use crate::fsutil::{create_once, create_private_dir, warn_if_readable_by_others};
use crate::wire::KeyPrint;

/// The name every directory certificate carries and every peer asks for,
/// whatever host or address it dials: pinning, not the name, says whom it
/// reached.
pub const DIRECTORY_NAME: &str = "hubshare-directory";

/// Where a key and its certificate live.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl TlsPaths {
    /// `tls.key` and `tls.crt` in `state_dir`.
    pub fn in_state(state_dir: &Path) -> TlsPaths {
        TlsPaths {
            key: state_dir.join("tls.key"),
            cert: state_dir.join("tls.crt"),
        }
    }
}

/// A key pair and its certificate, in DER and PEM. `Debug` never shows the key.
#[derive(Clone)]
pub struct TlsIdentity {
    key_der: Vec<u8>,
    key_pem: String,
    cert_der: Vec<u8>,
    cert_pem: String,
    keyprint: KeyPrint,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsIdentity({})", self.keyprint)
    }
}

impl TlsIdentity {
    pub fn keyprint(&self) -> KeyPrint {
        self.keyprint
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key in PEM, for a TLS library that takes it so (gRPC).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

fn bad_data(path: &Path, what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// The identity at `paths`: the key read (or made, 0600, never over an
/// existing file), the certificate read when it matches the key, else made
/// anew from it for `names` (its subject alternative names) and `title`
/// (its common name). Processes sharing the files (directory replicas)
/// end up with the one key and the one certificate, whoever makes them.
pub fn load_or_create(paths: &TlsPaths, names: &[String], title: &str) -> io::Result<TlsIdentity> {
    let key = load_or_make_key(&paths.key)?;
    let keyprint = KeyPrint::of_spki(&key.subject_public_key_info());
    let identity = |cert_der: Vec<u8>, cert_pem: String| TlsIdentity {
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
        cert_der,
        cert_pem,
        keyprint,
    };
    let matching =
        |pem: &str| first_cert(pem).filter(|der| keyprint_of(der).ok() == Some(keyprint));
    if let Ok(pem) = fs::read_to_string(&paths.cert) {
        if let Some(der) = matching(&pem) {
            return Ok(identity(der, pem));
        }
        log::warn!(
            "{} is not a certificate of {}: making a new one from the key (the keyprint stays {keyprint})",
            paths.cert.display(),
            paths.key.display()
        );
        fs::remove_file(&paths.cert)?;
    }
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|e| bad_data(&paths.cert, format!("cannot make a certificate: {e}")))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, title);
    params.distinguished_name = dn;
    let cert = params
        .self_signed(&key)
        .map_err(|e| bad_data(&paths.cert, format!("cannot sign a certificate: {e}")))?;
    let cert_pem = cert.pem();
    if create_once(&paths.cert, cert_pem.as_bytes(), false)? {
        return Ok(identity(cert.der().to_vec(), cert_pem));
    }
    // Another process sharing the key made one first: use that one, so
    // every holder of the key shows the same certificate.
    let pem = fs::read_to_string(&paths.cert)?;
    match matching(&pem) {
        Some(der) => Ok(identity(der, pem)),
        None => Err(bad_data(
            &paths.cert,
            format!("is not a certificate of {}", paths.key.display()),
        )),
    }
}

fn first_cert(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|c| c.to_vec())
}

fn load_or_make_key(path: &Path) -> io::Result<KeyPair> {
    match fs::read_to_string(path) {
        Ok(text) => return parse_key(path, &text),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let key =
        KeyPair::generate().map_err(|e| bad_data(path, format!("cannot make a key pair: {e}")))?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    if create_once(path, key.serialize_pem().as_bytes(), true)? {
        log::info!("made a new TLS key in {}", path.display());
        Ok(key)
    } else {
        // Another process (a replica sharing the file) made one first.
        parse_key(path, &fs::read_to_string(path)?)
    }
}

fn parse_key(path: &Path, text: &str) -> io::Result<KeyPair> {
    let key = KeyPair::from_pem(text).map_err(|_| {
        bad_data(
            path,
            "does not hold a private key in PEM; restore it from a backup, or delete it to \
             make a new one (the keyprint then changes: peers must be told the new one)"
                .into(),
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
    fn made_once_kept_and_a_lost_certificate_keeps_the_keyprint() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::in_state(dir.path());
        let names = vec![DIRECTORY_NAME.to_string()];
        let first = load_or_create(&paths, &names, "test").unwrap();
        assert_eq!(
            fs::metadata(&paths.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(keyprint_of(&first.cert_der).unwrap(), first.keyprint());
        let again = load_or_create(&paths, &names, "test").unwrap();
        assert_eq!(again.keyprint(), first.keyprint());
        assert_eq!(
            again.cert_pem(),
            first.cert_pem(),
            "the certificate is kept"
        );
        fs::write(&paths.cert, "spoilt").unwrap();
        let remade = load_or_create(&paths, &names, "test").unwrap();
        assert_eq!(remade.keyprint(), first.keyprint());
        assert_ne!(fs::read_to_string(&paths.cert).unwrap(), "spoilt");
        fs::write(&paths.key, "not a key").unwrap();
        let err = load_or_create(&paths, &names, "test").unwrap_err();
        assert!(err.to_string().contains("tls.key"), "{err}");
        assert_eq!(fs::read_to_string(&paths.key).unwrap(), "not a key");
        assert!(!format!("{first:?}").contains("PRIVATE"));
        let other =
            load_or_create(&TlsPaths::in_state(&dir.path().join("b")), &names, "t").unwrap();
        assert_ne!(other.keyprint(), first.keyprint());
    }
}
