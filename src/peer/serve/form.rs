//! What a visitor asks the page for, read from the URL's query string
//! (form-encoded): search words, a folder, another peer, a result limit.

use crate::wire::percent_decode;

/// Results a page asks for unless `limit` says otherwise.
pub const PAGE_RESULTS: u32 = 100;
/// Most results a page may ask for.
pub const MAX_PAGE_RESULTS: u32 = 1000;

/// What the visitor asked for, from the URL's query string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageQuery {
    /// Search words (empty: no search).
    pub q: String,
    /// The folder of the share to show (`""`: all of it).
    pub folder: String,
    /// Another peer whose share to show instead of this one's (`""`: ours).
    pub peer: String,
    pub limit: u32,
}

impl PageQuery {
    /// Reads `q`, `in` and `limit` from a form-encoded query string (the
    /// part of the URL after `?`); other keys are ignored. A value that
    /// cannot be used is the error, beside what the rest of the query
    /// asked (so the page keeps the words in the search box).
    pub fn parse(query: &str) -> Result<PageQuery, (PageQuery, String)> {
        let mut ask = PageQuery {
            limit: PAGE_RESULTS,
            ..PageQuery::default()
        };
        let mut problem = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(value) = form_decode(value) else {
                problem.get_or_insert(format!(
                    "the value of {key:?} is not valid percent-encoded UTF-8"
                ));
                continue;
            };
            match key {
                "q" => ask.q = value.trim().to_string(),
                "in" => ask.folder = value.trim_matches('/').to_string(),
                "peer" => match crate::names::check_peer_name(value.trim()) {
                    Ok(()) => ask.peer = value.trim().to_string(),
                    Err(e) => {
                        problem.get_or_insert(format!("peer: {e}"));
                    }
                },
                "limit" => match value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_RESULTS).contains(n))
                {
                    Some(n) => ask.limit = n,
                    None => {
                        problem.get_or_insert(format!(
                            "limit must be a number from 1 to {MAX_PAGE_RESULTS}"
                        ));
                    }
                },
                _ => {}
            }
        }
        match problem {
            None => Ok(ask),
            Some(why) => Err((ask, why)),
        }
    }
}

/// `application/x-www-form-urlencoded`: `+` is a space, then `%XX` escapes.
pub(super) fn form_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_form_from_the_query_string() {
        let ask = PageQuery::parse("q=big+cat%2Bdog%20%C3%A9&in=%2Fmusic%2Frock%2F&x=1").unwrap();
        assert_eq!(ask.q, "big cat+dog é");
        assert_eq!(ask.folder, "music/rock");
        assert_eq!(ask.limit, PAGE_RESULTS);
        assert_eq!(
            PageQuery::parse("").unwrap(),
            PageQuery {
                limit: PAGE_RESULTS,
                ..Default::default()
            }
        );
        assert_eq!(PageQuery::parse("q").unwrap().q, "");
        assert_eq!(PageQuery::parse("limit=7").unwrap().limit, 7);
        for bad in [
            "q=%ZZ",
            "q=%FF",
            "q=%E2%82",
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=-1",
        ] {
            assert!(PageQuery::parse(bad).is_err(), "{bad}");
        }
        // A bad limit keeps the words, for the search box.
        let (ask, why) = PageQuery::parse("q=bj%C3%B6rk&limit=lots").unwrap_err();
        assert_eq!(ask.q, "björk");
        assert!(why.contains("limit"), "{why}");
    }
}
