//! Logging for both processes: `env_logger` on stderr at the levels of
//! `RUST_LOG` (default `info`), behind a filter that takes every
//! registered secret out of every line, whichever crate logs it (ureq, for
//! one, prints request headers at debug level, control secret included).
//! A process registers its secrets as it learns them: the control secret,
//! the identity key, the group password, session tokens. A bare level in
//! `RUST_LOG` is hubshare's own (libraries stay at `info`); the gRPC core's
//! lines come through here too (at debug, target `grpc`); while a menu is
//! open the lines go to a file instead (`to_file`).

use std::str::FromStr;
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

/// While set, log lines go to this file instead of stderr (the menu is
/// open on the terminal).
static TO_FILE: RwLock<Option<env_logger::Logger>> = RwLock::new(None);

/// Records of the gRPC core (sent through `log` by `grpcio::redirect_log`):
/// its errors repeat what the callers report in their own words (a
/// directory that cannot be reached, ...), so they are debug lines here.
fn from_grpc_core(record: &Record<'_>) -> bool {
    record.module_path() == Some("grpcio::log_util")
}

struct Redacting(env_logger::Logger);

impl Log for Redacting {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let level = match from_grpc_core(record) {
            true => record.level().max(log::Level::Debug),
            false => record.level(),
        };
        let target = match from_grpc_core(record) {
            true => "grpc",
            false => record.target(),
        };
        let meta = Metadata::builder().level(level).target(target).build();
        if !self.0.enabled(&meta) {
            return;
        }
        let text = scrub(&record.args().to_string());
        let to_file = TO_FILE.reading();
        let out = to_file.as_ref().unwrap_or(&self.0);
        out.log(
            &Record::builder()
                .args(format_args!("{text}"))
                .level(level)
                .target(target)
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
    let logger = builder().build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(Redacting(logger))).is_ok() {
        log::set_max_level(max);
        // The gRPC core's own lines go through here too, not raw to stderr.
        grpcio::redirect_log();
    }
}

/// The filter: `RUST_LOG` as env_logger reads it, except that a bare level
/// (`RUST_LOG=debug`) is hubshare's own at that level and the libraries'
/// at info, so it shows what hubshare does rather than library chatter
/// (name a library to hear it: `RUST_LOG=debug,ureq=debug,grpc=debug`).
fn filter(rust_log: Option<&str>) -> String {
    let spec = rust_log.map(str::trim).filter(|s| !s.is_empty());
    match spec {
        None => "info".to_string(),
        Some(level) if log::LevelFilter::from_str(level).is_ok() => {
            format!("info,hubshare={level},peer={level},server={level}")
        }
        Some(spec) => spec.to_string(),
    }
}

/// The environment variable that turns log lines into JSON objects (one a
/// line: `ts`, `level`, `target`, `msg`) for log collectors.
pub const FORMAT_VAR: &str = "HUBSHARE_LOG_FORMAT";

fn builder() -> env_logger::Builder {
    let mut b = env_logger::Builder::new();
    b.parse_filters(&filter(std::env::var("RUST_LOG").ok().as_deref()));
    if std::env::var(FORMAT_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        b.format(|buf, record| {
            use std::io::Write;
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    b
}

/// From now on, log lines are appended to `path` instead of going to
/// stderr (same levels, same format): for a menu on the terminal.
pub fn to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let logger = builder()
        .target(env_logger::Target::Pipe(Box::new(file)))
        .build();
    *TO_FILE.writing() = Some(logger);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_is_hubshares_own() {
        assert_eq!(filter(None), "info");
        assert_eq!(
            filter(Some("debug")),
            "info,hubshare=debug,peer=debug,server=debug"
        );
        assert_eq!(filter(Some("debug,ureq=debug")), "debug,ureq=debug");
        assert_eq!(filter(Some("hubshare=trace")), "hubshare=trace");
    }

    #[test]
    fn registered_secrets_never_show() {
        redact("0123456789abcdef-secret");
        redact("short");
        let line = scrub("X-Hubshare-Secret: 0123456789abcdef-secret\r\nshort");
        assert_eq!(line, "X-Hubshare-Secret: [redacted]\r\nshort");
    }
}
