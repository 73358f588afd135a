//! Load generator for the directory. It starts a release `server` on a free
//! loopback port (or uses `--directory ADDR`, with `--pid PID` to measure
//! its memory), fills it with
//! `--peers` peers of `--files` files each, with realistic generated names
//! (deterministic seed; files drawn from a shared catalogue with a skewed
//! popularity, so popular files have many sources; `--unique` makes every
//! file distinct instead), then runs `--threads` (comma-separated list)
//! client threads of mixed searches for `--secs` seconds each and prints
//! calls/s, latency percentiles, errors, and the server's resident memory
//! per indexed (file, source) entry.
//!
//! The server it starts has its flood limits raised and a long lease, so the
//! numbers measure the index, not the limits or expiry.
//!
//! With `--uniform-queries`, query words are drawn uniformly from the
//! vocabulary (selective searches) rather than skewed towards the commonest
//! words (where one word is in a fifth of all names).
//!
//! With `--rate N`, the threads together offer N searches a second on a
//! fixed schedule (open loop) and latency counts from when each search was
//! due; without it each thread sends its next search as soon as the last
//! returns (closed loop), which measures the most the machine can answer.
//! `LOADGEN_CONNECTIONS` (default 4) spreads the client threads over that
//! many connections.
//!
//!     cargo bench --bench loadgen -- --peers 10000 --files 100 --threads 1,16 --secs 10
//!
//! `--pin` puts the directory on core 0 and the load generator on core 1,
//! so that a latency measures the server rather than the two processes
//! taking turns on the same cores:
//!
//!     cargo bench --bench loadgen -- --pin --threads 16 --rate 2000 --secs 20
//!
//! `--soak SECONDS` runs the soak instead (1,000 peers that log in,
//! heartbeat and announce, 16 searchers, downloads from real peers; see
//! `soak.rs`):
//!
//!     cargo bench --bench loadgen -- --soak 60
//!
//! `--big-share N` times one real peer sharing N small files logging in
//! to a directory on its default limits (see `big_share.rs`):
//!
//!     cargo bench --bench loadgen -- --big-share 300000
//!
//! Every process it starts dies with it, however it ends (Ctrl-C, a kill,
//! a panic): they are started with `PR_SET_PDEATHSIG`.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hubshare::fuzz::Rng;
use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;

mod big_share;
mod soak;

/// Load generator for the hubshare directory (see the module documentation).
#[derive(Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Simulated peers that log in during the fill.
    #[arg(long, default_value_t = 10_000)]
    peers: usize,
    /// Files each simulated peer shares.
    #[arg(long, default_value_t = 100)]
    files: usize,
    /// Search threads, one run per value (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    threads: Vec<usize>,
    /// Seconds each search run lasts.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Seed of the generated names, files and queries.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Every file distinct (no shared popular files).
    #[arg(long)]
    unique: bool,
    /// Use the directory at this address instead of starting one (its
    /// memory is measured only with --pid).
    #[arg(long)]
    directory: Option<String>,
    /// Process id of the --directory, to measure its memory.
    #[arg(long, requires = "directory")]
    pid: Option<u32>,
    /// Query words drawn uniformly from the vocabulary instead of skewed
    /// towards the most common ones.
    #[arg(long = "uniform-queries")]
    uniform: bool,
    /// Offered load in searches per second over all threads (open loop);
    /// without it each thread sends its next search as soon as the last
    /// returns.
    #[arg(long)]
    rate: Option<f64>,
    /// Soak for this many seconds instead (see `soak.rs`).
    #[arg(long, conflicts_with_all = ["directory", "big_share"])]
    soak: Option<u64>,
    /// Time one real peer sharing this many small files logging in to a
    /// directory on its default limits, instead (see `big_share.rs`).
    #[arg(long, conflicts_with = "directory")]
    big_share: Option<usize>,
    /// Pin the directory it starts to core 0 and itself to core 1 (a
    /// latency then measures the server, not the two fighting over cores).
    #[arg(long, conflicts_with = "directory")]
    pin: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// A vocabulary of pronounceable pseudo-words plus common real ones.
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let common = [
        "live",
        "remix",
        "official",
        "final",
        "report",
        "holiday",
        "photos",
        "season",
        "episode",
        "album",
        "greatest",
        "hits",
        "concert",
        "backup",
        "project",
        "notes",
        "draft",
        "budget",
        "annual",
        "summer",
        "winter",
        "night",
        "city",
        "river",
        "mountain",
        "lecture",
        "chapter",
        "volume",
        "collection",
        "deluxe",
        "edition",
        "original",
        "soundtrack",
        "documentary",
    ];
    let onsets = [
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
        "tr", "ch",
    ];
    let vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ee"];
    let codas = ["", "n", "r", "s", "l", "x", "th", "nd"];
    let mut words: Vec<String> = common.iter().map(|w| w.to_string()).collect();
    while words.len() < 6000 {
        let syllables = 2 + rng.below(2);
        let w: String = (0..syllables)
            .map(|_| {
                format!(
                    "{}{}{}",
                    onsets[rng.below(onsets.len())],
                    vowels[rng.below(vowels.len())],
                    codas[rng.below(codas.len())]
                )
            })
            .collect();
        words.push(w);
    }
    words
}

const EXTS: [&str; 14] = [
    "mp3", "flac", "mkv", "mp4", "avi", "pdf", "epub", "jpg", "png", "zip", "iso", "txt", "docx",
    "ogg",
];

fn file_name(rng: &mut Rng, vocab: &[String]) -> String {
    let w = |rng: &mut Rng| vocab[rng.skewed(vocab.len())].clone();
    let ext = EXTS[rng.below(EXTS.len())];
    match rng.below(4) {
        0 => format!("{} - {} {}.{ext}", w(rng), w(rng), w(rng)),
        1 => format!("{}_{}_{:02}.{ext}", w(rng), w(rng), rng.below(100)),
        2 => format!("{} {} ({}).{ext}", w(rng), w(rng), 1960 + rng.below(66)),
        _ => format!(
            "{}.{}.s{:02}e{:02}.{ext}",
            w(rng),
            w(rng),
            1 + rng.below(12),
            1 + rng.below(24)
        ),
    }
}

struct CatalogueFile {
    id: String,
    size: u64,
    name: String,
}

fn catalogue(n: usize, rng: &mut Rng, vocab: &[String]) -> Vec<CatalogueFile> {
    (0..n)
        .map(|i| {
            let name = file_name(rng, vocab);
            CatalogueFile {
                id: blake3::hash(format!("{i}:{name}").as_bytes())
                    .to_hex()
                    .to_string(),
                size: 1000 + rng.next_u64() % (4u64 << 30),
                name,
            }
        })
        .collect()
}

/// The query mix: single and double words (skewed towards common ones),
/// word prefixes, exclusions, extension filters, and lookups by id.
fn random_query(rng: &mut Rng, vocab: &[String], cat: &[CatalogueFile], uniform: bool) -> String {
    let w = |rng: &mut Rng| {
        let i = if uniform {
            rng.below(vocab.len())
        } else {
            rng.skewed(vocab.len())
        };
        vocab[i].clone()
    };
    match rng.below(10) {
        0 => cat[rng.below(cat.len())].id.clone(),
        1 => format!("{} ext:{}", w(rng), EXTS[rng.below(EXTS.len())]),
        2 => {
            let word = w(rng);
            let cut = word.char_indices().nth(4).map_or(word.len(), |(i, _)| i);
            word[..cut].to_string()
        }
        3 => format!("{} -{}", w(rng), w(rng)),
        4..=6 => format!("{} {}", w(rng), w(rng)),
        _ => w(rng),
    }
}

/// The same fill and query mix against the store in this process: what the
/// index costs, without gRPC and without another process on the cores.
fn in_process(args: &Args, cat: &[CatalogueFile], vocab: &[String]) {
    use hubshare::{
        DirectoryStore, EncodedReply, FileId, HttpAddr, Limits, MemoryStore, Query, SharedFile,
    };
    let store = MemoryStore::new(Limits {
        lease: Duration::from_secs(86400),
        heartbeat: Duration::from_secs(3600),
        max_results: 1000,
        max_files_per_call: 100_000,
        name_hold: Duration::from_secs(3600),
    });
    let now = Instant::now();
    let mut rng = Rng((args.seed + 1000) | 1);
    for p in 0..args.peers {
        let picked = pick_files(&mut rng, p, args.files, cat.len(), args.unique);
        let files = picked
            .iter()
            .map(|&i| SharedFile {
                id: FileId::parse(&cat[i].id).expect("catalogue id"),
                size: cat[i].size,
                name: cat[i].name.clone(),
                other_names: Vec::new(),
            })
            .collect();
        let files = store
            .limits()
            .batch(files, Vec::new())
            .expect("within limits");
        let addr = HttpAddr::parse("http://127.0.0.1:1").expect("valid address");
        store
            .login(
                &format!("peer{p:05}"),
                hubshare::IdentityKey::generate().print(),
                &addr,
                files,
                now,
            )
            .expect("in-process login");
    }
    let mut lat = Vec::new();
    let mut slowest: Vec<(u32, String, usize)> = Vec::new();
    // LOADGEN_QUERY: time this one query again and again instead of the mix.
    let one_query = std::env::var("LOADGEN_QUERY").ok();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(args.secs.min(5)) {
        let q = match &one_query {
            Some(q) => q.clone(),
            None => random_query(&mut rng, vocab, cat, args.uniform),
        };
        let started = Instant::now();
        // What the directory does for a Search: the index's answer,
        // encoded as the reply's bytes.
        let total = match Query::parse(&q) {
            Ok(query) => {
                let mut reply = EncodedReply::with_capacity(100);
                store
                    .search_each(&query, 100, &mut |hit| reply.push(&hit))
                    .map(|m| {
                        std::hint::black_box(reply.finish(m));
                        m.total
                    })
                    .unwrap_or(0)
            }
            Err(_) => 0,
        };
        let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        lat.push(micros);
        if std::env::var_os("LOADGEN_SLOWEST").is_some() {
            slowest.push((micros, q, total));
        }
    }
    slowest.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    for (micros, q, total) in slowest.iter().take(8) {
        println!("  slow: {:>6} us  {total:>6} matches  {q:?}", micros);
    }
    lat.sort_unstable();
    println!(
        "in process (index and encoded reply), 1 thread: {:>8.0} searches/s  p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms",
        lat.len() as f64 / t.elapsed().as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999)
    );
}

/// The catalogue entries peer `p` shares: distinct ones for `unique`, else
/// drawn with skewed popularity.
fn pick_files(rng: &mut Rng, p: usize, files: usize, catalogue: usize, unique: bool) -> Vec<usize> {
    let mut picked = std::collections::HashSet::new();
    while picked.len() < files.min(catalogue) {
        let i = if unique {
            p * files + picked.len()
        } else {
            rng.skewed(catalogue)
        };
        picked.insert(i);
    }
    picked.into_iter().collect()
}

/// One process's resources at one moment.
#[derive(Clone, Copy, Default)]
struct Usage {
    threads: u64,
    fds: u64,
    rss_kib: u64,
}

fn usage(pid: u32) -> Usage {
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

fn client(addr: &str) -> DirectoryClient {
    let env = Arc::new(grpcio::Environment::new(1));
    let ch = grpcio::ChannelBuilder::new(env)
        .max_receive_message_len(16 << 20)
        .max_send_message_len(16 << 20)
        .connect(addr);
    DirectoryClient::new(ch)
}

/// The benchmark's directory: flood limits out of the way, a day's lease.
const BENCH_SERVER_CONFIG: &str = "listen = \"127.0.0.1:0\"\nlease_secs = 86400\nsearch_rate = 1000000\nsearch_burst = 1000000\nannounce_rate = 1000000\nannounce_burst = 1000000\nlogin_rate = 1000000\nlogin_burst = 1000000\naddress_search_rate = 1000000\naddress_search_burst = 1000000\nmax_results = 1000\n";

/// A process this load generator started: killed and reaped when dropped,
/// and (through `PR_SET_PDEATHSIG`) killed by the kernel if the load
/// generator dies first.
struct Owned(Child);

impl Owned {
    fn id(&self) -> u32 {
        self.0.id()
    }

    /// Asks it to stop (SIGTERM: a peer logs out) and waits until it has.
    fn stop(mut self) {
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

/// Writes the config of a peer named `name` in `dir` (sharing `dir/share`,
/// its state in `dir/state`) with `extra` keys; returns its path.
fn peer_config(
    dir: &std::path::Path,
    name: &str,
    directory: &str,
    extra: &str,
) -> std::path::PathBuf {
    let config = dir.join("peer.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"{name}\"\ndirectory = \"{directory}\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"{}\"\nstate_dir = \"{}\"\n{extra}",
            dir.join("share").display(),
            dir.join("state").display()
        ),
    )
    .expect("peer config");
    config
}

/// Starts `peer serve` with `config`; returns it once it serves.
fn start_peer(config: &std::path::Path, what: &str) -> Owned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peer"));
    cmd.arg("--config").arg(config).arg("serve");
    spawn_announcing(cmd, what).0
}

/// Starts a `redis-server` of its own (`LOADGEN_REDIS=1`: the directory
/// then runs with `store = "redis"`) on a free loopback port, no
/// persistence; returns it and its URL once it answers.
fn start_redis() -> (Owned, String) {
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

/// The p50 and p99 of `n` Announce calls of one session, one at a time
/// (each adds a file and removes it again), in milliseconds.
fn announce_latency(addr: &str, n: usize) -> (f64, f64) {
    let c = client(addr);
    let login = c
        .login(&pb::LoginRequest {
            name: "writer".into(),
            http_addr: "http://127.0.0.1:9".into(),
            identity_key: hubshare::IdentityKey::generate().expose().to_string(),
            ..Default::default()
        })
        .expect("login of the writer");
    let file = pb::SharedFile {
        id: blake3::hash(b"writer's file").to_hex().to_string(),
        size: 13,
        name: "writer's file.txt".into(),
        ..Default::default()
    };
    let mut took: Vec<f64> = (0..n)
        .map(|i| {
            let mut req = pb::AnnounceRequest {
                token: login.token.clone(),
                ..Default::default()
            };
            if i % 2 == 0 {
                req.added.push(file.clone());
            } else {
                req.removed.push(file.id.clone());
            }
            let t = Instant::now();
            c.announce(&req).expect("announce");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    took.sort_by(f64::total_cmp);
    (took[n / 2], took[n * 99 / 100])
}

/// Starts a release `server` with `config_text` (`LOADGEN_SERVER`: another
/// build of it, to compare two in one run); returns it, its address and the
/// folder holding its config.
fn start_server(config_text: &str) -> (Owned, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, config_text).expect("write server config");
    let server =
        std::env::var_os("LOADGEN_SERVER").unwrap_or_else(|| env!("CARGO_BIN_EXE_server").into());
    let mut cmd = Command::new(server);
    cmd.arg("--config").arg(&config);
    let (child, addr) = spawn_announcing(cmd, "the server");
    (child, addr, dir)
}

/// Starts `cmd` (a `server` or a `peer serve`) with warnings only on
/// stderr (`LOADGEN_CHILD_LOG` sets another `RUST_LOG` for them), reads the address from the last word of its first stdout line,
/// and keeps draining stdout so it never blocks on a full pipe. The child
/// is killed when this process dies.
fn spawn_announcing(mut cmd: Command, what: &str) -> (Owned, String) {
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
        .env(
            "RUST_LOG",
            std::env::var("LOADGEN_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
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
fn pin(pid: u32, core: usize, what: &str) {
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

/// Open loop: the `n`th search of a thread is due at `began + n * interval`,
/// whenever the ones before it returned, so a slow answer also charges the
/// searches queued behind it.
struct Schedule {
    began: Instant,
    interval: Duration,
}

impl Schedule {
    /// Thread `k` of `threads` sharing `rate` searches a second, staggered.
    fn new(rate: f64, threads: usize, k: usize) -> Schedule {
        let interval = Duration::from_secs_f64(threads as f64 / rate);
        Schedule {
            began: Instant::now() + interval.mul_f64(k as f64 / threads as f64),
            interval,
        }
    }

    /// Sleeps until search `n` is due; returns when it was due.
    fn wait(&self, n: u32) -> Instant {
        let due = self.began + self.interval * n;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        due
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args = Args::parse();
    // Ctrl-C or SIGTERM end the run at once; the processes it started die
    // with it (PR_SET_PDEATHSIG).
    ctrlc::set_handler(|| {
        eprintln!("loadgen: interrupted");
        std::process::exit(130);
    })
    .expect("install the signal handler");
    if let Some(secs) = args.soak {
        soak::run(&args, secs);
        return;
    }
    if let Some(files) = args.big_share {
        big_share::run(files);
        return;
    }
    // The vocabulary and catalogue depend on the seed alone.
    let mut rng = Rng(args.seed | 1);
    let vocab = vocabulary(&mut rng);
    let entries = args.peers * args.files;
    let cat_size = if args.unique {
        entries
    } else {
        (entries / 4).max(1)
    };
    if std::env::var_os("LOADGEN_INPROC_ONLY").is_some() {
        let cat = catalogue(cat_size, &mut rng, &vocab);
        in_process(&args, &cat, &vocab);
        return;
    }
    let redis = std::env::var_os("LOADGEN_REDIS").map(|_| start_redis());
    if let Some((r, url)) = &redis {
        if args.pin {
            // Redis takes the directory's writes: on the directory's core.
            pin(r.id(), 0, "redis-server");
        }
        println!("store = \"redis\" at {url}");
    }
    let (own, addr, pid, _tmp) = match &args.directory {
        Some(a) => (None, a.clone(), args.pid, None),
        None => {
            let config = match &redis {
                Some((_, url)) => {
                    format!("{BENCH_SERVER_CONFIG}store = \"redis\"\nredis_url = \"{url}\"\n")
                }
                None => BENCH_SERVER_CONFIG.to_string(),
            };
            let (child, addr, tmp) = start_server(&config);
            let pid = child.id();
            if args.pin {
                pin(pid, 0, "the directory");
                pin(std::process::id(), 1, "the load generator");
            }
            (Some(child), addr, Some(pid), Some(tmp))
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    let rss = || pid.map(|p| usage(p).rss_kib);
    let rss_before = rss();
    println!(
        "directory {addr} ({}); generating {} catalogue files for {} peers x {} files{}",
        pid.map_or(
            "no --pid: its memory is not measured".to_string(),
            |p| format!("pid {p}")
        ),
        cat_size,
        args.peers,
        args.files,
        if args.unique {
            " (every file unique)"
        } else {
            " (skewed popularity)"
        }
    );
    let cat = Arc::new(catalogue(cat_size, &mut rng, &vocab));

    // Fill: each peer logs in with its files, from several threads.
    let t = Instant::now();
    let fill_threads = 8;
    let next = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..fill_threads)
        .map(|k| {
            let (cat, next, addr) = (cat.clone(), next.clone(), addr.clone());
            let (peers, files, unique, seed) = (args.peers, args.files, args.unique, args.seed);
            std::thread::spawn(move || {
                let c = client(&addr);
                let mut rng = Rng((seed + 1000 + k) | 1);
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if p >= peers {
                        return;
                    }
                    let picked = pick_files(&mut rng, p, files, cat.len(), unique);
                    let req = pb::LoginRequest {
                        name: format!("peer{p:05}"),
                        http_addr: format!("http://127.0.0.1:{}", 10000 + p % 50000),
                        identity_key: hubshare::IdentityKey::generate().expose().to_string(),
                        files: picked
                            .iter()
                            .map(|&i| pb::SharedFile {
                                id: cat[i].id.clone(),
                                size: cat[i].size,
                                name: cat[i].name.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    };
                    c.login(&req).expect("login during fill");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("fill thread");
    }
    let fill_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "filled {entries} (file, source) entries in {fill_secs:.1}s ({:.0} logins/s)",
        args.peers as f64 / fill_secs
    );
    if let (Some(before), Some(after)) = (rss_before, rss()) {
        println!(
            "server RSS: {} MiB before, {} MiB after: {:.0} bytes per (file, source) entry",
            before / 1024,
            after / 1024,
            (after.saturating_sub(before) * 1024) as f64 / entries as f64
        );
    }
    let (p50, p99) = announce_latency(&addr, 2000);
    println!("announce, one session, one at a time: p50 {p50:.3} ms  p99 {p99:.3} ms");
    if let Some((r, url)) = &redis {
        let redis_rss = usage(r.id()).rss_kib;
        println!("redis-server RSS: {} MiB", redis_rss / 1024);
        // A replica started now fills itself from Redis: its start-up time
        // (spawn to listening) and memory.
        let t = Instant::now();
        let config = format!("{BENCH_SERVER_CONFIG}store = \"redis\"\nredis_url = \"{url}\"\n");
        let (late, _, _tmp) = start_server(&config);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "cold start of another replica over {entries} entries: {secs:.2} s, RSS {} MiB",
            usage(late.id()).rss_kib / 1024
        );
        drop(late);
    }

    // Searches: the client threads share one gRPC environment (two pollers)
    // and spread over LOADGEN_CONNECTIONS connections (default 4), as many
    // peers would; one connection's calls all land on one server poller.
    let connections: usize = std::env::var("LOADGEN_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let env = Arc::new(grpcio::Environment::new(2));
    let channels: Vec<DirectoryClient> = (0..connections.max(1))
        .map(|_| {
            DirectoryClient::new(
                grpcio::ChannelBuilder::new(env.clone())
                    .use_local_subchannel_pool(true)
                    .max_receive_message_len(16 << 20)
                    .connect(&addr),
            )
        })
        .collect();
    for &threads in &args.threads {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let results = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (stop, errors, results, c, vocab, cat) = (
                    stop.clone(),
                    errors.clone(),
                    results.clone(),
                    channels[k % channels.len()].clone(),
                    vocab.clone(),
                    cat.clone(),
                );
                let seed = args.seed + 7 * k as u64;
                let uniform = args.uniform;
                let schedule = args.rate.map(|r| Schedule::new(r, threads, k));
                // LOADGEN_QUERY: send this one query instead of the mix.
                let one_query = std::env::var("LOADGEN_QUERY").ok();
                std::thread::spawn(move || {
                    let mut rng = Rng((seed + 99) | 1);
                    let mut lat = Vec::with_capacity(100_000);
                    let mut sent = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let due = schedule
                            .as_ref()
                            .map_or_else(Instant::now, |s| s.wait(sent));
                        sent += 1;
                        let query = match &one_query {
                            Some(q) => q.clone(),
                            None => random_query(&mut rng, &vocab, &cat, uniform),
                        };
                        let req = pb::SearchRequest {
                            query,
                            limit: 100,
                            ..Default::default()
                        };
                        match c.search(&req) {
                            Ok(r) => {
                                results.fetch_add(r.results.len() as u64, Ordering::Relaxed);
                            }
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        lat.push(due.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    lat
                })
            })
            .collect();
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(args.secs));
        stop.store(true, Ordering::Relaxed);
        let mut lat: Vec<u32> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("search thread"))
            .collect();
        let secs = t.elapsed().as_secs_f64();
        lat.sort_unstable();
        let mode = args
            .rate
            .map_or(String::new(), |r| format!(" (offered {r:.0}/s)"));
        println!(
            "{threads:>3} threads{mode}: {:>8.0} searches/s  p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  errors {}  avg results {:.1}",
            lat.len() as f64 / secs,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 0.999),
            errors.load(Ordering::Relaxed),
            results.load(Ordering::Relaxed) as f64 / lat.len().max(1) as f64
        );
    }
    if let Some(kib) = rss() {
        println!("server RSS at the end: {} MiB", kib / 1024);
    }
    in_process(&args, &cat, &vocab);
    drop(own);
}
