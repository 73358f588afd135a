//! The directory server's configuration (`config/server.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::defaults::{
    DEFAULT_DIRECTORY_ADDR, DEFAULT_HEARTBEAT_RATE, DEFAULT_LEASE_SECS, DEFAULT_MAX_FILES_PER_CALL,
    DEFAULT_MAX_RESULTS, DEFAULT_NAME_HOLD_SECS,
};
use super::load::{base_of, checked_password, from_text, read, resolve, ConfigError, Loaded};
use super::relay::RelayConfig;
use crate::wire::{check_directory_addr, GroupPassword, LOGIN_FILES, MAX_FILES_PER_MESSAGE};

/// The directory server's configuration (`config/server.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the gRPC port; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Seconds a session lives without a heartbeat.
    pub lease_secs: u32,
    /// Seconds between heartbeats the server asks of peers (default: a third of the lease).
    pub heartbeat_secs: Option<u32>,
    /// Most heartbeats a second the server asks of its group: once
    /// `heartbeat_secs` would bring more, it asks for a longer interval
    /// (and a lease longer by as much).
    pub heartbeat_rate: u32,
    /// Most results one search may return.
    pub max_results: u32,
    /// Most files one Login or Announce may carry.
    pub max_files_per_call: u32,
    /// Searches per second allowed to one session (or, without a token, one address).
    pub search_rate: u32,
    /// Searches allowed in a burst before `search_rate` applies.
    pub search_burst: u32,
    /// Announces per second allowed to one session.
    pub announce_rate: u32,
    /// Announces allowed in a burst before `announce_rate` applies.
    pub announce_burst: u32,
    /// Logins per second allowed from one client address.
    pub login_rate: u32,
    /// Logins allowed from one address in a burst before `login_rate` applies.
    pub login_burst: u32,
    /// Searches per second from one client address, all its sessions
    /// together: opening sessions does not multiply an address's budget.
    pub address_search_rate: u32,
    /// Searches from one address in a burst before `address_search_rate` applies.
    pub address_search_burst: u32,
    /// The password every Login must carry (none: no password asked).
    /// After loading, it holds the password read from
    /// `group_password_file` too.
    pub group_password: Option<String>,
    /// A file holding the group password (instead of `group_password`).
    pub group_password_file: Option<PathBuf>,
    /// Accept whatever HTTP address a peer advertises. Off: the host in a
    /// Login's `http_addr` must be the IP address the Login came from.
    pub trust_advertised_addrs: bool,
    /// At Login, connect back to the peer's port (at the address the Login
    /// came from) and list it as firewalled when nothing answers. Off:
    /// every peer is listed as reachable at the address it advertised,
    /// unless it says it is not.
    pub connect_back: bool,
    /// Seconds a name stays bound to its owner's identity key after the
    /// owner's last session ended.
    pub name_hold_secs: u64,
    /// Proxies (load balancers) in front of the directory whose
    /// `X-Forwarded-For` names the real client: its address is then the
    /// one the address rule and the flood limits use. From any other
    /// caller the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// An HTTP port for `/metrics` (Prometheus), a status page at `/` and
    /// `/health`; none unless set (keep it on loopback or a private network).
    pub http_listen: Option<SocketAddr>,
    /// Where the directory's state lives: `memory` (this process alone)
    /// or `redis` (shared by every replica on the same `redis_url`).
    pub store: StoreKind,
    /// The Redis replicas share (`redis://host:port/db`, `unix:///path`);
    /// needed with `store = "redis"`.
    pub redis_url: Option<String>,
    /// The prefix of every key the directory writes in Redis (so several
    /// directories can share one Redis).
    pub redis_prefix: String,
    /// Speak TLS on the gRPC port (the default), with a client certificate
    /// asked of every peer: its keyprint is the peer's identity. Off:
    /// plaintext, for a trusted LAN or behind a proxy that terminates TLS.
    pub tls: bool,
    /// Folder for the directory's own state: its TLS key and certificate, and
    /// (with `store = "memory"`) the name bindings in `names.log`
    /// (default: `data/server/state` beside the config file, or below the
    /// folder the server runs in without one).
    pub state_dir: Option<PathBuf>,
    /// The TLS private key (PEM; made there, 0600, if missing). Replicas
    /// give the same file (or a copy of it and of its certificate), so one
    /// invite pins them all. Default: `tls.key` in `state_dir`.
    pub tls_key: Option<PathBuf>,
    /// The certificate (PEM) of `tls_key`; made from the key when missing
    /// or not the key's. Default: beside the key (`tls.crt` for `tls.key`).
    pub tls_cert: Option<PathBuf>,
    /// The `host:port` addresses peers dial, for the invite (default: the
    /// listen address, with this machine's name when it listens on every
    /// address). Replicas list every replica.
    pub invite_addrs: Vec<String>,
    /// The `[relay]` table: a relay for peers that cannot reach each other
    /// (see `RelayConfig`); none unless set.
    pub relay: Option<RelayConfig>,
    /// The folder of the config file, which relative paths are taken from.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

/// Where a directory keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In this process: one directory.
    #[default]
    Memory,
    /// In Redis, shared by replicas that each keep the index in memory.
    Redis,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: DEFAULT_DIRECTORY_ADDR
                .parse()
                .expect("valid default address"),
            lease_secs: DEFAULT_LEASE_SECS,
            heartbeat_secs: None,
            heartbeat_rate: DEFAULT_HEARTBEAT_RATE,
            max_results: DEFAULT_MAX_RESULTS,
            max_files_per_call: DEFAULT_MAX_FILES_PER_CALL,
            search_rate: 200,
            search_burst: 400,
            announce_rate: 20,
            announce_burst: 100,
            login_rate: 5,
            login_burst: 50,
            address_search_rate: 1000,
            address_search_burst: 2000,
            group_password: None,
            group_password_file: None,
            trust_advertised_addrs: false,
            connect_back: true,
            name_hold_secs: DEFAULT_NAME_HOLD_SECS,
            trusted_proxies: Vec::new(),
            http_listen: None,
            store: StoreKind::Memory,
            redis_url: None,
            redis_prefix: "hubshare:".to_string(),
            tls: true,
            state_dir: None,
            tls_key: None,
            tls_cert: None,
            invite_addrs: Vec::new(),
            relay: None,
            config_dir: PathBuf::new(),
        }
    }
}

impl ServerConfig {
    /// Reads and checks a server config file.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        from_text(&read(path)?, path, &base_of(path))
    }

    /// Parses and checks server config text; `path` names it in errors, and
    /// its folder is where relative paths are taken from.
    pub fn from_toml(text: &str, path: &Path) -> Result<ServerConfig, ConfigError> {
        from_text(text, path, path.parent().unwrap_or(Path::new("")))
    }

    /// Checks values that have the right type but cannot be used.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem: problem.to_string(),
        };
        if self.lease_secs == 0 || self.lease_secs > 24 * 3600 {
            return Err(invalid("lease_secs", "must be between 1 and 86400 seconds"));
        }
        if let Some(h) = self.heartbeat_secs {
            if h == 0 || h >= self.lease_secs {
                return Err(invalid(
                    "heartbeat_secs",
                    "must be at least 1 and shorter than lease_secs",
                ));
            }
        }
        if self.heartbeat_rate == 0 {
            return Err(invalid(
                "heartbeat_rate",
                "must be at least 1 heartbeat a second",
            ));
        }
        if self.max_results == 0 || self.max_results > 100_000 {
            return Err(invalid("max_results", "must be between 1 and 100000"));
        }
        if !(LOGIN_FILES..=MAX_FILES_PER_MESSAGE).contains(&self.max_files_per_call) {
            return Err(invalid(
                "max_files_per_call",
                &format!(
                    "must be between {LOGIN_FILES} (what a peer's first Login may carry) \
                     and {MAX_FILES_PER_MESSAGE} (what fits in one message)"
                ),
            ));
        }
        if let Some(p) = &self.group_password {
            GroupPassword::new(p).map_err(|e| invalid("group_password", &e.to_string()))?;
        }
        if self.name_hold_secs > 366 * 24 * 3600 {
            return Err(invalid(
                "name_hold_secs",
                "must be at most 31622400 (a year)",
            ));
        }
        match (self.store, &self.redis_url) {
            (StoreKind::Redis, None) => {
                return Err(invalid(
                    "redis_url",
                    "is needed with store = \"redis\" (e.g. \"redis://127.0.0.1:6379/0\")",
                ))
            }
            (StoreKind::Redis, Some(url)) if redis::Client::open(url.as_str()).is_err() => {
                return Err(invalid(
                    "redis_url",
                    "must look like redis://host:port/db or unix:///path/to/socket",
                ))
            }
            _ => {}
        }
        for a in &self.invite_addrs {
            check_directory_addr(a).map_err(|e| invalid("invite_addrs", &e))?;
            if a.contains(',') {
                return Err(invalid("invite_addrs", "takes one host:port per entry"));
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.len() > 64 {
            return Err(invalid("redis_prefix", "must be 1 to 64 characters"));
        }
        for (key, value) in [
            ("login_rate", self.login_rate),
            ("login_burst", self.login_burst),
            ("address_search_rate", self.address_search_rate),
            ("address_search_burst", self.address_search_burst),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if let Some(relay) = &self.relay {
            relay.check(path)?;
        }
        Ok(())
    }

    /// The group password, if one is set: it closes the group (Logins and
    /// reads must carry it).
    pub fn group_password(&self) -> Option<GroupPassword> {
        checked_password(&self.group_password)
    }

    /// The folder of the directory's own state.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.config_dir.join("data").join("server").join("state"))
    }

    /// Where the TLS key and certificate are: `tls_key` and `tls_cert`;
    /// by default `tls.key` in `state_dir`, and the certificate beside the
    /// key (`X.crt` for `X.key`), so replicas given one key share its
    /// certificate too.
    pub fn tls_paths(&self) -> (PathBuf, PathBuf) {
        let key = self
            .tls_key
            .clone()
            .unwrap_or_else(|| self.state_dir().join("tls.key"));
        let cert = self
            .tls_cert
            .clone()
            .unwrap_or_else(|| key.with_extension("crt"));
        (key, cert)
    }

    /// Seconds between heartbeats asked of peers.
    pub fn heartbeat_secs(&self) -> u32 {
        self.heartbeat_secs
            .unwrap_or_else(|| (self.lease_secs / 3).max(1))
    }
}

impl Loaded for ServerConfig {
    fn resolve_paths(&mut self, base: &Path) {
        self.config_dir = base.to_path_buf();
        for p in [
            &mut self.group_password_file,
            &mut self.state_dir,
            &mut self.tls_key,
            &mut self.tls_cert,
        ]
        .into_iter()
        .flatten()
        {
            resolve(base, p);
        }
        if let Some(relay) = &mut self.relay {
            relay.resolve_paths(base);
        }
    }

    fn password_keys(&mut self) -> (&mut Option<String>, Option<PathBuf>) {
        (&mut self.group_password, self.group_password_file.clone())
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.check(path)
    }
}
