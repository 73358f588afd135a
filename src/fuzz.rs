//! Deterministic random input for the property tests, the test files and
//! the load generator: the same seed gives the same run, so a failure
//! repeats. Not for anything that needs unpredictable numbers (tokens and
//! secrets use the OS, see `random.rs`).

/// xorshift64*: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// In `0..n`, skewed towards small values (roughly Zipf-like).
    pub fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize)
            .saturating_sub(1)
            .min(n.saturating_sub(1))
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    /// Up to `max` random bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// Text built from pieces that parsers trip on: operators, quotes,
    /// digits and units, separators, control and non-ASCII characters,
    /// and now and then a very long run or raw random characters.
    pub fn text(&mut self, pieces: &[&str]) -> String {
        const COMMON: [&str; 16] = [
            " ",
            "\"",
            "-",
            "=",
            ",",
            "\0",
            "\n",
            "\t",
            "é",
            "😀",
            "\u{202e}",
            "9",
            "99999999999999999999",
            ".",
            "\\",
            "a",
        ];
        match self.below(12) {
            0 => String::new(),
            1 => "9".repeat(self.below(5000)),
            2 => (0..self.below(64))
                .map(|_| char::from_u32(self.below(0x11_0000) as u32).unwrap_or('?'))
                .collect(),
            _ => (0..self.below(24))
                .map(|_| {
                    if self.below(2) == 0 {
                        COMMON[self.below(COMMON.len())]
                    } else {
                        pieces[self.below(pieces.len())]
                    }
                })
                .collect(),
        }
    }
}

/// `n` bytes of deterministic noise, different for each seed: file contents
/// for tests and benchmarks that never repeat at piece granularity.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; n];
    Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_repeatable_and_differs_by_seed() {
        assert_eq!(noise(1001, 3), noise(1001, 3));
        assert_ne!(noise(1001, 3), noise(1001, 4));
        assert_eq!(noise(1001, 3)[..17], noise(17, 3)[..]);
        // Not constant, not a short cycle.
        let n = noise(1 << 16, 9);
        let distinct: std::collections::HashSet<_> = n.chunks(4096).collect();
        assert_eq!(distinct.len(), 16);
    }
}
