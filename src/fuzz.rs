//! Random hostile input for the parsers' property tests (test builds only):
//! a deterministic generator, so a failure repeats with the same seed.

/// xorshift64*: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
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
