//! The web owner's password, kept hashed in the peer's config
//! (`web_password_hash`): PBKDF2-HMAC-SHA256 with a random salt, written
//! `pbkdf2-sha256$ITERATIONS$SALT$HASH` (salt and hash in base64).
//! `peer web-password` makes one; the peer only ever compares.

use std::num::NonZeroU32;

use ring::pbkdf2;

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const SCHEME: &str = "pbkdf2-sha256";
/// Iterations of a new hash (OWASP's figure for PBKDF2-HMAC-SHA256 is
/// 600,000; fewer keep a sign-in under a second on a small NAS).
pub const ITERATIONS: u32 = 210_000;
const HASH_BYTES: usize = 32;

/// A parsed `web_password_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// The hash of `password` under a fresh salt.
    pub fn new(password: &str) -> PasswordHash {
        let salt = crate::random::random_bytes(16);
        let iterations = NonZeroU32::new(ITERATIONS).expect("non-zero");
        let mut hash = vec![0; HASH_BYTES];
        pbkdf2::derive(ALGORITHM, iterations, &salt, password.as_bytes(), &mut hash);
        PasswordHash {
            iterations,
            salt,
            hash,
        }
    }

    /// Reads `pbkdf2-sha256$ITERATIONS$SALT$HASH`; says what is wrong.
    pub fn parse(text: &str) -> Result<PasswordHash, String> {
        let parts: Vec<&str> = text.split('$').collect();
        let [scheme, iterations, salt, hash] = parts[..] else {
            return Err(format!(
                "not {SCHEME}$ITERATIONS$SALT$HASH (`peer web-password` makes one)"
            ));
        };
        if scheme != SCHEME {
            return Err(format!("{scheme:?} is not {SCHEME}"));
        }
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 10_000)
            .and_then(NonZeroU32::new)
            .ok_or("its iterations must be a number of at least 10000")?;
        let salt = crate::base64::decode(salt).filter(|s| s.len() >= 8);
        let hash = crate::base64::decode(hash).filter(|h| h.len() == HASH_BYTES);
        match (salt, hash) {
            (Some(salt), Some(hash)) => Ok(PasswordHash {
                iterations,
                salt,
                hash,
            }),
            _ => Err("its salt or hash is not base64 of the right length".into()),
        }
    }

    /// Whether `password` is the one hashed (in constant time).
    pub fn verify(&self, password: &str) -> bool {
        pbkdf2::verify(
            ALGORITHM,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}${}${}${}",
            self.iterations,
            crate::base64::encode(&self.salt),
            crate::base64::encode(&self.hash)
        )
    }
}

/// Whether two secrets are equal, in a time that does not depend on where
/// they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::PasswordHash;

    #[test]
    fn a_hash_verifies_its_password_only_and_reads_back() {
        let h = PasswordHash::new("correct horse");
        assert!(h.verify("correct horse"));
        assert!(!h.verify("correct horse "));
        assert!(!h.verify(""));
        let text = h.to_string();
        assert!(text.starts_with("pbkdf2-sha256$210000$"), "{text}");
        assert!(!text.contains("correct"));
        let back = PasswordHash::parse(&text).unwrap();
        assert!(back.verify("correct horse"));
        // Two hashes of one password differ (their salts do).
        assert_ne!(PasswordHash::new("correct horse").to_string(), text);
        for bad in [
            "",
            "correct horse",
            "md5$1$a$b",
            "pbkdf2-sha256$5$AAAAAAAAAAA=$AA==",
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }
}
