//! The configs' tests: defaults, errors naming file and key, lists of
//! directories, group passwords.

use std::path::{Path, PathBuf};

use super::defaults::{DEFAULT_DIRECTORY_ADDR, DEFAULT_HTTP_WORKERS, DEFAULT_MAX_UPLOAD_BYTES};
use super::*;

fn server(text: &str) -> Result<ServerConfig, ConfigError> {
    ServerConfig::from_toml(text, Path::new("server.toml"))
}

fn peer(text: &str) -> Result<PeerConfig, ConfigError> {
    PeerConfig::from_toml(text, Path::new("peer.toml"))
}

#[test]
fn server_defaults() {
    let c = server("").unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_DIRECTORY_ADDR);
    assert_eq!(c.lease_secs, 30);
    assert_eq!(c.heartbeat_secs(), 10);
}

#[test]
fn errors_name_file_and_key() {
    let cases = [
        (server("lease_secs = 0").unwrap_err(), "lease_secs"),
        (server("listen = \"nowhere\"").unwrap_err(), "listen"),
        (server("colour = 1").unwrap_err(), "colour"),
        (server("lease_secs = \"ten\"").unwrap_err(), "lease_secs"),
        (
            server("lease_secs = 10\nheartbeat_secs = 10").unwrap_err(),
            "heartbeat_secs",
        ),
    ];
    for (err, key) in cases {
        let msg = err.to_string();
        assert!(msg.contains("server.toml") && msg.contains(key), "{msg}");
    }
    let msg = peer("name = \"a b\"\nshare_dir = \"s\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("peer.toml") && msg.contains("`name`"), "{msg}");
    let msg = peer("name = \"a\"").unwrap_err().to_string();
    assert!(
        msg.contains("`share_dir`") && msg.contains("is missing"),
        "{msg}"
    );
    let msg = peer("share_dir = \"s\"").unwrap_err().to_string();
    assert!(
        msg.contains("`name`") && msg.contains("is missing"),
        "{msg}"
    );
    // The keys a peer config may leave out take the documented defaults.
    let c = peer("name = \"a\"\nshare_dir = \"s\"").unwrap();
    assert_eq!(c.directory, DEFAULT_DIRECTORY_ADDR);
    assert_eq!(c.http_workers, DEFAULT_HTTP_WORKERS);
    assert!(c.watch_share && !c.accept_uploads);
    let msg = peer("name = \"a\"\nshare_dir = \"s\"\nlisten = \"0.0.0.0:7001\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("advertise_addr"), "{msg}");
    // The directory is host:port: a URL or a missing port is refused
    // with what to write instead.
    for (addr, says) in [
        (
            "http://127.0.0.1:50051",
            "without http:// (here: \"127.0.0.1:50051\")",
        ),
        ("127.0.0.1", "has no port"),
        ("127.0.0.1:0", "between 1 and 65535"),
        ("host:50051/path", "is not host:port"),
        (":50051", "has no host"),
        ("::1:50051", "brackets"),
    ] {
        let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
        let msg = peer(&text).unwrap_err().to_string();
        assert!(
            msg.contains("directory") && msg.contains(says),
            "{addr}: {msg}"
        );
    }
    for (addr, says) in [
        ("127.0.0.1:1,dir.example:2", "each is an IP address"),
        ("127.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
        ("127.0.0.1:1,127.0.0.1", "has no port"),
    ] {
        let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
        let msg = peer(&text).unwrap_err().to_string();
        assert!(msg.contains(says), "{addr}: {msg}");
    }
    let list = "name = \"a\"\nshare_dir = \"s\"\ndirectory = [\"127.0.0.1:1\", \"127.0.0.1:2\"]";
    assert_eq!(peer(list).unwrap().directory, "127.0.0.1:1,127.0.0.1:2");
    for addr in [
        "127.0.0.1:50051",
        "dir.example:443",
        "[::1]:50051",
        "127.0.0.1:1, 127.0.0.1:2",
    ] {
        let text = format!("name = \"a\"\nshare_dir = \"s\"\ndirectory = \"{addr}\"");
        assert!(peer(&text).is_ok(), "{addr} refused");
    }
    // The one rule for advertised addresses, with the line and a caret.
    let msg = peer("name = \"a\"\nshare_dir = \"s\"\nadvertise_addr = \"http://x:1/files\"")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("peer.toml")
            && msg.contains("advertise_addr")
            && msg.contains("http://host:port"),
        "{msg}"
    );
    for (text, limit) in [
        ("max_files_per_call = 99", "100"),
        ("max_files_per_call = 40001", "40000"),
    ] {
        let msg = server(text).unwrap_err().to_string();
        assert!(
            msg.contains("max_files_per_call") && msg.contains(limit),
            "{msg}"
        );
    }
    let c = server("max_files_per_call = 40000").unwrap();
    assert_eq!(c.max_files_per_call, 40_000);
}

#[test]
fn peer_defaults() {
    let c = peer("name = \"alice\"\nshare_dir = \"data/alice/share\"").unwrap();
    assert_eq!(c.download_dir(), PathBuf::from("data/alice/share"));
    assert_eq!(c.state_dir(), PathBuf::from("data/alice/state"));
    assert!(!c.accept_uploads);
    assert_eq!(c.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
    assert_eq!((c.rescan_secs, c.settle_secs), (60, 2));
}

#[test]
fn example_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    ServerConfig::load(&root.join("server.toml")).unwrap();
    for n in 1..=3 {
        let c = PeerConfig::load(&root.join(format!("peer{n}.toml"))).unwrap();
        // What README says, from the repository root: data/peerN/...
        let repo = root.parent().unwrap().canonicalize().unwrap();
        let data = repo.join("data").join(format!("peer{n}"));
        assert_eq!(c.share_dir, data.join("share"));
        assert_eq!(c.state_dir(), data.join("state"));
    }
}

#[test]
fn random_config_text_is_accepted_or_refused_naming_the_file() {
    let mut rng = crate::fuzz::Rng(0x0dd_ba11_cafe_f00d);
    let keys = [
        "name",
        "share_dir",
        "listen",
        "lease_secs",
        "http_workers",
        "max_connections",
        "http_timeout_secs",
        "upload_rate_limit",
        "follow_symlinks",
        "max_results",
        "search_rate",
        "[x]",
        "= ",
        "\"",
        "'",
        "#",
        "127.0.0.1:0",
        "true",
        "-1",
        "1e9",
        "0",
    ];
    for _ in 0..5_000 {
        let text = (0..rng.below(6))
            .map(|_| format!("{} = {}\n", keys[rng.below(keys.len())], rng.text(&keys)))
            .collect::<String>();
        for result in [
            server(&text).map(|_| ()),
            peer(&format!("name = \"p\"\nshare_dir = \"s\"\n{text}")).map(|_| ()),
        ] {
            if let Err(e) = result {
                let msg = e.to_string();
                assert!(msg.contains(".toml"), "{text:?}: {msg}");
            }
        }
    }
}

#[test]
fn relative_paths_are_taken_from_the_config_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("config");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pw"), "a long phrase only we know\n").unwrap();
    let file = folder.join("alice.toml");
    std::fs::write(
        &file,
        "name = \"alice\"\nshare_dir = \"../data/share\"\ndownload_dir = \"dl\"\ngroup_password_file = \"pw\"\n",
    )
    .unwrap();
    let c = PeerConfig::load(&file).unwrap();
    let (dir, folder) = (
        dir.path().canonicalize().unwrap(),
        folder.canonicalize().unwrap(),
    );
    assert_eq!(c.share_dir, dir.join("data/share"));
    assert_eq!(c.download_dir(), folder.join("dl"));
    assert_eq!(c.state_dir(), folder.join("data/alice/state"));
    assert_eq!(
        c.group_password.as_deref(),
        Some("a long phrase only we know")
    );
    // An absolute path stays as it is.
    let abs = dir.join("elsewhere");
    let text = format!("name = \"a\"\nshare_dir = \"{}\"", abs.display());
    std::fs::write(&file, text).unwrap();
    assert_eq!(PeerConfig::load(&file).unwrap().share_dir, abs);
    let server_file = folder.join("server.toml");
    std::fs::write(&server_file, "group_password_file = \"pw\"\n").unwrap();
    let s = ServerConfig::load(&server_file).unwrap();
    assert_eq!(
        s.group_password.as_deref(),
        Some("a long phrase only we know")
    );
}

#[test]
fn a_state_folder_inside_the_share_is_refused_with_the_key_named() {
    for (text, key) in [
        ("share_dir = \"s\"\nstate_dir = \"s/state\"", "`state_dir`"),
        ("share_dir = \"s\"\nstate_dir = \"s\"", "`state_dir`"),
        (
            "share_dir = \"s\"\nstate_dir = \"x/../s/./st\"",
            "`state_dir`",
        ),
        // The default state folder, data/<name>/state, is below this share.
        ("share_dir = \"data\"", "`share_dir`"),
    ] {
        let msg = peer(&format!("name = \"a\"\n{text}"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(key) && msg.contains("inside the share"),
            "{text}: {msg}"
        );
    }
    peer("name = \"a\"\nshare_dir = \"s\"\nstate_dir = \"state\"").unwrap();
    peer("name = \"a\"\nshare_dir = \"s\"\nstate_dir = \"s2\"").unwrap();
}

#[test]
fn further_shared_folders_are_named_apart_and_never_overlap() {
    let with = |dirs: &str| {
        peer(&format!(
            "name = \"a\"\nshare_dir = \"s\"\nstate_dir = \"st\"\n{dirs}"
        ))
    };
    let c = with("[[share_dirs]]\nname = \"Music\"\npath = \"m\"\n[[share_dirs]]\nname = \"Photos\"\npath = \"p\"")
        .unwrap();
    assert_eq!(
        c.extra_shares(),
        vec![
            ("Music".to_string(), PathBuf::from("m")),
            ("Photos".to_string(), PathBuf::from("p"))
        ]
    );
    for (dirs, problem) in [
        ("[[share_dirs]]\nname = \"a/b\"\npath = \"m\"", "top folder"),
        ("[[share_dirs]]\nname = \"M\"\npath = \"m\"\n[[share_dirs]]\nname = \"m\"\npath = \"n\"", "two folders"),
        ("[[share_dirs]]\nname = \"M\"\npath = \"s/inner\"", "overlap"),
        ("[[share_dirs]]\nname = \"M\"\npath = \"./s\"", "overlap"),
        ("[[share_dirs]]\nname = \"M\"\npath = \"st\"", "inside"),
        ("[[share_dirs]]\nname = \"M\"", "path"),
    ] {
        let msg = with(dirs).unwrap_err().to_string();
        assert!(msg.contains(problem), "{dirs}: {msg}");
    }
}
