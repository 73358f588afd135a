//! A peer's folders and config, and the `peer` processes run with it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use super::check::ok;
use super::menu::Menu;
use super::proc::{Proc, PEER};

/// A peer's folders and config, and its process once started.
pub struct PeerSetup {
    pub root: tempfile::TempDir,
    pub config: PathBuf,
}

impl PeerSetup {
    /// Writes a config for a peer named `name` talking to `directory`;
    /// `extra` is appended to the TOML.
    pub fn new(name: &str, directory: &str, extra: &str) -> PeerSetup {
        let root = tempfile::tempdir().expect("temp dir");
        let config = root.path().join("peer.toml");
        // Tests write files and start peers at once: no settle time unless
        // a test is about it.
        let settle = if extra.contains("settle_secs") {
            ""
        } else {
            "settle_secs = 0\n"
        };
        // Plaintext, as the directories of `start_server` are, unless a
        // test is about TLS.
        let tls = if extra.contains("tls =") {
            ""
        } else {
            "tls = false\n"
        };
        let text = format!(
            "name = \"{name}\"\ndirectory = \"{directory}\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"{}\"\nstate_dir = \"{}\"\n{tls}{settle}{extra}\n",
            root.path().join("share").display(),
            root.path().join("state").display(),
        );
        std::fs::write(&config, text).expect("write config");
        std::fs::create_dir_all(root.path().join("share")).expect("share dir");
        PeerSetup { root, config }
    }

    pub fn share(&self) -> PathBuf {
        self.root.path().join("share")
    }

    /// Starts `peer serve` and waits until it prints its HTTP address.
    pub fn serve(&self) -> Proc {
        self.serve_logging("info")
    }

    /// [`serve`](Self::serve) with `RUST_LOG` set to `level`.
    pub fn serve_logging(&self, level: &str) -> Proc {
        let mut cmd = Command::new(PEER);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env("RUST_LOG", level);
        Proc::spawn(cmd)
    }

    /// The peer's state folder.
    pub fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// Starts `peer serve` unable to write files larger than `bytes` (a
    /// file-size limit, as a full disk would refuse writes).
    pub fn serve_with_file_size_limit(&self, bytes: u64) -> Proc {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(PEER);
        cmd.arg("--config").arg(&self.config).arg("serve");
        // SAFETY: only setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Proc::spawn(cmd)
    }

    /// A `peer` command with this peer's config and `args`, no stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PEER);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a one-shot subcommand with this peer's config.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run peer subcommand")
    }

    /// [`run`](Self::run) with `RUST_LOG` set to `level`.
    pub fn run_logging(&self, level: &str, args: &[&str]) -> Output {
        self.command(args)
            .env("RUST_LOG", level)
            .output()
            .expect("run peer subcommand")
    }

    /// Runs the menu (no subcommand) with `input` as its standard input,
    /// until it quits; returns what it printed, after checking it exited
    /// cleanly.
    pub fn menu(&self, input: &[u8]) -> String {
        self.menu_with_stderr(input).0
    }

    /// [`menu`](Self::menu), with what it wrote to stderr.
    pub fn menu_with_stderr(&self, input: &[u8]) -> (String, String) {
        let mut menu = self.spawn_menu();
        menu.stdin.take().unwrap().write_all(input).unwrap();
        let out = menu.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{text}\n{err}");
        (text, err)
    }

    /// The menu (no subcommand), its standard streams piped.
    fn spawn_menu(&self) -> Child {
        self.command(&[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the menu")
    }

    /// Opens the menu to be driven a line at a time (see [`Menu`]).
    pub fn open_menu(&self) -> Menu {
        Menu::start(self.spawn_menu())
    }

    /// `search --json` for `words`, as JSON.
    pub fn search_json(&self, words: &[&str]) -> serde_json::Value {
        let mut args = vec!["search", "--json"];
        args.extend(words);
        serde_json::from_str(&ok(self.run(&args))).expect("search --json prints JSON")
    }

    /// How many live sources the directory counts for the result of a
    /// search for `words` named `name` (its first name; `""`: the first
    /// result); 0 when there is no such result.
    pub fn sources_of(&self, words: &[&str], name: &str) -> u64 {
        let found = self.search_json(words);
        found["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .find(|h| name.is_empty() || h["names"][0] == name)
            .map_or(0, |h| h["source_count"].as_u64().expect("a source count"))
    }

    /// Starts a subcommand in the background (e.g. a long `get`).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer subcommand")
    }
}

/// Peers named `names`, each sharing `content` as `file`, with `extra`
/// config; not started yet.
pub fn sharing_peers(
    directory: &str,
    names: &[&str],
    extra: &str,
    file: &str,
    content: &[u8],
) -> Vec<PeerSetup> {
    names
        .iter()
        .map(|n| {
            let p = PeerSetup::new(n, directory, extra);
            std::fs::write(p.share().join(file), content).expect("write shared file");
            p
        })
        .collect()
}
