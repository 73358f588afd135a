//! Hashing a file the way every peer must agree on: its id (the BLAKE3
//! hash, what `b3sum` prints) and its piece chaining values, in one pass.
//! A file of many pieces is split between the cores, each reading (`pread`)
//! and hashing its own run of pieces, so the copying out of the page cache
//! is shared out too. Used by the share (scan), the downloader (a file that
//! is already there) and the uploader (the id sent along).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use blake3::hazmat::ChainingValue;

use crate::id::FileId;
use crate::pieces::{self, PieceHasher};

/// Files at least this large are hashed on all cores.
pub const PARALLEL_HASH_MIN: u64 = 4 << 20;

/// A file's id and piece list, as hashed.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub id: FileId,
    pub size: u64,
    /// Piece chaining values; empty for a one-piece file.
    pub cvs: Vec<ChainingValue>,
}

/// Hashes an open file expected to be `len` bytes: its id and its piece
/// chaining values in one pass. A file of many pieces is split between the
/// cores, each reading (`pread`) and hashing its own run of pieces, so the
/// copying out of the page cache is shared out too; the piece values then
/// merge into the id. `None` when the file did not have `len` bytes (it
/// changed meanwhile).
pub fn hash_pieces(file: &mut File, len: u64) -> io::Result<Option<Hashed>> {
    let count = pieces::piece_count(len);
    if len < PARALLEL_HASH_MIN || count < 2 {
        let mut hasher = PieceHasher::new(len);
        // No bigger than the file (and a byte, to see it grow): a scan of
        // many small files then zeroes no quarter megabyte per file.
        let size = usize::try_from(len).map_or(usize::MAX, |l| l.saturating_add(1));
        let mut buf = vec![0u8; size.min(256 * 1024)];
        let mut total = 0u64;
        loop {
            let n = fill(file, &mut buf)?;
            hasher.update(&buf[..n]);
            total += n as u64;
            if n < buf.len() {
                break;
            }
        }
        if total != len {
            return Ok(None);
        }
        return Ok(hasher
            .finish()
            .map(|(id, cvs)| Hashed { id, size: len, cvs }));
    }
    use std::os::unix::fs::FileExt;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(count);
    let per = count.div_ceil(threads);
    let mut cvs: Vec<ChainingValue> = vec![[0u8; 32]; count];
    let file: &File = file;
    let outcome: io::Result<bool> = std::thread::scope(|scope| {
        let workers: Vec<_> = cvs
            .chunks_mut(per)
            .enumerate()
            .map(|(t, out)| {
                scope.spawn(move || -> io::Result<bool> {
                    let mut buf = vec![0u8; pieces::piece_size(len) as usize];
                    for (k, cv) in out.iter_mut().enumerate() {
                        let i = t * per + k;
                        let (offset, plen) = pieces::piece_range(len, i);
                        let buf = &mut buf[..plen as usize];
                        match file.read_exact_at(buf, offset) {
                            Ok(()) => {}
                            // Shorter than it was: it changed.
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                            Err(e) => return Err(e),
                        }
                        *cv = pieces::piece_cv(len, i, buf);
                    }
                    Ok(true)
                })
            })
            .collect();
        let mut whole = true;
        for w in workers {
            whole &= w.join().expect("a hashing thread panicked")?;
        }
        Ok(whole)
    });
    if !outcome? {
        return Ok(None);
    }
    Ok(pieces::merge(len, &cvs).map(|id| Hashed { id, size: len, cvs }))
}

/// Hashes a file on disk; used where a file's id is needed once.
pub fn hash_file(path: &Path) -> io::Result<(FileId, u64)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    match hash_pieces(&mut f, len)? {
        Some(h) => Ok((h.id, h.size)),
        None => Err(io::Error::other(format!(
            "{} changed while it was read",
            path.display()
        ))),
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Bytes per step in the hashing tests (chunk-boundary sizes).
    const HASH_CHUNK: usize = 8 << 20;

    #[test]
    fn hashing_gives_the_blake3_id_and_a_piece_list_that_merges_to_it() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            PARALLEL_HASH_MIN as usize - 1,
            PARALLEL_HASH_MIN as usize,
            HASH_CHUNK + 1,
            2 * HASH_CHUNK + 12345,
        ] {
            let data = crate::fuzz::noise(len, len as u64);
            let path = dir.path().join("f");
            fs::write(&path, &data).unwrap();
            let mut f = File::open(&path).unwrap();
            let h = hash_pieces(&mut f, len as u64).unwrap().unwrap();
            assert_eq!(
                (h.id, h.size),
                (FileId::of(&data), len as u64),
                "length {len}"
            );
            if pieces::piece_count(len as u64) > 1 {
                assert_eq!(pieces::merge(len as u64, &h.cvs), Some(h.id));
            } else {
                assert!(h.cvs.is_empty());
            }
            // A size that does not match what is read gives no answer.
            let mut f = File::open(&path).unwrap();
            assert!(hash_pieces(&mut f, len as u64 + 1).unwrap().is_none());
        }
    }
}
