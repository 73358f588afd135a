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

/// The config files shipped in `config/` and `docker/` load as they are,
/// and the container's entrypoint runs either binary (outside a container:
/// no engine runs on the machines the tests run on).
#[test]
fn shipped_configs_load_and_the_entrypoint_runs_either_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["config", "docker"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let loaded = if name.starts_with("server") {
                hubshare::ServerConfig::load(&path).map(|_| ())
            } else if name.starts_with("relay") {
                hubshare::RelayConfig::load(&path).map(|_| ())
            } else {
                hubshare::PeerConfig::load(&path).map(|_| ())
            };
            assert!(loaded.is_ok(), "{}: {:?}", path.display(), loaded.err());
        }
    }
    let bins = std::path::Path::new(SERVER).parent().unwrap();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let entry = root.join("docker/entrypoint.sh");
    for what in ["server", "peer", "relay"] {
        let out = Command::new("sh")
            .arg(&entry)
            .args([what, "--version"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("hubshare "));
    }
    let out = Command::new("sh")
        .arg(&entry)
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: hubshare server"));
}
