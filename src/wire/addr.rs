//! [`HttpAddr`]: the base address a peer is reached at over HTTP, as it is
//! advertised to the directory and handed to every downloader. One rule,
//! applied wherever such an address enters (the peer's config, a Login, a
//! Locate or GetPeer reply, a `--to host:port` on the command line):
//! `http://` or `https://` and a host with an optional port, nothing after
//! it but an optional `/` (dropped), no spaces or control characters, at
//! most [`MAX_HTTP_ADDR_LEN`] bytes. A path is refused because every route
//! is appended to the base (`{base}/files/{id}`).
//!
//! An `https://` address may carry the [`KeyPrint`] its certificate must
//! have (the directory hands it out with the address, the downloader pins
//! it). It is not part of the address people read ([`Display`], `as_str`),
//! but it travels with the value: its stored form (serde, Redis) is
//! `https://host:port#kp=BASE64`, which `parse` reads back.
//!
//! An address the directory could not reach (a peer behind NAT or a
//! firewall) is marked [`firewalled`](HttpAddr::firewalled): it travels
//! with the value too, as `#fw` at the end of the stored form, so every
//! store and replica lists its sources as reachable only through the
//! directory.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::identity::KeyPrint;

/// Longest HTTP address a peer may advertise, in bytes.
pub const MAX_HTTP_ADDR_LEN: usize = 256;

const SCHEME: &str = "http://";
const TLS_SCHEME: &str = "https://";
const PIN_MARK: &str = "#kp=";
const FIREWALLED_MARK: &str = "#fw";

/// A checked, normalised peer base address such as `http://10.0.0.5:7001`
/// or `https://10.0.0.5:7001` (no trailing slash), with the keyprint to
/// pin when known. In JSON and TOML it is the string, checked when read.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpAddr {
    /// The stored form: the address, then `#kp=` and the keyprint if
    /// pinned, then `#fw` if firewalled.
    text: String,
    /// Where the address ends in `text`.
    base_len: usize,
    pin: Option<KeyPrint>,
    firewalled: bool,
}

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
            "HTTP address {:?} {}: it must look like \"https://host:port\" or \"http://host:port\" (at most {MAX_HTTP_ADDR_LEN} bytes)",
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
        let (text, firewalled) = match text.strip_suffix(FIREWALLED_MARK) {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let (text, pin) = match text.split_once(PIN_MARK) {
            Some((base, kp)) => (
                base,
                Some(KeyPrint::parse(kp).map_err(|_| bad("has a broken keyprint after #kp="))?),
            ),
            None => (text, None),
        };
        if text.len() > MAX_HTTP_ADDR_LEN {
            return Err(bad("is too long"));
        }
        let (scheme, rest) = match (text.strip_prefix(SCHEME), text.strip_prefix(TLS_SCHEME)) {
            (Some(rest), _) => (SCHEME, rest),
            (_, Some(rest)) => (TLS_SCHEME, rest),
            _ => return Err(bad("does not start with https:// or http://")),
        };
        if pin.is_some() && scheme == SCHEME {
            return Err(bad("has a keyprint but is not https://"));
        }
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
        Ok(HttpAddr::new(
            format!("{scheme}{host_port}"),
            pin,
            firewalled,
        ))
    }

    fn new(base: String, pin: Option<KeyPrint>, firewalled: bool) -> HttpAddr {
        let base_len = base.len();
        let mut text = match pin {
            Some(kp) => format!("{base}{PIN_MARK}{kp}"),
            None => base,
        };
        if firewalled {
            text.push_str(FIREWALLED_MARK);
        }
        HttpAddr {
            text,
            base_len,
            pin,
            firewalled,
        }
    }

    /// The address of an HTTP server bound to `addr` on this machine,
    /// `https://` when it speaks TLS.
    pub fn from_socket(addr: SocketAddr, tls: bool) -> HttpAddr {
        let scheme = if tls { TLS_SCHEME } else { SCHEME };
        HttpAddr::new(format!("{scheme}{addr}"), None, false)
    }

    /// The same address, pinned to `pin` (only an `https://` one is).
    pub fn pinned(self, pin: Option<KeyPrint>) -> HttpAddr {
        if self.is_tls() && pin != self.pin {
            let mut text = self.text;
            text.truncate(self.base_len);
            HttpAddr::new(text, pin, self.firewalled)
        } else {
            self
        }
    }

    /// The same address, marked as one the directory could not reach
    /// (`true`) or not.
    pub fn firewalled_as(self, firewalled: bool) -> HttpAddr {
        if firewalled == self.firewalled {
            return self;
        }
        let mut text = self.text;
        text.truncate(self.base_len);
        HttpAddr::new(text, self.pin, firewalled)
    }

    /// Whether the directory could not reach it: its peer is behind NAT
    /// or a firewall, and others cannot connect to it there.
    pub fn firewalled(&self) -> bool {
        self.firewalled
    }

    /// The same address with `ip` as its host (and the same port, scheme,
    /// pin and mark).
    pub fn with_ip(&self, ip: IpAddr) -> HttpAddr {
        let scheme = if self.is_tls() { TLS_SCHEME } else { SCHEME };
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let base = match self.port() {
            Some(port) => format!("{scheme}{host}:{port}"),
            None => format!("{scheme}{host}"),
        };
        HttpAddr::new(base, self.pin, self.firewalled)
    }

    /// The port written in it, if any.
    pub fn port(&self) -> Option<u16> {
        let auth = self.authority();
        let port = match auth.strip_prefix('[') {
            Some(v6) => v6.split_once("]:")?.1,
            None => auth.rsplit_once(':')?.1,
        };
        port.parse().ok()
    }

    /// The port it is reached at: the one written, else the scheme's.
    pub fn port_or_default(&self) -> u16 {
        self.port().unwrap_or(if self.is_tls() { 443 } else { 80 })
    }

    /// Whether it is an `https://` address.
    pub fn is_tls(&self) -> bool {
        self.text.starts_with(TLS_SCHEME)
    }

    /// The keyprint in base64, as it is sent, when pinned.
    pub fn pin_text(&self) -> Option<&str> {
        let (_, pin_len) = self.text_lens();
        self.pin.map(|_| {
            let start = self.base_len + PIN_MARK.len();
            &self.text[start..start + pin_len]
        })
    }

    /// The lengths of [`as_str`](Self::as_str) and of
    /// [`pin_text`](Self::pin_text) (0 when unpinned), known without
    /// reading the text: a reply sums its sizes before it writes a byte.
    pub fn text_lens(&self) -> (usize, usize) {
        let mark = if self.firewalled {
            FIREWALLED_MARK.len()
        } else {
            0
        };
        let pin = match self.pin {
            Some(_) => self.text.len() - self.base_len - PIN_MARK.len() - mark,
            None => 0,
        };
        (self.base_len, pin)
    }

    /// The keyprint its certificate must have, when known.
    pub fn pin(&self) -> Option<KeyPrint> {
        self.pin
    }

    /// `host:port` (or whatever stood after the scheme).
    pub fn authority(&self) -> &str {
        let scheme = if self.is_tls() { TLS_SCHEME } else { SCHEME };
        &self.as_str()[scheme.len()..]
    }

    /// The stored form: the address and, when pinned, `#kp=` and the
    /// keyprint; `#fw` when firewalled.
    pub fn stored(&self) -> String {
        self.text.clone()
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
        &self.text[..self.base_len]
    }

    /// The URL of `path` (which starts with `/`) on this peer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.as_str())
    }
}

impl fmt::Display for HttpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HttpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpAddr({})", self.stored())
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
        a.text
    }
}

/// How an invite starts: `hubshare://HOST:PORT[,HOST:PORT...]/?kp=KEYPRINT`.
pub const INVITE_SCHEME: &str = "hubshare://";

/// Where a peer finds its directory: the address (or replicas' list) to
/// dial and, from an invite, the keyprint its certificate must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryTarget {
    /// `host:port`, or several separated by commas.
    pub addrs: String,
    /// The keyprint an invite gave; `None` for a plain address (trusted on
    /// first use).
    pub pin: Option<KeyPrint>,
}

impl DirectoryTarget {
    /// A peer's `directory` setting: an invite, or `host:port` (several
    /// separated by commas).
    pub fn parse(text: &str) -> Result<DirectoryTarget, String> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix(INVITE_SCHEME) else {
            check_directory_addr(text)?;
            return Ok(DirectoryTarget {
                addrs: text.to_string(),
                pin: None,
            });
        };
        let bad = |why: &str| {
            format!(
                "the invite {text:?} {why}: it must look like hubshare://HOST:PORT/?kp=KEYPRINT,                  as the directory prints it at start and `server invite` prints it again"
            )
        };
        let (addrs, query) = rest
            .split_once('?')
            .ok_or_else(|| bad("has no ?kp= (the directory's keyprint)"))?;
        let addrs = addrs.strip_suffix('/').unwrap_or(addrs);
        check_directory_addr(addrs).map_err(|e| bad(&e))?;
        let kp = query
            .split('&')
            .find_map(|p| p.strip_prefix("kp="))
            .ok_or_else(|| bad("has no kp= (the directory's keyprint)"))?;
        let pin = KeyPrint::parse(kp).map_err(|e| bad(&format!("has a broken keyprint ({e})")))?;
        Ok(DirectoryTarget {
            addrs: addrs.to_string(),
            pin: Some(pin),
        })
    }

    /// The invite for `addrs` pinned to `pin`.
    pub fn invite(addrs: &str, pin: KeyPrint) -> String {
        format!("{INVITE_SCHEME}{addrs}/?kp={pin}")
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
    fn a_firewalled_mark_travels_with_the_pin_and_the_ports_are_read() {
        let kp = KeyPrint::of_spki(b"some key");
        let a = HttpAddr::parse("https://10.0.0.5:7001")
            .unwrap()
            .pinned(Some(kp))
            .firewalled_as(true);
        assert!(a.firewalled());
        assert_eq!(a.as_str(), "https://10.0.0.5:7001");
        assert_eq!(a.pin_text(), Some(kp.to_string().as_str()));
        assert_eq!(a.text_lens(), (a.as_str().len(), kp.to_string().len()));
        let back = HttpAddr::parse(&a.stored()).unwrap();
        assert_eq!(back, a);
        assert!(back.firewalled() && back.pin() == Some(kp));
        let direct = back.clone().firewalled_as(false);
        assert!(!direct.firewalled());
        assert_eq!(direct.stored(), format!("https://10.0.0.5:7001#kp={kp}"));
        // Unpinned, plaintext, firewalled.
        let plain = HttpAddr::parse("http://10.0.0.5:7001#fw").unwrap();
        assert!(plain.firewalled() && plain.pin_text().is_none());
        assert_eq!(plain.text_lens(), ("http://10.0.0.5:7001".len(), 0));
        // Another host, the same rest.
        let moved = a.with_ip("203.0.113.7".parse().unwrap());
        assert_eq!(
            moved.stored(),
            format!("https://203.0.113.7:7001#kp={kp}#fw")
        );
        let v6 = HttpAddr::parse("http://[::1]:8080").unwrap();
        assert_eq!(v6.port(), Some(8080));
        assert_eq!(
            v6.with_ip("2001:db8::1".parse().unwrap()).as_str(),
            "http://[2001:db8::1]:8080"
        );
        let no_port = HttpAddr::parse("https://peer.lan").unwrap();
        assert_eq!((no_port.port(), no_port.port_or_default()), (None, 443));
    }

    #[test]
    fn addresses_follow_one_rule() {
        for (text, want) in [
            ("http://127.0.0.1:7001", "http://127.0.0.1:7001"),
            ("http://127.0.0.1:7001/", "http://127.0.0.1:7001"),
            ("http://peer.lan", "http://peer.lan"),
            ("http://[::1]:7001", "http://[::1]:7001"),
            ("http://[fe80::1]", "http://[fe80::1]"),
        ] {
            assert_eq!(
                HttpAddr::parse(text).map(|a| a.stored()),
                Ok(want.to_string())
            );
        }
        for bad in [
            "",
            "http://",
            "http:///",
            "ftp://x:1",
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
    fn invites_read_back_and_plain_addresses_have_no_pin() {
        let kp = KeyPrint::of_spki(b"spki");
        let invite = DirectoryTarget::invite("127.0.0.1:50051", kp);
        let t = DirectoryTarget::parse(&invite).unwrap();
        assert_eq!((t.addrs.as_str(), t.pin), ("127.0.0.1:50051", Some(kp)));
        let two = DirectoryTarget::parse(&format!("hubshare://10.0.0.1:1,10.0.0.2:2?kp={kp}"));
        assert_eq!(two.unwrap().addrs, "10.0.0.1:1,10.0.0.2:2");
        let plain = DirectoryTarget::parse("127.0.0.1:50051").unwrap();
        assert_eq!(plain.pin, None);
        for bad in [
            "hubshare://127.0.0.1:50051/".to_string(),
            "hubshare://127.0.0.1:50051/?kp=short".to_string(),
            format!("hubshare://127.0.0.1/?kp={kp}"),
            "http://127.0.0.1:50051".to_string(),
        ] {
            assert!(DirectoryTarget::parse(&bad).is_err(), "{bad}");
        }
        let err = DirectoryTarget::parse("hubshare://h:1/?x=1").unwrap_err();
        assert!(err.contains("server invite"), "{err}");
    }

    #[test]
    fn https_addresses_carry_their_pin_in_the_stored_form_only() {
        let kp = KeyPrint::of_spki(b"spki");
        let a = HttpAddr::parse("https://127.0.0.1:7001/").unwrap();
        assert!(a.is_tls() && a.pin().is_none());
        assert_eq!(a.authority(), "127.0.0.1:7001");
        let pinned = a.clone().pinned(Some(kp));
        assert_eq!(
            pinned.text_lens(),
            (pinned.as_str().len(), pinned.pin_text().map_or(0, str::len))
        );
        assert_eq!(a.text_lens(), (a.as_str().len(), 0));
        assert_eq!(pinned.to_string(), "https://127.0.0.1:7001");
        assert_eq!(pinned.url("/files"), "https://127.0.0.1:7001/files");
        assert_eq!(pinned.stored(), format!("https://127.0.0.1:7001#kp={kp}"));
        assert_eq!(HttpAddr::parse(&pinned.stored()), Ok(pinned.clone()));
        assert_eq!(pinned.pin_text(), Some(kp.to_string().as_str()));
        assert_eq!(pinned.clone().pinned(None), a);
        let json = serde_json::to_string(&pinned).unwrap();
        assert_eq!(serde_json::from_str::<HttpAddr>(&json).unwrap(), pinned);
        let plain = HttpAddr::parse("http://127.0.0.1:7001").unwrap();
        assert_eq!(
            plain.clone().pinned(Some(kp)),
            plain,
            "only https is pinned"
        );
        assert!(HttpAddr::parse(&format!("http://x:1#kp={kp}")).is_err());
        assert!(HttpAddr::parse("https://x:1#kp=nonsense").is_err());
        assert!(HttpAddr::from_socket("127.0.0.1:9".parse().unwrap(), true).is_tls());
    }

    #[test]
    fn socket_addresses_and_urls() {
        let a = HttpAddr::from_socket("127.0.0.1:9".parse().unwrap(), false);
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
        let v6 = HttpAddr::from_socket("[::1]:9".parse().unwrap(), false);
        assert_eq!(HttpAddr::parse(v6.as_str()), Ok(v6));
    }
}
