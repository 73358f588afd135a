//! Who may log in under a name: a [`KeyPrint`], and the optional group
//! password. Over TLS (the default) a peer's keyprint is the SHA-256 of its
//! certificate's SubjectPublicKeyInfo, taken from the handshake, so nothing
//! secret is sent; with `tls = false` a Login carries the peer's
//! [`IdentityKey`] and the directory keeps a keyed hash of it instead. The
//! directory binds the name to the keyprint and refuses the name to any
//! other while the binding holds. No secret type here prints its secret:
//! their `Debug` shows a few characters at most.

use std::fmt;

use crate::base64;
use crate::random::random_hex;

/// Length of an identity key in hex digits (32 random bytes).
pub const IDENTITY_KEY_HEX: usize = 64;
/// Shortest group password accepted, in characters.
pub const MIN_GROUP_PASSWORD_CHARS: usize = 8;
/// Longest group password accepted, in bytes.
pub const MAX_GROUP_PASSWORD_LEN: usize = 1024;

/// A peer's identity key: 32 random bytes as 64 lowercase hex digits. It is
/// the peer's proof that it is the one a name belongs to; keep it private
/// (the peer stores it in a 0600 file of its state folder).
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityKey(String);

/// Why a text is not an identity key (the text itself is not repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadIdentityKey;

impl fmt::Display for BadIdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an identity key must be {IDENTITY_KEY_HEX} lowercase hex digits (32 random bytes)"
        )
    }
}

impl std::error::Error for BadIdentityKey {}

impl IdentityKey {
    /// A fresh key from the OS random source.
    pub fn generate() -> IdentityKey {
        IdentityKey(random_hex(IDENTITY_KEY_HEX / 2))
    }

    /// Exactly 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<IdentityKey, BadIdentityKey> {
        let ok = text.len() == IDENTITY_KEY_HEX
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(IdentityKey(text.to_string()))
        } else {
            Err(BadIdentityKey)
        }
    }

    /// The hex text, to send in a Login or write to the key file.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the directory keeps of the key.
    pub fn print(&self) -> KeyPrint {
        KeyPrint(blake3::derive_key(
            "hubshare identity key print v1",
            self.0.as_bytes(),
        ))
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

/// What the directory binds a name to, and what a downloader pins a source
/// by: over TLS the SHA-256 of a certificate's SubjectPublicKeyInfo (what
/// `curl --pinnedpubkey sha256//...` takes; [`Display`](fmt::Display)
/// prints it in that base64 form), with `tls = false` a one-way print of an
/// [`IdentityKey`]. Learning a keyprint does not let anyone log in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPrint([u8; 32]);

/// Why a text is not a keyprint (the text is not repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKeyPrint;

impl fmt::Display for BadKeyPrint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a keyprint is the base64 of a SHA-256 (44 characters, e.g. as `peer status` \
             prints it), optionally written sha256//...",
        )
    }
}

impl std::error::Error for BadKeyPrint {}

impl KeyPrint {
    /// The keyprint of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki: &[u8]) -> KeyPrint {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        KeyPrint(out)
    }

    /// A keyprint written in base64 (standard or URL-safe), with or without
    /// curl's `sha256//` in front.
    pub fn parse(text: &str) -> Result<KeyPrint, BadKeyPrint> {
        let text = text.trim();
        let text = text.strip_prefix("sha256//").unwrap_or(text);
        let bytes = base64::decode(text).ok_or(BadKeyPrint)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| BadKeyPrint)?;
        Ok(KeyPrint(bytes))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The print as hex, for a store that keeps it outside this process.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The print from [`to_hex`](Self::to_hex)'s form.
    pub fn from_hex(hex: &str) -> Option<KeyPrint> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(KeyPrint(out))
    }

    /// Tests: the print of a key made from `seed` (the same every time).
    #[cfg(test)]
    pub fn of_seed(seed: &str) -> KeyPrint {
        let key = blake3::hash(seed.as_bytes()).to_hex();
        IdentityKey::parse(&key).expect("64 hex digits").print()
    }
}

impl fmt::Debug for KeyPrint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPrint({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl fmt::Display for KeyPrint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64::encode(&self.0))
    }
}

/// A group password: set by a directory's operator, carried by every Login.
#[derive(Clone)]
pub struct GroupPassword(String);

/// Why a text is not a usable group password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadGroupPassword(&'static str);

impl fmt::Display for BadGroupPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the group password {}", self.0)
    }
}

impl std::error::Error for BadGroupPassword {}

impl GroupPassword {
    /// A password as configured: at least [`MIN_GROUP_PASSWORD_CHARS`]
    /// characters, at most
    /// [`MAX_GROUP_PASSWORD_LEN`] bytes, no control characters (a newline
    /// at the end of a password file is dropped by the caller).
    pub fn new(text: &str) -> Result<GroupPassword, BadGroupPassword> {
        if text.chars().count() < MIN_GROUP_PASSWORD_CHARS {
            return Err(BadGroupPassword("is shorter than 8 characters"));
        }
        if text.len() > MAX_GROUP_PASSWORD_LEN {
            return Err(BadGroupPassword("is longer than 1024 bytes"));
        }
        if text.chars().any(char::is_control) {
            return Err(BadGroupPassword("has a control character"));
        }
        Ok(GroupPassword(text.to_string()))
    }

    /// The text, to send in a Login.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this password. The time it takes does not
    /// depend on where the two differ: both are hashed, and BLAKE3 hashes
    /// compare in constant time.
    pub fn matches(&self, offered: &str) -> bool {
        blake3::hash(self.0.as_bytes()) == blake3::hash(offered.as_bytes())
    }
}

impl fmt::Debug for GroupPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupPassword(..)")
    }
}

/// What a peer proves itself with at Login: over TLS its certificate (in
/// the handshake, so `key` is `None` and nothing secret is sent), with
/// `tls = false` its identity key; and the group password when one is set.
/// With them, how the directory should check that others can reach it.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub key: Option<IdentityKey>,
    pub group_password: Option<GroupPassword>,
    pub reach: super::proto::directory::Reach,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_print_and_never_show() {
        let k = IdentityKey::generate();
        assert_eq!(IdentityKey::parse(k.expose()), Ok(k.clone()));
        assert_eq!(k.print(), IdentityKey::parse(k.expose()).unwrap().print());
        assert_ne!(k.print(), IdentityKey::generate().print());
        for bad in ["", "abc", &"A".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert_eq!(IdentityKey::parse(bad), Err(BadIdentityKey));
        }
        let shown = format!("{k:?} {:?}", k.print());
        assert!(!shown.contains(&k.expose()[..8]), "{shown}");
    }

    #[test]
    fn keyprints_read_back_as_curl_writes_them() {
        let kp = KeyPrint::of_spki(b"not really an spki");
        let shown = kp.to_string();
        assert_eq!(shown.len(), 44);
        assert_eq!(KeyPrint::parse(&shown), Ok(kp));
        assert_eq!(KeyPrint::parse(&format!("sha256//{shown}")), Ok(kp));
        let url_safe = shown.replace('+', "-").replace('/', "_");
        assert_eq!(KeyPrint::parse(url_safe.trim_end_matches('=')), Ok(kp));
        for bad in ["", "abc", &shown[..40], "sha1//AAAA"] {
            assert_eq!(KeyPrint::parse(bad), Err(BadKeyPrint), "{bad}");
        }
    }

    #[test]
    fn passwords_match_exactly_and_never_show() {
        let p = GroupPassword::new("open sesame").unwrap();
        assert!(p.matches("open sesame"));
        assert!(!p.matches("open sesame "));
        assert!(!p.matches(""));
        assert!(!format!("{p:?}").contains("sesame"));
        assert!(GroupPassword::new("").is_err());
        assert!(GroupPassword::new("seven77").is_err());
        assert!(GroupPassword::new("a\nb").is_err());
        assert!(GroupPassword::new(&"x".repeat(1025)).is_err());
    }
}
