//! Child processes of the tests: started, their first line (an address)
//! read, their log kept, killed and reaped when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SERVER: &str = env!("CARGO_BIN_EXE_server");

pub const PEER: &str = env!("CARGO_BIN_EXE_peer");

pub const RELAY: &str = env!("CARGO_BIN_EXE_relay");

/// A child process that is killed and reaped when dropped.
pub struct Proc {
    pub child: Child,
    /// The last word of the first line the process printed (its address).
    pub addr: String,
    /// Every line it has written to stderr (its log) so far.
    log: Arc<Mutex<Vec<String>>>,
    /// Every line it printed on stdout after the first, so far.
    printed: Arc<Mutex<Vec<String>>>,
    /// The folder a `server` without a folder of its own runs in (its
    /// default state folder, with the name bindings, is below it), removed
    /// with the process.
    _cwd: Option<tempfile::TempDir>,
}

impl Proc {
    /// Spawns `cmd` and waits for its first stdout line.
    pub fn spawn(mut cmd: Command) -> Proc {
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        // A directory keeps its name bindings in its state folder: one run
        // without a config or a folder of its own gets a fresh one, never
        // one another test shares.
        let cwd = (cmd.get_program() == SERVER && cmd.get_current_dir().is_none())
            .then(|| tempfile::tempdir().expect("temp dir"));
        if let Some(d) = &cwd {
            cmd.current_dir(d.path());
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first).expect("read first line");
        if first.is_empty() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("piped stderr")
                .read_to_string(&mut err)
                .ok();
            panic!("process exited before printing its address: {err}");
        }
        // Keep draining stdout so the child never blocks on a full pipe,
        // keeping what it prints.
        let printed = Arc::new(Mutex::new(Vec::new()));
        let said = printed.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                said.lock().unwrap().push(line);
            }
        });
        // Drain stderr too (logs), keeping them and echoing them so a
        // failing test shows them.
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("    | {line}");
                kept.lock().unwrap().push(line);
            }
        });
        let addr = first
            .split_whitespace()
            .last()
            .expect("address on the first line")
            .to_string();
        Proc {
            child,
            addr,
            log,
            printed,
            _cwd: cwd,
        }
    }

    /// The rest of the first line it printed (after its second line
    /// onwards) that starts with `prefix`, waiting up to 10 s for it.
    pub fn printed_after(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(rest) = self
                .printed
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
            {
                return rest.trim().to_string();
            }
            assert!(Instant::now() < deadline, "it never printed {prefix:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log so far, one string.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// How many lines of its log so far contain `needle`.
    pub fn logged(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Sends a signal by number and waits (bounded) for the process to exit.
    pub fn signal_and_wait(&mut self, sig: &str) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit after {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
