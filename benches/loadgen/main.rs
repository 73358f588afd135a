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
//! `--connections` (default 4) spreads the client threads over that many
//! connections; `--query Q` sends only that query; `--in-process-only`
//! times the searches in process only; `--server-bin PATH` runs another
//! build of the server; `--redis` makes the directory a replica on a Redis
//! of the load generator's own.
//!
//!     cargo bench --bench loadgen -- --peers 10000 --files 100 --threads 1,16 --secs 10
//!
//! `--in-process-only --expire-all` then lets every lease lapse and times
//! the sweep that ends them, and the searches made beside it.
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
//! `--restart` fills a directory on its defaults with peers that
//! heartbeat, times searches with their heartbeats held back and flowing,
//! then restarts it and times every peer logging in again (see
//! `restart.rs`):
//!
//!     cargo bench --bench loadgen -- --restart --peers 100000 --files 100 --threads 1 --secs 5
//!
//! Every process it starts dies with it, however it ends (Ctrl-C, a kill,
//! a panic): they are started with `PR_SET_PDEATHSIG`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hubshare::fuzz::Rng;
use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;

mod big_share;
mod data;
mod in_process;
mod measure;
mod procs;
mod restart;
mod soak;

use data::*;
use in_process::in_process;
use measure::*;
use procs::*;
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
    /// Every third word of the vocabulary accented (`bé`, `stöu`): names
    /// the index folds (to measure what folding costs).
    #[arg(long)]
    accents: bool,
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
    /// Fill a directory on its defaults with peers that heartbeat, time
    /// searches with their heartbeats held back and flowing, then restart
    /// it and time the peers logging in again (see `restart.rs`).
    #[arg(long, conflicts_with_all = ["directory", "soak", "big_share", "redis", "tls"])]
    restart: bool,
    /// With --restart: the directory's lease in seconds (it asks for a
    /// heartbeat every third of it); without it, its default (30 s).
    #[arg(long, requires = "restart")]
    lease: Option<u32>,
    /// With --restart: the simulated peers hold no notice stream (as
    /// `tls = false` peers), so each finds out about the restart at its
    /// next heartbeat rather than within `CHECK_SPREAD`.
    #[arg(long = "no-notices", requires = "restart")]
    no_notices: bool,
    /// Time one real peer sharing this many small files logging in to a
    /// directory on its default limits, instead (see `big_share.rs`).
    #[arg(long, conflicts_with = "directory")]
    big_share: Option<usize>,
    /// Pin the directory it starts to core 0 and itself to core 1 (a
    /// latency then measures the server, not the two fighting over cores).
    #[arg(long, conflicts_with = "directory")]
    pin: bool,
    /// Send (and time in process) only this query instead of the mix.
    #[arg(long)]
    query: Option<String>,
    /// Print the slowest in-process searches.
    #[arg(long)]
    slowest: bool,
    /// Time the searches in process only (the index's answer and its
    /// encoded reply), without starting a directory.
    #[arg(long = "in-process-only")]
    in_process_only: bool,
    /// After the in-process searches, let every peer's lease lapse and
    /// time the sweep that ends them all, with a thread searching beside
    /// it: how long a search waited behind the sweep.
    #[arg(long = "expire-all")]
    expire_all: bool,
    /// Run this build of the server instead of this tree's (to compare two
    /// builds in one run).
    #[arg(long = "server-bin")]
    server_bin: Option<std::path::PathBuf>,
    /// `RUST_LOG` of the processes it starts.
    #[arg(long = "child-log", default_value = "warn")]
    child_log: String,
    /// The directory is a replica on a `redis-server` of the load
    /// generator's own (also prints Redis's memory and a second replica's
    /// cold start).
    #[arg(long, conflicts_with = "directory")]
    redis: bool,
    /// gRPC connections the search threads are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// The directory it starts speaks TLS (the default of a real one),
    /// every client shows a certificate and the simulated peers advertise
    /// `https://` addresses, so each source in a reply carries its
    /// keyprint (in the in-process phase too); without it, `tls = false`.
    #[arg(long, conflicts_with = "directory")]
    tls: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
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
    configure(Launch {
        server_bin: args
            .server_bin
            .clone()
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_server").into()),
        child_log: args.child_log.clone(),
    });
    if let Some(secs) = args.soak {
        soak::run(&args, secs);
        return;
    }
    if args.restart {
        restart::run(&args);
        return;
    }
    if let Some(files) = args.big_share {
        big_share::run(files);
        return;
    }
    // The vocabulary and catalogue depend on the seed alone.
    let mut rng = Rng(args.seed | 1);
    let mut vocab = vocabulary(&mut rng);
    if args.accents {
        accent(&mut vocab);
    }
    let entries = args.peers * args.files;
    let cat_size = if args.unique {
        entries
    } else {
        (entries / 4).max(1)
    };
    if args.in_process_only {
        let cat = catalogue(cat_size, &mut rng, &vocab);
        in_process(&args, &cat, &vocab);
        return;
    }
    let redis = args.redis.then(start_redis);
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
            let mut config = match &redis {
                Some((_, url)) => {
                    format!("{BENCH_SERVER_CONFIG}store = \"redis\"\nredis_url = \"{url}\"\n")
                }
                None => BENCH_SERVER_CONFIG.to_string(),
            };
            if args.tls {
                config.push_str("tls = true\nstate_dir = \"state\"\n");
            }
            let (child, addr, tmp) = start_server(&config);
            if args.tls {
                use_tls(&tmp.path().join("state/tls.crt"));
                println!("TLS: every connection, each client showing a certificate");
            }
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

    let fill_secs = fill(&args, &cat, &addr);
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

    search_runs(&args, &addr, &vocab, &cat);
    if let Some(kib) = rss() {
        println!("server RSS at the end: {} MiB", kib / 1024);
    }
    in_process(&args, &cat, &vocab);
    drop(own);
}

/// The fill: each peer logs in with its files, from several threads.
/// Returns how long it took, in seconds.
fn fill(args: &Args, cat: &Arc<Vec<CatalogueFile>>, addr: &str) -> f64 {
    let t = Instant::now();
    let fill_threads = 8;
    let next = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..fill_threads)
        .map(|_| {
            let (cat, next, addr) = (cat.clone(), next.clone(), addr.to_string());
            let (peers, files, unique, seed) = (args.peers, args.files, args.unique, args.seed);
            std::thread::spawn(move || {
                let c = client(&addr);
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if p >= peers {
                        return;
                    }
                    let picked = pick_files(&mut peer_rng(seed, p), p, files, cat.len(), unique);
                    let req = pb::LoginRequest {
                        name: format!("peer{p:05}"),
                        http_addr: sim_peer_addr(10000 + p % 50000),
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
    t.elapsed().as_secs_f64()
}

/// One run of search threads per `--threads` value, each `--secs` long.
fn search_runs(args: &Args, addr: &str, vocab: &[String], cat: &Arc<Vec<CatalogueFile>>) {
    // Searches: the client threads share one gRPC environment (two pollers)
    // and spread over --connections connections (default 4), as many
    // peers would; one connection's calls all land on one server poller.
    let connections = args.connections;
    let env = Arc::new(grpcio::Environment::new(2));
    let channels: Vec<DirectoryClient> = (0..connections.max(1))
        .map(|_| {
            DirectoryClient::new(connect(
                grpcio::ChannelBuilder::new(env.clone())
                    .use_local_subchannel_pool(true)
                    .max_receive_message_len(16 << 20),
                addr,
            ))
        })
        .collect();
    for &threads in &args.threads {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let results = Arc::new(AtomicU64::new(0));
        let (sampled, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (stop, errors, results, c, vocab, cat) = (
                    stop.clone(),
                    errors.clone(),
                    results.clone(),
                    channels[k % channels.len()].clone(),
                    vocab.to_vec(),
                    cat.clone(),
                );
                let (sampled, bytes) = (sampled.clone(), bytes.clone());
                let seed = args.seed + 7 * k as u64;
                let uniform = args.uniform;
                let schedule = args.rate.map(|r| Schedule::new(r, threads, k));
                // --query: send this one query instead of the mix.
                let one_query = args.query.clone();
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
                                // The reply's size, from every 64th (what TLS encrypts).
                                if sent.is_multiple_of(64) {
                                    use protobuf::Message;
                                    sampled.fetch_add(1, Ordering::Relaxed);
                                    bytes.fetch_add(u64::from(r.compute_size()), Ordering::Relaxed);
                                }
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
            "{threads:>3} threads{mode}: {:>8.0} searches/s  p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  errors {}  avg results {:.1}  avg reply {:.0} B",
            lat.len() as f64 / secs,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 0.999),
            errors.load(Ordering::Relaxed),
            results.load(Ordering::Relaxed) as f64 / lat.len().max(1) as f64,
            bytes.load(Ordering::Relaxed) as f64 / sampled.load(Ordering::Relaxed).max(1) as f64
        );
    }
}
