//! The hash cache: the id of every shared file, keyed by path, size and
//! modification time, kept on disk in the peer's state folder so a restart
//! hashes nothing that is unchanged. The file is written atomically (temp +
//! rename) and carries a format version, the share folder it belongs to and a
//! digest of its entries; one that is corrupt, from another format or from
//! another folder is ignored with a warning and rebuilt, never fatal.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic_with;
use crate::id::FileId;

/// Bumped whenever the layout of the file changes; older files are rebuilt.
pub const CACHE_FORMAT: u32 = 1;
/// Name of the cache file in the state folder.
pub const CACHE_FILE: &str = "hash-cache.json";

/// What the cache remembers about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    pub id: FileId,
    /// The file's device and inode, so a file moved within the share is
    /// known under its new path (0 when unknown; left out of the file then,
    /// so older caches keep their digest).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dev: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ino: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One entry of the file: read owned (`PathBuf`), saved borrowed from
/// the cache (`&Path`), the same JSON both ways.
#[derive(Serialize, Deserialize)]
struct Entry<P = PathBuf> {
    path: P,
    #[serde(flatten)]
    cached: Cached,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    share_dir: PathBuf,
    /// Hex BLAKE3 of the JSON of `entries`: catches a torn or edited file.
    digest: String,
    entries: Vec<Entry>,
}

/// A modification time as cache key; `None` when the platform has none.
pub fn mtime_ns(t: Option<SystemTime>) -> Option<u64> {
    let d = t?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(d.as_nanos()).ok()
}

/// How old a modification time is, relative to `now` (zero if in the future).
pub fn age(mtime: Option<SystemTime>, now: SystemTime) -> Duration {
    mtime
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or(Duration::ZERO)
}

/// Hex BLAKE3 of the JSON of `entries`, hashed as it is written (a share of
/// 100,000 files makes tens of megabytes of it).
fn digest<T: Serialize>(entries: &[T]) -> String {
    let mut hasher = blake3::Hasher::new();
    serde_json::to_writer(&mut hasher, entries).expect("hashing cannot fail");
    hasher.finalize().to_hex().to_string()
}

/// Reads the cache at `file` for the share folder `share_dir` (and the
/// further shared folders `extra`): entries below none of them are
/// dropped. Anything wrong with it yields an empty cache and a warning.
pub fn load(file: &Path, share_dir: &Path, extra: &[PathBuf]) -> HashMap<PathBuf, Cached> {
    let text = match fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            log::warn!(
                "hash cache {} unreadable ({e}); rebuilding it",
                file.display()
            );
            return HashMap::new();
        }
    };
    let parsed: CacheFile = match serde_json::from_slice(&text) {
        Ok(c) => c,
        Err(e) => {
            log::warn!(
                "hash cache {} is corrupt ({e}); rebuilding it",
                file.display()
            );
            return HashMap::new();
        }
    };
    let problem = if parsed.format != CACHE_FORMAT {
        Some(format!("format {} is not {CACHE_FORMAT}", parsed.format))
    } else if parsed.share_dir != share_dir {
        Some(format!("it belongs to {}", parsed.share_dir.display()))
    } else if parsed.digest != digest(&parsed.entries) {
        Some("its digest does not match its entries".to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        log::warn!("hash cache {} not used: {p}; rebuilding it", file.display());
        return HashMap::new();
    }
    parsed
        .entries
        .into_iter()
        .filter(|e| e.path.starts_with(share_dir) || extra.iter().any(|d| e.path.starts_with(d)))
        .map(|e| (e.path, e.cached))
        .collect()
}

/// Writes the cache of `entries` atomically (see `fsutil::write_atomic`),
/// in path order whatever order they come in.
pub fn save<'a>(
    file: &Path,
    share_dir: &Path,
    entries: impl IntoIterator<Item = (&'a Path, Cached)>,
) -> io::Result<()> {
    // Borrowed, not copied: the entries are written twice (for the digest,
    // then into the file) without ever being whole in memory.
    let mut list: Vec<Entry<&Path>> = entries
        .into_iter()
        .map(|(path, cached)| Entry { path, cached })
        .collect();
    list.sort_by(|a, b| a.path.cmp(b.path));
    #[derive(Serialize)]
    struct Head<'a> {
        format: u32,
        share_dir: &'a Path,
        digest: &'a str,
    }
    // A `CacheFile`, written as its parts.
    let head = serde_json::to_vec(&Head {
        format: CACHE_FORMAT,
        share_dir,
        digest: &digest(&list),
    })
    .map_err(io::Error::other)?;
    write_atomic_with(file, |out| {
        out.write_all(&head[..head.len() - 1])?;
        out.write_all(b",\"entries\":")?;
        serde_json::to_writer(&mut *out, &list).map_err(io::Error::other)?;
        out.write_all(b"}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn borrowed(m: &HashMap<PathBuf, Cached>) -> impl Iterator<Item = (&Path, Cached)> {
        m.iter().map(|(p, c)| (p.as_path(), *c))
    }

    fn sample() -> HashMap<PathBuf, Cached> {
        let mut m = HashMap::new();
        m.insert(
            PathBuf::from("/share/a.txt"),
            Cached {
                size: 5,
                mtime_ns: 1_700_000_000_123_456_789,
                id: FileId::of(b"alpha"),
                dev: 2049,
                ino: 131_077,
            },
        );
        m
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        save(&file, Path::new("/share"), borrowed(&sample())).unwrap();
        assert_eq!(load(&file, Path::new("/share"), &[]), sample());
        // Another share folder does not get these entries.
        assert!(load(&file, Path::new("/other"), &[]).is_empty());
    }

    /// Written as it streams, the file is byte for byte what serializing
    /// a whole `CacheFile` writes (so caches saved before still load, and
    /// their digests match).
    #[test]
    fn a_streamed_save_writes_the_cache_file_serde_writes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let mut cache = sample();
        for i in 0..3000u64 {
            cache.insert(
                PathBuf::from(format!("/share/f {} \"é\"/{i}.bin", i % 7)),
                Cached {
                    size: i,
                    mtime_ns: i * 1_000_003,
                    id: FileId::of(&i.to_le_bytes()),
                    dev: i % 2,
                    ino: i % 3,
                },
            );
        }
        save(&file, Path::new("/share"), borrowed(&cache)).unwrap();
        let mut entries: Vec<Entry> = cache
            .iter()
            .map(|(path, cached)| Entry {
                path: path.clone(),
                cached: *cached,
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let whole = serde_json::to_vec(&entries).unwrap();
        let expected = CacheFile {
            format: CACHE_FORMAT,
            share_dir: "/share".into(),
            digest: blake3::hash(&whole).to_hex().to_string(),
            entries,
        };
        assert!(fs::read(&file).unwrap() == serde_json::to_vec(&expected).unwrap());
        assert_eq!(load(&file, Path::new("/share"), &[]), cache);
    }

    #[test]
    fn damaged_files_are_ignored_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        save(&file, Path::new("/share"), borrowed(&sample())).unwrap();
        let good = fs::read_to_string(&file).unwrap();
        let edited = good.replace("\"size\":5", "\"size\":6");
        assert_ne!(edited, good);
        let old_format = good.replace("\"format\":1", "\"format\":0");
        for bad in [
            "garbage".to_string(),
            String::new(),
            good[..good.len() / 2].to_string(),
            edited,
            old_format,
        ] {
            fs::write(&file, &bad).unwrap();
            assert!(
                load(&file, Path::new("/share"), &[]).is_empty(),
                "{bad:?} trusted"
            );
        }
        assert!(load(&dir.path().join("missing"), Path::new("/share"), &[]).is_empty());
    }
}
