//! Certificates checked by keyprint, not by authority: the server-side
//! check a client makes ([`Pinned`]: the certificate's keyprint must be the
//! one expected, and the handshake must be signed by its key), and the
//! server's check of a client ([`AnyClient`]: any well-formed certificate,
//! whose keyprint then names the client; none is fine too).

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::SignatureScheme;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError};

use crate::wire::KeyPrint;

/// The keyprint of a DER certificate: the SHA-256 of its SubjectPublicKeyInfo.
pub fn keyprint_of(cert_der: &[u8]) -> Result<KeyPrint, String> {
    let der = CertificateDer::from(cert_der);
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|e| format!("not a certificate: {e}"))?;
    Ok(KeyPrint::of_spki(cert.subject_public_key_info().as_ref()))
}

/// A server showed a certificate other than the pinned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinMismatch {
    pub expected: KeyPrint,
    pub shown: KeyPrint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its certificate has keyprint {}, not the expected {}",
            self.shown, self.expected
        )
    }
}

impl std::error::Error for PinMismatch {}

/// The [`PinMismatch`] somewhere in `err`'s chain (through the I/O and
/// rustls errors an HTTP or TLS client wraps it in), if any.
pub fn pin_mismatch(err: &(dyn std::error::Error + 'static)) -> Option<PinMismatch> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(m) = e.downcast_ref::<PinMismatch>() {
            return Some(*m);
        }
        if let Some(Error::InvalidCertificate(CertificateError::Other(OtherError(inner)))) =
            e.downcast_ref::<Error>()
        {
            return inner.downcast_ref::<PinMismatch>().copied();
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(m) = pin_mismatch(inner) {
                return Some(m);
            }
        }
        next = e.source();
    }
    None
}

/// What a client expects of a server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This keyprint and no other.
    Pin(KeyPrint),
    /// Any (a probe that only learns what the server shows).
    Anything,
}

/// A client's check of the server: by keyprint, with the handshake's
/// signature verified against the certificate's key (so only the key's
/// holder passes). Keeps what it saw for [`probe`](super::probe).
#[derive(Debug)]
pub struct Pinned {
    expect: Expect,
    signatures: Signatures,
    pub(super) seen: Mutex<Option<Vec<u8>>>,
}

impl Pinned {
    pub fn new(expect: Expect, provider: Arc<CryptoProvider>) -> Pinned {
        Pinned {
            expect,
            signatures: Signatures(provider),
            seen: Mutex::new(None),
        }
    }
}

/// The three methods of both verifier traits that check the handshake's
/// signature, the same for both: through the verifier's `signatures`.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.signatures.tls12(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.signatures.tls13(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.signatures.schemes()
        }
    };
}

/// The handshake-signature checks both verifiers make: against the key of
/// the certificate shown, with the provider's algorithms. They are what
/// makes a keyprint proof of holding its key.
#[derive(Debug)]
pub struct Signatures(pub Arc<CryptoProvider>);

impl Signatures {
    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn bad_cert(_: String) -> Error {
    Error::InvalidCertificate(CertificateError::BadEncoding)
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let shown = keyprint_of(end_entity).map_err(bad_cert)?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        match self.expect {
            Expect::Pin(expected) if expected != shown => Err(Error::InvalidCertificate(
                CertificateError::Other(OtherError(Arc::new(PinMismatch { expected, shown }))),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    signature_checks!();
}

/// A server's check of a client: a certificate is asked for but not
/// required (browsers and curl have none); one given must be well formed
/// and the handshake signed by its key. Who it is, is its keyprint.
#[derive(Debug)]
pub struct AnyClient {
    pub signatures: Signatures,
}

impl ClientCertVerifier for AnyClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        keyprint_of(end_entity).map_err(bad_cert)?;
        Ok(ClientCertVerified::assertion())
    }

    signature_checks!();
}
