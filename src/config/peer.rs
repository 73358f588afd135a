//! A peer's configuration (`config/peer1.toml`, ...).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::defaults::{
    DEFAULT_DIRECTORY_ADDR, DEFAULT_DOWNLOAD_PATIENCE_SECS, DEFAULT_FREE_SLOT_BYTES,
    DEFAULT_HTTP_TIMEOUT_SECS, DEFAULT_HTTP_WORKERS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_RESCAN_SECS, DEFAULT_SETTLE_SECS, DEFAULT_UPLOAD_SLOTS,
    DEFAULT_UPLOAD_TURN_SECS,
};
use super::load::{
    base_of, checked_password, from_text, normalize, read, resolve, ConfigError, Loaded,
};
use crate::names;
use crate::wire::{one_or_many, DirectoryTarget, GroupPassword, HttpAddr};

/// A peer's configuration (`config/peer1.toml`, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerConfig {
    /// The name this peer is known by in the directory.
    pub name: String,
    /// The directory: the invite it printed at start
    /// (`hubshare://HOST:PORT/?kp=KEYPRINT`: its certificate must have that
    /// keyprint), or the address of its gRPC port (its keyprint is trusted
    /// on first use and kept in the state folder); several replicas as a
    /// TOML list (or separated by commas), each `IP:port`, which calls are
    /// spread over (round robin, skipping one that is down).
    #[serde(deserialize_with = "one_or_many")]
    pub directory: String,
    /// Speak TLS to the directory and serve TLS to other peers (the
    /// default). Off: everything goes in plaintext (names, searches, the
    /// group password, files), for a trusted LAN only; the directory must
    /// be off too.
    pub tls: bool,
    /// Address of this peer's HTTP port; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Base address other peers reach this one at (default: `http://` + the bound address).
    pub advertise_addr: Option<HttpAddr>,
    /// Whether others may be able to connect to this peer: the directory
    /// then tries (at Login, at the address the Login came from) and lists
    /// it as firewalled when nothing answers. `false`: listed as
    /// firewalled without trying.
    pub reachable: bool,
    /// Folder whose files are shared.
    pub share_dir: PathBuf,
    /// Further folders to share, each under a top folder of its own name
    /// (`[[share_dirs]]` with `name = "Music"`, `path = "/home/me/Music"`:
    /// its files are shared as `Music/...`).
    pub share_dirs: Vec<NamedShare>,
    /// Folder downloads are saved to (default: the share folder, so what you fetch is shared).
    pub download_dir: Option<PathBuf>,
    /// Whether a file downloads into the folders of the path its sources
    /// share it under (`music/a/x.mp3`); off: by its name only (`x.mp3`).
    /// Folder fetches keep their folders either way.
    pub mirror_paths: bool,
    /// Folder for this peer's own state: the control secret, its address (default: `data/<name>/state`).
    pub state_dir: Option<PathBuf>,
    /// Whether other peers may push files into the share folder.
    pub accept_uploads: bool,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Most HTTP requests served at once.
    pub http_workers: usize,
    /// Downloaders served at once (however many connections each opens);
    /// others wait in line (503 with Retry-After and their position).
    pub upload_slots: usize,
    /// Downloads of the running peer's queue that run at once; the rest
    /// wait their turn in queue order.
    pub max_active_downloads: usize,
    /// A program (and its first arguments) the running peer runs, without
    /// a shell, when a download of its queue is done, with the file's path
    /// as the last argument. Empty: none.
    pub on_download_done: Vec<String>,
    /// The hash of the password that signs the owner in on this peer's
    /// web page (`peer web-password` makes it); none: only a one-time
    /// link from `peer web-login` does.
    pub web_password_hash: Option<String>,
    /// Seconds between two searches of one wish of the running peer's
    /// wishlist (`peer wish`).
    pub wish_every_secs: u64,
    /// Bytes per second the running peer's queued downloads receive, all
    /// together (0: no cap).
    pub download_rate_limit: u64,
    /// Files up to this many bytes are sent without a slot.
    pub free_slot_bytes: u64,
    /// Seconds a downloader is served while others wait before its slot
    /// goes to the next in line (0: never rotate).
    pub upload_turn_secs: u64,
    /// Seconds a download waits in sources' queues without getting a piece
    /// before it gives up (0: wait until stopped).
    pub download_patience_secs: u64,
    /// Cap on the bytes per second this peer sends, over all transfers (0: none).
    pub upload_rate_limit: u64,
    /// Seconds an HTTP client may stay silent, or take over its request
    /// headers, before it is dropped (a write that makes no progress for
    /// this long also ends the connection).
    pub http_timeout_secs: u64,
    /// HTTP connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Whether symbolic links in the share folder are followed (and what
    /// they point to shared, even outside the folder). Off by default:
    /// links are skipped, and shared files are never opened through one.
    pub follow_symlinks: bool,
    /// Seconds between rescans of the share folder (0: only on demand).
    pub rescan_secs: u64,
    /// Seconds a new or changed file must stay unchanged before it is shared.
    pub settle_secs: u64,
    /// Watch the share folder and announce changes within seconds. Off:
    /// only periodic and requested rescans see changes (for folders where
    /// change events do not arrive, such as some network file systems).
    pub watch_share: bool,
    /// The directory's group password, when its operator set one. After
    /// loading, it holds the password read from `group_password_file` too.
    pub group_password: Option<String>,
    /// A file holding the group password (instead of `group_password`).
    pub group_password_file: Option<PathBuf>,
    /// The folder of the config file, which its relative paths were taken
    /// from, and the default `state_dir` (`data/<name>/state`) is below.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

/// One of `share_dirs`: a folder shared under the top folder `name`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NamedShare {
    /// The top folder its files are shared under (a file name: no `/`).
    pub name: String,
    /// The folder (created if missing).
    pub path: PathBuf,
}

impl Default for PeerConfig {
    /// Every key's default; `name` and `share_dir` have none (empty: a
    /// config must give them).
    fn default() -> PeerConfig {
        PeerConfig {
            name: String::new(),
            directory: DEFAULT_DIRECTORY_ADDR.to_string(),
            tls: true,
            listen: "127.0.0.1:7001".parse().expect("valid default address"),
            advertise_addr: None,
            reachable: true,
            share_dir: PathBuf::new(),
            share_dirs: Vec::new(),
            download_dir: None,
            mirror_paths: true,
            state_dir: None,
            accept_uploads: false,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            http_workers: DEFAULT_HTTP_WORKERS,
            upload_slots: DEFAULT_UPLOAD_SLOTS,
            max_active_downloads: 3,
            on_download_done: Vec::new(),
            download_rate_limit: 0,
            wish_every_secs: 300,
            web_password_hash: None,
            free_slot_bytes: DEFAULT_FREE_SLOT_BYTES,
            upload_turn_secs: DEFAULT_UPLOAD_TURN_SECS,
            download_patience_secs: DEFAULT_DOWNLOAD_PATIENCE_SECS,
            upload_rate_limit: 0,
            http_timeout_secs: DEFAULT_HTTP_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            follow_symlinks: false,
            rescan_secs: DEFAULT_RESCAN_SECS,
            settle_secs: DEFAULT_SETTLE_SECS,
            watch_share: true,
            group_password: None,
            group_password_file: None,
            config_dir: PathBuf::new(),
        }
    }
}

impl PeerConfig {
    /// Reads and checks a peer config file.
    pub fn load(path: &Path) -> Result<PeerConfig, ConfigError> {
        from_text(&read(path)?, path, &base_of(path))
    }

    /// Parses and checks peer config text; `path` names it in errors, and
    /// its folder is where relative paths are taken from.
    pub fn from_toml(text: &str, path: &Path) -> Result<PeerConfig, ConfigError> {
        from_text(text, path, path.parent().unwrap_or(Path::new("")))
    }

    /// Checks values that have the right type but cannot be used.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
        };
        if self.name.is_empty() {
            let why = "is missing: the name this peer is known by (name = \"alice\")";
            return Err(invalid("name", why.into()));
        }
        names::check_peer_name(&self.name).map_err(|e| invalid("name", e.to_string()))?;
        DirectoryTarget::parse(&self.directory).map_err(|e| invalid("directory", e))?;
        if let Some(a) = &self.advertise_addr {
            if a.is_tls() != self.tls {
                let why = if self.tls {
                    format!("{a} is plain http://, but this peer serves TLS: write https://, or set tls = false")
                } else {
                    format!("{a} is https://, but this peer has tls = false: write http://")
                };
                return Err(invalid("advertise_addr", why));
            }
        }
        if self.share_dir.as_os_str().is_empty() {
            let why = "is missing or empty: the folder this peer shares (share_dir = \"shared\")";
            return Err(invalid("share_dir", why.into()));
        }
        let mut tops = std::collections::HashSet::new();
        for d in &self.share_dirs {
            names::check_file_name(&d.name).map_err(|e| {
                invalid(
                    "share_dirs",
                    format!("the name {:?}: {e} (a top folder's name, no `/`)", d.name),
                )
            })?;
            if !tops.insert(d.name.to_lowercase()) {
                return Err(invalid(
                    "share_dirs",
                    format!("two folders are named {:?}", d.name),
                ));
            }
            if d.path.as_os_str().is_empty() {
                return Err(invalid("share_dirs", format!("{:?} has no path", d.name)));
            }
            let others = std::iter::once(&self.share_dir).chain(
                self.share_dirs
                    .iter()
                    .map(|o| &o.path)
                    .filter(|p| *p != &d.path),
            );
            for other in others {
                if within(&d.path, other) || within(other, &d.path) {
                    return Err(invalid(
                        "share_dirs",
                        format!(
                            "{} ({:?}) and {} overlap: its files would be shared twice; give folders that do not contain each other",
                            d.path.display(),
                            d.name,
                            other.display()
                        ),
                    ));
                }
            }
            if within(&self.state_dir(), &d.path) {
                return Err(invalid(
                    "state_dir",
                    format!(
                        "the state folder {} is inside {} (share_dirs {:?}): its identity key and control secret would be shared",
                        self.state_dir().display(),
                        d.path.display(),
                        d.name
                    ),
                ));
            }
        }
        if within(&self.state_dir(), &self.share_dir) {
            return Err(invalid(
                if self.state_dir.is_some() { "state_dir" } else { "share_dir" },
                format!(
                    "the state folder {} is inside the share folder {}: its identity key and control secret would be shared; give state_dir a folder outside share_dir",
                    self.state_dir().display(),
                    self.share_dir.display()
                ),
            ));
        }
        if self.http_workers == 0 || self.http_workers > 1024 {
            return Err(invalid("http_workers", "must be between 1 and 1024".into()));
        }
        if self.upload_slots == 0 || self.upload_slots > 1024 {
            return Err(invalid("upload_slots", "must be between 1 and 1024".into()));
        }
        if self.max_active_downloads == 0 || self.max_active_downloads > 64 {
            return Err(invalid(
                "max_active_downloads",
                "must be between 1 and 64".into(),
            ));
        }
        if let Some(h) = &self.web_password_hash {
            crate::passhash::PasswordHash::parse(h).map_err(|e| invalid("web_password_hash", e))?;
        }
        if self.wish_every_secs == 0 || self.wish_every_secs > 7 * 24 * 3600 {
            return Err(invalid(
                "wish_every_secs",
                "must be between 1 and 604800 (a week)".into(),
            ));
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

    /// Where the directory is, and the keyprint an invite pins (the
    /// setting was checked at load).
    pub fn directory_target(&self) -> DirectoryTarget {
        DirectoryTarget::parse(&self.directory).unwrap_or(DirectoryTarget {
            addrs: self.directory.clone(),
            pin: None,
        })
    }

    /// The group password to log in with, if the config has one.
    pub fn group_password(&self) -> Option<GroupPassword> {
        checked_password(&self.group_password)
    }

    /// What the Login asks the directory to check of this peer's address:
    /// nothing (`reachable = false`), the address set by hand
    /// (`advertise_addr`), or the one taken from the bound socket, which
    /// behind NAT is not the one others see.
    pub fn reach(&self) -> crate::wire::proto::directory::Reach {
        use crate::wire::proto::directory::Reach;
        match (self.reachable, &self.advertise_addr) {
            (false, _) => Reach::REACH_NONE,
            (true, Some(_)) => Reach::REACH_CLAIMED,
            (true, None) => Reach::REACH_AUTO,
        }
    }

    /// The address other peers reach this one at, when its HTTP server is
    /// bound to `bound`.
    pub fn http_addr(&self, bound: SocketAddr) -> HttpAddr {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| HttpAddr::from_socket(bound, self.tls))
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

    /// The further shared folders (`share_dirs`): (top folder, folder).
    pub fn extra_shares(&self) -> Vec<(String, PathBuf)> {
        self.share_dirs
            .iter()
            .map(|d| (d.name.clone(), d.path.clone()))
            .collect()
    }

    /// The folders of [`extra_shares`](Self::extra_shares).
    pub fn extra_share_dirs(&self) -> Vec<PathBuf> {
        self.share_dirs.iter().map(|d| d.path.clone()).collect()
    }

    /// Where this peer keeps its own state (default: `data/<name>/state`
    /// below the config file's folder).
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.config_dir.join("data").join(&self.name).join("state"))
    }
}

/// Whether `inner` is `outer` or a folder below it: by their real paths
/// when both exist (links resolved), else by their names with `.` and `..`
/// worked out.
fn within(inner: &Path, outer: &Path) -> bool {
    if let (Ok(i), Ok(o)) = (inner.canonicalize(), outer.canonicalize()) {
        return i.starts_with(o);
    }
    let plain = |p: &Path| normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    plain(inner).starts_with(plain(outer))
}

impl Loaded for PeerConfig {
    fn resolve_paths(&mut self, base: &Path) {
        self.config_dir = base.to_path_buf();
        resolve(base, &mut self.share_dir);
        for d in &mut self.share_dirs {
            resolve(base, &mut d.path);
        }
        for p in [
            &mut self.download_dir,
            &mut self.state_dir,
            &mut self.group_password_file,
        ]
        .into_iter()
        .flatten()
        {
            resolve(base, p);
        }
    }

    fn password_keys(&mut self) -> (&mut Option<String>, Option<PathBuf>) {
        (&mut self.group_password, self.group_password_file.clone())
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.check(path)
    }
}
