//! The records both sides of the directory protocol work with, in checked
//! form: ids are [`FileId`]s, addresses are [`HttpAddr`]s. The directory
//! builds them from what it indexes; the peer's client builds them from the
//! protobuf replies; `GET /files` lists [`SharedFile`]s as JSON.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::HttpAddr;
use crate::id::FileId;

/// One file as a peer shares it: what a peer announces to the directory,
/// and what it lists at `GET /files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    pub id: FileId,
    /// The file's path below the share folder (`folder/name.ext`), as
    /// announced.
    pub name: String,
    pub size: u64,
    /// Further paths of the same share holding these same bytes, sorted
    /// (at most [`MAX_OTHER_NAMES`](crate::names::MAX_OTHER_NAMES)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_names: Vec<String>,
}

#[cfg(test)]
impl SharedFile {
    /// A file named `name` whose id is the hash of the name and whose size
    /// is its length (for tests).
    pub fn named(name: &str) -> SharedFile {
        SharedFile {
            id: FileId::of(name.as_bytes()),
            size: name.len() as u64,
            name: name.to_string(),
            other_names: Vec::new(),
        }
    }
}

impl SharedFile {
    /// Appends the JSON serde writes for it (compact), written by hand: a
    /// listing of a big share writes one for every file, and serde's map
    /// machinery and its escaping of the 64 hex digits cost most of that.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(self.id.hex().as_str().as_bytes());
        out.extend_from_slice(b"\",\"name\":");
        json_string(out, &self.name);
        // Into the Vec, without a String per number.
        let _ = write!(out, ",\"size\":{}", self.size);
        if !self.other_names.is_empty() {
            out.extend_from_slice(b",\"other_names\":[");
            for (i, name) in self.other_names.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, name);
            }
            out.push(b']');
        }
        out.push(b'}');
    }

    /// Every path the file is shared under, `name` first.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.other_names.iter().map(String::as_str))
    }
}

/// A peer's shared files as its listings read them: each id once, by name
/// (then id). The share table hands out a snapshot that readers share
/// (a listing of a big share is read while it is sent, and costs no copy
/// of it); a `Vec` sorted so is one too (tests, a browsed peer).
pub trait FileList: Send + Sync {
    /// How many files.
    fn count(&self) -> usize;
    /// Their sizes, added up.
    fn bytes(&self) -> u64;
    /// The `i`th file, `None` past the end.
    fn nth(&self, i: usize) -> Option<SharedFile>;
    /// Whether `id` is one of them.
    fn has(&self, id: &FileId) -> bool;
    /// The files with a path (`name` or one of `other_names`) below the
    /// folder `folder` (`""`: all of them), in listing order.
    fn under(&self, folder: &str) -> Vec<SharedFile>;
    /// All of them, in listing order.
    fn to_vec(&self) -> Vec<SharedFile> {
        (0..self.count()).filter_map(|i| self.nth(i)).collect()
    }
}

/// Whether the shared path `name` is below the folder `folder` (`""`:
/// the whole share), part by part (empty parts do not count), as a
/// page's folder tree reads it.
pub fn is_below(name: &str, folder: &str) -> bool {
    let mut parts = name.split('/').filter(|p| !p.is_empty());
    folder
        .split('/')
        .filter(|p| !p.is_empty())
        .all(|want| parts.next() == Some(want))
        && parts.next().is_some()
}

impl FileList for Vec<SharedFile> {
    fn count(&self) -> usize {
        self.len()
    }

    fn bytes(&self) -> u64 {
        self.iter().map(|f| f.size).sum()
    }

    fn nth(&self, i: usize) -> Option<SharedFile> {
        self.get(i).cloned()
    }

    fn has(&self, id: &FileId) -> bool {
        self.iter().any(|f| f.id == *id)
    }

    fn under(&self, folder: &str) -> Vec<SharedFile> {
        self.iter()
            .filter(|f| f.paths().any(|p| is_below(p, folder)))
            .cloned()
            .collect()
    }
}

/// `text` as a JSON string: as is between quotes when nothing in it needs
/// escaping (nearly every file name), else as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("a string always serializes");
    }
}

/// A peer online, as `peers` lists it. In JSON its address is written as
/// people read it, with the keyprint beside it (`keyprint`, when known).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerListing {
    pub name: String,
    pub http_addr: HttpAddr,
    /// How many files it shares.
    pub files: u64,
    /// When the directory that lists it saw it log in (Unix seconds); only
    /// the directory's own pages know it (not sent over the protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_since: Option<u64>,
}

/// A peer that holds a file. In JSON its address is written as people
/// read it, with the keyprint beside it (`keyprint`, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub peer: String,
    pub http_addr: HttpAddr,
    /// The name this peer shares the file under.
    pub name: String,
    /// The size this peer claims for the file (only a piece list that
    /// merges to the id, or the bytes themselves, prove it).
    pub size: u64,
}

/// [`Source`] as JSON.
#[derive(Serialize)]
struct SourceJson<'a> {
    peer: &'a str,
    http_addr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyprint: Option<&'a str>,
    /// Present (true) only for a source the directory could not reach.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    firewalled: bool,
    name: &'a str,
    size: u64,
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SourceJson {
            peer: &self.peer,
            http_addr: self.http_addr.as_str(),
            keyprint: self.http_addr.pin_text(),
            firewalled: self.http_addr.firewalled(),
            name: &self.name,
            size: self.size,
        }
        .serialize(s)
    }
}

/// [`PeerListing`] as JSON.
#[derive(Serialize)]
struct PeerJson<'a> {
    name: &'a str,
    http_addr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyprint: Option<&'a str>,
    /// Present (true) only for a peer the directory could not reach.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    firewalled: bool,
    files: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    online_since: Option<u64>,
}

impl Serialize for PeerListing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PeerJson {
            name: &self.name,
            http_addr: self.http_addr.as_str(),
            keyprint: self.http_addr.pin_text(),
            firewalled: self.http_addr.firewalled(),
            files: self.files,
            online_since: self.online_since,
        }
        .serialize(s)
    }
}

/// One search result: a file and everyone who has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub id: FileId,
    /// The size most live sources claim.
    pub size: u64,
    /// Distinct names the listed sources share the file under, sorted.
    pub names: Vec<String>,
    /// Some of the sources (a search lists a few, Locate many).
    pub sources: Vec<Source>,
    /// How many live sources the file has in all.
    pub source_count: usize,
}

/// A [`Hit`] lent by the store, without a copy of any of its strings: what
/// [`DirectoryStore::search_each`](crate::DirectoryStore::search_each)
/// hands out while it holds its state.
#[derive(Debug, Clone, Copy)]
pub struct HitView<'a> {
    pub id: &'a FileId,
    pub size: u64,
    /// Distinct names the listed sources share the file under, sorted.
    pub names: &'a [&'a str],
    /// Some of the sources, by peer name.
    pub sources: &'a [SourceView<'a>],
    pub source_count: usize,
}

/// A [`Source`] lent by the store.
#[derive(Debug, Clone, Copy)]
pub struct SourceView<'a> {
    pub peer: &'a str,
    pub http_addr: &'a HttpAddr,
    pub name: &'a str,
    pub size: u64,
}

impl HitView<'_> {
    /// An owned copy.
    pub fn to_hit(&self) -> Hit {
        Hit {
            id: *self.id,
            size: self.size,
            names: self.names.iter().map(|n| n.to_string()).collect(),
            sources: self
                .sources
                .iter()
                .map(|s| Source {
                    peer: s.peer.to_string(),
                    http_addr: s.http_addr.clone(),
                    name: s.name.to_string(),
                    size: s.size,
                })
                .collect(),
            source_count: self.source_count,
        }
    }
}

/// How many files matched a search in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matches {
    pub total: usize,
    /// `total` is an estimate (the search stopped once its best results
    /// were certain and counted the rest from a sample).
    pub estimated: bool,
}

/// What a search found: at most `limit` hits, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    pub total: usize,
    /// `total` is an estimate (the search stopped once its best results
    /// were certain and counted the rest from a sample).
    pub total_estimated: bool,
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use crate::wire::KeyPrint;

    #[test]
    fn json_writes_the_address_people_read_and_the_keyprint_beside_it() {
        let kp = KeyPrint::of_spki(b"spki");
        let addr = HttpAddr::parse("https://127.0.0.1:7001").unwrap();
        let source = Source {
            peer: "alice".into(),
            http_addr: addr.clone().pinned(Some(kp)),
            name: "a.txt".into(),
            size: 3,
        };
        let json = serde_json::to_value(&source).unwrap();
        assert_eq!(json["http_addr"], "https://127.0.0.1:7001");
        assert_eq!(json["keyprint"], kp.to_string());
        let listing = PeerListing {
            name: "alice".into(),
            http_addr: HttpAddr::parse("http://127.0.0.1:7001").unwrap(),
            files: 2,
            online_since: None,
        };
        let json = serde_json::to_value(&listing).unwrap();
        assert_eq!(json["http_addr"], "http://127.0.0.1:7001");
        assert!(json.get("keyprint").is_none() && json.get("online_since").is_none());
    }

    #[test]
    fn a_shared_file_written_by_hand_is_what_serde_writes() {
        let mut odd = SharedFile::named("a \"quoted\" back\\slash\ttab\u{1}é😀/x.txt");
        odd.other_names = vec!["plain.txt".into(), "new\nline.txt".into(), "\u{7f}".into()];
        let mut big = SharedFile::named("big.iso");
        big.size = u64::MAX;
        for file in [
            SharedFile::named("plain.txt"),
            SharedFile::named(""),
            odd,
            big,
        ] {
            let mut out = Vec::new();
            file.write_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&file).unwrap()
            );
        }
    }
}
