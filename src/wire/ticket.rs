//! A relay ticket: what the directory gives both ends of a relayed
//! connection, and what the relay checks before it splices them. It names
//! the source and the downloader by keyprint, expires, and carries an
//! HMAC-SHA256 under a secret the directory and the relay share, so the
//! relay needs no state from the directory and splices only pairs the
//! directory introduced (it is not an open relay).
//!
//! Text form: `TOKEN.SOURCE.DOWNLOADER.EXPIRES.MAC`, the token 32 hex
//! digits, the keyprints and the MAC 64 each, `EXPIRES` Unix seconds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::identity::KeyPrint;

/// How long a ticket is good for from its making.
pub const TICKET_LIFE: Duration = Duration::from_secs(60);

/// A checked (or freshly made) ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub token: String,
    pub source: KeyPrint,
    pub downloader: KeyPrint,
    /// Unix seconds after which it is refused.
    pub expires: u64,
}

/// Why a ticket is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadTicket {
    Malformed,
    /// The MAC does not match: not made under this relay's secret.
    Forged,
    Expired,
}

impl fmt::Display for BadTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadTicket::Malformed => "the ticket is malformed",
            BadTicket::Forged => "the ticket was not made by this relay's directory",
            BadTicket::Expired => "the ticket has expired",
        })
    }
}

impl std::error::Error for BadTicket {}

/// Whether `token` has the form of a one-time connection token: 32
/// lowercase hex digits (what `random_hex(16)` makes).
pub fn is_connect_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Seconds since the Unix epoch, by this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ticket {
    /// A ticket for `token` between `source` and `downloader`, good for
    /// [`TICKET_LIFE`].
    pub fn new(token: &str, source: KeyPrint, downloader: KeyPrint) -> Ticket {
        Ticket {
            token: token.to_string(),
            source,
            downloader,
            expires: unix_now() + TICKET_LIFE.as_secs(),
        }
    }

    fn body(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.token,
            self.source.to_hex(),
            self.downloader.to_hex(),
            self.expires
        )
    }

    /// Its text form, signed with `secret`.
    pub fn seal(&self, secret: &[u8]) -> String {
        let body = self.body();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let mac = ring::hmac::sign(&key, body.as_bytes());
        let hex: String = mac.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{body}.{hex}")
    }

    /// The ticket in `text`, if `secret` made it and it has not expired.
    pub fn open(text: &str, secret: &[u8]) -> Result<Ticket, BadTicket> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [token, source, downloader, expires, mac] = parts[..] else {
            return Err(BadTicket::Malformed);
        };
        if !is_connect_token(token) {
            return Err(BadTicket::Malformed);
        }
        let ticket = Ticket {
            token: token.to_string(),
            source: KeyPrint::from_hex(source).ok_or(BadTicket::Malformed)?,
            downloader: KeyPrint::from_hex(downloader).ok_or(BadTicket::Malformed)?,
            expires: expires.parse().map_err(|_| BadTicket::Malformed)?,
        };
        let mac = (0..mac.len() / 2)
            .map(|i| u8::from_str_radix(mac.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .filter(|m| m.len() == 32)
            .ok_or(BadTicket::Malformed)?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        ring::hmac::verify(&key, ticket.body().as_bytes(), &mac).map_err(|_| BadTicket::Forged)?;
        if ticket.expires < unix_now() {
            return Err(BadTicket::Expired);
        }
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_ticket_opens_only_under_its_secret_and_unchanged() {
        let (a, b) = (KeyPrint::of_spki(b"alice"), KeyPrint::of_spki(b"carol"));
        let t = Ticket::new(&"ab".repeat(16), a, b);
        let text = t.seal(b"relay secret");
        assert_eq!(Ticket::open(&text, b"relay secret"), Ok(t.clone()));
        assert_eq!(
            Ticket::open(&text, b"another secret"),
            Err(BadTicket::Forged)
        );
        // Swapping the two ends breaks the MAC.
        let swapped = text.replacen(&a.to_hex(), &b.to_hex(), 1);
        assert_eq!(
            Ticket::open(&swapped, b"relay secret"),
            Err(BadTicket::Forged)
        );
        let old = Ticket { expires: 1, ..t };
        assert_eq!(
            Ticket::open(&old.seal(b"relay secret"), b"relay secret"),
            Err(BadTicket::Expired)
        );
        for bad in ["", "x.y", &text[..text.len() - 2]] {
            assert_eq!(
                Ticket::open(bad, b"relay secret"),
                Err(BadTicket::Malformed),
                "{bad}"
            );
        }
    }
}
