//! The menu driven a line at a time, each line sent once it asks for one.

use std::io::{Read, Write};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A menu being driven: lines are sent one at a time, and what it printed
/// is waited for.
pub struct Menu {
    child: Child,
    stdin: std::process::ChildStdin,
    out: Arc<Mutex<String>>,
}

impl Menu {
    /// Drives the menu `child` (its standard streams piped).
    pub fn start(mut child: Child) -> Menu {
        let stdin = child.stdin.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let (kept, stdout) = (out.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Menu { child, stdin, out }
    }

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to the menu");
    }

    /// Everything printed so far.
    pub fn printed(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until what was printed after `from` bytes contains `needle`;
    /// returns that part.
    pub fn wait_for(&self, from: usize, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.printed();
            let after = text.get(from..).unwrap_or("").to_string();
            if after.contains(needle) {
                return after;
            }
            assert!(
                Instant::now() < deadline,
                "menu never printed {needle:?}; it printed:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `line` once the menu asks for one (what it printed last is
    /// a prompt: the menu's `> ` or a question ending in `: `), and waits
    /// for `needle` in what it prints after it.
    pub fn ask(&mut self, line: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let from = loop {
            let text = self.printed();
            if text.ends_with("> ") || text.ends_with(": ") {
                break text.len();
            }
            assert!(
                Instant::now() < deadline,
                "the menu never asked for a line; it printed:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.send(line);
        self.wait_for(from, needle, Duration::from_secs(20))
    }

    /// Sends the menu process a signal (`-INT` for a Ctrl-C).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Whether the menu process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the menu to exit; returns its exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        drop(self.stdin);
        self.child.wait().expect("wait for the menu")
    }
}
