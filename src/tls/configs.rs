//! The rustls configurations: a peer's HTTP server (its certificate, a
//! client certificate asked for but not required) and a client that pins
//! the server's keyprint and shows its own certificate.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};

use super::identity::TlsIdentity;
use super::verify::{AnyClient, Expect, Pinned, Signatures};

/// ring, the one crypto provider (no aws-lc build), preferring AES-128-GCM
/// (as strong as the transfer needs, and faster for bulk bytes than
/// AES-256-GCM) where both sides have AES instructions.
pub(super) fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        _ => 2,
    });
    Arc::new(p)
}

/// A TLS server showing `me`, asking clients for a certificate without
/// requiring one, speaking HTTP/1.1.
pub fn server_config(me: &TlsIdentity) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = provider();
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClient {
            signatures: Signatures(provider),
        }))
        .with_single_cert(vec![me.cert_der()], me.key_der())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS client expecting `expect` of the server and showing `me` when
/// asked; the verifier is returned too, for what it saw.
pub(super) fn client_with(
    me: Option<&TlsIdentity>,
    expect: Expect,
    alpn: &[&[u8]],
) -> Result<(ClientConfig, Arc<Pinned>), rustls::Error> {
    let provider = provider();
    let pinned = Arc::new(Pinned::new(expect, provider.clone()));
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(pinned.clone());
    let mut config = match me {
        Some(me) => builder.with_client_auth_cert(vec![me.cert_der()], me.key_der())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((config, pinned))
}

/// A client config for HTTP/1.1 that accepts only a server whose
/// certificate has keyprint `pin`, showing `me` when asked.
pub fn client_config(
    me: Option<&TlsIdentity>,
    pin: crate::wire::KeyPrint,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    Ok(Arc::new(
        client_with(me, Expect::Pin(pin), &[b"http/1.1"])?.0,
    ))
}
