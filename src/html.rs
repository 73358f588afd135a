//! HTML text for the pages both processes serve: [`Esc`] makes any text
//! (a file name a remote peer chose, a visitor's words) safe in an element
//! or a quoted attribute.

use std::fmt;

/// Text made safe for HTML, in an element or in a quoted attribute.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::Esc;

    #[test]
    fn every_markup_character_is_escaped() {
        assert_eq!(
            Esc("<b a=\"x\" c='y'>&</b>").to_string(),
            "&lt;b a=&quot;x&quot; c=&#39;y&#39;&gt;&amp;&lt;/b&gt;"
        );
        assert_eq!(Esc("plain Björk ✓").to_string(), "plain Björk ✓");
        assert_eq!(Esc("").to_string(), "");
    }
}
