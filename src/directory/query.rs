//! The search query language, parsed once at the edge into a [`Query`]:
//!
//! | form | meaning |
//! | --- | --- |
//! | `word` | the name contains it (case-insensitive, also inside a longer word: `port` finds `annual_report.pdf`) |
//! | `-word` | the name does not contain it |
//! | `"exact phrase"` | the words in this order, side by side |
//! | `ext:pdf` | the extension is `pdf` |
//! | `size>10M`, `size<1G` | size bounds, with `K`, `M`, `G`, `T` (powers of 1024) or bytes |
//! | 64 hex digits, or `id:<hex>` | the file with that id (alone) |
//! | `*` | every file (with filters only: `* size>1G`, `ext:iso`, `-draft`) |
//!
//! Names and query words are normalised the same way: case-folded, split on
//! anything that is not a letter or a digit.

use std::fmt;

use crate::id::FileId;

/// Longest query, in bytes.
pub const MAX_QUERY_LEN: usize = 256;
/// Most terms in one query.
pub const MAX_TERMS: usize = 16;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A lookup by content hash.
    Id(FileId),
    /// A search by name.
    Name(NameQuery),
}

/// Conditions on a file's name and size; all must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameQuery {
    /// Normalised fragments that must each occur in some token of the name.
    pub words: Vec<String>,
    /// Normalised phrases (tokens joined by one space) that must occur.
    pub phrases: Vec<String>,
    /// Normalised fragments that must not occur.
    pub excluded: Vec<String>,
    /// Lower-case extension, without the dot.
    pub ext: Option<String>,
    /// Size must be greater than this.
    pub min_size: Option<u64>,
    /// Size must be less than this.
    pub max_size: Option<u64>,
}

/// Why a query cannot be run; the text says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuery(pub String);

impl fmt::Display for BadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadQuery {}

/// Splits text into folded tokens of letters and digits: lower case,
/// compatibility forms and accents folded away (`Björk` is `bjork`,
/// `Überblick` `uberblick`, `ﬁle` `file`), so a search finds a name
/// however either was typed. Names and queries go through the same fold.
pub fn tokens(text: &str) -> impl Iterator<Item = String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
}

/// `text` lower-cased, in its compatibility decomposition (NFKD) without
/// the combining marks: what [`tokens`] splits.
pub fn fold(text: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The normalised form of a name: its tokens joined by single spaces.
pub fn normalise(text: &str) -> String {
    tokens(text).collect::<Vec<_>>().join(" ")
}

/// The lower-case extension of a file name (after the last dot), if any.
pub fn extension(name: &str) -> Option<String> {
    // Of the file name, not of a folder above it.
    let (_, name) = crate::names::split_folder(name);
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_lowercase())
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let value: f64 = digits.parse().ok()?;
    let scale: f64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = value * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Splits on whitespace, keeping `"quoted phrases"` (and `-"phrases"`) whole.
fn terms(text: &str) -> Result<Vec<String>, BadQuery> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                current.push(c);
                quoted = !quoted;
                if !quoted {
                    out.push(std::mem::take(&mut current));
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(BadQuery(
            "a quote is not closed: write \"exact phrase\"".into(),
        ));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

impl Query {
    /// Parses a query (see the module documentation for the forms).
    pub fn parse(text: &str) -> Result<Query, BadQuery> {
        if text.len() > MAX_QUERY_LEN {
            return Err(BadQuery(format!(
                "query is {} bytes long, the limit is {MAX_QUERY_LEN}",
                text.len()
            )));
        }
        let terms = terms(text)?;
        if terms.is_empty() {
            return Err(BadQuery(
                "query is empty: give words of a file name, or a file id".into(),
            ));
        }
        if terms.len() > MAX_TERMS {
            return Err(BadQuery(format!(
                "query has {} terms, the limit is {MAX_TERMS}",
                terms.len()
            )));
        }
        let id_term = |t: &str| {
            t.strip_prefix("id:")
                .map(|hex| FileId::parse(hex).map_err(|e| BadQuery(e.to_string())))
                .or_else(|| {
                    FileId::looks_like(t)
                        .then(|| FileId::parse(t).map_err(|e| BadQuery(e.to_string())))
                })
        };
        if let [one] = terms.as_slice() {
            if let Some(id) = id_term(one) {
                return id.map(Query::Id);
            }
        }
        let mut q = NameQuery::default();
        for term in &terms {
            if term.starts_with("id:") {
                return Err(BadQuery(
                    "an id search takes the id alone (id:<64 hex digits>)".into(),
                ));
            }
            let (negative, body) = match term.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, term.as_str()),
            };
            if let Some(phrase) = body.strip_prefix('"').and_then(|b| b.strip_suffix('"')) {
                let norm = normalise(phrase);
                if norm.is_empty() {
                    return Err(BadQuery(format!("phrase {term} has no letters or digits")));
                }
                if negative {
                    q.excluded.push(norm);
                } else {
                    q.phrases.push(norm);
                }
                continue;
            }
            if let Some(ext) = body.strip_prefix("ext:") {
                let ext = ext.trim_start_matches('.').to_lowercase();
                if negative || ext.is_empty() || !ext.chars().all(char::is_alphanumeric) {
                    return Err(BadQuery(format!(
                        "{term:?}: write ext: and letters or digits, e.g. ext:pdf"
                    )));
                }
                if q.ext.replace(ext).is_some() {
                    return Err(BadQuery("only one ext: per query".into()));
                }
                continue;
            }
            if let Some(rest) = body.strip_prefix("size") {
                let bound = |s: &str| {
                    parse_size(s).ok_or_else(|| {
                        BadQuery(format!(
                            "{term:?}: sizes look like 500, 10K, 10M, 1.5G or 2T"
                        ))
                    })
                };
                if negative {
                    return Err(BadQuery(format!(
                        "{term:?}: a size bound cannot be excluded"
                    )));
                }
                if let Some(v) = rest.strip_prefix('>') {
                    q.min_size = Some(bound(v)?);
                    continue;
                }
                if let Some(v) = rest.strip_prefix('<') {
                    q.max_size = Some(bound(v)?);
                    continue;
                }
            }
            if body == "*" && !negative {
                continue;
            }
            let parts: Vec<String> = tokens(body).collect();
            if parts.is_empty() {
                return Err(BadQuery(format!("{term:?} has no letters or digits")));
            }
            if negative {
                q.excluded.extend(parts);
            } else {
                q.words.extend(parts);
            }
        }
        // Filters alone (`size>100M`, `-draft`, `*` for everything) look
        // at every name: allowed, and ranked like any search.
        if let (Some(lo), Some(hi)) = (q.min_size, q.max_size) {
            if lo >= hi {
                return Err(BadQuery(format!(
                    "size>{lo} and size<{hi} leave nothing to find"
                )));
            }
        }
        Ok(Query::Name(q))
    }
}

impl NameQuery {
    /// Whether a file named `name` (its normalised form `norm`) of `size`
    /// bytes matches. The index narrows candidates; this is the final word.
    pub fn matches(&self, name: &str, norm: &str, size: u64) -> bool {
        let toks: Vec<&str> = norm.split(' ').collect();
        self.words
            .iter()
            .all(|w| toks.iter().any(|t| t.contains(w.as_str())))
            && self.phrases.iter().all(|p| contains_phrase(norm, p))
            && !self.excluded.iter().any(|x| {
                if x.contains(' ') {
                    contains_phrase(norm, x)
                } else {
                    toks.iter().any(|t| t.contains(x.as_str()))
                }
            })
            && self
                .ext
                .as_ref()
                .is_none_or(|e| extension(name).as_deref() == Some(e))
            && self.size_fits(size)
    }
}

impl NameQuery {
    /// Whether the phrases occur in the normalised name `norm`, and the
    /// excluded phrases do not.
    pub fn phrases_match(&self, norm: &str) -> bool {
        self.phrases.iter().all(|p| contains_phrase(norm, p))
            && !self
                .excluded
                .iter()
                .any(|x| x.contains(' ') && contains_phrase(norm, x))
    }

    /// Whether `size` is within the bounds.
    pub fn size_fits(&self, size: u64) -> bool {
        self.min_size.is_none_or(|lo| size > lo) && self.max_size.is_none_or(|hi| size < hi)
    }
}

/// Whether the phrase occurs in `norm` on token boundaries at its start
/// (so `annual rep` matches `annual report`, but `nual report` does not).
fn contains_phrase(norm: &str, phrase: &str) -> bool {
    norm.match_indices(phrase)
        .any(|(i, _)| i == 0 || norm.as_bytes()[i - 1] == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(q: &str) -> NameQuery {
        match Query::parse(q).unwrap() {
            Query::Name(n) => n,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn parses_each_form() {
        let id = FileId::of(b"x");
        assert_eq!(Query::parse(&id.to_string()).unwrap(), Query::Id(id));
        assert_eq!(Query::parse(&format!(" id:{id} ")).unwrap(), Query::Id(id));
        let q = name("Annual REPORT -draft \"q3 results\" ext:PDF size>10M size<1.5G");
        assert_eq!(q.words, vec!["annual", "report"]);
        assert_eq!(q.excluded, vec!["draft"]);
        assert_eq!(q.phrases, vec!["q3 results"]);
        assert_eq!(q.ext.as_deref(), Some("pdf"));
        assert_eq!(q.min_size, Some(10 << 20));
        assert_eq!(q.max_size, Some(1536 << 20));
        assert_eq!(name("report.pdf").words, vec!["report", "pdf"]);
        assert_eq!(name("ext:mkv").ext.as_deref(), Some("mkv"));
        assert_eq!(name("x size>500").min_size, Some(500));
        assert_eq!(name("Élan").words, vec!["elan"]);
        assert_eq!(name("x -\"old copy\"").excluded, vec!["old copy"]);
    }

    #[test]
    fn refuses_with_a_reason() {
        let id = FileId::of(b"x");
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("id:abc", "64 hex digits"),
            (&format!("{id} extra id:{id}"), "id alone"),
            ("x size>10Q", "sizes look like"),
            ("x size>1G size<1M", "leave nothing"),
            ("\"open", "not closed"),
            ("ext:", "ext:pdf"),
            ("ext:pdf ext:doc", "one ext"),
            ("x -size>1M", "cannot be excluded"),
            ("!!!", "no letters"),
            ("\"...\"", "no letters"),
        ];
        for (q, why) in cases {
            let err = Query::parse(q).unwrap_err().to_string();
            assert!(err.contains(why), "{q:?}: {err}");
        }
        let long = "a ".repeat(MAX_QUERY_LEN);
        assert!(Query::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("limit is 256"));
        let many = "a ".repeat(MAX_TERMS + 1);
        assert!(Query::parse(&many)
            .unwrap_err()
            .to_string()
            .contains("terms"));
    }

    #[test]
    fn matching_semantics() {
        let cases: &[(&str, &str, u64, bool)] = &[
            ("port", "annual_report.pdf", 1, true),
            ("REPORT annual", "Annual Report 2026.pdf", 1, true),
            ("report budget", "annual_report.pdf", 1, false),
            ("report -draft", "report (draft).pdf", 1, false),
            ("report -draft", "report final.pdf", 1, true),
            ("\"annual report\"", "annual_report.pdf", 1, true),
            ("\"report annual\"", "annual_report.pdf", 1, false),
            ("\"nual report\"", "annual_report.pdf", 1, false),
            ("ext:pdf", "x.PDF", 1, true),
            ("ext:pdf", "pdf.txt", 1, false),
            ("ext:pdf", "pdf", 1, false),
            ("x size>10", "x.bin", 11, true),
            ("x size>10", "x.bin", 10, false),
            ("x size<10", "x.bin", 9, true),
            ("x size<10", "x.bin", 10, false),
            ("über", "Über Alles.mp3", 1, true),
            ("東京", "東京 2020.mkv", 1, true),
            ("-\"old copy\" notes", "notes old copy.txt", 1, false),
        ];
        for (q, file, size, want) in cases {
            let got = name(q).matches(file, &normalise(file), *size);
            assert_eq!(got, *want, "{q:?} on {file:?} ({size} bytes)");
        }
    }

    /// Random text either parses into a query in normal form, or is
    /// refused with a reason. (What a parsed query finds is checked against
    /// a brute-force filter in the index's tests.)
    #[test]
    fn random_queries_parse_into_normal_form_or_are_refused_with_a_reason() {
        let mut rng = crate::fuzz::Rng(0x9e37_79b9_7f4a_7c15);
        let pieces = [
            "ext:", "size>", "size<", "id:", "-", "\"", "10M", "1.5G", "0", "pdf", "k", "report",
            "e", "1e999", "NaN", "-1",
        ];
        let (mut parsed, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let text = rng.text(&pieces);
            match Query::parse(&text) {
                Ok(Query::Name(q)) => {
                    parsed += 1;
                    assert!(text.len() <= MAX_QUERY_LEN, "{text:?}");
                    // Something positive, or filters alone (no `*` here).
                    let filters = !q.excluded.is_empty() || q.min_size.or(q.max_size).is_some();
                    assert!(
                        !q.words.is_empty() || !q.phrases.is_empty() || q.ext.is_some() || filters,
                        "{text:?} parsed into {q:?}, which asks for nothing"
                    );
                    for w in q.words.iter().chain(&q.excluded) {
                        assert!(!w.is_empty() && normalise(w) == *w, "{text:?}: {w:?}");
                    }
                    for p in &q.phrases {
                        assert!(!p.is_empty() && normalise(p) == *p, "{text:?}: {p:?}");
                    }
                    if let (Some(lo), Some(hi)) = (q.min_size, q.max_size) {
                        assert!(lo < hi, "{text:?}");
                    }
                    assert!(q.words.iter().all(|w| !w.contains(' ')), "{text:?}");
                }
                Ok(Query::Id(id)) => {
                    assert!(text.to_lowercase().contains(&id.to_hex()), "{text:?}")
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty(), "{text:?}");
                }
            }
        }
        // Both sides of the parser were exercised.
        assert!(
            parsed > 1000 && refused > 1000,
            "{parsed} parsed, {refused} refused"
        );
    }
}
