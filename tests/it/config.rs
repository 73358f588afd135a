//! A wrong config file fails at start, naming the file, the key and the
//! problem; the example configs in `config/` start as they are.

use std::process::Command;

use crate::support::*;

fn start_with(config: &str, bin: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(&path);
    if bin == PEER {
        cmd.arg("serve");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_configs_fail_at_start_naming_file_and_key() {
    let share = "share_dir = \"/tmp/x\"\n";
    let cases = [
        (PEER, format!("name = \"\"\n{share}"), "name"),
        (
            PEER,
            format!("name = \"a\"\n{share}listen = \"not an address\""),
            "listen",
        ),
        (
            PEER,
            format!("name = \"a\"\n{share}colour = \"blue\""),
            "colour",
        ),
        (
            PEER,
            format!("name = \"a\"\n{share}http_workers = 0"),
            "http_workers",
        ),
        (PEER, "name = \"a\"".to_string(), "share_dir"),
        (
            PEER,
            format!("name = \"a\"\n{share}listen = \"0.0.0.0:0\""),
            "advertise_addr",
        ),
        (SERVER, "lease_secs = 0".to_string(), "lease_secs"),
        (SERVER, "listen = 50051".to_string(), "listen"),
    ];
    for (bin, text, key) in cases {
        let (ok, err) = start_with(&text, bin);
        assert!(!ok, "{text:?} was accepted");
        assert!(
            err.contains("bad.toml") && err.contains(key),
            "{text:?}: {err}"
        );
    }
    let out = Command::new(PEER)
        .args(["--config", "/nonexistent.toml", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.toml"));
}
