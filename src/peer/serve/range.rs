//! The `Range` request header (RFC 9110, section 14), reduced to what a file
//! server needs: one byte range, or the whole body. Invalid syntax is ignored
//! (the whole body is sent), several ranges are answered with the whole body,
//! and a range that starts past the end is unsatisfiable (416).

/// What to send in answer to a request's `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: send everything with 200.
    Full,
    /// Send bytes `start..=end` with 206.
    Part { start: u64, end: u64 },
    /// No byte of the range exists: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

impl ByteRange {
    /// Interprets the `Range` header `value` for a body of `len` bytes.
    pub fn parse(value: Option<&str>, len: u64) -> ByteRange {
        let Some(value) = value else {
            return ByteRange::Full;
        };
        let value = value.trim();
        let Some((unit, spec)) = value.split_once('=') else {
            return ByteRange::Full;
        };
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return ByteRange::Full;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return ByteRange::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        // Digits only; a number too big for u64 is as good as u64::MAX
        // (past the end of any file).
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                Some(s.parse().unwrap_or(u64::MAX))
            }
        };
        match (first.is_empty(), last.is_empty()) {
            // "-n": the last n bytes.
            (true, false) => match number(last) {
                None => ByteRange::Full,
                Some(0) => ByteRange::Unsatisfiable,
                Some(_) if len == 0 => ByteRange::Unsatisfiable,
                Some(n) => ByteRange::Part {
                    start: len - n.min(len),
                    end: len - 1,
                },
            },
            // "a-": from a to the end.
            (false, true) => match number(first) {
                None => ByteRange::Full,
                Some(a) if a >= len => ByteRange::Unsatisfiable,
                Some(a) => ByteRange::Part {
                    start: a,
                    end: len - 1,
                },
            },
            // "a-b"
            (false, false) => match (number(first), number(last)) {
                (Some(a), Some(b)) if a <= b => {
                    if a >= len {
                        ByteRange::Unsatisfiable
                    } else {
                        ByteRange::Part {
                            start: a,
                            end: b.min(len - 1),
                        }
                    }
                }
                _ => ByteRange::Full,
            },
            (true, true) => ByteRange::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::{self, *};

    fn check(header: Option<&str>, len: u64, expected: ByteRange) {
        assert_eq!(
            ByteRange::parse(header, len),
            expected,
            "{header:?} of {len}"
        );
    }

    #[test]
    fn ranges() {
        let p = |start, end| Part { start, end };
        let table = [
            (None, 10, Full),
            (Some("bytes=0-4"), 10, p(0, 4)),
            (Some("bytes=5-"), 10, p(5, 9)),
            (Some("bytes=-3"), 10, p(7, 9)),
            (Some("bytes=-30"), 10, p(0, 9)),
            (Some("bytes=3-100"), 10, p(3, 9)),
            (Some("BYTES = 1-1"), 10, p(1, 1)),
            (Some("bytes=9-9"), 10, p(9, 9)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-20"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-5"), 0, Unsatisfiable),
            (Some("bytes=5-2"), 10, Full),
            (Some("bytes=0-1,3-4"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes=a-b"), 10, Full),
            (Some("bytes=+1-2"), 10, Full),
            (Some("bytes=-"), 10, Full),
            (Some("bytes"), 10, Full),
            (Some("bytes=99999999999999999999999-"), 10, Unsatisfiable),
            (Some("bytes=2-99999999999999999999999"), 10, p(2, 9)),
            (Some("bytes=-99999999999999999999999"), 10, p(0, 9)),
            (Some("bytes=1-2-3"), 10, Full),
            (Some("bytes=\u{0}1-2"), 10, Full),
            (Some(""), 10, Full),
        ];
        for (h, len, want) in table {
            check(h, len, want);
        }
    }

    #[test]
    fn random_headers_give_a_range_inside_the_body_or_none() {
        let mut rng = crate::fuzz::Rng(0x1234_5678_9abc_def1);
        let pieces = [
            "bytes", "=", "-", ",", "0", "1", "5", "10", "100", " ", "BYTES", "+",
        ];
        for _ in 0..20_000 {
            let header = rng.text(&pieces);
            let len = match rng.below(4) {
                0 => 0,
                1 => rng.below(20) as u64,
                2 => rng.next_u64(),
                _ => u64::MAX,
            };
            match ByteRange::parse(Some(&header), len) {
                Full | Unsatisfiable => {}
                Part { start, end } => {
                    assert!(
                        start <= end && end < len,
                        "{header:?} of {len}: {start}-{end}"
                    )
                }
            }
        }
    }
}
