//! Sharing cost, measured (not asserted):
//!
//! 1. Hashing a 1 GiB share the way a peer does (`ShareTable::rescan`),
//!    against `b3sum` on the same file in the same run, as a ratio. The file
//!    is read once first so both measure hashing from the page cache.
//! 2. How long a peer takes to come up over 10,000 small files: once with a
//!    cold hash cache (everything hashed), then with the warm cache.
//!
//! `HUBSHARE_BENCH_MIB` and `HUBSHARE_BENCH_FILES` change the sizes.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hubshare::{Peer, PeerConfig, ShareTable};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_noise(path: &Path, bytes: usize) {
    let mut f = fs::File::create(path).expect("create bench file");
    let mut rng = hubshare::fuzz::Rng(0x9E37_79B9_7F4A_7C15);
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        rng.fill(&mut block);
        let n = left.min(block.len());
        f.write_all(&block[..n]).expect("write bench file");
        left -= n;
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().expect("at least one run")
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn start_peer(share: &Path, state: &Path) -> (Duration, u64) {
    let text = format!(
        "name = \"bench\"\ndirectory = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:0\"\nshare_dir = \"{}\"\nstate_dir = \"{}\"\nrescan_secs = 0\nsettle_secs = 0\ntls = false\n",
        share.display(),
        state.display()
    );
    let config = PeerConfig::from_toml(&text, Path::new("bench.toml")).expect("bench config");
    let t = Instant::now();
    let peer = Peer::start(config).expect("peer starts");
    let took = t.elapsed();
    let hashed = peer.core().share().bytes_hashed();
    peer.shutdown();
    (took, hashed)
}

fn main() {
    let mib = env_or("HUBSHARE_BENCH_MIB", 1024);
    let small_files = env_or("HUBSHARE_BENCH_FILES", 10_000);
    let work = tempfile::tempdir().expect("temp dir");

    // 1. Hashing throughput vs b3sum.
    let share = work.path().join("share");
    fs::create_dir(&share).unwrap();
    let big = share.join("big.bin");
    write_noise(&big, mib << 20);
    let bytes = (mib as u64) << 20;
    let _ = fs::read(&big).map(drop); // into the page cache
    println!("hashing a {mib} MiB file from the page cache (best of 3):");
    let ours = best_of(3, || {
        let table = ShareTable::new(&share);
        let t = Instant::now();
        table.rescan().expect("rescan");
        let d = t.elapsed();
        assert_eq!(table.bytes_hashed(), bytes);
        d
    });
    println!(
        "  hubshare share scan: {:8.0} MB/s ({:.3} s)",
        mb_s(bytes, ours),
        ours.as_secs_f64()
    );
    // The same hashing on bytes already in memory: what reading costs.
    let bytes_in_memory = fs::read(&big).expect("read bench file");
    let in_memory = best_of(3, || {
        let t = Instant::now();
        let mut h = hubshare::pieces::PieceHasher::new(bytes);
        h.update(&bytes_in_memory);
        h.finish().expect("whole file");
        t.elapsed()
    });
    drop(bytes_in_memory);
    println!(
        "  hashing alone (id + pieces, bytes in memory): {:8.0} MB/s ({:.3} s)",
        mb_s(bytes, in_memory),
        in_memory.as_secs_f64()
    );
    let b3sum_ok = Command::new("b3sum").arg("--version").output().is_ok();
    if b3sum_ok {
        let theirs = best_of(3, || {
            let t = Instant::now();
            let out = Command::new("b3sum").arg(&big).output().expect("run b3sum");
            assert!(out.status.success());
            t.elapsed()
        });
        println!(
            "  b3sum:               {:8.0} MB/s ({:.3} s)",
            mb_s(bytes, theirs),
            theirs.as_secs_f64()
        );
        println!(
            "  ratio hubshare / b3sum throughput: {:.2}",
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    } else {
        println!("  b3sum not found (cargo install b3sum) - no comparison");
    }
    fs::remove_file(&big).unwrap();

    // 2. Start-up over many small unchanged files.
    let many = work.path().join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..small_files {
        let sub = many.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            fs::create_dir(&sub).unwrap();
        }
        fs::write(
            sub.join(format!("file-{i:05}.txt")),
            format!("small file number {i}\n").repeat(20),
        )
        .unwrap();
    }
    let state = work.path().join("state");
    println!("peer start-up over {small_files} small files:");
    let (cold, cold_hashed) = start_peer(&many, &state);
    println!(
        "  cold hash cache: {:.3} s, {cold_hashed} bytes hashed",
        cold.as_secs_f64()
    );
    let warm = best_of(3, || {
        let (d, hashed) = start_peer(&many, &state);
        assert_eq!(hashed, 0, "a warm start hashed something");
        d
    });
    println!(
        "  warm hash cache: {:.3} s, 0 bytes hashed (best of 3)",
        warm.as_secs_f64()
    );
}
