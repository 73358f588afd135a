//! A relay's configuration: the `[relay]` table of `config/server.toml`
//! (a relay in the directory's process, or the address and secret of one
//! run elsewhere), and the whole of `config/relay.toml` for the `relay`
//! binary.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::load::{base_of, parse, read, resolve, ConfigError};

/// A relay's address, secret and caps.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Where the relay listens. In `server.toml`: set it to run the relay
    /// in the directory's process; leave it out when one runs elsewhere.
    pub listen: Option<SocketAddr>,
    /// The `host:port` peers dial (default: `listen`).
    pub addr: Option<String>,
    /// The secret the directory signs tickets with and the relay checks
    /// them by (made, 0600, if missing). A directory and a relay run
    /// apart give the same file. Default: none, and a relay in the
    /// directory's process uses a fresh one; one run apart needs it.
    pub secret_file: Option<PathBuf>,
    /// Bytes per second one session may relay, both ways together (0: no
    /// cap).
    pub session_rate: u64,
    /// Bytes per second the relay relays in all (0: no cap).
    pub total_rate: u64,
    /// Sessions one peer (as a source or a downloader) may have at once.
    pub sessions_per_peer: usize,
    /// Sessions at once in all.
    pub max_sessions: usize,
    /// A session silent this long each way is ended.
    pub idle_secs: u64,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            listen: None,
            addr: None,
            secret_file: None,
            session_rate: 16 << 20,
            total_rate: 128 << 20,
            sessions_per_peer: 8,
            max_sessions: 256,
            idle_secs: 60,
        }
    }
}

impl RelayConfig {
    /// Reads and checks `config/relay.toml`.
    pub fn load(path: &Path) -> Result<RelayConfig, ConfigError> {
        let mut config: RelayConfig = parse(&read(path)?, path)?;
        config.resolve_paths(&base_of(path));
        config.check(path)?;
        if config.listen.is_none() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "listen",
                problem: "is needed: where the relay listens".to_string(),
            });
        }
        Ok(config)
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.secret_file {
            resolve(base, p);
        }
    }

    /// Checks values that have the right type but cannot be used.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem: problem.to_string(),
        };
        if self.sessions_per_peer == 0 || self.max_sessions == 0 {
            return Err(invalid(
                "sessions_per_peer",
                "and max_sessions must be at least 1",
            ));
        }
        if self.idle_secs == 0 {
            return Err(invalid("idle_secs", "must be at least 1"));
        }
        if self.listen.is_none() && self.addr.is_none() {
            return Err(invalid(
                "addr",
                "or listen is needed: where peers reach the relay",
            ));
        }
        if self.listen.is_none() && self.secret_file.is_none() {
            return Err(invalid(
                "secret_file",
                "is needed for a relay that runs apart from the directory (the same file as the relay's)",
            ));
        }
        Ok(())
    }

    /// The address peers dial.
    pub fn public_addr(&self, bound: Option<SocketAddr>) -> Option<String> {
        self.addr
            .clone()
            .or_else(|| bound.or(self.listen).map(|a| a.to_string()))
    }

    /// The ticket secret: read from `secret_file` (made there, 0600, if
    /// missing), or a fresh one without a file.
    pub fn secret(&self) -> io::Result<Vec<u8>> {
        let Some(file) = &self.secret_file else {
            return Ok(crate::random::random_hex(32).into_bytes());
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::create_private_dir(dir)?;
        }
        let made = crate::random::random_hex(32);
        crate::fsutil::create_once(file, made.as_bytes(), true)?;
        let text = std::fs::read_to_string(file)?;
        let secret = text.trim();
        if secret.len() < 32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: a relay secret of at least 32 characters",
                    file.display()
                ),
            ));
        }
        crate::logging::redact(secret);
        Ok(secret.as_bytes().to_vec())
    }
}
