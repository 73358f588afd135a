//! A running peer: its share table, its HTTP server, its directory session,
//! and the control file through which one-shot subcommands (`status`,
//! `rescan`, `logout`) reach it. [`Peer::start`] brings them up in order;
//! [`Peer::shutdown`] logs out, drains the HTTP workers and removes the
//! control file.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use serde::{Deserialize, Serialize};

use crate::client::Directory;
use crate::config::PeerConfig;
use crate::http::{self, HttpServer, InboxPolicy, SECRET_HEADER};
use crate::id::FileId;
use crate::session::{Session, SessionState};
use crate::share::{Change, ShareError, ShareTable};
use crate::throttle::{SharedBucket, Slots, TokenBucket};
use crate::transfer::{self, TransferError};

/// Name of the control file in the state folder.
pub const CONTROL_FILE: &str = "control.json";

/// Why a peer could not start.
#[derive(Debug)]
pub enum PeerError {
    /// A folder could not be created or a state file written.
    Io { path: PathBuf, source: io::Error },
    /// The share folder could not be scanned.
    Share(ShareError),
    /// The HTTP port could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// Another peer is running with the same state folder.
    AlreadyRunning {
        state_dir: PathBuf,
        info: ControlInfo,
    },
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Io { path, .. } => write!(f, "cannot prepare {}", path.display()),
            PeerError::Share(e) => write!(f, "{e}"),
            PeerError::Bind { addr, .. } => write!(
                f,
                "cannot listen for HTTP on {addr} (is another peer using that port? change `listen`)"
            ),
            PeerError::AlreadyRunning { state_dir, info } => write!(
                f,
                "a peer with the state folder {} is already running (pid {}, serving {}); stop it first or give this one another state_dir",
                state_dir.display(),
                info.pid,
                info.http_addr
            ),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeerError::Io { source, .. } | PeerError::Bind { source, .. } => Some(source),
            PeerError::Share(e) => e.source(),
            PeerError::AlreadyRunning { .. } => None,
        }
    }
}

/// What `GET /control/status` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    pub http_addr: String,
    pub directory: String,
    /// "online", "offline", or "connecting: <last error>".
    pub session: String,
    pub files: usize,
    pub shared_bytes: u64,
    /// Bytes hashed since the peer started (0 after a restart over an unchanged share).
    pub bytes_hashed: u64,
    /// Files left out because they were still being written at the last look.
    pub unsettled: usize,
}

/// What a running peer writes to its state folder for subcommands to find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlInfo {
    pub http_addr: String,
    pub secret: String,
    pub pid: u32,
}

/// The parts of a running peer that its HTTP workers and its console share.
pub struct Core {
    config: PeerConfig,
    share: Arc<ShareTable>,
    session: Session,
    secret: String,
    http_addr: String,
    slots: Slots,
    bucket: Option<SharedBucket>,
}

impl Core {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    pub fn share(&self) -> &ShareTable {
        &self.share
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }

    /// Counts files being sent, against `upload_slots`.
    pub fn upload_slots(&self) -> &Slots {
        &self.slots
    }

    /// The bucket pacing everything this peer sends, if `upload_rate_limit` is set.
    pub fn upload_bucket(&self) -> Option<&SharedBucket> {
        self.bucket.as_ref()
    }

    pub fn inbox_policy(&self) -> InboxPolicy {
        InboxPolicy {
            accepting: self.config.accept_uploads,
            max_bytes: self.config.max_upload_bytes,
        }
    }

    /// Shares a file that was just written and verified, and announces it.
    pub fn shared_file_added(&self, path: &Path, id: FileId) {
        match self.share.add_verified(path, id) {
            Ok(change) => self.session.announce(&change),
            Err(e) => log::warn!("cannot share {}: {e}", path.display()),
        }
    }

    /// Rescans the share folder and announces what changed.
    pub fn rescan(&self) -> Result<Change, ShareError> {
        let change = self.share.rescan()?;
        self.session.announce(&change);
        Ok(change)
    }

    pub fn status(&self) -> Status {
        let files = self.share.list();
        Status {
            name: self.config.name.clone(),
            http_addr: self.http_addr.clone(),
            directory: self.config.directory.clone(),
            session: match self.session.state() {
                SessionState::Online => "online".into(),
                SessionState::Offline => "offline".into(),
                SessionState::Connecting(e) => format!("connecting: {e}"),
            },
            files: files.len(),
            shared_bytes: files.iter().map(|f| f.size).sum(),
            bytes_hashed: self.share.bytes_hashed(),
            unsettled: self.share.unsettled(),
        }
    }
}

/// A running peer.
pub struct Peer {
    core: Arc<Core>,
    http: Mutex<Option<HttpServer>>,
    rescanner: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    control_file: PathBuf,
}

fn prepare_dir(path: &Path) -> Result<(), PeerError> {
    fs::create_dir_all(path).map_err(|source| PeerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Peer {
    /// Scans the share, binds the HTTP port, starts serving, and starts the
    /// directory session (which keeps trying while the directory is down).
    pub fn start(config: PeerConfig) -> Result<Peer, PeerError> {
        let state_dir = config.state_dir();
        for dir in [&config.share_dir, &config.download_dir(), &state_dir] {
            prepare_dir(dir)?;
        }
        if let Some(info) = running_peer(&state_dir) {
            return Err(PeerError::AlreadyRunning { state_dir, info });
        }
        let share = Arc::new(
            ShareTable::with_state(
                &config.share_dir,
                Some(&state_dir),
                Duration::from_secs(config.settle_secs),
            )
            .following_symlinks(config.follow_symlinks),
        );
        let t = Instant::now();
        share.rescan().map_err(PeerError::Share)?;
        log::info!(
            "sharing {} files from {} (hashed {} bytes in {:.2}s)",
            share.list().len(),
            config.share_dir.display(),
            share.bytes_hashed(),
            t.elapsed().as_secs_f64()
        );

        let listener = http::bind(config.listen).map_err(|source| PeerError::Bind {
            addr: config.listen,
            source,
        })?;
        let bound = listener.local_addr().map_err(|source| PeerError::Bind {
            addr: config.listen,
            source,
        })?;
        let http_addr = config
            .advertise_addr
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        let secret = new_secret();
        let dir = Directory::connect(&config.directory);
        let session = Session::start(dir, &config.name, &http_addr, share.clone());
        let workers = config.http_workers;
        let slots = Slots::new(config.upload_slots);
        let bucket = (config.upload_rate_limit > 0).then(|| {
            Arc::new(Mutex::new(TokenBucket::new(
                config.upload_rate_limit,
                Instant::now(),
            )))
        });
        let core = Arc::new(Core {
            config,
            share,
            session,
            secret,
            http_addr,
            slots,
            bucket,
        });
        let server = HttpServer::start(listener, workers, core.clone()).map_err(|source| {
            PeerError::Bind {
                addr: bound,
                source,
            }
        })?;
        let control_file = state_dir.join(CONTROL_FILE);
        let info = ControlInfo {
            http_addr: core.http_addr.clone(),
            secret: core.secret.clone(),
            pid: std::process::id(),
        };
        let rescanner = start_rescanner(core.clone());
        let peer = Peer {
            core,
            http: Mutex::new(Some(server)),
            rescanner: Mutex::new(rescanner),
            control_file,
        };
        write_private(
            &peer.control_file,
            &serde_json::to_vec_pretty(&info).unwrap_or_default(),
        )
        .map_err(|source| PeerError::Io {
            path: peer.control_file.clone(),
            source,
        })?;
        Ok(peer)
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The address other peers reach this one at.
    pub fn http_addr(&self) -> &str {
        &self.core.http_addr
    }

    /// Logs out, stops serving after requests in flight, removes the control
    /// file. Later calls do nothing.
    pub fn shutdown(&self) {
        let Some(http) = self.http.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        if let Some((stop, thread)) = self
            .rescanner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            drop(stop);
            let _ = thread.join();
        }
        self.core.session.shutdown();
        http.shutdown();
        let _ = fs::remove_file(&self.control_file);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the thread that rescans the share folder every `rescan_secs`, and
/// soon after a look that found files still being written. `None` when
/// periodic rescans are off. Dropping the sender stops it.
fn start_rescanner(core: Arc<Core>) -> Option<(Sender<()>, JoinHandle<()>)> {
    if core.config.rescan_secs == 0 {
        return None;
    }
    let every = Duration::from_secs(core.config.rescan_secs);
    let settle = Duration::from_secs(core.config.settle_secs.max(1));
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let thread = std::thread::Builder::new()
        .name("share-rescan".into())
        .spawn(move || loop {
            let wait = if core.share.unsettled() > 0 {
                settle.min(every)
            } else {
                every
            };
            match stopped.recv_timeout(wait) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if let Err(e) = core.rescan() {
                        log::warn!("rescan failed: {}", crate::error_chain(&e));
                    }
                }
                _ => return,
            }
        })
        .expect("spawn the rescan thread");
    Some((stop, thread))
}

/// The peer whose control file is in `state_dir`, if it answers. A control
/// file left by a peer that died is ignored (and overwritten at start).
fn running_peer(state_dir: &Path) -> Option<ControlInfo> {
    let text = fs::read(state_dir.join(CONTROL_FILE)).ok()?;
    let info: ControlInfo = serde_json::from_slice(&text).ok()?;
    let alive = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(1))
        .build()
        .get(&format!("{}/health", info.http_addr))
        .call()
        .is_ok();
    alive.then_some(info)
}

fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `bytes` to `path` atomically (temp file + rename), readable by the
/// owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// A handle on a running peer from another process, through its control file.
pub struct Control {
    info: ControlInfo,
    file: PathBuf,
}

impl Control {
    /// Reads the control file of the peer whose state folder is `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Control, TransferError> {
        let file = state_dir.join(CONTROL_FILE);
        let text = fs::read(&file).map_err(|source| TransferError::Io {
            path: file.clone(),
            source: if source.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no running peer with this config (start one with `peer serve`)",
                )
            } else {
                source
            },
        })?;
        let info: ControlInfo =
            serde_json::from_slice(&text).map_err(|e| TransferError::Protocol {
                url: file.display().to_string(),
                detail: format!("unreadable control file: {e}"),
            })?;
        Ok(Control { info, file })
    }

    fn call(&self, method: &str, action: &str) -> Result<serde_json::Value, TransferError> {
        let url = format!("{}/control/{action}", self.info.http_addr);
        let resp = transfer::agent()
            .request(method, &url)
            .set(SECRET_HEADER, &self.info.secret)
            .call()
            .map_err(|e| match e {
                ureq::Error::Transport(t) => TransferError::Transport {
                    url: url.clone(),
                    detail: format!(
                        "{t} (is the peer still running? its control file is {})",
                        self.file.display()
                    ),
                },
                other => transfer::http_err(&url, other),
            })?;
        transfer::read_json(resp, &url)
    }

    pub fn status(&self) -> Result<Status, TransferError> {
        let v = self.call("GET", "status")?;
        serde_json::from_value(v).map_err(|e| TransferError::Protocol {
            url: self.info.http_addr.clone(),
            detail: e.to_string(),
        })
    }

    /// Asks the peer to rescan; returns (added, removed).
    pub fn rescan(&self) -> Result<(u64, u64), TransferError> {
        let v = self.call("POST", "rescan")?;
        Ok((
            v["added"].as_u64().unwrap_or(0),
            v["removed"].as_u64().unwrap_or(0),
        ))
    }

    pub fn logout(&self) -> Result<(), TransferError> {
        self.call("POST", "logout").map(|_| ())
    }
}
