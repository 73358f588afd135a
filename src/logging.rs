//! Logging for both processes: `env_logger` on stderr at the levels of
//! `RUST_LOG` (default `info`), behind a filter that takes every
//! registered secret out of every line, whichever crate logs it (ureq, for
//! one, prints request headers at debug level, control secret included).
//! A process registers its secrets as it learns them: the control secret,
//! the identity key, the group password, session tokens.

use std::sync::RwLock;

use log::{Log, Metadata, Record};

use crate::sync::RwLockExt;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Secrets remembered at most (the oldest is forgotten first): a
/// long-running peer registers a token per login.
const MAX_SECRETS: usize = 64;
/// Shorter texts are not secrets worth the name, and replacing them would
/// mangle ordinary words.
const MIN_SECRET_LEN: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// From now on, no log line shows `secret`.
pub fn redact(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.writing();
    if secrets.iter().any(|s| s == secret) {
        return;
    }
    if secrets.len() >= MAX_SECRETS {
        secrets.remove(0);
    }
    secrets.push(secret.to_string());
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.reading();
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

struct Redacting(env_logger::Logger);

impl Log for Redacting {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.0.matches(record) {
            return;
        }
        let text = scrub(&record.args().to_string());
        self.0.log(
            &Record::builder()
                .args(format_args!("{text}"))
                .level(record.level())
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Starts logging (once per process; a second call changes nothing).
pub fn init() {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(Redacting(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_never_show() {
        redact("0123456789abcdef-secret");
        redact("short");
        let line = scrub("X-Hubshare-Secret: 0123456789abcdef-secret\r\nshort");
        assert_eq!(line, "X-Hubshare-Secret: [redacted]\r\nshort");
    }
}
