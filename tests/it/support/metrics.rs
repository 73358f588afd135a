//! Reading `/metrics` pages (the directory's and a peer's) as Prometheus
//! would: every sample by name and labels.

use std::collections::HashMap;

use super::http::{header, raw_http};

/// The samples of a Prometheus text page: `name{labels}` -> value. Fails
/// on a line that is not a comment, a blank or `name[{..}] value`.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "bad labels in {line:?}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(key.to_string(), value);
    }
    samples
}

/// `/metrics` as Prometheus asks for it (OpenMetrics, ending in `# EOF`).
pub fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, headers, body) = raw_http(
        addr,
        "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        b"",
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics page ends with # EOF"
    );
    parse_metrics(&text)
}

/// `/metrics` as `curl` gets it: Prometheus text 0.0.4, the same samples,
/// each counter's HELP and TYPE naming its `_total` samples.
pub fn scrape_plain(addr: &str) -> HashMap<String, f64> {
    let (status, headers, body) = raw_http(addr, "GET /metrics HTTP/1.1", b"");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
    {
        let name = line.split(' ').nth(2).unwrap();
        assert!(name.ends_with("_total"), "{line}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    parse_metrics(&text)
}

pub fn calls(m: &HashMap<String, f64>, call: &str) -> f64 {
    m.get(&format!(
        "hubshare_directory_calls_total{{call=\"{call}\"}}"
    ))
    .copied()
    .unwrap_or(0.0)
}
