//! Reaching a running peer from another process: the running peer writes
//! its address, its pid and a fresh secret into `control.json` in its state
//! folder (mode 0600); the one-shot subcommands `status`, `rescan` and
//! `logout` read it and call the peer's control routes with the secret.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fetch::transfer::{self, TransferError};
use crate::fsutil;
use crate::random::random_hex;
use crate::wire::{HttpAddr, QueueEntry, QueueOp, Rescanned, Status, Wish, WishOp, SECRET_HEADER};

/// Name of the control file in the state folder.
pub const CONTROL_FILE: &str = "control.json";

/// What a running peer writes to its state folder for subcommands to find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlInfo {
    pub http_addr: HttpAddr,
    pub secret: String,
    pub pid: u32,
    /// Its reverse-connection proxy on loopback (see `reverse.rs`): where
    /// this config's one-shot downloads reach firewalled sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_proxy: Option<std::net::SocketAddr>,
}

impl ControlInfo {
    /// This process's entry, with a fresh secret.
    pub(crate) fn new(http_addr: HttpAddr) -> ControlInfo {
        let secret = random_hex(32);
        crate::logging::redact(&secret);
        ControlInfo {
            http_addr,
            secret,
            pid: std::process::id(),
            reverse_proxy: None,
        }
    }

    /// Writes it to `file`, readable by the owner only.
    pub(crate) fn write(&self, file: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        fsutil::write_private(file, &json)
    }

    /// The peer whose control file is in `state_dir`, if it answers. A
    /// control file left by a peer that died is ignored (and overwritten at
    /// start).
    pub(crate) fn running(state_dir: &Path) -> Option<ControlInfo> {
        let text = fs::read(state_dir.join(CONTROL_FILE)).ok()?;
        let info: ControlInfo = serde_json::from_slice(&text).ok()?;
        crate::logging::redact(&info.secret);
        let second = Duration::from_secs(1);
        let alive = crate::tls::agent_for(&info.http_addr, second, second, second)
            .get(&info.http_addr.url("/health"))
            .call()
            .is_ok();
        alive.then_some(info)
    }
}

/// Reaches firewalled sources through the reverse proxy of the running
/// peer of `state_dir`, if one runs (without one, nobody here could take
/// a source's connection). Returns whether it does.
pub fn reverse_through_running(state_dir: &Path) -> bool {
    match ControlInfo::running(state_dir).and_then(|i| Some((i.reverse_proxy?, i.secret))) {
        Some((addr, secret)) => {
            crate::tls::set_reverse_proxy(addr, &secret);
            true
        }
        None => false,
    }
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
        crate::logging::redact(&info.secret);
        Ok(Control { info, file })
    }

    /// The running peer of `state_dir`, if one answers (see
    /// [`ControlInfo::running`]).
    pub fn running(state_dir: &Path) -> Option<Control> {
        let info = ControlInfo::running(state_dir)?;
        let file = state_dir.join(CONTROL_FILE);
        Some(Control { info, file })
    }

    fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        action: &str,
    ) -> Result<T, TransferError> {
        self.call_with(method, action, None)
    }

    /// [`call`](Self::call) with a JSON body.
    fn call_with<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        action: &str,
        body: Option<&[u8]>,
    ) -> Result<T, TransferError> {
        let url = self.info.http_addr.url(&format!("/control/{action}"));
        let rq = transfer::agent(&self.info.http_addr)
            .request(method, &url)
            .set(SECRET_HEADER, &self.info.secret);
        let sent = match body {
            Some(body) => rq.set("Content-Type", "application/json").send_bytes(body),
            None => rq.call(),
        };
        let resp = sent.map_err(|e| match e {
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

    /// The running peer's download queue, in queue order.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, TransferError> {
        self.call("GET", "queue")
    }

    /// A change to the running peer's download queue: the download as it
    /// is now.
    pub fn queue_apply(&self, op: &QueueOp) -> Result<QueueEntry, TransferError> {
        self.post("queue", op)
    }

    /// The running peer's wishlist, oldest first.
    pub fn wishes(&self) -> Result<Vec<Wish>, TransferError> {
        self.call("GET", "wishes")
    }

    /// A change to the running peer's wishlist: the wish as it is now.
    pub fn wishes_apply(&self, op: &WishOp) -> Result<Wish, TransferError> {
        self.post("wishes", op)
    }

    /// POSTs `op` as JSON to the control route `action`.
    fn post<T: for<'de> Deserialize<'de>>(
        &self,
        action: &str,
        op: &impl Serialize,
    ) -> Result<T, TransferError> {
        let body = serde_json::to_vec(op).map_err(|e| TransferError::Protocol {
            url: format!("/control/{action}"),
            detail: e.to_string(),
        })?;
        self.call_with("POST", action, Some(&body))
    }

    /// A one-time link that signs the owner in on the running peer's page.
    pub fn web_login(&self) -> Result<String, TransferError> {
        let answer: serde_json::Value = self.call("POST", "web-login")?;
        let path = answer["path"].as_str().unwrap_or("/owner");
        Ok(self.info.http_addr.url(path))
    }

    pub fn status(&self) -> Result<Status, TransferError> {
        self.call("GET", "status")
    }

    /// Asks the peer to rescan; says what it found.
    pub fn rescan(&self) -> Result<Rescanned, TransferError> {
        self.call("POST", "rescan")
    }

    pub fn logout(&self) -> Result<(), TransferError> {
        self.call::<serde_json::Value>("POST", "logout").map(drop)
    }

    /// Logs the running peer in again (after a `logout`).
    pub fn login(&self) -> Result<(), TransferError> {
        self.call::<serde_json::Value>("POST", "login").map(drop)
    }
}
