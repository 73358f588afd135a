//! The in-process phase: the index and its encoded reply timed without
//! gRPC.

use std::time::{Duration, Instant};

use hubshare::fuzz::Rng;

use super::*;

/// The same fill and query mix against the store in this process: what the
/// index costs, without gRPC and without another process on the cores.
pub fn in_process(args: &Args, cat: &[CatalogueFile], vocab: &[String]) {
    use hubshare::{
        DirectoryStore, EncodedReply, FileId, HttpAddr, Limits, MemoryStore, Query, SharedFile,
    };
    // With --expire-all a short lease, which the sweeps at the end step
    // past (the lease clock moves only at a sweep), and the same for every
    // peer (the interval does not grow with the group).
    let (lease, heartbeat, heartbeat_rate) = match args.expire_all {
        true => (Duration::from_secs(2), Duration::from_secs(1), u32::MAX),
        false => (Duration::from_secs(86400), Duration::from_secs(3600), 2000),
    };
    let store = MemoryStore::new(Limits {
        lease,
        heartbeat,
        max_results: 1000,
        max_files_per_call: 100_000,
        name_hold: Duration::from_secs(3600),
        heartbeat_rate,
    });
    let mut rng = Rng((args.seed + 1000) | 1);
    // What the store holds: this process's growth over the fill (the
    // catalogue is made before it).
    let rss0 = usage(std::process::id()).rss_kib;
    let filled = Instant::now();
    let mut indexing = Duration::ZERO;
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
        let print = hubshare::IdentityKey::generate().print();
        // With --tls, as a TLS directory holds them: https, pinned (each
        // source in a reply then carries its keyprint).
        let addr = HttpAddr::from_socket(([127, 0, 0, 1], 1).into(), args.tls)
            .pinned(args.tls.then_some(print));
        let name = format!("peer{p:05}");
        let started = Instant::now();
        store
            .login(&name, print, &addr, files)
            .expect("in-process login");
        indexing += started.elapsed();
    }
    println!(
        "in process fill: {} logins in {:.1} s, {:.1} s of it in the store's login ({:.0} logins/s, {:.2} us per entry)",
        args.peers,
        filled.elapsed().as_secs_f64(),
        indexing.as_secs_f64(),
        args.peers as f64 / indexing.as_secs_f64(),
        indexing.as_secs_f64() * 1e6 / (args.peers * args.files) as f64
    );
    let rss1 = usage(std::process::id()).rss_kib;
    println!(
        "in process memory: {} MiB more resident after the fill: {:.1} bytes per (file, source) entry",
        rss1.saturating_sub(rss0) / 1024,
        rss1.saturating_sub(rss0) as f64 * 1024.0 / (args.peers * args.files) as f64
    );
    let mut lat = Vec::new();
    let mut slowest: Vec<(u32, String, usize)> = Vec::new();
    // --query: time this one query again and again instead of the mix.
    let one_query = args.query.clone();
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
        if args.slowest {
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
    if args.expire_all {
        expire_all(&store, args, cat, vocab);
    }
}

/// Sweeps `store` a second apart until every peer's lease has lapsed and
/// been ended, while a thread searches: prints how long the sweep that
/// ended them took and how long the searches beside it took.
fn expire_all(store: &hubshare::MemoryStore, args: &Args, cat: &[CatalogueFile], vocab: &[String]) {
    use hubshare::{DirectoryStore, Query};
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let (ended, sweep, mut lat) = std::thread::scope(|scope| {
        let searcher = scope.spawn(|| {
            let mut rng = Rng((args.seed + 2000) | 1);
            let mut lat: Vec<u32> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(query) = Query::parse(&random_query(&mut rng, vocab, cat, args.uniform))
                else {
                    continue;
                };
                let started = Instant::now();
                std::hint::black_box(store.search_each(&query, 100, &mut |_| {}).ok());
                lat.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            lat
        });
        let (mut ended, mut sweep) = (0, Duration::ZERO);
        while ended < args.peers {
            std::thread::sleep(Duration::from_secs(1));
            let started = Instant::now();
            let n = store.expire().len();
            if n > 0 {
                sweep += started.elapsed();
            }
            ended += n;
        }
        stop.store(true, Ordering::Relaxed);
        (ended, sweep, searcher.join().expect("the searcher"))
    });
    lat.sort_unstable();
    println!(
        "in process, every lease lapsed: sweeps ended {ended} sessions in {:.2} s; {} searches \
         beside them: p50 {:.3} ms  p99 {:.3} ms  slowest {:.1} ms",
        sweep.as_secs_f64(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}
