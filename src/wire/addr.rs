//! [`HttpAddr`]: the base address a peer is reached at over HTTP, as it is
//! advertised to the directory and handed to every downloader. One rule,
//! applied wherever such an address enters (the peer's config, a Login, a
//! Locate or GetPeer reply, a `--to host:port` on the command line):
//! `http://` and a host with an optional port, nothing after it but an
//! optional `/` (dropped), no spaces or control characters, at most
//! [`MAX_HTTP_ADDR_LEN`] bytes. A path is refused because every route is
//! appended to the base (`{base}/files/{id}`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

/// Longest HTTP address a peer may advertise, in bytes.
pub const MAX_HTTP_ADDR_LEN: usize = 256;

const SCHEME: &str = "http://";

/// A checked, normalised peer base address such as `http://10.0.0.5:7001`
/// (no trailing slash). In JSON and TOML it is the string, checked when read.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpAddr(String);

/// Why a text is not an [`HttpAddr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHttpAddr {
    shown: String,
    reason: &'static str,
}

impl fmt::Display for BadHttpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP address {:?} {}: it must look like \"http://host:port\" (at most {MAX_HTTP_ADDR_LEN} bytes)",
            self.shown, self.reason
        )
    }
}

impl std::error::Error for BadHttpAddr {}

impl HttpAddr {
    /// Checks `text` against the rule above and drops a trailing `/`.
    pub fn parse(text: &str) -> Result<HttpAddr, BadHttpAddr> {
        let bad = |reason| BadHttpAddr {
            shown: text.chars().take(80).collect(),
            reason,
        };
        if text.len() > MAX_HTTP_ADDR_LEN {
            return Err(bad("is too long"));
        }
        let Some(rest) = text.strip_prefix(SCHEME) else {
            return Err(bad("does not start with http://"));
        };
        let host_port = rest.strip_suffix('/').unwrap_or(rest);
        if host_port.is_empty() {
            return Err(bad("has no host"));
        }
        if host_port
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c))
        {
            return Err(bad("has a path, a space or a character a host cannot have"));
        }
        // "[v6]:port", "[v6]", "host:port" or "host".
        let port = match host_port.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((ip, "")) if !ip.is_empty() => None,
                Some((ip, after)) if !ip.is_empty() => match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(bad("has something after its IPv6 address")),
                },
                _ => return Err(bad("has a broken IPv6 address")),
            },
            None => match host_port.split_once(':') {
                Some(("", _)) => return Err(bad("has no host")),
                Some((_, p)) => Some(p),
                None => None,
            },
        };
        if let Some(p) = port {
            if !p.bytes().all(|b| b.is_ascii_digit()) || !matches!(p.parse::<u16>(), Ok(1..)) {
                return Err(bad("has a port that is not a number from 1 to 65535"));
            }
        }
        Ok(HttpAddr(format!("{SCHEME}{host_port}")))
    }

    /// The address of an HTTP server bound to `addr` on this machine.
    pub fn from_socket(addr: SocketAddr) -> HttpAddr {
        HttpAddr(format!("{SCHEME}{addr}"))
    }

    /// `host:port` (or whatever stood after `http://`).
    pub fn authority(&self) -> &str {
        &self.0[SCHEME.len()..]
    }

    /// The host, when it is an IP address (an IPv4-mapped IPv6 address as
    /// its IPv4 address); `None` for a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        let auth = self.authority();
        let host = match auth.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => auth.rsplit_once(':').map_or(auth, |(h, _)| h),
        };
        host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL of `path` (which starts with `/`) on this peer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for HttpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HttpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpAddr({})", self.0)
    }
}

impl TryFrom<String> for HttpAddr {
    type Error = BadHttpAddr;
    fn try_from(s: String) -> Result<HttpAddr, BadHttpAddr> {
        HttpAddr::parse(&s)
    }
}

impl From<HttpAddr> for String {
    fn from(a: HttpAddr) -> String {
        a.0
    }
}

/// The directory's address is `host:port` (a name, an IPv4 address or an
/// IPv6 one in brackets, and a port): what gRPC connects to. A URL or a
/// missing port is refused here, not retried for ever by the gRPC core.
pub fn check_directory_addr(addr: &str) -> Result<(), String> {
    if addr.contains(',') {
        let mut families = std::collections::HashSet::new();
        for one in addr.split(',').map(str::trim) {
            check_directory_addr(one)?;
            let Ok(ip) = one.parse::<SocketAddr>() else {
                return Err(format!(
                    "lists {one:?}: in a list of directory replicas each is an IP address and \
                     a port (gRPC spreads calls only over addresses); for host names, put a \
                     proxy in front of the replicas and give its address alone"
                ));
            };
            families.insert(ip.is_ipv4());
        }
        if families.len() > 1 {
            return Err("mixes IPv4 and IPv6 addresses; list one kind".into());
        }
        return Ok(());
    }
    if addr.trim().is_empty() {
        return Err("is empty".into());
    }
    if let Some((scheme, rest)) = addr.split_once("://") {
        let rest = rest.trim_end_matches('/');
        return Err(format!(
            "is written host:port, without {scheme}:// (here: \"{rest}\")"
        ));
    }
    let bad = |why: &str| {
        Err(format!(
            "{addr:?} {why}; write host:port, e.g. 127.0.0.1:50051"
        ))
    };
    if addr.contains(['/', ' ', '?', '#', '@']) {
        return bad("is not host:port");
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("has no port");
    };
    if host.is_empty() || (host.contains(':') && !(host.starts_with('[') && host.ends_with(']'))) {
        return bad("has no host (an IPv6 address goes in brackets: [::1]:50051)");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => bad("has no port between 1 and 65535"),
    }
}

/// A string, or a list of strings joined with commas.
pub fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s,
        OneOrMany::Many(v) => v.join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_one_rule() {
        for (text, want) in [
            ("http://127.0.0.1:7001", "http://127.0.0.1:7001"),
            ("http://127.0.0.1:7001/", "http://127.0.0.1:7001"),
            ("http://peer.lan", "http://peer.lan"),
            ("http://[::1]:7001", "http://[::1]:7001"),
            ("http://[fe80::1]", "http://[fe80::1]"),
        ] {
            assert_eq!(HttpAddr::parse(text).map(|a| a.0), Ok(want.to_string()));
        }
        for bad in [
            "",
            "http://",
            "http:///",
            "https://x:1",
            "ftp://x",
            "127.0.0.1:7001",
            "http://x:1/files",
            "http://x:1//",
            "http://x:1?a",
            "http://user@x:1",
            "http://x y:1",
            "http://x:\n1",
            "http://x:",
            "http://x:0",
            "http://x:65536",
            "http://x:+1",
            "http://:80",
            "http://[::1",
            "http://[]:1",
            "http://[::1]x",
            &format!("http://{}", "a".repeat(MAX_HTTP_ADDR_LEN)),
        ] {
            let err = HttpAddr::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("http://host:port"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn socket_addresses_and_urls() {
        let a = HttpAddr::from_socket("127.0.0.1:9".parse().unwrap());
        assert_eq!(HttpAddr::parse(a.as_str()), Ok(a.clone()));
        assert_eq!(a.url("/files"), "http://127.0.0.1:9/files");
        assert_eq!(a.authority(), "127.0.0.1:9");
        assert_eq!(a.ip(), Some("127.0.0.1".parse().unwrap()));
        for (text, ip) in [
            ("http://10.0.0.5", Some("10.0.0.5")),
            ("http://[::1]:7", Some("::1")),
            ("http://[::ffff:10.1.2.3]:7", Some("10.1.2.3")),
            ("http://[fe80::1]", Some("fe80::1")),
            ("http://localhost:22", None),
            ("http://peer.lan", None),
        ] {
            let want = ip.map(|i: &str| i.parse::<IpAddr>().unwrap());
            assert_eq!(HttpAddr::parse(text).unwrap().ip(), want, "{text}");
        }
        let v6 = HttpAddr::from_socket("[::1]:9".parse().unwrap());
        assert_eq!(HttpAddr::parse(v6.as_str()), Ok(v6));
    }
}
