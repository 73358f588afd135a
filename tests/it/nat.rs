//! Behind real NAT, in network namespaces this test makes (as root; CI is):
//! the directory, the relay (the `relay` binary) and bob on a "public"
//! link (203.0.113.0/24), alice behind one router that masquerades her
//! connections (198.51.100.0/24) and carol behind another (192.0.2.0/24),
//! all on the example configs with only addresses, folders and the relay's
//! rate changed. Alice logs in under the default config and is listed as
//! firewalled at the router's address (never her private one); carol,
//! firewalled too, downloads alice's 64 MiB file through the relay, which
//! is killed in the middle and started again, while a tap on its link
//! records every byte (no name, no byte of the file in it); the relay's
//! sessions-per-peer cap refuses the ninth session, saying why; carol
//! downloads bob's file directly; bob downloads alice's file through a
//! reverse connection (she connects out to him), each summary naming the
//! path; alice downloads from bob through her NAT; a Login advertising a
//! host that is neither its own nor reachable is refused; a peer at home
//! whose port the router forwards is reachable, listed at the router's
//! address, and downloaded from. Only documentation ranges, no route out
//! of the namespaces, and the namespaces are deleted even when the test
//! fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::*;
use crate::tls::unguessable;

const DIRECTORY_IP: &str = "203.0.113.10";
const ROUTER_PUBLIC_IP: &str = "203.0.113.1";
const ROUTER_PRIVATE_IP: &str = "198.51.100.1";
const ALICE_IP: &str = "198.51.100.2";
const ROUTER2_PUBLIC_IP: &str = "203.0.113.2";
const ROUTER2_PRIVATE_IP: &str = "192.0.2.1";
const CAROL_IP: &str = "192.0.2.2";
/// The relay (the `relay` binary, on the public side), and the recording
/// tap in front of it, which is where the directory sends peers.
const RELAY_ADDR: &str = "203.0.113.10:7010";
const TAP_ADDR: &str = "203.0.113.10:7011";

/// The second router's nftables: masquerade only, no port forwarded.
const ROUTER2_RULES: &str = r#"table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan3" ip saddr 192.0.2.0/24 masquerade
  }
}
"#;

/// The router's nftables: masquerade what leaves for the public side, and
/// forward one port (7004) to alice's machine, as a home router set up
/// for it would.
const ROUTER_RULES: &str = r#"table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan1" ip saddr 198.51.100.0/24 masquerade
  }
  chain pre {
    type nat hook prerouting priority -100;
    iifname "wan1" tcp dport 7004 dnat to 198.51.100.2:7004
  }
}
"#;

/// Whether namespaces can be made here; `None` says why not.
fn namespaces_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!(
                "`{tool}` is not installed (apt-get install -y iproute2 nftables)"
            ));
        }
    }
    None
}

/// Runs a command that must succeed.
fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Five namespaces: `public` (the directory, bob, on a bridge), `router`
/// (NAT 1) and `home` (alice) behind it, `router2` (NAT 2) and `home2`
/// (carol) behind that. Deleted when dropped.
struct Topology {
    public: String,
    router: String,
    home: String,
    router2: String,
    home2: String,
}

impl Topology {
    fn build() -> Topology {
        let tag = std::process::id();
        let t = Topology {
            public: format!("hs{tag}pub"),
            router: format!("hs{tag}nat"),
            home: format!("hs{tag}home"),
            router2: format!("hs{tag}nat2"),
            home2: format!("hs{tag}home2"),
        };
        for ns in t.all() {
            must(&["ip", "netns", "add", ns]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // public <-> router, home <-> router.
        must(&[
            "ip", "link", "add", "wan0", "netns", &t.public, "type", "veth", "peer", "name",
            "wan1", "netns", &t.router,
        ]);
        must(&[
            "ip", "link", "add", "lan0", "netns", &t.home, "type", "veth", "peer", "name", "lan1",
            "netns", &t.router,
        ]);
        // public <-> router2, home2 <-> router2; the public side's two
        // links on one bridge.
        must(&[
            "ip", "link", "add", "wan2", "netns", &t.public, "type", "veth", "peer", "name",
            "wan3", "netns", &t.router2,
        ]);
        must(&[
            "ip", "link", "add", "lan2", "netns", &t.home2, "type", "veth", "peer", "name", "lan3",
            "netns", &t.router2,
        ]);
        must(&[
            "ip", "-n", &t.public, "link", "add", "br0", "type", "bridge",
        ]);
        for dev in ["wan0", "wan2"] {
            must(&["ip", "-n", &t.public, "link", "set", dev, "master", "br0"]);
            must(&["ip", "-n", &t.public, "link", "set", dev, "up"]);
        }
        let addr = |ns: &str, ip: &str, dev: &str| {
            must(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                dev,
            ]);
            must(&["ip", "-n", ns, "link", "set", dev, "up"]);
        };
        addr(&t.public, DIRECTORY_IP, "br0");
        addr(&t.router, ROUTER_PUBLIC_IP, "wan1");
        addr(&t.router, ROUTER_PRIVATE_IP, "lan1");
        addr(&t.home, ALICE_IP, "lan0");
        addr(&t.router2, ROUTER2_PUBLIC_IP, "wan3");
        addr(&t.router2, ROUTER2_PRIVATE_IP, "lan3");
        addr(&t.home2, CAROL_IP, "lan2");
        // Alice goes out through the router; the public side has no route
        // to her network (that is what NAT means), and nobody has a route
        // out of these namespaces.
        for (home, router, via, rules) in [
            (&t.home, &t.router, ROUTER_PRIVATE_IP, ROUTER_RULES),
            (&t.home2, &t.router2, ROUTER2_PRIVATE_IP, ROUTER2_RULES),
        ] {
            must(&["ip", "-n", home, "route", "add", "default", "via", via]);
            must(&[
                "ip",
                "netns",
                "exec",
                router,
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ]);
            let file = tempfile::NamedTempFile::new().unwrap();
            fs::write(file.path(), rules).unwrap();
            must(&[
                "ip",
                "netns",
                "exec",
                router,
                "nft",
                "-f",
                file.path().to_str().unwrap(),
            ]);
        }
        t
    }

    fn all(&self) -> [&String; 5] {
        [
            &self.public,
            &self.router,
            &self.home,
            &self.router2,
            &self.home2,
        ]
    }

    /// `program args` inside namespace `ns`.
    fn command(ns: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.all() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// One of the example configs (`config/NAME.toml`), copied into `root`'s
/// `config/` with `swaps` made (address lines only); folders stay as the
/// example has them (`../data/...`, below `root`).
fn example_config(root: &Path, name: &str, swaps: &[(&str, &str)]) -> PathBuf {
    example_config_as(root, name, name, swaps)
}

/// [`example_config`], written as `config/AS.toml`.
fn example_config_as(root: &Path, name: &str, as_name: &str, swaps: &[(&str, &str)]) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(format!("{name}.toml"));
    let mut text = fs::read_to_string(example).unwrap();
    for (from, to) in swaps {
        assert!(text.contains(from), "{name}.toml has no {from}");
        text = text.replacen(from, to, 1);
    }
    let dir = root.join("config");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{as_name}.toml"));
    fs::write(&path, text).unwrap();
    path
}

/// `f` run on a thread of this process moved into namespace `ns` (threads
/// it starts stay there: a tap listening inside it).
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            let file = fs::File::open(format!("/run/netns/{ns}")).unwrap();
            // SAFETY: a valid namespace fd; setns moves this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    })
}

/// A peer's one-shot subcommand, in its namespace.
fn peer_run(ns: &str, config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend(args);
    Topology::command(ns, PEER, &all).output().unwrap()
}

/// `search --json WORDS` by the peer of `config` in `ns`, repeated until
/// its first hit's first source is `peer` (30 s at most); the last answer.
fn searched_until_listed(ns: &str, config: &Path, words: &[&str], peer: &str) -> serde_json::Value {
    let mut args = vec!["search", "--json"];
    args.extend(words);
    let mut found = serde_json::Value::Null;
    eventually(
        Duration::from_secs(30),
        &format!("{peer} listed for {words:?}"),
        || {
            let out = peer_run(ns, config, &args);
            found = serde_json::from_slice(&out.stdout).unwrap_or_default();
            found["hits"][0]["sources"][0]["peer"] == peer
        },
    );
    found
}

#[test]
fn behind_nat_a_peer_logs_in_firewalled_is_searchable_and_downloads() {
    if let Some(why) = namespaces_unavailable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the NAT tests, but: {why}"
        );
        eprintln!("SKIPPED: the NAT test needs network namespaces: {why}");
        return;
    }
    let t = Topology::build();
    let root = tempfile::tempdir().unwrap();
    let dir_addr = format!("{DIRECTORY_IP}:50051");
    let server = example_config(
        root.path(),
        "server",
        &[
            (
                "listen = \"127.0.0.1:50051\"",
                &format!("listen = \"{dir_addr}\""),
            ),
            (
                "# [relay]\n# listen = \"0.0.0.0:7010\"\n# addr = \"relay.example.org:7010\"\n# secret_file",
                &format!("[relay]\n# listen = \"0.0.0.0:7010\"\naddr = \"{TAP_ADDR}\"\nsecret_file"),
            ),
        ],
    );
    // The relay run apart, capped at 16 MiB/s so a download through it
    // lasts long enough to kill it in the middle; peers reach it through
    // a tap that records every byte.
    let relay_config = example_config(
        root.path(),
        "relay",
        &[
            (
                "listen = \"127.0.0.1:7010\"",
                &format!("listen = \"{RELAY_ADDR}\""),
            ),
            ("total_rate = 134217728", "total_rate = 16777216"),
        ],
    );
    let start_relay = || {
        Proc::spawn(Topology::command(
            &t.public,
            RELAY,
            &["--config", relay_config.to_str().unwrap()],
        ))
    };
    let mut relay = start_relay();
    let tap = in_namespace(&t.public, || Relay::start_on(TAP_ADDR, RELAY_ADDR));
    let directory = Proc::spawn(Topology::command(
        &t.public,
        SERVER,
        &["--config", server.to_str().unwrap()],
    ));
    let to_directory = (
        "directory = \"127.0.0.1:50051\"",
        format!("directory = \"{dir_addr}\""),
    );
    // Alice (peer1) at home, bob (peer2) on the public side.
    let alice = example_config(
        root.path(),
        "peer1",
        &[
            (to_directory.0, &to_directory.1),
            (
                "listen = \"127.0.0.1:7001\"",
                &format!("listen = \"{ALICE_IP}:7001\""),
            ),
        ],
    );
    let bob = example_config(
        root.path(),
        "peer2",
        &[
            (to_directory.0, &to_directory.1),
            (
                "listen = \"127.0.0.1:7002\"",
                &format!("listen = \"{DIRECTORY_IP}:7002\""),
            ),
        ],
    );
    let data = root.path().join("data");
    let notes = unguessable(64 << 20, "alice behind nat");
    let songs = unguessable(600_000, "bob in public");
    fs::create_dir_all(data.join("peer1/share")).unwrap();
    fs::create_dir_all(data.join("peer2/share")).unwrap();
    fs::write(data.join("peer1/share/home notes.txt"), &notes).unwrap();
    fs::write(data.join("peer2/share/public songs.txt"), &songs).unwrap();
    let alice_proc = Proc::spawn(Topology::command(
        &t.home,
        PEER,
        &["--config", alice.to_str().unwrap(), "serve"],
    ));
    let _bob_proc = Proc::spawn(Topology::command(
        &t.public,
        PEER,
        &["--config", bob.to_str().unwrap(), "serve"],
    ));

    // Alice's files are searchable, her source marked firewalled at the
    // router's address; her private address is never handed out.
    let found = searched_until_listed(&t.public, &bob, &["home", "notes"], "peer1");
    let source = &found["hits"][0]["sources"][0];
    assert_eq!(source["firewalled"], true, "{found}");
    assert_eq!(
        source["http_addr"],
        format!("https://{ROUTER_PUBLIC_IP}:7001"),
        "{found}"
    );
    assert!(!found.to_string().contains(ALICE_IP), "{found}");
    eventually(Duration::from_secs(10), "the directory's reason", || {
        directory.logged(&format!(
            "login: peer1 is firewalled: nothing answers at {ROUTER_PUBLIC_IP}:7001"
        )) == 1
    });
    assert!(alice_proc.logged("the directory cannot reach this peer") >= 1);
    // Her status says so, and where she is listed.
    let out = peer_run(&t.home, &alice, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["reachable"], false, "{status}");
    assert_eq!(
        status["listed_at"],
        format!("https://{ROUTER_PUBLIC_IP}:7001"),
        "{status}"
    );
    assert_eq!(status["http_addr"], format!("https://{ALICE_IP}:7001"));
    let out = peer_run(&t.home, &alice, &["status"]);
    assert!(
        said(&out).contains("reachable: no: firewalled"),
        "{}",
        said(&out)
    );

    // Carol, behind a second NAT, is firewalled too: she downloads alice's
    // 64 MiB file through the directory's relay, verified, saved outside
    // her share (so bob's download below has alice alone to take it from).
    let carol = example_config_as(
        root.path(),
        "peer3",
        "carol",
        &[
            ("name = \"peer3\"", "name = \"carol\""),
            ("directory = \"127.0.0.1:50051\"", &to_directory.1),
            (
                "listen = \"127.0.0.1:7003\"",
                &format!("listen = \"{CAROL_IP}:7005\""),
            ),
            (
                "share_dir = \"../data/peer3/share\"",
                "share_dir = \"../data/carol/share\"",
            ),
            (
                "state_dir = \"../data/peer3/state\"",
                "state_dir = \"../data/carol/state\"",
            ),
            (
                "# download_dir = \"../data/peer3/downloads\"",
                "download_dir = \"../data/carol/downloads\"",
            ),
        ],
    );
    fs::create_dir_all(data.join("carol/share")).unwrap();
    let carol_proc = Proc::spawn(Topology::command(
        &t.home2,
        PEER,
        &["--config", carol.to_str().unwrap(), "serve"],
    ));
    eventually(
        Duration::from_secs(20),
        "carol logged in firewalled",
        || carol_proc.logged("the directory cannot reach this peer") >= 1,
    );
    searched_until_listed(&t.home2, &carol, &["home", "notes"], "peer1");
    let get = Topology::command(
        &t.home2,
        PEER,
        &["--config", carol.to_str().unwrap(), "get", &b3(&notes)],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // The relay is killed in the middle, and started again.
    eventually(Duration::from_secs(30), "8 MB relayed", || {
        in_namespace(&t.public, || crate::relay::relay_metrics(RELAY_ADDR))
            .get("hubshare_relay_bytes_total")
            .is_some_and(|b| *b > 8e6)
    });
    relay.signal_and_wait("-KILL");
    drop(relay);
    let relay = start_relay();
    let out = get.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("from peer1 (relayed): "),
        "{}",
        said(&out)
    );
    let got = fs::read(data.join("carol/downloads/home notes.txt")).unwrap();
    assert_eq!(b3(&got), b3(&notes));
    let again = in_namespace(&t.public, || crate::relay::relay_metrics(RELAY_ADDR));
    assert!(again["hubshare_relay_sessions_total"] >= 1.0, "{again:?}");
    assert!(
        alice_proc.logged(&format!(
            "connected out to carol through the relay at https://{TAP_ADDR}"
        )) >= 1,
        "{}",
        alice_proc.log_text()
    );
    // The tap on the relay's link carried it, and saw no name and no byte
    // of the file.
    let seen = tap.recorded();
    assert!(
        seen.len() > notes.len() / 2,
        "the tap saw {} bytes",
        seen.len()
    );
    assert!(!contains(&seen, b"home notes"));
    for at in [0, notes.len() / 3, notes.len() / 2, notes.len() - 64] {
        assert!(!contains(&seen, &notes[at..at + 64]), "file bytes at {at}");
    }
    // A cap: sessions per peer (8 in relay.toml) refuses the ninth, saying so.
    let secret = fs::read_to_string(root.path().join("data/relay/secret")).unwrap();
    in_namespace(&t.public, || {
        let (src, dl) = (
            hubshare::KeyPrint::of_spki(b"one source"),
            hubshare::KeyPrint::of_spki(b"one downloader"),
        );
        let mut open = Vec::new();
        for _ in 0..8 {
            let (answer, d, s) = crate::relay::meet(RELAY_ADDR, secret.trim().as_bytes(), src, dl);
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
            open.push((d, s));
        }
        let (answer, _, _) = crate::relay::meet(RELAY_ADDR, secret.trim().as_bytes(), src, dl);
        assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
        assert!(answer.contains("sessions_per_peer"), "{answer}");
    });
    drop(relay);
    // And bob's file directly, out through her NAT.
    let out = peer_run(&t.home2, &carol, &["get", &b3(&songs)]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("from peer2 (direct): "),
        "{}",
        said(&out)
    );
    let got = fs::read(data.join("carol/downloads/public songs.txt")).unwrap();
    assert_eq!(b3(&got), b3(&songs));

    // Bob downloads her 64 MiB file all the same: she connects out to him
    // through her NAT (a reverse connection), verified, and his summary
    // names the path.
    let out = peer_run(&t.public, &bob, &["get", &b3(&notes)]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("from peer1 (reverse): "),
        "{}",
        said(&out)
    );
    let got = fs::read(data.join("peer2/share/home notes.txt")).unwrap();
    assert_eq!(b3(&got), b3(&notes));
    assert!(
        alice_proc.logged(&format!(
            "connected out to peer2 at https://{DIRECTORY_IP}:7002"
        )) >= 1,
        "{}",
        alice_proc.log_text()
    );

    // She downloads from him, out through the NAT, verified.
    eventually(Duration::from_secs(30), "bob's songs searchable", || {
        let out = peer_run(&t.home, &alice, &["search", "--json", "public", "songs"]);
        String::from_utf8_lossy(&out.stdout).contains("peer2")
    });
    let out = peer_run(&t.home, &alice, &["get", &b3(&songs)]);
    assert!(out.status.success(), "{}", said(&out));
    let got = fs::read(data.join("peer1/share/public songs.txt")).unwrap();
    assert_eq!(b3(&got), b3(&songs));

    // A Login that advertises a host that is neither its own address nor
    // the router's is refused, saying which address to use.
    let stranger = example_config(
        root.path(),
        "peer3",
        &[
            ("directory = \"127.0.0.1:50051\"", &to_directory.1),
            (
                "listen = \"127.0.0.1:7003\"",
                &format!("listen = \"{ALICE_IP}:7003\""),
            ),
            (
                "# advertise_addr = \"https://192.0.2.10:7003\"",
                "advertise_addr = \"https://203.0.113.99:7003\"",
            ),
        ],
    );
    fs::create_dir_all(data.join("peer3/share")).unwrap();
    let stranger_proc = Proc::spawn(Topology::command(
        &t.home,
        PEER,
        &["--config", stranger.to_str().unwrap(), "serve"],
    ));
    eventually(Duration::from_secs(20), "peer3 refused", || {
        stranger_proc.logged(&format!(
            "https://203.0.113.99:7003 is not this peer's own address: the Login came from {ROUTER_PUBLIC_IP}"
        )) >= 1
    });
    let out = peer_run(&t.public, &bob, &["peers", "--json"]);
    assert!(!said(&out).contains("peer3"), "{}", said(&out));

    // With the port forwarded, a peer at home is reachable, listed at the
    // router's address, and bob downloads from it.
    let dave = example_config_as(
        root.path(),
        "peer3",
        "dave",
        &[
            ("name = \"peer3\"", "name = \"dave\""),
            ("directory = \"127.0.0.1:50051\"", &to_directory.1),
            (
                "listen = \"127.0.0.1:7003\"",
                &format!("listen = \"{ALICE_IP}:7004\""),
            ),
            (
                "share_dir = \"../data/peer3/share\"",
                "share_dir = \"../data/dave/share\"",
            ),
            (
                "state_dir = \"../data/peer3/state\"",
                "state_dir = \"../data/dave/state\"",
            ),
        ],
    );
    let recipes = unguessable(300_000, "dave's forwarded port");
    fs::create_dir_all(data.join("dave/share")).unwrap();
    fs::write(data.join("dave/share/forwarded recipes.txt"), &recipes).unwrap();
    let _dave_proc = Proc::spawn(Topology::command(
        &t.home,
        PEER,
        &["--config", dave.to_str().unwrap(), "serve"],
    ));
    let found = searched_until_listed(&t.public, &bob, &["forwarded", "recipes"], "dave");
    let source = &found["hits"][0]["sources"][0];
    assert_eq!(source["firewalled"], serde_json::Value::Null, "{found}");
    assert_eq!(
        source["http_addr"],
        format!("https://{ROUTER_PUBLIC_IP}:7004")
    );
    let out = peer_run(&t.public, &bob, &["get", &b3(&recipes)]);
    assert!(out.status.success(), "{}", said(&out));
    let got = fs::read(data.join("peer2/share/forwarded recipes.txt")).unwrap();
    assert_eq!(b3(&got), b3(&recipes));
    // The processes go first, then the namespaces (`t` was made first).
}
