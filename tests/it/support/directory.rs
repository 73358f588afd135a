//! Directories for the tests: in this test process (`DirectoryServer` on
//! port 0, for tests that are not about the `server` binary), or a real
//! `server` process (for tests of the binary, its logs, or killing it).

use std::process::Command;

use std::net::SocketAddr;
use std::path::Path;

use hubshare::{DirectoryServer, ServerConfig};

use super::proc::{Proc, SERVER};

/// A directory in this test process: a `DirectoryServer` on a free
/// loopback port, shut down when dropped. For tests that are not about the
/// `server` binary (its flags, logs, signals or exit).
pub struct Dir {
    pub addr: String,
    server: Option<DirectoryServer>,
    /// Its state folder (the name bindings), unless the config named one.
    _state: Option<tempfile::TempDir>,
}

impl Dir {
    /// The status and metrics port, when the config gave `http_listen`.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(DirectoryServer::status_addr)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

/// A directory in this test process on a free loopback port.
pub fn start_server() -> Dir {
    start_directory("")
}

/// `tls = false` unless `text` says `tls`: most tests are about what
/// happens inside a connection and speak plaintext; `tls.rs` is about TLS.
pub fn plaintext_unless_said(text: &str) -> String {
    if text.lines().any(|l| l.trim_start().starts_with("tls")) {
        text.to_string()
    } else {
        format!("tls = false\n{text}")
    }
}

/// A directory in this test process with the config `text` (on a free
/// loopback port unless it says `listen`; plaintext unless it says `tls`).
pub fn start_directory(text: &str) -> Dir {
    let mut config =
        ServerConfig::from_toml(&plaintext_unless_said(text), Path::new("server.toml"))
            .expect("a valid directory config");
    if !text.lines().any(|l| l.trim_start().starts_with("listen")) {
        config.listen = "127.0.0.1:0".parse().unwrap();
    }
    // Name bindings are kept in the state folder: each test its own.
    let state = config
        .state_dir
        .is_none()
        .then(|| tempfile::tempdir().expect("temp dir"));
    if let Some(s) = &state {
        config.state_dir = Some(s.path().to_path_buf());
    }
    let server = DirectoryServer::start(&config).expect("start the directory");
    Dir {
        addr: server.addr().to_string(),
        server: Some(server),
        _state: state,
    }
}

/// A directory server process on a free loopback port.
pub fn start_server_process() -> Proc {
    start_server_with(&["--listen", "127.0.0.1:0"])
}

/// A plaintext directory server process with these arguments.
pub fn start_server_with(args: &[&str]) -> Proc {
    let mut cmd = Command::new(SERVER);
    cmd.arg("--no-tls").args(args);
    Proc::spawn(cmd)
}

/// A directory server process with the config `text` (written to a temp
/// file, returned with it: keep it alive as long as the server).
pub fn start_server_with_config(text: &str) -> (Proc, tempfile::TempDir) {
    start_server_logging("info", text)
}

/// [`start_server_with_config`] with `RUST_LOG` set to `level`.
pub fn start_server_logging(level: &str, text: &str) -> (Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, plaintext_unless_said(text)).expect("write server config");
    let mut cmd = Command::new(SERVER);
    cmd.arg("--config").arg(&config).env("RUST_LOG", level);
    (Proc::spawn(cmd), dir)
}
