//! File identity. A file is named by the BLAKE3 hash of its bytes, written as
//! 64 lowercase hex digits — exactly what `b3sum` prints — so any copy of the
//! same bytes, on any peer, has the same id. Ids are parsed once at each door
//! (gRPC, HTTP, command line) into [`FileId`] and passed inward as that type.

use std::fmt;
use std::str::FromStr;

/// The BLAKE3 hash of a file's contents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId([u8; 32]);

/// Why a string is not a file id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFileId {
    input: String,
}

impl fmt::Display for BadFileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.input.chars().take(80).collect();
        let more = if self.input.chars().count() > 80 {
            "..."
        } else {
            ""
        };
        write!(
            f,
            "malformed file id {shown:?}{more}: expected 64 hex digits (the BLAKE3 hash `b3sum` prints)"
        )
    }
}

impl std::error::Error for BadFileId {}

impl FileId {
    /// The id of the given bytes.
    pub fn of(bytes: &[u8]) -> FileId {
        FileId(*blake3::hash(bytes).as_bytes())
    }

    /// Parses 64 hex digits (either case).
    pub fn parse(s: &str) -> Result<FileId, BadFileId> {
        let bad = || BadFileId {
            input: s.to_string(),
        };
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        // Any byte not a hex digit sets the high bits of `seen`: one test
        // at the end instead of a branch per digit.
        let mut seen = 0u8;
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
            seen |= hi | lo;
            *o = hi << 4 | lo;
        }
        if seen & 0xf0 != 0 {
            return Err(bad());
        }
        Ok(FileId(out))
    }

    /// Whether `s` has the shape of an id (64 hex digits).
    pub fn looks_like(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| hex_value(b).is_some())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Each byte's value as a hex digit, [`NOT_HEX`] for any other byte: a
/// directory parses every id of every Login, millions after a restart.
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

fn hex_value(b: u8) -> Option<u8> {
    let v = HEX[b as usize];
    (v != NOT_HEX).then_some(v)
}

impl From<blake3::Hash> for FileId {
    fn from(h: blake3::Hash) -> FileId {
        FileId(*h.as_bytes())
    }
}

/// A piece's chaining value is 32 bytes, written the same way as an id.
impl From<[u8; 32]> for FileId {
    fn from(bytes: [u8; 32]) -> FileId {
        FileId(bytes)
    }
}

impl FromStr for FileId {
    type Err = BadFileId;
    fn from_str(s: &str) -> Result<FileId, BadFileId> {
        FileId::parse(s)
    }
}

impl FileId {
    /// The 64 lower-case hex digits `b3sum` prints.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_string()
    }

    /// The hex digits in place, written without an allocation (a listing
    /// writes one for every file).
    pub fn hex(&self) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[(b >> 4) as usize];
            out[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
        Hex(out)
    }
}

/// A [`FileId`]'s 64 hex digits ([`FileId::hex`]).
pub struct Hex([u8; 64]);

impl Hex {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({self})")
    }
}

impl serde::Serialize for FileId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex().as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FileId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FileId, D::Error> {
        let s = String::deserialize(d)?;
        FileId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_blake3_hex() {
        let id = FileId::of(b"hello");
        assert_eq!(id.to_string(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(FileId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(FileId::parse(&id.to_string().to_uppercase()).unwrap(), id);
    }

    #[test]
    fn rejects_malformed() {
        let good = FileId::of(b"x").to_string();
        for bad in [
            "",
            "abc",
            &good[..63],
            &format!("{good}0"),
            &format!("{}g", &good[..63]),
            "../../etc/passwd",
            &"é".repeat(32),
        ] {
            let err = FileId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("64 hex digits"), "{err}");
        }
    }
}
