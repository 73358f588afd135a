//! Interned names: every distinct name's text in one arena, its rank
//! prefix, and the trigram keys that find tokens from a fragment.

/// The text of every distinct name, one after another, by name index:
/// 8 bytes besides the text per name, against a `Box<str>`'s 16 plus the
/// allocator's own. Dead names stay until compaction rebuilds it.
#[derive(Default)]
pub(super) struct NameTexts {
    pub(super) text: String,
    /// Where each name's text ends in `text`.
    pub(super) ends: Vec<u64>,
}

impl NameTexts {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u64);
    }
}

impl std::ops::Index<usize> for NameTexts {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Flag in [`Index::rank`]: the file is linked from more than one name.
pub(super) const MULTI_NAME: u32 = 1 << 31;

pub(super) fn trigram_keys(token: &str) -> Vec<u64> {
    let chars: Vec<char> = token.chars().collect();
    let mut keys: Vec<u64> = chars
        .windows(3)
        .map(|w| (w[0] as u64) << 42 | (w[1] as u64) << 21 | w[2] as u64)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Rank key: (u32::MAX - sources, name prefix); smaller ranks first.
pub(super) type Key = (u32, Prefix);

/// A name's first sixteen bytes as two big-endian integers. Eight were
/// too few: thousands of names can start with the same common word and a
/// separator, and a walk must visit every block where its last key ties.
pub(super) type Prefix = (u64, u64);

/// Orders like the text's bytes for the first sixteen of them.
pub(super) fn name_prefix(text: &str) -> Prefix {
    let mut b = [0u8; 16];
    let n = text.len().min(16);
    b[..n].copy_from_slice(&text.as_bytes()[..n]);
    let (hi, lo) = b.split_at(8);
    (
        u64::from_be_bytes(hi.try_into().expect("eight bytes")),
        u64::from_be_bytes(lo.try_into().expect("eight bytes")),
    )
}
