//! Who a call comes from: the connection's IP address, or, behind a proxy
//! the operator trusts, the one the proxy names.

use std::net::{IpAddr, SocketAddr};

/// The client's IP address, from grpcio's peer string
/// (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`).
pub(super) fn client_ip(peer: &str) -> Option<IpAddr> {
    let rest = peer
        .strip_prefix("ipv4:")
        .or_else(|| peer.strip_prefix("ipv6:"))?;
    rest.parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// The header a trusted proxy names the real client in.
pub const FORWARDED_HEADER: &str = "x-forwarded-for";

/// The address a call really came from: the connection's address, or,
/// when that is a proxy the operator trusts, the last address the proxy
/// wrote in `x-forwarded-for` (the one it saw; earlier ones are the
/// client's word). `None` when a trusted proxy names no valid address.
pub(super) fn real_ip(
    conn: Option<IpAddr>,
    forwarded: Option<&[u8]>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let conn = conn?;
    if !trusted.contains(&conn) {
        return Some(conn);
    }
    let last = std::str::from_utf8(forwarded?)
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let trusted = [proxy];
        // Not a proxy: its own address, whatever it claims.
        assert_eq!(
            real_ip(Some(ip("10.0.0.7")), Some(b"1.2.3.4"), &trusted),
            Some(ip("10.0.0.7"))
        );
        assert_eq!(real_ip(Some(proxy), Some(b"1.2.3.4"), &[]), Some(proxy));
        // The proxy: the last address it wrote (earlier ones are the client's word).
        assert_eq!(
            real_ip(Some(proxy), Some(b"1.2.3.4"), &trusted),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            real_ip(Some(proxy), Some(b"6.6.6.6, 1.2.3.4"), &trusted),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            real_ip(Some(proxy), Some(b"::ffff:1.2.3.4"), &trusted),
            Some(ip("1.2.3.4"))
        );
        // A trusted proxy that names nobody, or garbage: no address at all.
        for bad in [
            None,
            Some(&b""[..]),
            Some(&b"not an ip"[..]),
            Some(&b"1.2.3.4:80"[..]),
            Some(&b"\xff"[..]),
        ] {
            assert_eq!(real_ip(Some(proxy), bad, &trusted), None, "{bad:?}");
        }
        assert_eq!(real_ip(None, Some(b"1.2.3.4"), &trusted), None);
    }
}
