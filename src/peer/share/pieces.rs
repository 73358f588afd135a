//! Piece lists: kept one file per id in `state_dir/pieces/`, served only
//! when they merge to the id (else recomputed from the file), and where a
//! one-shot `get` finds a file this peer already holds.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use blake3::hazmat::ChainingValue;

use super::cache::{self, Cached};
use super::table::ShareTable;
use crate::fsutil;
use crate::hash::hash_pieces;
use crate::id::FileId;
use crate::pieces;

impl ShareTable {
    /// Where this peer already holds `id` in `share_dir`, by the hash cache
    /// in `state_dir` (what the last scan of a running or earlier peer
    /// hashed), when that file is still unchanged (same size and time).
    /// Lets a one-shot `get` see what the peer has without hashing anything.
    pub fn held(
        share_dir: &Path,
        extra: &[PathBuf],
        state_dir: &Path,
        id: &FileId,
    ) -> Option<PathBuf> {
        let cached = cache::load(&state_dir.join(cache::CACHE_FILE), share_dir, extra);
        let mut paths: Vec<(PathBuf, Cached)> =
            cached.into_iter().filter(|(_, c)| c.id == *id).collect();
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths.into_iter().find_map(|(path, c)| {
            let meta = std::fs::symlink_metadata(&path).ok()?;
            let same = meta.is_file()
                && meta.len() == c.size
                && cache::mtime_ns(meta.modified().ok()) == Some(c.mtime_ns);
            same.then_some(path)
        })
    }

    fn pieces_file(&self, id: &FileId) -> Option<PathBuf> {
        self.pieces_dir.as_ref().map(|d| d.join(id.to_string()))
    }

    pub(super) fn store_pieces(&self, id: &FileId, cvs: &[ChainingValue]) {
        let (Some(file), false) = (self.pieces_file(id), cvs.is_empty()) else {
            return;
        };
        let write = || -> io::Result<()> {
            std::fs::create_dir_all(file.parent().expect("pieces file has a folder"))?;
            fsutil::write_atomic(&file, &cvs.concat())
        };
        if let Err(e) = write() {
            log::warn!("cannot keep the piece list of {id}: {e}");
        }
    }

    /// The piece chaining values of a shared file (empty for a one-piece
    /// file). Read from the state folder when a stored list merges to the id,
    /// otherwise computed from the file and stored; never served unchecked.
    pub fn pieces(&self, id: &FileId) -> io::Result<Vec<ChainingValue>> {
        let entry = self.get(id).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{id} is not shared"))
        })?;
        let size = entry.file.size;
        if pieces::piece_count(size) == 1 {
            return Ok(Vec::new());
        }
        if let Some(file) = self.pieces_file(id) {
            if let Ok(bytes) = std::fs::read(&file) {
                let cvs: Vec<ChainingValue> = bytes
                    .chunks_exact(32)
                    .map(|c| c.try_into().expect("32-byte chunks"))
                    .collect();
                if bytes.len() % 32 == 0 && pieces::merge(size, &cvs) == Some(*id) {
                    return Ok(cvs);
                }
                log::warn!(
                    "piece list {} does not match; recomputing it",
                    file.display()
                );
            }
        }
        let (mut f, _) = self.open(&entry.path)?;
        match hash_pieces(&mut f, size)? {
            Some(h) if h.id == *id => {
                self.bytes_hashed.fetch_add(h.size, Ordering::Relaxed);
                self.store_pieces(id, &h.cvs);
                Ok(h.cvs)
            }
            _ => Err(io::Error::other(format!(
                "{} changed since it was hashed",
                entry.path.display()
            ))),
        }
    }
}
