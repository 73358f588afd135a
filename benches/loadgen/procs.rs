//! The processes a run starts (a release `server`, real peers, a Redis),
//! each dying with the load generator, and reading their memory.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubshare::proto::directory_grpc::DirectoryClient;

/// One process's resources at one moment.
#[derive(Clone, Copy, Default)]
pub struct Usage {
    pub threads: u64,
    pub fds: u64,
    pub rss_kib: u64,
}

pub fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Usage {
        threads: field("Threads:"),
        fds,
        rss_kib: field("VmRSS:"),
    }
}

pub fn client(addr: &str) -> DirectoryClient {
    let env = Arc::new(grpcio::Environment::new(1));
    let builder = grpcio::ChannelBuilder::new(env)
        .max_receive_message_len(16 << 20)
        .max_send_message_len(16 << 20);
    DirectoryClient::new(connect(builder, addr))
}

/// The directory's certificate (PEM) and the clients' own certificate and
/// key, once `--tls` set them.
static TLS: std::sync::OnceLock<(String, hubshare::TlsIdentity)> = std::sync::OnceLock::new();

/// Every channel from now on speaks TLS, trusting the directory's
/// certificate in `cert` and showing one of the load generator's own.
pub fn use_tls(cert: &std::path::Path) {
    let dir = std::fs::read_to_string(cert).expect("the directory's certificate");
    let state = std::env::temp_dir().join(format!("loadgen-tls-{}", std::process::id()));
    let me = hubshare::tls::load_or_create(
        &hubshare::tls::TlsPaths::in_state(&state),
        &["loadgen".into()],
        "loadgen",
    )
    .expect("a client certificate");
    let _ = std::fs::remove_dir_all(&state);
    let _ = TLS.set((dir, me));
}

/// The address a simulated peer advertises on `port` of loopback:
/// `https://` after [`use_tls`], as real peers of a TLS directory do (so
/// each source in a reply carries its keyprint, as it does there), else
/// `http://`.
pub fn sim_peer_addr(port: usize) -> String {
    let port = u16::try_from(port).expect("a simulated peer's port fits in 16 bits");
    hubshare::HttpAddr::from_socket(([127, 0, 0, 1], port).into(), TLS.get().is_some()).to_string()
}

/// A channel to `addr`: over TLS after [`use_tls`], else plaintext.
pub fn connect(builder: grpcio::ChannelBuilder, addr: &str) -> grpcio::Channel {
    match TLS.get() {
        Some((dir, me)) => {
            let creds = grpcio::ChannelCredentialsBuilder::new()
                .root_cert(dir.clone().into_bytes())
                .cert(
                    me.cert_pem().as_bytes().to_vec(),
                    me.key_pem().as_bytes().to_vec(),
                )
                .build();
            builder
                .set_credentials(creds)
                .override_ssl_target(hubshare::tls::DIRECTORY_NAME)
                .connect(addr)
        }
        None => builder.connect(addr),
    }
}

/// The benchmark's directory: flood limits out of the way, a day's lease, no
/// connection back to the simulated peers (they listen nowhere).
pub const BENCH_SERVER_CONFIG: &str = "listen = \"127.0.0.1:0\"\nconnect_back = false\nlease_secs = 86400\nsearch_rate = 1000000\nsearch_burst = 1000000\nannounce_rate = 1000000\nannounce_burst = 1000000\nlogin_rate = 1000000\nlogin_burst = 1000000\naddress_search_rate = 1000000\naddress_search_burst = 1000000\nmax_results = 1000\n";

/// A process this load generator started: killed and reaped when dropped,
/// and (through `PR_SET_PDEATHSIG`) killed by the kernel if the load
/// generator dies first.
pub struct Owned(pub Child);

impl Owned {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Asks it to stop (SIGTERM: a peer logs out) and waits until it has.
    pub fn stop(mut self) {
        // SAFETY: a signal to our own child, which has not been reaped.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tls = false` first unless the config text says `tls`: the load is
/// measured in plaintext unless a run asks for TLS.
pub fn plaintext_unless_said(text: &str) -> String {
    if text.contains("tls =") {
        text.to_string()
    } else {
        format!("tls = false\n{text}")
    }
}

/// Writes the config of a peer named `name` in `dir` (sharing `dir/share`,
/// its state in `dir/state`) with `extra` keys; returns its path.
pub fn peer_config(
    dir: &std::path::Path,
    name: &str,
    directory: &str,
    extra: &str,
) -> std::path::PathBuf {
    let config = dir.join("peer.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"{name}\"\ndirectory = \"{directory}\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"{}\"\nstate_dir = \"{}\"\n{}",
            dir.join("share").display(),
            dir.join("state").display(),
            plaintext_unless_said(extra)
        ),
    )
    .expect("peer config");
    config
}

/// Starts `peer serve` with `config`; returns it once it serves.
pub fn start_peer(config: &std::path::Path, what: &str) -> Owned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peer"));
    cmd.arg("--config").arg(config).arg("serve");
    spawn_announcing(cmd, what).0
}

/// Starts a `redis-server` of its own (`--redis`: the directory
/// then runs with `store = "redis"`) on a free loopback port, no
/// persistence; returns it and its URL once it answers.
pub fn start_redis() -> (Owned, String) {
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null());
    // SAFETY: only prctl between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = Owned(cmd.spawn().expect("start redis-server"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, format!("redis://127.0.0.1:{port}/0"))
}

/// How the processes a run starts are started: set once by `main` from
/// `--server-bin` and `--child-log`.
pub struct Launch {
    pub server_bin: std::path::PathBuf,
    pub child_log: String,
}

static LAUNCH: std::sync::OnceLock<Launch> = std::sync::OnceLock::new();

/// Sets how processes are started (the first call wins).
pub fn configure(launch: Launch) {
    let _ = LAUNCH.set(launch);
}

fn launch() -> &'static Launch {
    LAUNCH.get_or_init(|| Launch {
        server_bin: env!("CARGO_BIN_EXE_server").into(),
        child_log: "warn".into(),
    })
}

/// Starts a release `server` with `config_text` (`--server-bin`: another
/// build of it, to compare two in one run); returns it, its address and the
/// folder holding its config.
pub fn start_server(config_text: &str) -> (Owned, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (child, addr) = start_server_in(dir.path(), config_text);
    (child, addr, dir)
}

/// [`start_server`] with its config (and state) in `dir`: a directory
/// started again where another ran.
pub fn start_server_in(dir: &std::path::Path, config_text: &str) -> (Owned, String) {
    let config = dir.join("server.toml");
    std::fs::write(&config, plaintext_unless_said(config_text)).expect("write server config");
    let mut cmd = Command::new(&launch().server_bin);
    cmd.arg("--config").arg(&config);
    spawn_announcing(cmd, "the server")
}

/// Starts `cmd` (a `server` or a `peer serve`) with warnings only on
/// stderr (`--child-log` sets another `RUST_LOG` for them), reads the address from the last word of its first stdout line,
/// and keeps draining stdout so it never blocks on a full pipe. The child
/// is killed when this process dies.
pub fn spawn_announcing(mut cmd: Command, what: &str) -> (Owned, String) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    // SAFETY: only prctl between fork and exec. The signal is tied to the
    // thread that forks: every child is started from the main thread.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = cmd
        .env("RUST_LOG", &launch().child_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines
        .read_line(&mut first)
        .unwrap_or_else(|e| panic!("address of {what}: {e}"));
    let addr = first
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("{what} printed no address"))
        .to_string();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while lines.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (Owned(child), addr)
}

/// Pins every thread of process `pid` to `core` (threads it starts later
/// inherit it); says so.
pub fn pin(pid: u32, core: usize, what: &str) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("list threads");
    let mut n = 0;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: a plain CPU mask on the stack, passed with its size.
        let ok = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        };
        assert!(
            ok,
            "pin thread {tid} of {what}: {}",
            std::io::Error::last_os_error()
        );
        n += 1;
    }
    println!("pinned {what} ({n} threads) to core {core}");
}
