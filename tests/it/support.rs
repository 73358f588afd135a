//! Shared builders for the integration tests: real `server` and `peer`
//! processes on 127.0.0.1 ports chosen at run time, each peer with a temp
//! folder of its own, killed when dropped; a raw HTTP client for requests no
//! well-behaved client would send; and a direct gRPC client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubshare::proto::directory_grpc::DirectoryClient;

pub const SERVER: &str = env!("CARGO_BIN_EXE_server");
pub const PEER: &str = env!("CARGO_BIN_EXE_peer");

/// A child process that is killed and reaped when dropped.
pub struct Proc {
    pub child: Child,
    /// The last word of the first line the process printed (its address).
    pub addr: String,
    /// Every line it has written to stderr (its log) so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `cmd` and waits for its first stdout line.
    pub fn spawn(mut cmd: Command) -> Proc {
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
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
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while lines.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
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
        Proc { child, addr, log }
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

/// A directory server process on a free loopback port.
pub fn start_server() -> Proc {
    start_server_with(&["--listen", "127.0.0.1:0"])
}

/// A directory server process with these arguments.
pub fn start_server_with(args: &[&str]) -> Proc {
    let mut cmd = Command::new(SERVER);
    cmd.args(args);
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
    std::fs::write(&config, text).expect("write server config");
    let mut cmd = Command::new(SERVER);
    cmd.arg("--config").arg(&config).env("RUST_LOG", level);
    (Proc::spawn(cmd), dir)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

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
        let text = format!(
            "name = \"{name}\"\ndirectory = \"{directory}\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"{}\"\nstate_dir = \"{}\"\n{settle}{extra}\n",
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
    fn command(&self, args: &[&str]) -> Command {
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
        let mut child = self.spawn_menu();
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

/// A raw HTTP/1.1 exchange: sends `head` (request line and headers, without
/// the blank line) and `body`, returns the status code, the headers
/// (lower-cased names) and the body.
pub fn raw_http(addr: &str, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    raw_http_bytes(addr, head.as_bytes(), body)
}

/// [`raw_http`] with a head that need not be UTF-8.
pub fn raw_http_bytes(
    addr: &str,
    head: &[u8],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let host = addr.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to peer");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(format!("\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    let head = String::from_utf8_lossy(head);
    s.write_all(&req).expect("send head");
    // The server may answer and close before reading a refused body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response to {head:?}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
    let head_text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head_text.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A file as a Login or Announce carries it: named `name`, its id the hash
/// of the name.
pub fn pb_file(name: &str) -> hubshare::proto::directory::SharedFile {
    hubshare::proto::directory::SharedFile {
        id: b3(name.as_bytes()),
        size: name.len() as u64,
        name: name.to_string(),
        ..Default::default()
    }
}

/// A Login of `name` (with the name's own test key, advertising
/// 127.0.0.1) sharing `files` (see [`pb_file`]).
pub fn pb_login(name: &str, files: &[&str]) -> hubshare::proto::directory::LoginRequest {
    hubshare::proto::directory::LoginRequest {
        name: name.to_string(),
        http_addr: "http://127.0.0.1:9".to_string(),
        identity_key: key_of(name),
        files: files.iter().map(|f| pb_file(f)).collect(),
        ..Default::default()
    }
}

/// A raw gRPC client for the directory at `addr`.
pub fn grpc(addr: &str) -> DirectoryClient {
    let env = Arc::new(grpcio::Environment::new(1));
    DirectoryClient::new(grpcio::ChannelBuilder::new(env).connect(addr))
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

/// A stand-in source: an HTTP server of the test's own. It answers
/// `GET /files/{id}/pieces` with `pieces` (404 when `None`) and byte ranges
/// of `content` with 206 and an exact `Content-Range`, so the content may be
/// wrong while the protocol is right; with `cut_after`, each answer stops
/// after that many body bytes and the connection closes.
pub struct FakeSource {
    pub addr: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Default)]
pub struct Fake {
    pub content: Vec<u8>,
    pub pieces: Option<String>,
    pub cut_after: Option<usize>,
    /// Send the piece list one byte at a time, this long apart.
    pub trickle: Option<Duration>,
    /// Send the file's bytes one at a time, this long apart.
    pub trickle_bytes: Option<Duration>,
    /// The answer to `GET /files` (404 when `None`).
    pub listing: Option<String>,
    /// Answer 404 to requests for the bytes (as a peer that stopped
    /// sharing the file would), counting them.
    pub bytes_gone: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl FakeSource {
    pub fn start(fake: Fake) -> FakeSource {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake source");
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let fake = Arc::new(fake);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let fake = fake.clone();
                std::thread::spawn(move || answer(conn, &fake));
            }
        });
        FakeSource {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

fn answer(mut conn: TcpStream, fake: &Fake) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let range = head
        .lines()
        .find_map(|l| l.strip_prefix("Range: bytes="))
        .and_then(|r| r.trim().split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    let len = fake.content.len();
    let (status, extra, body): (&str, String, Vec<u8>) = if path == "/files" {
        match &fake.listing {
            Some(json) => ("200 OK", String::new(), json.as_bytes().to_vec()),
            None => ("404 Not Found", String::new(), b"no".to_vec()),
        }
    } else if path.ends_with("/pieces") {
        match &fake.pieces {
            Some(json) => ("200 OK", String::new(), json.as_bytes().to_vec()),
            None => ("404 Not Found", String::new(), b"no".to_vec()),
        }
    } else if let Some(asked) = &fake.bytes_gone {
        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ("404 Not Found", String::new(), b"not shared".to_vec())
    } else if let Some((a, b)) = range {
        let b = b.min(len - 1);
        (
            "206 Partial Content",
            format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            fake.content[a..=b].to_vec(),
        )
    } else {
        ("200 OK", String::new(), fake.content.clone())
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes());
    let upto = fake.cut_after.unwrap_or(body.len()).min(body.len());
    let gap = if path.ends_with("/pieces") {
        fake.trickle
    } else {
        fake.trickle_bytes
    };
    match gap {
        Some(gap) => {
            for b in &body[..upto] {
                if conn.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(gap);
            }
        }
        None => {
            let _ = conn.write_all(&body[..upto]);
        }
    }
}

/// The `GET /files/{id}/pieces` answer for `content`, as a real peer gives it.
pub fn piece_list_json(content: &[u8]) -> String {
    let size = content.len() as u64;
    let mut h = hubshare::pieces::PieceHasher::new(size);
    h.update(content);
    let (id, cvs) = h.finish().expect("whole content");
    serde_json::json!({
        "id": id.to_string(),
        "size": size,
        "piece_size": hubshare::pieces::piece_size(size),
        "pieces": cvs.iter().map(|cv| cv.iter().map(|b| format!("{b:02x}")).collect::<String>()).collect::<Vec<_>>(),
    })
    .to_string()
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An identity key for the raw-gRPC peer `name` (the same every time, so a
/// test can log the same peer in again).
pub fn key_of(name: &str) -> String {
    b3(format!("identity key of {name}").as_bytes())
}

/// Starts `fake` for the file `real` and registers it in the directory as
/// the peer `peer` sharing it under `name`.
pub fn fake_source(directory: &str, peer: &str, fake: Fake, real: &[u8], name: &str) -> FakeSource {
    fake_source_claiming(directory, peer, fake, &b3(real), real.len() as u64, name)
}

/// Starts `fake` and registers it as the peer `peer` sharing the file `id`
/// under `name`, claiming it is `size` bytes.
pub fn fake_source_claiming(
    directory: &str,
    peer: &str,
    fake: Fake,
    id: &str,
    size: u64,
    name: &str,
) -> FakeSource {
    use hubshare::proto::directory as pb;
    let source = FakeSource::start(fake);
    grpc(directory)
        .login(&pb::LoginRequest {
            name: peer.to_string(),
            http_addr: source.addr.clone(),
            identity_key: key_of(peer),
            files: vec![pb::SharedFile {
                id: id.to_string(),
                size,
                name: name.to_string(),
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        })
        .expect("register the fake source");
    source
}

/// A menu being driven: lines are sent one at a time, and what it printed
/// is waited for.
pub struct Menu {
    child: Child,
    stdin: std::process::ChildStdin,
    out: Arc<Mutex<String>>,
}

impl Menu {
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

    /// Sends `line` and waits for `needle` in what follows. First waits
    /// until the menu has printed all it had to say (nothing new for
    /// 150 ms), so that the answer is told apart from what came before.
    pub fn ask(&mut self, line: &str, needle: &str) -> String {
        let mut seen = self.printed().len();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = self.printed().len();
            if now == seen {
                break;
            }
            seen = now;
        }
        let from = seen;
        self.send(line);
        self.wait_for(from, needle, Duration::from_secs(20))
    }

    /// Waits for the menu to exit; returns its exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        drop(self.stdin);
        self.child.wait().expect("wait for the menu")
    }
}
