//! Configuration of the two processes. Each reads one TOML file
//! (`config/server.toml`, `config/peer1.toml`, ...); every key has a default
//! except what a person must choose, and command-line flags override the file.
//! Parsing is split from reading the file so tests feed strings. A wrong file
//! fails at start with the file, the key and what is wrong.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::names;
use crate::wire::{GroupPassword, HttpAddr, LOGIN_FILES, MAX_FILES_PER_MESSAGE};

/// Default address of the directory's gRPC port.
pub const DEFAULT_DIRECTORY_ADDR: &str = "127.0.0.1:50051";
/// Default lease: a peer not heard from for this long is dropped.
pub const DEFAULT_LEASE_SECS: u32 = 30;
/// Default cap on results per search.
pub const DEFAULT_MAX_RESULTS: u32 = 1000;
/// Default cap on files in one Login or Announce call.
pub const DEFAULT_MAX_FILES_PER_CALL: u32 = 5000;
/// Default upload cap: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;
/// Default number of HTTP requests a peer serves at once.
pub const DEFAULT_HTTP_WORKERS: usize = 8;
/// Default number of downloaders a peer sends to at once.
pub const DEFAULT_UPLOAD_SLOTS: usize = 4;
/// Default size up to which a file is sent without a slot (DC++'s "mini-slot").
pub const DEFAULT_FREE_SLOT_BYTES: u64 = 64 * 1024;
/// Default turn of a served downloader while others wait: five minutes.
pub const DEFAULT_UPLOAD_TURN_SECS: u64 = 300;
/// Default time a download waits in sources' queues without progress
/// before it gives up: an hour.
pub const DEFAULT_DOWNLOAD_PATIENCE_SECS: u64 = 3600;
/// Default seconds an HTTP client may stay silent (and may take over its
/// request headers) before the peer drops it.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 30;
/// Default cap on HTTP connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default seconds between rescans of the share folder.
pub const DEFAULT_RESCAN_SECS: u64 = 60;
/// Default seconds a file must stay unchanged before it is shared.
pub const DEFAULT_SETTLE_SECS: u64 = 2;
/// Default seconds a name stays bound to its owner's identity key after
/// the owner's last session ended: a week.
pub const DEFAULT_NAME_HOLD_SECS: u64 = 7 * 24 * 3600;

/// A configuration that could not be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for this process, or a key has the wrong type.
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A key has a value of the right type that cannot be used.
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, .. } => {
                write!(f, "cannot read config file {}", path.display())
            }
            ConfigError::Parse { path, source } => {
                write!(
                    f,
                    "config file {}: {}",
                    path.display(),
                    source.to_string().trim_end()
                )
            }
            ConfigError::Invalid { path, key, problem } => {
                write!(f, "config file {}: key `{key}`: {problem}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Parse { .. } | ConfigError::Invalid { .. } => None,
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// The group password of a loaded config (checked when it was loaded).
fn checked_password(text: &Option<String>) -> Option<GroupPassword> {
    text.as_deref().and_then(|p| GroupPassword::new(p).ok())
}

/// Reads the group password from `file` into `inline` when the config
/// names a file (one trailing newline dropped), and checks it; a config
/// may give one of the two, not both. The password itself never appears
/// in an error.
fn load_group_password(
    inline: &mut Option<String>,
    file: &Option<PathBuf>,
    path: &Path,
) -> Result<(), ConfigError> {
    let invalid = |key, problem: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key,
        problem,
    };
    if let Some(f) = file {
        if inline.is_some() {
            return Err(invalid(
                "group_password_file",
                "give group_password or group_password_file, not both".into(),
            ));
        }
        let text = std::fs::read_to_string(f).map_err(|e| {
            invalid(
                "group_password_file",
                format!("cannot read {}: {e}", f.display()),
            )
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        *inline = Some(text.to_string());
    }
    if let Some(p) = inline {
        let key = if file.is_some() {
            "group_password_file"
        } else {
            "group_password"
        };
        GroupPassword::new(p).map_err(|e| invalid(key, e.to_string()))?;
    }
    Ok(())
}

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
            name_hold_secs: DEFAULT_NAME_HOLD_SECS,
            trusted_proxies: Vec::new(),
            http_listen: None,
            store: StoreKind::Memory,
            redis_url: None,
            redis_prefix: "hubshare:".to_string(),
        }
    }
}

impl ServerConfig {
    /// Reads and checks a server config file.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_toml(&read(path)?, path)
    }

    /// Parses and checks server config text; `path` is only used in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<ServerConfig, ConfigError> {
        let mut config: ServerConfig = parse(text, path)?;
        load_group_password(
            &mut config.group_password,
            &config.group_password_file,
            path,
        )?;
        config.check(path)?;
        Ok(config)
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
        Ok(())
    }

    /// The group password Logins must carry, if one is set.
    pub fn group_password(&self) -> Option<GroupPassword> {
        checked_password(&self.group_password)
    }

    /// Seconds between heartbeats asked of peers.
    pub fn heartbeat_secs(&self) -> u32 {
        self.heartbeat_secs
            .unwrap_or_else(|| (self.lease_secs / 3).max(1))
    }
}

/// A peer's configuration (`config/peer1.toml`, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The name this peer is known by in the directory.
    pub name: String,
    /// Address of the directory's gRPC port; several replicas as a TOML
    /// list (or separated by commas), each `IP:port`, which calls are
    /// spread over (round robin, skipping one that is down).
    #[serde(default = "default_directory", deserialize_with = "one_or_many")]
    pub directory: String,
    /// Address of this peer's HTTP port; port 0 picks a free one.
    #[serde(default = "default_peer_listen")]
    pub listen: SocketAddr,
    /// Base address other peers reach this one at (default: `http://` + the bound address).
    #[serde(default)]
    pub advertise_addr: Option<HttpAddr>,
    /// Folder whose files are shared.
    pub share_dir: PathBuf,
    /// Folder downloads are saved to (default: the share folder, so what you fetch is shared).
    #[serde(default)]
    pub download_dir: Option<PathBuf>,
    /// Folder for this peer's own state: the control secret, its address (default: `data/<name>/state`).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Whether other peers may push files into the share folder.
    #[serde(default)]
    pub accept_uploads: bool,
    /// Largest upload accepted, in bytes.
    #[serde(default = "default_max_upload")]
    pub max_upload_bytes: u64,
    /// Most HTTP requests served at once.
    #[serde(default = "default_workers")]
    pub http_workers: usize,
    /// Downloaders served at once (however many connections each opens);
    /// others wait in line (503 with Retry-After and their position).
    #[serde(default = "default_upload_slots")]
    pub upload_slots: usize,
    /// Files up to this many bytes are sent without a slot.
    #[serde(default = "default_free_slot_bytes")]
    pub free_slot_bytes: u64,
    /// Seconds a downloader is served while others wait before its slot
    /// goes to the next in line (0: never rotate).
    #[serde(default = "default_upload_turn")]
    pub upload_turn_secs: u64,
    /// Seconds a download waits in sources' queues without getting a piece
    /// before it gives up (0: wait until stopped).
    #[serde(default = "default_download_patience")]
    pub download_patience_secs: u64,
    /// Cap on the bytes per second this peer sends, over all transfers (0: none).
    #[serde(default)]
    pub upload_rate_limit: u64,
    /// Seconds an HTTP client may stay silent, or take over its request
    /// headers, before it is dropped (a write that makes no progress for
    /// this long also ends the connection).
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// HTTP connections served at once; more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Whether symbolic links in the share folder are followed (and what
    /// they point to shared, even outside the folder). Off by default:
    /// links are skipped, and shared files are never opened through one.
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Seconds between rescans of the share folder (0: only on demand).
    #[serde(default = "default_rescan")]
    pub rescan_secs: u64,
    /// Seconds a new or changed file must stay unchanged before it is shared.
    #[serde(default = "default_settle")]
    pub settle_secs: u64,
    /// Watch the share folder and announce changes within seconds. Off:
    /// only periodic and requested rescans see changes (for folders where
    /// change events do not arrive, such as some network file systems).
    #[serde(default = "default_true")]
    pub watch_share: bool,
    /// The directory's group password, when its operator set one. After
    /// loading, it holds the password read from `group_password_file` too.
    #[serde(default)]
    pub group_password: Option<String>,
    /// A file holding the group password (instead of `group_password`).
    #[serde(default)]
    pub group_password_file: Option<PathBuf>,
}

/// The directory's address is `host:port` (a name, an IPv4 address or an
/// IPv6 one in brackets, and a port): what gRPC connects to. A URL or a
/// missing port is refused here, not retried for ever by the gRPC core.
pub fn check_directory_addr(addr: &str) -> Result<(), String> {
    if addr.contains(',') {
        let mut families = std::collections::HashSet::new();
        for one in addr.split(',').map(str::trim) {
            check_directory_addr(one)?;
            let Ok(ip) = one.parse::<SocketAddr>() else {
                return Err(format!(
                    "lists {one:?}: in a list of directory replicas each is an IP address and \
                     a port (gRPC spreads calls only over addresses); for host names, put a \
                     proxy in front of the replicas and give its address alone"
                ));
            };
            families.insert(ip.is_ipv4());
        }
        if families.len() > 1 {
            return Err("mixes IPv4 and IPv6 addresses; list one kind".into());
        }
        return Ok(());
    }
    if addr.trim().is_empty() {
        return Err("is empty".into());
    }
    if let Some((scheme, rest)) = addr.split_once("://") {
        let rest = rest.trim_end_matches('/');
        return Err(format!(
            "is written host:port, without {scheme}:// (here: \"{rest}\")"
        ));
    }
    let bad = |why: &str| {
        Err(format!(
            "{addr:?} {why}; write host:port, e.g. 127.0.0.1:50051"
        ))
    };
    if addr.contains(['/', ' ', '?', '#', '@']) {
        return bad("is not host:port");
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("has no port");
    };
    if host.is_empty() || (host.contains(':') && !(host.starts_with('[') && host.ends_with(']'))) {
        return bad("has no host (an IPv6 address goes in brackets: [::1]:50051)");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => bad("has no port between 1 and 65535"),
    }
}

/// A string, or a list of strings joined with commas.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s,
        OneOrMany::Many(v) => v.join(","),
    })
}

fn default_directory() -> String {
    DEFAULT_DIRECTORY_ADDR.to_string()
}
fn default_peer_listen() -> SocketAddr {
    "127.0.0.1:7001".parse().expect("valid default address")
}
fn default_max_upload() -> u64 {
    DEFAULT_MAX_UPLOAD_BYTES
}
fn default_workers() -> usize {
    DEFAULT_HTTP_WORKERS
}
fn default_upload_slots() -> usize {
    DEFAULT_UPLOAD_SLOTS
}
fn default_free_slot_bytes() -> u64 {
    DEFAULT_FREE_SLOT_BYTES
}
fn default_upload_turn() -> u64 {
    DEFAULT_UPLOAD_TURN_SECS
}
fn default_download_patience() -> u64 {
    DEFAULT_DOWNLOAD_PATIENCE_SECS
}
fn default_http_timeout() -> u64 {
    DEFAULT_HTTP_TIMEOUT_SECS
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_rescan() -> u64 {
    DEFAULT_RESCAN_SECS
}
fn default_true() -> bool {
    true
}
fn default_settle() -> u64 {
    DEFAULT_SETTLE_SECS
}

impl PeerConfig {
    /// Reads and checks a peer config file.
    pub fn load(path: &Path) -> Result<PeerConfig, ConfigError> {
        PeerConfig::from_toml(&read(path)?, path)
    }

    /// Parses and checks peer config text; `path` is only used in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<PeerConfig, ConfigError> {
        let mut config: PeerConfig = parse(text, path)?;
        load_group_password(
            &mut config.group_password,
            &config.group_password_file,
            path,
        )?;
        config.check(path)?;
        Ok(config)
    }

    /// Checks values that have the right type but cannot be used.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
        };
        names::check_peer_name(&self.name).map_err(|e| invalid("name", e.to_string()))?;
        check_directory_addr(&self.directory).map_err(|e| invalid("directory", e))?;
        if self.share_dir.as_os_str().is_empty() {
            return Err(invalid("share_dir", "is empty".into()));
        }
        if self.http_workers == 0 || self.http_workers > 1024 {
            return Err(invalid("http_workers", "must be between 1 and 1024".into()));
        }
        if self.upload_slots == 0 || self.upload_slots > 1024 {
            return Err(invalid("upload_slots", "must be between 1 and 1024".into()));
        }
        if self.http_timeout_secs == 0 || self.http_timeout_secs > 3600 {
            return Err(invalid(
                "http_timeout_secs",
                "must be between 1 and 3600".into(),
            ));
        }
        if self.max_connections < self.http_workers || self.max_connections > 65536 {
            return Err(invalid(
                "max_connections",
                format!(
                    "must be between http_workers ({}) and 65536",
                    self.http_workers
                ),
            ));
        }
        if self.upload_rate_limit != 0 && self.upload_rate_limit < 1024 {
            return Err(invalid(
                "upload_rate_limit",
                "is in bytes per second: use 0 for no limit, or at least 1024".into(),
            ));
        }
        if self.rescan_secs > 7 * 24 * 3600 {
            return Err(invalid(
                "rescan_secs",
                "must be at most 604800 (a week); 0 turns periodic rescans off".into(),
            ));
        }
        if self.free_slot_bytes > 16 << 20 {
            return Err(invalid(
                "free_slot_bytes",
                "must be at most 16777216 (16 MiB): larger files need a slot".into(),
            ));
        }
        if self.settle_secs > 3600 {
            return Err(invalid("settle_secs", "must be at most 3600".into()));
        }
        if let Some(p) = &self.group_password {
            GroupPassword::new(p).map_err(|e| invalid("group_password", e.to_string()))?;
        }
        if self.advertise_addr.is_none() && self.listen.ip().is_unspecified() {
            return Err(invalid(
                "advertise_addr",
                format!(
                    "listen is {} (all interfaces), so other peers need to be told where to reach this one: set advertise_addr = \"http://<this machine's address>:{}\"",
                    self.listen,
                    self.listen.port()
                ),
            ));
        }
        Ok(())
    }

    /// The group password to log in with, if the config has one.
    pub fn group_password(&self) -> Option<GroupPassword> {
        checked_password(&self.group_password)
    }

    /// The address other peers reach this one at, when its HTTP server is
    /// bound to `bound`.
    pub fn http_addr(&self, bound: SocketAddr) -> HttpAddr {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| HttpAddr::from_socket(bound))
    }

    /// How long a download waits in sources' queues without a piece
    /// (`None`: until stopped).
    pub fn download_patience(&self) -> Option<std::time::Duration> {
        (self.download_patience_secs > 0)
            .then(|| std::time::Duration::from_secs(self.download_patience_secs))
    }

    /// Where downloads go.
    pub fn download_dir(&self) -> PathBuf {
        self.download_dir
            .clone()
            .unwrap_or_else(|| self.share_dir.clone())
    }

    /// Where this peer keeps its own state.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| Path::new("data").join(&self.name).join("state"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_toml(text, Path::new("server.toml"))
    }

    fn peer(text: &str) -> Result<PeerConfig, ConfigError> {
        PeerConfig::from_toml(text, Path::new("peer.toml"))
    }

    #[test]
    fn server_defaults() {
        let c = server("").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_DIRECTORY_ADDR);
        assert_eq!(c.lease_secs, 30);
        assert_eq!(c.heartbeat_secs(), 10);
    }

    #[test]
    fn errors_name_file_and_key() {
        let cases = [
            (server("lease_secs = 0").unwrap_err(), "lease_secs"),
            (server("listen = \"nowhere\"").unwrap_err(), "listen"),
            (server("colour = 1").unwrap_err(), "colour"),
            (server("lease_secs = \"ten\"").unwrap_err(), "lease_secs"),
            (
                server("lease_secs = 10\nheartbeat_secs = 10").unwrap_err(),
                "heartbeat_secs",
            ),
        ];
        for (err, key) in cases {
            let msg = err.to_string();
            assert!(msg.contains("server.toml") && msg.contains(key), "{msg}");
        }
        let msg = peer("name = \"a b\"\nshare_dir = \"s\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("peer.toml") && msg.contains("`name`"), "{msg}");
        let msg = peer("name = \"a\"").unwrap_err().to_string();
        assert!(msg.contains("share_dir"), "{msg}");
        let msg = peer("name = \"a\"\nshare_dir = \"s\"\nlisten = \"0.0.0.0:7001\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("advertise_addr"), "{msg}");
        // The directory is host:port: a URL or a missing port is refused
        // with what to write instead.
        for (addr, says) in [
            (
                "http://127.0.0.1:50051",
                "without http:// (here: \"127.0.0.1:50051\")",
            ),
            ("127.0.0.1", "has no port"),
            ("127.0.0.1:0", "between 1 and 65535"),
            ("host:50051/path", "is not host:port"),
            (":50051", "has no host"),
            ("::1:50051", "brackets"),
        ] {
            let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
            let msg = peer(&text).unwrap_err().to_string();
            assert!(
                msg.contains("directory") && msg.contains(says),
                "{addr}: {msg}"
            );
        }
        for (addr, says) in [
            ("127.0.0.1:1,dir.example:2", "each is an IP address"),
            ("127.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
            ("127.0.0.1:1,127.0.0.1", "has no port"),
        ] {
            let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
            let msg = peer(&text).unwrap_err().to_string();
            assert!(msg.contains(says), "{addr}: {msg}");
        }
        let list =
            "name = \"a\"\nshare_dir = \"s\"\ndirectory = [\"127.0.0.1:1\", \"127.0.0.1:2\"]";
        assert_eq!(peer(list).unwrap().directory, "127.0.0.1:1,127.0.0.1:2");
        for addr in [
            "127.0.0.1:50051",
            "dir.example:443",
            "[::1]:50051",
            "127.0.0.1:1, 127.0.0.1:2",
        ] {
            let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
            assert!(peer(&text).is_ok(), "{addr} refused");
        }
        // The one rule for advertised addresses, with the line and a caret.
        let msg = peer("name = \"a\"\nshare_dir = \"s\"\nadvertise_addr = \"http://x:1/files\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("peer.toml")
                && msg.contains("advertise_addr")
                && msg.contains("http://host:port"),
            "{msg}"
        );
        for (text, limit) in [
            ("max_files_per_call = 99", "100"),
            ("max_files_per_call = 40001", "40000"),
        ] {
            let msg = server(text).unwrap_err().to_string();
            assert!(
                msg.contains("max_files_per_call") && msg.contains(limit),
                "{msg}"
            );
        }
        let c = server("max_files_per_call = 40000").unwrap();
        assert_eq!(c.max_files_per_call, 40_000);
    }

    #[test]
    fn peer_defaults() {
        let c = peer("name = \"alice\"\nshare_dir = \"data/alice/share\"").unwrap();
        assert_eq!(c.download_dir(), PathBuf::from("data/alice/share"));
        assert_eq!(c.state_dir(), PathBuf::from("data/alice/state"));
        assert!(!c.accept_uploads);
        assert_eq!(c.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!((c.rescan_secs, c.settle_secs), (60, 2));
    }

    #[test]
    fn example_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        ServerConfig::load(&root.join("server.toml")).unwrap();
        for n in 1..=3 {
            PeerConfig::load(&root.join(format!("peer{n}.toml"))).unwrap();
        }
    }

    #[test]
    fn random_config_text_is_accepted_or_refused_naming_the_file() {
        let mut rng = crate::fuzz::Rng(0x0dd_ba11_cafe_f00d);
        let keys = [
            "name",
            "share_dir",
            "listen",
            "lease_secs",
            "http_workers",
            "max_connections",
            "http_timeout_secs",
            "upload_rate_limit",
            "follow_symlinks",
            "max_results",
            "search_rate",
            "[x]",
            "= ",
            "\"",
            "'",
            "#",
            "127.0.0.1:0",
            "true",
            "-1",
            "1e9",
            "0",
        ];
        for _ in 0..5_000 {
            let text = (0..rng.below(6))
                .map(|_| format!("{} = {}\n", keys[rng.below(keys.len())], rng.text(&keys)))
                .collect::<String>();
            for result in [
                server(&text).map(|_| ()),
                peer(&format!("name = \"p\"\nshare_dir = \"s\"\n{text}")).map(|_| ()),
            ] {
                if let Err(e) = result {
                    let msg = e.to_string();
                    assert!(msg.contains(".toml"), "{text:?}: {msg}");
                }
            }
        }
    }
}
