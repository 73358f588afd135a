//! Errors for a person to read: every cause, one per line.

/// An error and every cause under it, one per line, for a person to read.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
        cause = c.source();
    }
    out
}
