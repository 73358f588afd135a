//! One connection to one source: a worker thread takes piece numbers from
//! the download's work queue, fetches each from its [`PieceSource`],
//! checks it against its chaining value and writes it at its offset in the
//! part file, and reports what each came to. The source is a trait so that
//! tests fetch from twins in memory (honest, lying, dripping, queueing,
//! gone) with no socket.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::coordinator::Report;
use super::options::{MAX_QUEUE_POLL, PIECE_READ_TIMEOUT, SOURCE_RETRIES};
use super::part::Part;
use super::range::{fetch_range, FetchError, Range};
use super::transfer;
use crate::id::FileId;
use crate::pieces::{self, piece_range};
use crate::wire::HttpAddr;

/// What each worker needs, shared read-only (but for the done flags).
pub struct Job {
    pub id: FileId,
    pub size: u64,
    /// This downloader's peer name, sent with every request.
    pub me: Option<String>,
    /// The cap on this peer's download bytes, shared by its downloads.
    pub pace: Option<std::sync::Arc<crate::pace::Pace>>,
    pub cvs: Vec<ChainingValue>,
    pub part: Part,
    pub done: Vec<AtomicBool>,
}

/// Where a worker fetches ranges of the file from.
pub trait PieceSource: Send + Sync {
    /// The bytes of `range`, asked for as `me`, into `into` (resized to
    /// the range); `Ok(false)` when `stop` turned true meanwhile (no more
    /// than asked is read, whatever comes).
    fn fetch(
        &self,
        range: &Range,
        me: Option<&str>,
        stop: &dyn Fn() -> bool,
        into: &mut Vec<u8>,
    ) -> Result<bool, FetchError>;
}

/// A source over HTTP (`Range` requests), one agent per worker.
pub struct HttpSource {
    agent: ureq::Agent,
    base: HttpAddr,
}

impl HttpSource {
    pub fn new(base: HttpAddr) -> HttpSource {
        HttpSource {
            agent: transfer::agent_with_read_timeout(&base, PIECE_READ_TIMEOUT),
            base,
        }
    }
}

impl PieceSource for HttpSource {
    fn fetch(
        &self,
        range: &Range,
        me: Option<&str>,
        stop: &dyn Fn() -> bool,
        into: &mut Vec<u8>,
    ) -> Result<bool, FetchError> {
        fetch_range(&self.agent, &self.base, range, me, None, stop, into)
    }
}

/// What a worker sends its coordinator.
pub enum Sent {
    Report(Report),
    /// The part file could not be written: the download cannot go on.
    WriteFailed(io::Error),
}

/// Takes piece numbers until the source is dropped or the download ends.
pub fn work(
    job: &Job,
    source: usize,
    from: &dyn PieceSource,
    dropped: &AtomicBool,
    jobs: &Receiver<usize>,
    events: &Sender<Sent>,
) {
    let report = |r: Report| {
        let _ = events.send(Sent::Report(r));
    };
    let mut failures = 0u32;
    // One buffer for every piece this worker fetches.
    let mut data = Vec::new();
    while !dropped.load(Ordering::Relaxed) {
        let piece = match jobs.recv_timeout(Duration::from_millis(100)) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if job.done[piece].load(Ordering::Relaxed) {
            continue;
        }
        let (offset, len) = piece_range(job.size, piece);
        let range = Range {
            id: job.id,
            size: job.size,
            offset,
            len,
        };
        let stop = || job.done[piece].load(Ordering::Relaxed) || dropped.load(Ordering::Relaxed);
        // Bytes are counted against the cap before they are asked for, so
        // those in flight count too.
        if let Some(pace) = &job.pace {
            pause(pace.take(len as usize, Instant::now()), dropped);
        }
        match from.fetch(&range, job.me.as_deref(), &stop, &mut data) {
            Ok(true) => {
                if !pieces::verify_piece(&job.id, job.size, &job.cvs, piece, &data) {
                    report(Report::Bad { piece, source });
                    return;
                }
                if let Err(e) = job.part.file.write_all_at(&data, offset) {
                    let _ = events.send(Sent::WriteFailed(e));
                    return;
                }
                job.done[piece].store(true, Ordering::Relaxed);
                failures = 0;
                report(Report::Done { piece, source });
            }
            // Another source finished this piece first...
            Ok(false) if job.done[piece].load(Ordering::Relaxed) => {}
            // ...or this source was dropped mid-piece: the piece goes back
            // to the others (the loop ends here).
            Ok(false) => report(Report::Failed {
                piece,
                source,
                error: "the source was dropped".to_string(),
            }),
            // Busy is a wait, not a failure: hand the piece back, come back
            // when the source asks, keep our place in its line.
            Err(FetchError::Queued {
                retry_after,
                position,
            }) => {
                report(Report::Queued {
                    piece,
                    source,
                    position,
                });
                pause(retry_after.min(MAX_QUEUE_POLL), dropped);
            }
            Err(FetchError::Gone(reason) | FetchError::NotTheListed(reason)) => {
                // The piece goes back to the others; this source is done.
                report(Report::Failed {
                    piece,
                    source,
                    error: reason.clone(),
                });
                report(Report::Gone { source, reason });
                return;
            }
            Err(FetchError::Failed(error)) => {
                failures += 1;
                report(Report::Failed {
                    piece,
                    source,
                    error: error.clone(),
                });
                if failures >= SOURCE_RETRIES {
                    report(Report::Gone {
                        source,
                        reason: format!("{failures} failures in a row, the last: {error}"),
                    });
                    return;
                }
                pause(Duration::from_millis(250 << failures), dropped);
            }
        }
    }
}

/// Sleeps `d`, waking early when the source is dropped (the download ends).
fn pause(d: Duration, dropped: &AtomicBool) {
    let until = Instant::now() + d;
    while !dropped.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
