//! [`Peer`]: a running peer. [`Peer::start`] binds the HTTP port, scans
//! the share, starts serving, the directory session, the `share-rescan`
//! thread and the control file, in that order; [`Peer::shutdown`] undoes
//! them.

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::control::{ControlInfo, CONTROL_FILE};
use super::core::Core;
use super::dial::open_directory;
use super::serve::{self, HttpServer, ServeOptions};
use super::session::Session;
use super::share::{ShareError, ShareTable};
use super::{downloads, reverse};
use super::{identity, watch, wishes};
use crate::config::PeerConfig;
use crate::sync::MutexExt;
use crate::tls::TlsIdentity;
use crate::wire::Credentials;

/// Why a peer could not start.
#[derive(Debug)]
pub enum PeerError {
    /// A folder could not be created or a state file written.
    Io { path: PathBuf, source: io::Error },
    /// A folder the config names cannot be made (`key` names it).
    Folder {
        key: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// What the config key `key` names is a file, not a folder.
    NotAFolder {
        key: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The share folder could not be scanned.
    Share(ShareError),
    /// The HTTP port could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// Another peer is running with the same state folder.
    AlreadyRunning {
        state_dir: PathBuf,
        info: Box<ControlInfo>,
    },
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Io { path, .. } => write!(f, "cannot prepare {}", path.display()),
            PeerError::NotAFolder { key, path, .. } => write!(
                f,
                "`{key}` is {}, which is a file, not a folder: give {key} a folder (it is created if missing)",
                path.display()
            ),
            PeerError::Folder { key, path, .. } => {
                write!(f, "cannot make the folder `{key}` names, {}", path.display())
            }
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
            PeerError::Io { source, .. }
            | PeerError::Bind { source, .. }
            | PeerError::Folder { source, .. }
            | PeerError::NotAFolder { source, .. } => Some(source),
            PeerError::Share(e) => e.source(),
            PeerError::AlreadyRunning { .. } => None,
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

/// Makes the folder the config key `key` names, when missing.
fn prepare_dir(key: &'static str, path: &Path) -> Result<(), PeerError> {
    let not_a_folder = |source| PeerError::NotAFolder {
        key,
        path: path.to_path_buf(),
        source,
    };
    match fs::create_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists || path.is_file() => {
            Err(not_a_folder(e))
        }
        Err(source) => Err(PeerError::Folder {
            key,
            path: path.to_path_buf(),
            source,
        }),
        // create_dir_all accepts a path that is a link to a file on some systems.
        Ok(()) if !path.is_dir() => Err(not_a_folder(io::ErrorKind::AlreadyExists.into())),
        Ok(()) => Ok(()),
    }
}

impl Peer {
    /// Binds the HTTP port, scans the share, starts serving, and starts the
    /// directory session (which keeps trying while the directory is down).
    pub fn start(config: PeerConfig) -> Result<Peer, PeerError> {
        let state_dir = config.state_dir();
        prepare_dir("share_dir", &config.share_dir)?;
        for (top, dir) in config.extra_shares() {
            prepare_dir("share_dirs", &dir)?;
            if config.share_dir.join(&top).exists() {
                log::warn!(
                    "{} has a {top:?} too: its files and those of {} are both shared under {top}/",
                    config.share_dir.display(),
                    dir.display()
                );
            }
        }
        prepare_dir("download_dir", &config.download_dir())?;
        prepare_dir("state_dir", &state_dir)?;
        super::share::make_state_dir(&state_dir).map_err(|source| PeerError::Io {
            path: state_dir.clone(),
            source,
        })?;
        if let Some(info) = ControlInfo::running(&state_dir) {
            return Err(PeerError::AlreadyRunning {
                state_dir,
                info: Box::new(info),
            });
        }
        for dir in [&state_dir, &config.download_dir()] {
            let swept = crate::fsutil::sweep_stale_temps(dir, crate::fsutil::STALE_TEMP_AGE);
            if swept > 0 {
                log::info!(
                    "removed {swept} temp file(s) a stopped writer left in {}",
                    dir.display()
                );
            }
        }
        let (dir, me) = open_directory(&config).map_err(|source| PeerError::Io {
            path: state_dir.clone(),
            source,
        })?;
        // Over TLS the certificate is the identity and nothing secret is
        // sent; the identity key is for a directory with tls = false.
        let key = if me.is_some() {
            None
        } else {
            let key = identity::load_or_create(&state_dir).map_err(|source| PeerError::Io {
                path: state_dir.join(identity::IDENTITY_FILE),
                source,
            })?;
            crate::logging::redact(key.expose());
            Some(key)
        };
        let creds = Credentials {
            key,
            group_password: config.group_password(),
            reach: config.reach(),
        };
        if let Some(p) = &creds.group_password {
            crate::logging::redact(p.expose());
        }
        // The port first: a port in use is said at once, not after hashing
        // the share (connections wait in the backlog meanwhile).
        let bind_err = |source| PeerError::Bind {
            addr: config.listen,
            source,
        };
        let listener = serve::bind(config.listen).map_err(bind_err)?;
        let bound = listener.local_addr().map_err(bind_err)?;
        let share = Arc::new(
            ShareTable::with_state(
                &config.share_dir,
                Some(&state_dir),
                Duration::from_secs(config.settle_secs),
            )
            .following_symlinks(config.follow_symlinks)
            .with_extra(config.extra_shares()),
        );
        let t = Instant::now();
        share.rescan().map_err(PeerError::Share)?;
        let left_out = share.left_out();
        log::info!(
            "sharing {} files from {} (hashed {} bytes in {:.2}s){}",
            share.files().count(),
            share
                .roots()
                .map(|(top, d)| match top {
                    "" => d.display().to_string(),
                    top => format!("{} (as {top}/)", d.display()),
                })
                .collect::<Vec<_>>()
                .join(", "),
            share.bytes_hashed(),
            t.elapsed().as_secs_f64(),
            if left_out.is_empty() {
                String::new()
            } else {
                format!("; left out: {left_out}")
            }
        );

        // Pinned to its own keyprint: one-shot commands reach this process
        // through its own port, reading the address from the control file.
        let http_addr = config
            .http_addr(bound)
            .pinned(me.as_ref().map(TlsIdentity::keyprint));
        let mut info = ControlInfo::new(http_addr.clone());
        let tls = match &me {
            Some(me) => {
                log::info!("this peer's keyprint is {}", me.keyprint());
                Some(crate::tls::server_config(me).map_err(|e| PeerError::Io {
                    path: state_dir.join("tls.crt"),
                    source: std::io::Error::other(e.to_string()),
                })?)
            }
            None => {
                log::warn!(
                    "tls = false: everything this peer sends and serves is unencrypted (names, \
                     searches, the group password, files); use it on a trusted network only"
                );
                None
            }
        };
        let dir = Arc::new(dir);
        let session = Session::start(dir.clone(), &config.name, &http_addr, creds, share.clone());
        let opts = ServeOptions {
            workers: config.http_workers,
            timeout: Duration::from_secs(config.http_timeout_secs),
            max_connections: config.max_connections,
            upload_slots: config.upload_slots,
            free_slot_bytes: config.free_slot_bytes,
            upload_turn: (config.upload_turn_secs > 0)
                .then(|| Duration::from_secs(config.upload_turn_secs)),
            upload_rate_limit: config.upload_rate_limit,
            tls,
        };
        let core = Arc::new(Core::new(
            config,
            dir,
            share,
            session,
            info.secret.clone(),
            http_addr,
        ));
        // Over TLS, reverse connections: a firewalled source connects out
        // to this port, and this peer's downloads reach firewalled sources.
        let waiting = Arc::new(reverse::Waiting::default());
        let divert: Option<tiny_http::Divert> = opts.tls.as_ref().map(|_| {
            let waiting = waiting.clone();
            Arc::new(move |sock| waiting.divert(sock)) as tiny_http::Divert
        });
        let server = HttpServer::start_diverting(listener, &opts, core.clone(), divert).map_err(
            |source| PeerError::Bind {
                addr: bound,
                source,
            },
        )?;
        if opts.tls.is_some() {
            let (weak, gone, check) = (
                Arc::downgrade(&core),
                Arc::downgrade(&core),
                Arc::downgrade(&core),
            );
            let token = Arc::new(reverse::SessionToken {
                now: Box::new(move || {
                    let core = weak.upgrade()?;
                    let session = core.session();
                    let token = session.token()?;
                    Some((token, session.reached().is_none_or(|(r, _)| r)))
                }),
                gone: Box::new(move || gone.strong_count() == 0),
                check: Box::new(move || {
                    if let Some(core) = check.upgrade() {
                        core.session().check_soon();
                    }
                }),
            });
            let dir = core.directory().clone();
            reverse::follow_notices(dir.clone(), token.clone(), server.dialer());
            match reverse::Proxy::start(dir, token, waiting, info.secret.clone()) {
                Ok(proxy) => {
                    crate::tls::set_reverse_proxy(proxy.addr(), &info.secret);
                    info.reverse_proxy = Some(proxy.addr());
                }
                Err(e) => log::warn!("no reverse connections to firewalled sources: {e}"),
            }
        }
        let queue =
            downloads::DownloadQueue::start(&core, &state_dir).map_err(|source| PeerError::Io {
                path: state_dir.join(downloads::QUEUE_FILE),
                source,
            })?;
        core.set_queue(queue);
        let wishes =
            wishes::Wishlist::start(&core, &state_dir).map_err(|source| PeerError::Io {
                path: state_dir.join(wishes::WISH_FILE),
                source,
            })?;
        core.set_wishes(wishes);
        let rescanner = watch::start_rescanner(core.clone());
        let peer = Peer {
            core,
            http: Mutex::new(Some(server)),
            rescanner: Mutex::new(rescanner),
            control_file: state_dir.join(CONTROL_FILE),
        };
        // On failure the peer is dropped, which shuts it down again.
        info.write(&peer.control_file)
            .map_err(|source| PeerError::Io {
                path: peer.control_file.clone(),
                source,
            })?;
        Ok(peer)
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Who this peer is sending files to, and who waits for a slot.
    pub fn uploads(&self) -> crate::wire::UploadsNow {
        self.http
            .locked()
            .as_ref()
            .map(HttpServer::uploads)
            .unwrap_or_default()
    }

    /// Logs out, stops serving after requests in flight, removes the control
    /// file. Later calls do nothing.
    pub fn shutdown(&self) {
        let Some(http) = self.http.locked().take() else {
            return;
        };
        // A panicked thread is raised once the rest is shut down.
        let rescanner = self.rescanner.locked().take().map(|(stop, thread)| {
            drop(stop);
            crate::sync::join(thread)
        });
        let session = self.core.session().stop();
        http.shutdown();
        let _ = fs::remove_file(&self.control_file);
        for panicked in [rescanner.and_then(Result::err), session.err()]
            .into_iter()
            .flatten()
        {
            panicked.raise();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
