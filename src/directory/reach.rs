//! Whether others can reach a peer: at Login the directory connects back
//! to the peer's HTTP port at the address the Login came from (never at
//! another host), and lists the peer as firewalled when nothing answers
//! there. Over TLS the connection must show the certificate the Login
//! showed, so another program on that port does not count; with
//! `tls = false` a TCP connection does.
//!
//! What is tried follows the Login's [`pb::Reach`]:
//! - `REACH_CLAIMED` (an address the peer's user set): its host must be the
//!   Login's address (checked before, by the service), and it is tried.
//! - `REACH_AUTO` (an address the peer took from its own socket): tried at
//!   the Login's address and the advertised port, and listed there. A peer
//!   behind NAT advertises its private address; the directory never hands
//!   that out.
//! - `REACH_NONE`: the peer says nobody can reach it; listed as firewalled
//!   at the Login's address, nothing tried.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::store::DirError;
use crate::tls::{probe_speaking, ProbeError};
use crate::wire::proto::directory as pb;
use crate::wire::HttpAddr;

/// How long a connection back to a peer may take, handshake included (a
/// peer behind NAT usually drops it: the whole time passes). A Login's
/// caller must allow for it in its deadline.
pub const CONNECT_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a Login's address turns into: where the peer is listed, marked
/// firewalled when the directory could not reach it, and why not.
pub struct Reached {
    pub addr: HttpAddr,
    pub why_not: Option<String>,
}

/// Where a Login's peer is listed: a claimed address on another host than
/// the Login's is refused (unless the operator trusts advertised
/// addresses), and every other is tried as [`reach`] says. Waits for the
/// connection back, up to [`CONNECT_BACK_TIMEOUT`].
pub fn decide(
    asked: HttpAddr,
    how: pb::Reach,
    from: Option<IpAddr>,
    trusted: bool,
    connect_back: bool,
) -> Result<Reached, DirError> {
    let Some(from) = from else {
        if trusted {
            // The address stands as advertised.
            return Ok(Reached {
                addr: asked.firewalled_as(how == pb::Reach::REACH_NONE),
                why_not: None,
            });
        }
        return Err(DirError::Denied(format!(
            "cannot tell the address this Login came from, so {asked} cannot be checked"
        )));
    };
    if how == pb::Reach::REACH_CLAIMED && !trusted && asked.ip() != Some(from) {
        return Err(DirError::Denied(format!(
            "http_addr {asked} is not this peer's own address: the Login came from {from}. \
             Advertise an address whose host is {from}, or leave advertise_addr out (the \
             directory then tries this peer's port at {from}, and lists it as firewalled when \
             nothing answers); behind a proxy, the directory's operator may set \
             trust_advertised_addrs = true"
        )));
    }
    let timeout = connect_back.then_some(CONNECT_BACK_TIMEOUT);
    Ok(reach(asked, how, from, trusted, timeout))
}

/// Decides where a peer is listed. `asked` is the advertised address
/// (pinned to the Login's certificate over TLS, and already checked
/// against `from` for `REACH_CLAIMED`). It is listed at the Login's
/// address `from`, with the advertised port, unless its host is `from`
/// already or the operator trusts advertised addresses (`trusted`): then
/// as it is. Only an address at `from` is tried, within `connect_back`
/// (`None`: nothing is tried).
pub fn reach(
    asked: HttpAddr,
    how: pb::Reach,
    from: IpAddr,
    trusted: bool,
    connect_back: Option<Duration>,
) -> Reached {
    let asked = asked.firewalled_as(false);
    let at = if asked.ip() == Some(from) || trusted {
        asked
    } else {
        asked.with_ip(from)
    };
    if how == pb::Reach::REACH_NONE {
        return Reached {
            addr: at.firewalled_as(true),
            why_not: Some("the peer says it cannot be reached".into()),
        };
    }
    let why_not = match connect_back {
        // A trusted address on another host is never tried.
        Some(timeout) if at.ip() == Some(from) => try_at(&at, from, timeout).err(),
        _ => None,
    };
    Reached {
        addr: at.firewalled_as(why_not.is_some()),
        why_not,
    }
}

/// Connects to `at`'s port at `ip`; over TLS, handshakes and checks that
/// the certificate is the one `at` is pinned to.
fn try_at(at: &HttpAddr, ip: IpAddr, timeout: Duration) -> Result<(), String> {
    let target = SocketAddr::new(ip, at.port_or_default());
    if !at.is_tls() {
        return TcpStream::connect_timeout(&target, timeout)
            .map(drop)
            .map_err(|e| format!("nothing answers at {target} ({e})"));
    }
    let shown = probe_speaking(&target.to_string(), None, timeout, b"http/1.1");
    match (shown, at.pin()) {
        (Ok((kp, _)), Some(pin)) if kp == pin => Ok(()),
        (Ok((kp, _)), _) => Err(format!(
            "{target} shows another certificate ({kp}) than the Login's"
        )),
        (Err(ProbeError::Connect(e)), _) => Err(format!("nothing answers at {target} ({e})")),
        (Err(ProbeError::NoTls(why)), _) => Err(format!("{target} does not answer in TLS ({why})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::KeyPrint;
    use std::net::TcpListener;

    fn pb_reach(addr: &str, how: pb::Reach, from: &str) -> Reached {
        reach(
            HttpAddr::parse(addr).unwrap(),
            how,
            from.parse().unwrap(),
            false,
            Some(CONNECT_BACK_TIMEOUT),
        )
    }

    #[test]
    fn a_port_that_answers_is_reachable_and_one_that_does_not_is_firewalled() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = open.local_addr().unwrap().port();
        let r = pb_reach(
            &format!("http://127.0.0.1:{port}"),
            pb::Reach::REACH_CLAIMED,
            "127.0.0.1",
        );
        assert!(r.why_not.is_none() && !r.addr.firewalled());
        drop(open);
        let r = pb_reach(
            &format!("http://127.0.0.1:{port}"),
            pb::Reach::REACH_CLAIMED,
            "127.0.0.1",
        );
        assert!(r.addr.firewalled(), "{:?}", r.addr);
        assert!(r.why_not.unwrap().contains("nothing answers"));
    }

    #[test]
    fn an_address_not_the_logins_is_tried_and_listed_only_at_the_logins() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = open.local_addr().unwrap().port();
        // Behind NAT the peer knows only its private address.
        let r = pb_reach(
            &format!("http://192.0.2.5:{port}"),
            pb::Reach::REACH_AUTO,
            "127.0.0.1",
        );
        assert_eq!(r.addr.as_str(), format!("http://127.0.0.1:{port}"));
        assert!(!r.addr.firewalled());
        let r = pb_reach("http://192.0.2.5:7001", pb::Reach::REACH_NONE, "127.0.0.1");
        assert_eq!(r.addr.stored(), "http://127.0.0.1:7001#fw");
        // A mark the peer sent itself counts for nothing.
        let r = pb_reach(
            &format!("http://127.0.0.1:{port}#fw"),
            pb::Reach::REACH_AUTO,
            "127.0.0.1",
        );
        assert!(!r.addr.firewalled());
    }

    #[test]
    fn over_tls_only_the_logins_certificate_counts() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::tls::TlsPaths::in_state(dir.path());
        let me = crate::tls::load_or_create(&paths, &["peer".to_string()], "a peer").unwrap();
        let config = crate::tls::server_config(&me).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut sock, _) = listener.accept().unwrap();
                let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
                while conn.is_handshaking() {
                    if conn.complete_io(&mut sock).is_err() {
                        break;
                    }
                }
            }
        });
        let addr = HttpAddr::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        let mine = reach(
            addr.clone().pinned(Some(me.keyprint())),
            pb::Reach::REACH_CLAIMED,
            "127.0.0.1".parse().unwrap(),
            false,
            Some(CONNECT_BACK_TIMEOUT),
        );
        assert!(mine.why_not.is_none(), "{:?}", mine.why_not);
        let other = KeyPrint::of_spki(b"another peer");
        let theirs = reach(
            addr.pinned(Some(other)),
            pb::Reach::REACH_CLAIMED,
            "127.0.0.1".parse().unwrap(),
            false,
            Some(CONNECT_BACK_TIMEOUT),
        );
        assert!(theirs.addr.firewalled());
        assert!(theirs.why_not.unwrap().contains("another certificate"));
        serve.join().unwrap();
    }
}
