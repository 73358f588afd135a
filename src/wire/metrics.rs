//! The two text formats a `/metrics` page is served in: OpenMetrics (what
//! prometheus-client writes, and what Prometheus asks for first) and the
//! older Prometheus text format 0.0.4 (what `curl`, `promtool check
//! metrics` and older scrapers read), chosen by the request's `Accept`.

/// The content type of an OpenMetrics page.
pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of a Prometheus text 0.0.4 page.
pub const PROMETHEUS_TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a client with this `Accept` header takes OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// An OpenMetrics page as Prometheus text 0.0.4: a counter's HELP and TYPE
/// name its `_total` samples, and the `# UNIT` and `# EOF` lines go.
pub fn openmetrics_to_text(page: &str) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = String::with_capacity(page.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line == "# EOF" || line.starts_with("# UNIT ") {
            i += 1;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            let counter = lines
                .get(i + 1)
                .is_some_and(|next| *next == format!("# TYPE {name} counter"));
            if counter {
                out.push_str(&format!("# HELP {name}_total{}\n", &rest[name.len()..]));
                out.push_str(&format!("# TYPE {name}_total counter\n"));
                i += 2;
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_lines_go() {
        let page = "# HELP a_calls Calls.\n# TYPE a_calls counter\na_calls_total{call=\"X\"} 3\n\
                    # HELP a_up Up.\n# TYPE a_up gauge\n# UNIT a_up seconds\na_up 1.5\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(page),
            "# HELP a_calls_total Calls.\n# TYPE a_calls_total counter\na_calls_total{call=\"X\"} 3\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1.5\n"
        );
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
