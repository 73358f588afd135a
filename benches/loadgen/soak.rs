//! Soak mode: a directory and two real serving peers under a steady mixed
//! load for a bounded time, watching that nothing grows.
//!
//! - 1,000 simulated peers log in with 20 files each, heartbeat on the
//!   directory's schedule, and now and then announce a change (one file
//!   removed, one added, drawn with the same skewed popularity as the
//!   first ones, so the set of distinct files shared stays the same size);
//! - 16 searcher threads offer `--rate` searches a second in all (400 by
//!   default), open loop;
//! - 2 downloader threads fetch files of 8 MiB shared by both real peers
//!   with the multi-source downloader, check each against its id, delete it
//!   and go again;
//! - every 5 s the threads, open file descriptors and resident memory of the
//!   directory and of both peers are sampled.
//!
//! At the end it prints the calls made, every unexpected error (any error
//! at all: the load is kept under every limit), search latency, and how
//! threads, descriptors and memory moved after the warm-up (the first fifth
//! of the run, at least 10 s).

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

const SIM_PEERS: usize = 1000;
const FILES_PER_PEER: usize = 20;
const SEARCHERS: usize = 16;
const DEFAULT_RATE: f64 = 400.0;
const DOWNLOADERS: usize = 2;
const SEED_FILES: usize = 4;
const SEED_FILE_BYTES: usize = 8 << 20;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The directory under soak: a short lease, so heartbeats matter, and flood
/// limits that the load stays under.
const SOAK_SERVER_CONFIG: &str = "listen = \"127.0.0.1:0\"\nconnect_back = false\nlease_secs = 15\nsearch_rate = 1000\nsearch_burst = 2000\nannounce_rate = 20\nannounce_burst = 20\nlogin_rate = 1000000\nlogin_burst = 1000000\naddress_search_rate = 1000000\naddress_search_burst = 1000000\n";

/// Calls made and errors met, shared by every load thread.
#[derive(Default)]
struct Tally {
    logins: AtomicU64,
    heartbeats: AtomicU64,
    announces: AtomicU64,
    searches: AtomicU64,
    downloads: AtomicU64,
    downloaded_bytes: AtomicU64,
    errors: AtomicU64,
    /// The first few errors, to show.
    first_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: &str, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(format!("{what}: {e}"));
        }
    }
}

/// A real `peer serve` sharing the seed files.
struct SeedPeer {
    child: Owned,
    _dir: tempfile::TempDir,
}

fn start_seed_peer(i: usize, directory: &str, seeds: &[Vec<u8>]) -> SeedPeer {
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).expect("share dir");
    for (k, bytes) in seeds.iter().enumerate() {
        std::fs::write(share.join(format!("soak seed {k}.bin")), bytes).expect("seed file");
    }
    let config = peer_config(
        dir.path(),
        &format!("soak-seed-{i}"),
        directory,
        "settle_secs = 0\nupload_slots = 16\n",
    );
    let child = start_peer(&config, "a seed peer");
    SeedPeer { child, _dir: dir }
}

/// A simulated peer: its session and what it shares.
struct SimPeer {
    name: String,
    token: String,
    files: VecDeque<usize>,
    next_heartbeat: Instant,
    next_announce: Instant,
}

fn shared_file(cat: &[CatalogueFile], i: usize) -> pb::SharedFile {
    pb::SharedFile {
        id: cat[i].id.clone(),
        size: cat[i].size,
        name: cat[i].name.clone(),
        ..Default::default()
    }
}

/// Logs in peers `first..first + count`, then keeps them alive (heartbeats
/// on schedule) and changing (an announce every 10-30 s) until `stop`.
fn run_sim_peers(
    addr: &str,
    cat: &[CatalogueFile],
    first: usize,
    count: usize,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let c = client(addr);
    let mut rng = Rng((first as u64 * 7919 + 1) | 1);
    let mut peers = Vec::with_capacity(count);
    for p in first..first + count {
        let files: VecDeque<usize> = pick_files(&mut rng, p, FILES_PER_PEER, cat.len(), false)
            .into_iter()
            .collect();
        let name = format!("soak{p:04}");
        let req = pb::LoginRequest {
            name: name.clone(),
            http_addr: sim_peer_addr(20000 + p),
            identity_key: hubshare::IdentityKey::generate().expose().to_string(),
            files: files.iter().map(|&i| shared_file(cat, i)).collect(),
            ..Default::default()
        };
        match c.login(&req) {
            Ok(r) => {
                tally.logins.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                peers.push(SimPeer {
                    name,
                    token: r.token,
                    files,
                    next_heartbeat: now + Duration::from_secs(r.heartbeat_secs as u64),
                    next_announce: now + Duration::from_millis(10_000 + rng.below(20_000) as u64),
                });
            }
            Err(e) => tally.error("login", e),
        }
    }
    while !stop.load(Ordering::Relaxed) {
        for peer in &mut peers {
            let now = Instant::now();
            if now >= peer.next_heartbeat {
                let req = pb::HeartbeatRequest {
                    token: peer.token.clone(),
                    ..Default::default()
                };
                match c.heartbeat(&req) {
                    Ok(r) => {
                        tally.heartbeats.fetch_add(1, Ordering::Relaxed);
                        // The directory's lease over three, as real peers do.
                        peer.next_heartbeat =
                            now + Duration::from_secs((r.lease_secs / 3).max(1) as u64);
                    }
                    Err(e) => {
                        tally.error(&format!("heartbeat of {}", peer.name), e);
                        peer.next_heartbeat = now + Duration::from_secs(1);
                    }
                }
            }
            if now >= peer.next_announce {
                let gone = peer.files.pop_front().expect("a peer shares files");
                let mut added = rng.skewed(cat.len());
                while peer.files.contains(&added) || added == gone {
                    added = rng.skewed(cat.len());
                }
                let req = pb::AnnounceRequest {
                    token: peer.token.clone(),
                    added: vec![shared_file(cat, added)].into(),
                    removed: vec![cat[gone].id.clone()].into(),
                    ..Default::default()
                };
                match c.announce(&req) {
                    Ok(_) => {
                        tally.announces.fetch_add(1, Ordering::Relaxed);
                        peer.files.push_back(added);
                    }
                    Err(e) => {
                        tally.error(&format!("announce of {}", peer.name), e);
                        peer.files.push_back(gone);
                    }
                }
                peer.next_announce = now + Duration::from_millis(10_000 + rng.below(20_000) as u64);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Downloads the seed files over and over, checking each against its id.
fn run_downloader(
    addr: &str,
    ids: &[hubshare::FileId],
    k: usize,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let dir = hubshare::Directory::connect(addr);
    let dest = tempfile::tempdir().expect("temp dir");
    let opts = hubshare::DownloadOptions::default();
    let mut n = k;
    while !stop.load(Ordering::Relaxed) {
        let id = ids[n % ids.len()];
        n += 1;
        match hubshare::download(&dir, id, dest.path(), &opts) {
            Ok(report) => {
                let bytes = std::fs::read(&report.path).unwrap_or_default();
                if hubshare::FileId::of(&bytes) != id {
                    tally.error(
                        "download",
                        format!("{} does not hash to {id}", report.path.display()),
                    );
                } else {
                    tally.downloads.fetch_add(1, Ordering::Relaxed);
                    tally
                        .downloaded_bytes
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                let _ = std::fs::remove_file(&report.path);
            }
            Err(e) => tally.error("download", e),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Searcher `k` of [`SEARCHERS`], which together offer `rate` searches a second,
/// until `stop`; returns the latencies (from when each was due), in microseconds.
fn run_searcher(
    c: DirectoryClient,
    vocab: &[String],
    cat: &[CatalogueFile],
    rate: f64,
    k: usize,
    stop: &AtomicBool,
    tally: &Tally,
) -> Vec<u32> {
    let mut rng = Rng((k as u64 * 104_729 + 3) | 1);
    let schedule = Schedule::new(rate, SEARCHERS, k);
    let mut lat = Vec::new();
    let mut sent = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let due = schedule.wait(sent);
        sent += 1;
        let req = pb::SearchRequest {
            query: random_query(&mut rng, vocab, cat, false),
            limit: 100,
            ..Default::default()
        };
        match c.search(&req) {
            Ok(_) => {
                tally.searches.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tally.error("search", e),
        }
        lat.push(due.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    lat
}

/// Resources of the watched processes at one moment of the run.
struct Sample {
    at: Duration,
    procs: Vec<Usage>,
}

pub fn run(args: &Args, secs: u64) {
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    let (server, addr, _server_dir) = start_server(SOAK_SERVER_CONFIG);
    let mut rng = Rng(args.seed | 1);
    let vocab = vocabulary(&mut rng);
    let cat = Arc::new(catalogue(SIM_PEERS * FILES_PER_PEER / 4, &mut rng, &vocab));
    let seeds: Vec<Vec<u8>> = (0..SEED_FILES)
        .map(|k| hubshare::fuzz::noise(SEED_FILE_BYTES, k as u64 + 11))
        .collect();
    let ids: Arc<Vec<hubshare::FileId>> =
        Arc::new(seeds.iter().map(|b| hubshare::FileId::of(b)).collect());
    let seed_peers: Vec<SeedPeer> = (0..2).map(|i| start_seed_peer(i, &addr, &seeds)).collect();
    drop(seeds);
    println!(
        "soak: directory {addr} (pid {}), seed peers pid {} and {}; {SIM_PEERS} peers x {FILES_PER_PEER} files, {SEARCHERS} searchers at {rate:.0}/s, {DOWNLOADERS} downloaders of {SEED_FILES} files of {} MiB, {secs} s",
        server.id(),
        seed_peers[0].child.id(),
        seed_peers[1].child.id(),
        SEED_FILE_BYTES >> 20
    );
    let pids = [
        server.id(),
        seed_peers[0].child.id(),
        seed_peers[1].child.id(),
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut load = Vec::new();
    let sim_threads = 8;
    for t in 0..sim_threads {
        let (addr, cat, stop, tally) = (addr.clone(), cat.clone(), stop.clone(), tally.clone());
        let per = SIM_PEERS / sim_threads;
        load.push(std::thread::spawn(move || {
            run_sim_peers(&addr, &cat, t * per, per, &stop, &tally);
            Vec::new()
        }));
    }
    for k in 0..DOWNLOADERS {
        let (addr, ids, stop, tally) = (addr.clone(), ids.clone(), stop.clone(), tally.clone());
        load.push(std::thread::spawn(move || {
            run_downloader(&addr, &ids, k, &stop, &tally);
            Vec::new()
        }));
    }
    let search_client = client(&addr);
    for k in 0..SEARCHERS {
        let (c, vocab, cat, stop, tally) = (
            search_client.clone(),
            vocab.clone(),
            cat.clone(),
            stop.clone(),
            tally.clone(),
        );
        load.push(std::thread::spawn(move || {
            run_searcher(c, &vocab, &cat, rate, k, &stop, &tally)
        }));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    println!("    t  | directory: threads  fds  RSS MiB | seed peers: threads  fds  RSS MiB | logins heartbeats announces searches downloads | errors");
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(
            SAMPLE_EVERY.min(Duration::from_secs(secs).saturating_sub(started.elapsed())),
        );
        let s = Sample {
            at: started.elapsed(),
            procs: pids.iter().map(|&p| usage(p)).collect(),
        };
        let (d, a, b) = (s.procs[0], s.procs[1], s.procs[2]);
        println!(
            "{:>5.0}s | {:>18} {:>4} {:>8.1} | {:>12}/{:<3} {:>3}/{:<3} {:>4.1}/{:<4.1} | {:>6} {:>10} {:>9} {:>8} {:>9} | {}",
            s.at.as_secs_f64(),
            d.threads,
            d.fds,
            d.rss_kib as f64 / 1024.0,
            a.threads,
            b.threads,
            a.fds,
            b.fds,
            a.rss_kib as f64 / 1024.0,
            b.rss_kib as f64 / 1024.0,
            tally.logins.load(Ordering::Relaxed),
            tally.heartbeats.load(Ordering::Relaxed),
            tally.announces.load(Ordering::Relaxed),
            tally.searches.load(Ordering::Relaxed),
            tally.downloads.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed),
        );
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<u32> = load
        .into_iter()
        .flat_map(|h| h.join().expect("load thread"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();

    println!(
        "calls: {} logins, {} heartbeats, {} announces, {} searches ({:.0}/s, p50 {:.3} ms, p99 {:.3} ms), {} downloads verified ({:.0} MiB, {:.1} MiB/s)",
        tally.logins.load(Ordering::Relaxed),
        tally.heartbeats.load(Ordering::Relaxed),
        tally.announces.load(Ordering::Relaxed),
        tally.searches.load(Ordering::Relaxed),
        tally.searches.load(Ordering::Relaxed) as f64 / elapsed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        tally.downloads.load(Ordering::Relaxed),
        tally.downloaded_bytes.load(Ordering::Relaxed) as f64 / (1u64 << 20) as f64,
        tally.downloaded_bytes.load(Ordering::Relaxed) as f64 / (1u64 << 20) as f64 / elapsed,
    );
    let errors = tally.errors.load(Ordering::Relaxed);
    println!("unexpected errors: {errors}");
    for e in tally.first_errors.lock().unwrap().iter() {
        println!("  {e}");
    }
    report_growth(&samples, secs);
    // With the load stopped, connections close: what is left is what stays.
    std::thread::sleep(Duration::from_secs(2));
    let rest: Vec<Usage> = pids.iter().map(|&p| usage(p)).collect();
    println!(
        "at rest 2 s after the load: directory threads {} fds {} RSS {:.1} MiB; seed peers threads {}/{} fds {}/{} RSS {:.1}/{:.1} MiB",
        rest[0].threads,
        rest[0].fds,
        rest[0].rss_kib as f64 / 1024.0,
        rest[1].threads,
        rest[2].threads,
        rest[1].fds,
        rest[2].fds,
        rest[1].rss_kib as f64 / 1024.0,
        rest[2].rss_kib as f64 / 1024.0,
    );

    drop(server);
    drop(seed_peers);
}

/// How threads, descriptors and memory moved after the warm-up.
fn report_growth(samples: &[Sample], secs: u64) {
    let warm_up = Duration::from_secs((secs / 5).max(10));
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= warm_up).collect();
    let (Some(first), Some(last)) = (after.first(), after.last()) else {
        println!("run too short to judge growth after a {warm_up:?} warm-up");
        return;
    };
    println!(
        "after the warm-up ({:.0} s), from {:.0} s to {:.0} s:",
        warm_up.as_secs_f64(),
        first.at.as_secs_f64(),
        last.at.as_secs_f64()
    );
    for (i, name) in ["directory", "seed peer 1", "seed peer 2"]
        .iter()
        .enumerate()
    {
        let range = |f: fn(&Usage) -> u64| {
            let vals: Vec<u64> = after.iter().map(|s| f(&s.procs[i])).collect();
            (
                *vals.iter().min().unwrap_or(&0),
                *vals.iter().max().unwrap_or(&0),
            )
        };
        let (t0, t1) = range(|u| u.threads);
        let (f0, f1) = range(|u| u.fds);
        let (r0, r1) = range(|u| u.rss_kib);
        println!(
            "  {name:<11}: threads {} -> {} (range {t0}-{t1}), fds {} -> {} (range {f0}-{f1}), RSS {:.1} -> {:.1} MiB (range {:.1}-{:.1}, {:+.1}%)",
            first.procs[i].threads,
            last.procs[i].threads,
            first.procs[i].fds,
            last.procs[i].fds,
            first.procs[i].rss_kib as f64 / 1024.0,
            last.procs[i].rss_kib as f64 / 1024.0,
            r0 as f64 / 1024.0,
            r1 as f64 / 1024.0,
            (last.procs[i].rss_kib as f64 / first.procs[i].rss_kib.max(1) as f64 - 1.0) * 100.0,
        );
    }
}
