//! Checks on outcomes: a command's success or failure, waiting for a
//! condition, file trees, hashes.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs a subcommand and returns its stdout, failing the test on a non-zero exit.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Whether a subcommand succeeded and printed `needle`: for waiting on a
/// condition that may at first fail (a peer not yet logged in), where
/// [`ok`] would end the wait at the first refusal.
pub fn prints(out: Output, needle: &str) -> bool {
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(needle)
}

/// What a command said, both streams (stdout, then stderr).
pub fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a subcommand that must fail and returns its stderr.
pub fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "command should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("UTF-8 output")
}

/// Retries `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` bytes of deterministic noise, different for each seed.
pub use hubshare::fuzz::noise;

/// The hex BLAKE3 of `bytes`, as `b3sum` prints it.
pub fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Every file below `dir`, as sorted relative paths.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
