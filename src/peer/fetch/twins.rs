//! The swarm against in-memory twins of sources (honest, lying, dripping,
//! queueing, gone) and of the directory: real worker threads, a real part
//! file, every piece verified, no socket and no sleep in a test.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;

use super::part::Part;
use super::range::{FetchError, Range};
use super::swarm::{Connect, Swarm};
use super::transfer::TransferError;
use super::worker::{Job, PieceSource};
use crate::fuzz::noise;
use crate::id::FileId;
use crate::peer::client::{ClientError, DirectoryApi, Login};
use crate::pieces::PieceHasher;
use crate::wire::{Credentials, HttpAddr, SearchOutcome, SharedFile, Source};

/// How a twin source behaves.
#[derive(Clone)]
enum Twin {
    /// Sends the right bytes.
    Honest,
    /// Sends other bytes of the right length.
    Lying,
    /// Never finishes a piece: holds it until told to stop.
    Dripping,
    /// Busy (503, queued at place 2) for its first `n` asks, then honest.
    Queueing(usize),
    /// Does not have the file (404).
    Gone,
}

struct TwinSource {
    twin: Twin,
    content: Arc<Vec<u8>>,
    asked: AtomicUsize,
}

impl PieceSource for TwinSource {
    fn fetch(
        &self,
        range: &Range,
        _me: Option<&str>,
        stop: &dyn Fn() -> bool,
        into: &mut Vec<u8>,
    ) -> Result<bool, FetchError> {
        let asked = self.asked.fetch_add(1, Ordering::Relaxed);
        let (at, len) = (range.offset as usize, range.len as usize);
        let mut bytes = |flip: u8| {
            into.clear();
            into.extend(self.content[at..at + len].iter().map(|b| b ^ flip));
            Ok(true)
        };
        match self.twin {
            Twin::Honest => bytes(0),
            Twin::Lying => bytes(0x5a),
            Twin::Dripping => {
                while !stop() {
                    std::thread::yield_now();
                }
                Ok(false)
            }
            Twin::Queueing(n) if asked < n => Err(FetchError::Queued {
                retry_after: Duration::ZERO,
                position: Some(2),
            }),
            Twin::Queueing(_) => bytes(0),
            Twin::Gone => Err(FetchError::Gone("answered 404".into())),
        }
    }
}

/// A directory whose Locate names these sources (the download starts with
/// others).
struct Later(Vec<Source>);

impl DirectoryApi for Later {
    fn addr(&self) -> &str {
        "twin"
    }
    fn login(
        &self,
        _: &str,
        _: &HttpAddr,
        _: &Credentials,
        _: &[SharedFile],
    ) -> Result<Login, ClientError> {
        Err(ClientError::Refused("a twin".into()))
    }
    fn announce(&self, _: &str, _: &[SharedFile], _: &[FileId]) -> Result<u64, ClientError> {
        Err(ClientError::Refused("a twin".into()))
    }
    fn heartbeat(&self, _: &str) -> Result<Option<std::time::Duration>, ClientError> {
        Err(ClientError::Refused("a twin".into()))
    }
    fn logout(&self, _: &str) -> Result<(), ClientError> {
        Err(ClientError::Refused("a twin".into()))
    }
    fn locate(&self, _: &FileId) -> Result<(u64, Vec<Source>), ClientError> {
        Ok((0, self.0.clone()))
    }
    fn search(&self, _: &str, _: u32, _: Option<&str>) -> Result<SearchOutcome, ClientError> {
        Err(ClientError::Refused("a twin".into()))
    }
}

/// What a download from twins came to.
struct Ran {
    result: Result<(), TransferError>,
    /// Verified bytes each source sent.
    sent: Vec<(String, u64)>,
    dropped: Vec<(String, String)>,
    waits: Vec<(String, Duration, Option<usize>)>,
    /// The part file's bytes afterwards (`None`: it was discarded).
    part: Option<Vec<u8>>,
}

/// Downloads `size` bytes of noise from the `first` twins, 2 connections
/// each, and from the `later` ones once the directory is asked again (when
/// none of the first is left: what each of those does is then certain to
/// have been seen).
fn download(
    size: usize,
    first: &[(&str, Twin)],
    later: &[(&str, Twin)],
    patience: Option<Duration>,
) -> Ran {
    let content = Arc::new(noise(size, 71));
    let mut hasher = PieceHasher::new(size as u64);
    hasher.update(&content);
    let (id, cvs) = hasher.finish().expect("a file hashes");
    let dir = tempfile::tempdir().unwrap();
    let (part, done) = Part::open(dir.path(), "file.bin", None, id, size as u64, &cvs).unwrap();
    let path = part.path.clone();
    let job = Arc::new(Job {
        id,
        size: size as u64,
        me: Some("me".into()),
        pace: None,
        cvs,
        part,
        done: done.iter().map(|d| (*d).into()).collect(),
    });
    let by_peer: Vec<(String, Twin)> = first
        .iter()
        .chain(later)
        .map(|(p, t)| (p.to_string(), t.clone()))
        .collect();
    let kept = content.clone();
    let connect: Connect = Box::new(move |s: &Source| {
        let twin = by_peer
            .iter()
            .find(|(p, _)| *p == s.peer)
            .unwrap()
            .1
            .clone();
        Arc::new(TwinSource {
            twin,
            content: kept.clone(),
            asked: AtomicUsize::new(0),
        }) as _
    });
    let sources = |twins: &[(&str, Twin)]| -> Vec<Source> {
        twins
            .iter()
            .map(|(peer, _)| Source {
                peer: peer.to_string(),
                http_addr: HttpAddr::parse("http://192.0.2.1:9").unwrap(),
                name: "file.bin".into(),
                size: size as u64,
            })
            .collect()
    };
    let bar = ProgressBar::hidden();
    let mut swarm = Swarm::connecting(job, done, 2, &bar, Vec::new(), connect);
    swarm.coord.patience = patience;
    // A download that hangs fails the test instead: it is stopped after a
    // while no twin download comes near.
    let cancel = Arc::new(AtomicBool::new(false));
    let (finished, watched) = crossbeam_channel::bounded::<()>(1);
    let watchdog = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            if watched.recv_timeout(Duration::from_secs(30)).is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
        })
    };
    let result = swarm.run(
        &Later(sources(later)),
        sources(first),
        size == 0,
        Some(&cancel),
    );
    drop(finished);
    watchdog.join().unwrap();
    swarm.stop_workers();
    let ran = Ran {
        result,
        sent: swarm.bytes_per_source(),
        dropped: swarm.coord.dropped.clone(),
        waits: swarm.waits(),
        part: std::fs::read(&path).ok(),
    };
    if ran.result.is_ok() {
        assert_eq!(
            ran.part.as_deref(),
            Some(&content[..]),
            "the part holds the file"
        );
    }
    ran
}

const MIB: usize = 1 << 20;

#[test]
fn a_liar_is_dropped_and_honest_sources_share_the_work() {
    let honest = [("a", Twin::Honest), ("b", Twin::Honest)];
    let ran = download(4 * MIB, &[("liar", Twin::Lying)], &honest, None);
    ran.result.unwrap();
    assert!(!ran.sent.iter().any(|(p, _)| p == "liar"), "{:?}", ran.sent);
    assert_eq!(ran.sent.iter().map(|(_, b)| b).sum::<u64>(), 4 * MIB as u64);
    assert_eq!(ran.dropped.len(), 1);
    assert_eq!(ran.dropped[0].0, "liar");
    assert!(
        ran.dropped[0].1.contains("failed verification"),
        "{:?}",
        ran.dropped
    );
}

#[test]
fn a_workers_one_buffer_carries_whole_pieces_and_a_short_last_one_exactly() {
    // 13 pieces of 256 KiB and a last one of 12,345 bytes, over 2
    // connections: each worker's buffer shrinks to the last piece and, if
    // that came early, grows back; `download` checks every byte landed.
    let size = 13 * 256 * 1024 + 12_345;
    let ran = download(size, &[("ok", Twin::Honest)], &[], None);
    ran.result.unwrap();
    assert_eq!(ran.sent, [("ok".to_string(), size as u64)]);
}

#[test]
fn a_source_that_never_finishes_a_piece_does_not_hold_the_download() {
    let both = [("drip", Twin::Dripping), ("ok", Twin::Honest)];
    let ran = download(2 * MIB, &both, &[], None);
    ran.result.unwrap();
    assert_eq!(ran.sent, [("ok".to_string(), 2 * MIB as u64)]);
    assert!(
        ran.dropped.is_empty(),
        "slow is not dropped: {:?}",
        ran.dropped
    );
}

#[test]
fn a_busy_source_is_waited_for_and_then_serves_all() {
    let busy = [("busy", Twin::Queueing(3))];
    let ran = download(MIB, &busy, &[], Some(Duration::from_secs(60)));
    ran.result.unwrap();
    assert_eq!(ran.sent, [("busy".to_string(), MIB as u64)]);
    assert_eq!(ran.waits.len(), 1);
    assert_eq!(ran.waits[0].2, Some(2), "its first place in line");
}

#[test]
fn a_source_that_does_not_have_the_file_is_dropped_at_once() {
    let ran = download(MIB, &[("gone", Twin::Gone)], &[("ok", Twin::Honest)], None);
    ran.result.unwrap();
    assert_eq!(
        ran.dropped,
        [("gone".to_string(), "answered 404".to_string())]
    );
    assert_eq!(ran.sent, [("ok".to_string(), MIB as u64)]);
}

#[test]
fn with_every_source_gone_it_ends_and_keeps_no_empty_part() {
    let bad = [("gone", Twin::Gone), ("liar", Twin::Lying)];
    let ran = download(MIB, &bad, &[], None);
    match ran.result {
        Err(TransferError::NoSourceLeft {
            missing_pieces,
            part,
            dropped,
            ..
        }) => {
            assert_eq!(missing_pieces, 4);
            assert_eq!(part, None, "nothing verified, nothing kept");
            assert_eq!(dropped.len(), 2, "{dropped:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ran.part, None, "the empty part is removed");
}

#[test]
fn a_source_that_only_keeps_us_waiting_ends_it_after_patience() {
    let busy = [("busy", Twin::Queueing(usize::MAX))];
    let ran = download(MIB, &busy, &[], Some(Duration::from_millis(200)));
    match ran.result {
        Err(TransferError::NoSourceLeft { dropped, .. }) => {
            assert!(dropped[0].contains("still queued"), "{dropped:?}")
        }
        other => panic!("{other:?}"),
    }
}
