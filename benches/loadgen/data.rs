//! The generated world: a vocabulary, file names, a catalogue of files with
//! skewed popularity, the files each simulated peer shares, and queries.

use hubshare::fuzz::Rng;

/// A vocabulary of pronounceable pseudo-words plus common real ones.
pub fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let common = [
        "live",
        "remix",
        "official",
        "final",
        "report",
        "holiday",
        "photos",
        "season",
        "episode",
        "album",
        "greatest",
        "hits",
        "concert",
        "backup",
        "project",
        "notes",
        "draft",
        "budget",
        "annual",
        "summer",
        "winter",
        "night",
        "city",
        "river",
        "mountain",
        "lecture",
        "chapter",
        "volume",
        "collection",
        "deluxe",
        "edition",
        "original",
        "soundtrack",
        "documentary",
    ];
    let onsets = [
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
        "tr", "ch",
    ];
    let vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ee"];
    let codas = ["", "n", "r", "s", "l", "x", "th", "nd"];
    let mut words: Vec<String> = common.iter().map(|w| w.to_string()).collect();
    while words.len() < 6000 {
        let syllables = 2 + rng.below(2);
        let w: String = (0..syllables)
            .map(|_| {
                format!(
                    "{}{}{}",
                    onsets[rng.below(onsets.len())],
                    vowels[rng.below(vowels.len())],
                    codas[rng.below(codas.len())]
                )
            })
            .collect();
        words.push(w);
    }
    words
}

/// Accents every third word (its first `e`, `o`, `u` or `a` becomes `é`,
/// `ö`, `ü` or `å`), as names in many languages are: the same words, now
/// folded by the index.
pub fn accent(vocab: &mut [String]) {
    for w in vocab.iter_mut().step_by(3) {
        if let Some(i) = w.find(['e', 'o', 'u', 'a']) {
            let with = match &w[i..=i] {
                "e" => "é",
                "o" => "ö",
                "u" => "ü",
                _ => "å",
            };
            w.replace_range(i..=i, with);
        }
    }
}

pub const EXTS: [&str; 14] = [
    "mp3", "flac", "mkv", "mp4", "avi", "pdf", "epub", "jpg", "png", "zip", "iso", "txt", "docx",
    "ogg",
];

pub fn file_name(rng: &mut Rng, vocab: &[String]) -> String {
    let w = |rng: &mut Rng| vocab[rng.skewed(vocab.len())].clone();
    let ext = EXTS[rng.below(EXTS.len())];
    match rng.below(4) {
        0 => format!("{} - {} {}.{ext}", w(rng), w(rng), w(rng)),
        1 => format!("{}_{}_{:02}.{ext}", w(rng), w(rng), rng.below(100)),
        2 => format!("{} {} ({}).{ext}", w(rng), w(rng), 1960 + rng.below(66)),
        _ => format!(
            "{}.{}.s{:02}e{:02}.{ext}",
            w(rng),
            w(rng),
            1 + rng.below(12),
            1 + rng.below(24)
        ),
    }
}

pub struct CatalogueFile {
    pub id: String,
    pub size: u64,
    pub name: String,
}

pub fn catalogue(n: usize, rng: &mut Rng, vocab: &[String]) -> Vec<CatalogueFile> {
    (0..n)
        .map(|i| {
            let name = file_name(rng, vocab);
            CatalogueFile {
                id: blake3::hash(format!("{i}:{name}").as_bytes())
                    .to_hex()
                    .to_string(),
                size: 1000 + rng.next_u64() % (4u64 << 30),
                name,
            }
        })
        .collect()
}

/// The query mix: single and double words (skewed towards common ones),
/// word prefixes, exclusions, extension filters, and lookups by id.
pub fn random_query(
    rng: &mut Rng,
    vocab: &[String],
    cat: &[CatalogueFile],
    uniform: bool,
) -> String {
    let w = |rng: &mut Rng| {
        let i = if uniform {
            rng.below(vocab.len())
        } else {
            rng.skewed(vocab.len())
        };
        vocab[i].clone()
    };
    match rng.below(10) {
        0 => cat[rng.below(cat.len())].id.clone(),
        1 => format!("{} ext:{}", w(rng), EXTS[rng.below(EXTS.len())]),
        2 => {
            let word = w(rng);
            let cut = word.char_indices().nth(4).map_or(word.len(), |(i, _)| i);
            word[..cut].to_string()
        }
        3 => format!("{} -{}", w(rng), w(rng)),
        4..=6 => format!("{} {}", w(rng), w(rng)),
        _ => w(rng),
    }
}

/// The generator of peer `p`'s files: the same for the same seed and
/// peer, whichever thread logs it in, and as independent of the next
/// peer's as one long stream's draws. (The fill once drew from one
/// generator per client thread, seeded 1043 to 1050: xorshift is linear in
/// its state, so those streams drew correlated files, 912,595 distinct of
/// 2.5M where independent draws give 1.34M.)
pub fn peer_rng(seed: u64, p: usize) -> Rng {
    Rng((seed ^ (p as u64).wrapping_mul(0x9e37_79b9)) | 1)
}

/// The catalogue entries peer `p` shares: distinct ones for `unique`, else
/// drawn with skewed popularity.
pub fn pick_files(
    rng: &mut Rng,
    p: usize,
    files: usize,
    catalogue: usize,
    unique: bool,
) -> Vec<usize> {
    let mut picked = std::collections::HashSet::new();
    while picked.len() < files.min(catalogue) {
        let i = if unique {
            p * files + picked.len()
        } else {
            rng.skewed(catalogue)
        };
        picked.insert(i);
    }
    picked.into_iter().collect()
}
