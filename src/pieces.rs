//! Pieces: how a file is cut for verified, multi-source downloads. The piece
//! size is a power of two chosen from the file size alone (so every peer
//! holding the same bytes agrees on it): the smallest one of at least 256 KiB
//! that keeps the count at or under 4096. Each piece is a complete BLAKE3
//! subtree, so its chaining value can be checked against the file id: the
//! list of chaining values merges, following BLAKE3's own split
//! (`left_subtree_len`), to exactly `blake3::hash` of the file. A file of one
//! piece has no chaining values; it is checked whole against its id.
//!
//! Everything here is pure: bytes and numbers in, values out.

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

use crate::id::FileId;

/// Smallest piece size.
pub const MIN_PIECE_SIZE: u64 = 256 * 1024;
/// Most pieces a file is cut into (fewer for small files).
pub const MAX_PIECES: u64 = 4096;

/// The piece size for a file of `file_size` bytes.
pub fn piece_size(file_size: u64) -> u64 {
    let mut size = MIN_PIECE_SIZE;
    while file_size.div_ceil(size) > MAX_PIECES {
        size *= 2;
    }
    size
}

/// The number of pieces of a file (at least one, even when empty).
pub fn piece_count(file_size: u64) -> usize {
    file_size.div_ceil(piece_size(file_size)).max(1) as usize
}

/// Byte range `(offset, len)` of piece `index`.
pub fn piece_range(file_size: u64, index: usize) -> (u64, u64) {
    let size = piece_size(file_size);
    let start = index as u64 * size;
    (start, size.min(file_size.saturating_sub(start)))
}

/// The chaining value of piece `index` whose bytes are `data`.
pub fn piece_cv(file_size: u64, index: usize, data: &[u8]) -> ChainingValue {
    let (offset, _) = piece_range(file_size, index);
    let mut h = blake3::Hasher::new();
    h.set_input_offset(offset);
    h.update(data);
    h.finalize_non_root()
}

/// Merges the chaining values of all pieces into the root hash. `None` when
/// the list does not fit the file size (wrong count, or a one-piece file,
/// which has no chaining values).
pub fn merge(file_size: u64, cvs: &[ChainingValue]) -> Option<FileId> {
    let size = piece_size(file_size);
    if piece_count(file_size) < 2 || cvs.len() != piece_count(file_size) {
        return None;
    }
    // The root splits like any parent; only its final merge differs.
    let left_len = left_subtree_len(file_size);
    let left = subtree(cvs, size, 0, left_len);
    let right = subtree(cvs, size, left_len, file_size - left_len);
    Some(merge_subtrees_root(&left, &right, Mode::Hash).into())
}

/// The chaining value of the subtree over bytes `start..start + len`, which
/// starts on a piece boundary and is a whole number of pieces (but the last).
fn subtree(cvs: &[ChainingValue], piece: u64, start: u64, len: u64) -> ChainingValue {
    if len <= piece {
        return cvs[(start / piece) as usize];
    }
    let left_len = left_subtree_len(len);
    let left = subtree(cvs, piece, start, left_len);
    let right = subtree(cvs, piece, start + left_len, len - left_len);
    merge_subtrees_non_root(&left, &right, Mode::Hash)
}

/// Checks piece `index` of the file `id`: against its chaining value, or,
/// for a one-piece file, against the id itself.
pub fn verify_piece(
    id: &FileId,
    file_size: u64,
    cvs: &[ChainingValue],
    index: usize,
    data: &[u8],
) -> bool {
    let (_, len) = piece_range(file_size, index);
    if data.len() as u64 != len {
        return false;
    }
    if piece_count(file_size) == 1 {
        return FileId::of(data) == *id;
    }
    cvs.get(index)
        .is_some_and(|cv| piece_cv(file_size, index, data) == *cv)
}

/// Computes the id and the piece chaining values of a file as its bytes
/// stream past, in one pass. Feed it with [`update`](Self::update).
pub struct PieceHasher {
    file_size: u64,
    piece: u64,
    index: usize,
    filled: u64,
    current: blake3::Hasher,
    /// For a one-piece file the plain hash is the id.
    whole: Option<blake3::Hasher>,
    cvs: Vec<ChainingValue>,
}

impl PieceHasher {
    /// A hasher for a file expected to be `file_size` bytes long.
    pub fn new(file_size: u64) -> PieceHasher {
        let single = piece_count(file_size) == 1;
        PieceHasher {
            file_size,
            piece: piece_size(file_size),
            index: 0,
            filled: 0,
            current: blake3::Hasher::new(),
            whole: single.then(blake3::Hasher::new),
            cvs: Vec::new(),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if let Some(w) = &mut self.whole {
            w.update(data);
            self.filled += data.len() as u64;
            return;
        }
        while !data.is_empty() {
            // Whole pieces at a piece boundary, and not the file's last
            // piece (whose hasher must stay open): hash them side by side.
            let whole = (data.len() as u64 / self.piece) as usize;
            let before_last = piece_count(self.file_size) - 1 - self.index;
            let batch = whole.min(before_last);
            if self.filled == 0 && batch >= 2 {
                let len = batch * self.piece as usize;
                self.parallel_pieces(&data[..len]);
                data = &data[len..];
                continue;
            }
            let room = (self.piece - self.filled) as usize;
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            self.filled += take as u64;
            data = &data[take..];
            if self.filled == self.piece {
                self.finish_piece();
            }
        }
    }

    /// Chaining values of whole pieces starting at the current index,
    /// spread over the machine's cores (each piece is its own subtree).
    fn parallel_pieces(&mut self, data: &[u8]) {
        let piece = self.piece as usize;
        let first = self.index;
        let n = data.len() / piece;
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(n);
        let per = n.div_ceil(threads);
        let mut cvs: Vec<ChainingValue> = vec![[0u8; 32]; n];
        std::thread::scope(|scope| {
            for (t, out) in cvs.chunks_mut(per).enumerate() {
                let start = t * per;
                scope.spawn(move || {
                    for (k, cv) in out.iter_mut().enumerate() {
                        let i = start + k;
                        let mut h = blake3::Hasher::new();
                        h.set_input_offset((first + i) as u64 * piece as u64);
                        h.update(&data[i * piece..(i + 1) * piece]);
                        *cv = h.finalize_non_root();
                    }
                });
            }
        });
        self.cvs.extend(cvs);
        self.index += n;
        self.current = blake3::Hasher::new();
        self.current
            .set_input_offset(self.index as u64 * self.piece);
    }

    fn finish_piece(&mut self) {
        let next = (self.index as u64 + 1) * self.piece;
        let mut fresh = blake3::Hasher::new();
        if next < self.file_size {
            fresh.set_input_offset(next);
        }
        let done = std::mem::replace(&mut self.current, fresh);
        self.cvs.push(done.finalize_non_root());
        self.index += 1;
        self.filled = 0;
    }

    /// The id and the chaining values (empty for a one-piece file). `None`
    /// when the bytes fed do not add up to the expected size.
    pub fn finish(mut self) -> Option<(FileId, Vec<ChainingValue>)> {
        if let Some(w) = self.whole {
            return (self.filled == self.file_size).then(|| (w.finalize().into(), Vec::new()));
        }
        if self.filled > 0 {
            self.finish_piece();
        }
        let id = merge(self.file_size, &self.cvs)?;
        Some((id, self.cvs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;
    const M: u64 = 1024 * 1024;

    /// Bytes that never repeat at piece granularity: 1 MiB of xorshift
    /// noise, stamped with its index at the start of every copy (cheap even
    /// unoptimised, for the 1 GiB case).
    fn data(n: u64) -> Vec<u8> {
        let block = crate::fuzz::noise(M as usize, 1);
        let mut out = Vec::with_capacity(n as usize + M as usize);
        let mut i: u64 = 0;
        while (out.len() as u64) < n {
            let at = out.len();
            out.extend_from_slice(&block);
            for (k, step) in [0usize, 256 * 1024, 512 * 1024, 768 * 1024]
                .iter()
                .enumerate()
            {
                out[at + step..at + step + 8].copy_from_slice(&(i * 4 + k as u64).to_le_bytes());
            }
            i += 1;
        }
        out.truncate(n as usize);
        out
    }

    #[test]
    fn piece_size_is_a_power_of_two_from_the_size_alone() {
        assert_eq!(piece_size(0), 256 * K);
        assert_eq!(piece_size(1), 256 * K);
        assert_eq!(piece_size(1024 * M), 256 * K);
        assert_eq!(piece_size(1024 * M + 1), 512 * K);
        assert_eq!(piece_size(100 * 1024 * M), 32 * M);
        for size in [0, 1, 5 * M, 1024 * M + 1, 1 << 40] {
            let p = piece_size(size);
            assert!(p.is_power_of_two() && p >= MIN_PIECE_SIZE);
            assert!(size.div_ceil(p) <= MAX_PIECES);
        }
        assert_eq!(piece_count(0), 1);
        assert_eq!(piece_count(256 * K), 1);
        assert_eq!(piece_count(256 * K + 1), 2);
        assert_eq!(piece_range(600 * K, 2), (512 * K, 88 * K));
    }

    /// Chaining values of every piece, then the merge, equal `blake3::hash`.
    #[test]
    fn merged_pieces_reproduce_blake3_on_many_sizes() {
        let p = MIN_PIECE_SIZE;
        let sizes = [
            0,
            1,
            1023,
            1024,
            1025,
            p - 1,
            p,
            p + 1,
            2 * p - 1,
            2 * p,
            2 * p + 1,
            3 * p + 7,
            5 * p,
            8 * p + 1024,
            13 * p + 12345,
            40 * p - 1,
        ];
        for size in sizes {
            let bytes = data(size);
            let want = FileId::of(&bytes);
            let mut hasher = PieceHasher::new(size);
            // Feed in odd-sized slices to cross piece boundaries mid-update.
            for chunk in bytes.chunks(100_003) {
                hasher.update(chunk);
            }
            let (id, cvs) = hasher.finish().unwrap();
            assert_eq!(id, want, "size {size}");
            assert_eq!(
                cvs.len(),
                if piece_count(size) == 1 {
                    0
                } else {
                    piece_count(size)
                }
            );
            if piece_count(size) > 1 {
                assert_eq!(merge(size, &cvs), Some(want), "merge, size {size}");
            }
            for i in 0..piece_count(size) {
                let (off, len) = piece_range(size, i);
                let piece = &bytes[off as usize..(off + len) as usize];
                assert!(
                    verify_piece(&want, size, &cvs, i, piece),
                    "piece {i} of {size}"
                );
            }
        }
    }

    #[test]
    fn a_larger_file_with_bigger_pieces_merges_too() {
        // Over 4096 pieces of 256 KiB: 512 KiB pieces, a short last one.
        let size = 1024 * M + 3 * K + 1;
        let bytes = data(size);
        let mut h = PieceHasher::new(size);
        h.update(&bytes);
        let (id, cvs) = h.finish().unwrap();
        assert_eq!(piece_size(size), 512 * K);
        assert_eq!(id, FileId::of(&bytes));
        assert_eq!(cvs.len(), 2049);
    }

    #[test]
    fn tampering_is_caught() {
        let size = 3 * MIN_PIECE_SIZE + 5;
        let bytes = data(size);
        let mut h = PieceHasher::new(size);
        h.update(&bytes);
        let (id, mut cvs) = h.finish().unwrap();
        let (off, len) = piece_range(size, 1);
        let mut piece = bytes[off as usize..(off + len) as usize].to_vec();
        piece[10] ^= 1;
        assert!(!verify_piece(&id, size, &cvs, 1, &piece));
        // A piece checked at the wrong index fails (offsets are bound in).
        let first = &bytes[..MIN_PIECE_SIZE as usize];
        assert!(!verify_piece(&id, size, &cvs, 1, first));
        // A short piece fails.
        assert!(!verify_piece(&id, size, &cvs, 3, &bytes[..4]));
        // A forged list does not merge to the id.
        cvs[2][0] ^= 1;
        assert_ne!(merge(size, &cvs), Some(id));
        assert_eq!(merge(size, &cvs[..3]), None);
        // A one-piece file is checked whole.
        let small = data(1000);
        assert!(verify_piece(&FileId::of(&small), 1000, &[], 0, &small));
        assert!(!verify_piece(
            &FileId::of(&small),
            1000,
            &[],
            0,
            &small[1..]
        ));
        // Too few or too many bytes: no answer.
        let mut short = PieceHasher::new(size);
        short.update(&bytes[..100]);
        assert!(short.finish().is_none());
    }
}
