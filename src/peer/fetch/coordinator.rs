//! [`Coordinator`]: every decision of one download, stepped like the
//! session's `Link`: reports of what each piece fetch came to go in, with
//! the time, and actions come out (hand out piece N, stop source S, locate
//! again, checkpoint, finish). It owns no thread, socket or file, so each
//! rule (bad bytes drop a source, a busy source is a wait, the endgame
//! races the last pieces, patience ends a download that only waits) is a
//! unit test with time passed in. `swarm.rs` runs it with threads.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::options::{CHECKPOINT_EVERY, LOCATE_EVERY, MAX_SOURCES};
use super::plan::size_mismatch;
use crate::pieces::piece_range;
use crate::wire::Source;

/// How often the endgame hands out another copy of a piece not done yet.
pub const ENDGAME_AGAIN: Duration = Duration::from_secs(1);

/// What one fetch of a piece from a source came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The piece verified and is written at its place.
    Done { piece: usize, source: usize },
    /// The piece failed verification.
    Bad { piece: usize, source: usize },
    /// The fetch failed (a timeout, a cut connection): try again.
    Failed {
        piece: usize,
        source: usize,
        error: String,
    },
    /// The source put us in its queue; the piece goes back to the others.
    Queued {
        piece: usize,
        source: usize,
        position: Option<usize>,
    },
    /// The source does not have the file (any more).
    Gone { source: usize, reason: String },
}

/// What the coordinator asks its runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Put this piece on the work queue.
    Hand(usize),
    /// Start workers for the source with this index (just admitted).
    Start(usize),
    /// Stop the workers of this source (it was dropped).
    Stop(usize),
    /// Ask the directory for sources and [`Coordinator::offer`] them.
    Locate,
    /// Record which pieces are verified.
    Checkpoint,
    /// `n` more bytes verified (for the progress bar).
    Verified(u64),
    /// The sources or queue places changed (for the progress line).
    Show,
    /// The download is over.
    Finish(Outcome),
}

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every piece is verified.
    Complete,
    /// No source is left (or every one left only keeps us waiting, past
    /// patience); `why` says for each what happened.
    NoSourceLeft {
        missing_pieces: usize,
        missing_bytes: u64,
        why: Vec<String>,
    },
}

/// What the coordinator knows of a source.
#[derive(Debug, Clone)]
pub struct Book {
    pub source: Source,
    pub dropped: bool,
    /// Verified bytes it sent this run.
    pub bytes: u64,
    /// It sent a piece that failed verification.
    pub lied: bool,
    /// Since when, and at which place, it keeps us in its queue.
    pub queued: Option<(Instant, Option<usize>)>,
    /// Time spent in its queue so far, and the first place we were given.
    pub waited: Duration,
    pub first_place: Option<usize>,
}

/// Every decision of one download of a file of `size` bytes.
pub struct Coordinator {
    size: u64,
    done: Vec<bool>,
    remaining: usize,
    pub books: Vec<Book>,
    /// Every peer name ever offered (a dropped one is not taken again).
    known: HashSet<String>,
    /// Sources dropped, with the reason.
    pub dropped: Vec<(String, String)>,
    per_source: usize,
    /// How long to wait in sources' queues without a piece before giving
    /// up (`None`: until stopped).
    pub patience: Option<Duration>,
    /// Verified bytes fetched this run, and pieces that failed.
    pub fetched: u64,
    pub bad_pieces: u64,
    /// When each piece was last handed out again by the endgame.
    duplicated: HashMap<usize, Instant>,
    last_checkpoint: Instant,
    last_locate: Instant,
    last_piece: Instant,
    finished: bool,
}

impl Coordinator {
    /// A download of `size` bytes whose pieces `done` are verified already,
    /// `per_source` requests at once to each source; the peers in
    /// `dropped` were dropped before it started.
    pub fn new(
        size: u64,
        done: Vec<bool>,
        per_source: usize,
        dropped: Vec<(String, String)>,
        now: Instant,
    ) -> Coordinator {
        let remaining = done.iter().filter(|d| !**d).count();
        Coordinator {
            size,
            done,
            remaining,
            books: Vec::new(),
            known: dropped.iter().map(|(p, _)| p.clone()).collect(),
            dropped,
            per_source: per_source.max(1),
            patience: None,
            fetched: 0,
            bad_pieces: 0,
            duplicated: HashMap::new(),
            last_checkpoint: now,
            last_locate: now,
            last_piece: now,
            finished: false,
        }
    }

    /// Which pieces are verified.
    pub fn done(&self) -> &[bool] {
        &self.done
    }

    /// Marks every piece done (an empty file has nothing to fetch).
    pub fn all_done(&mut self) {
        self.done.iter_mut().for_each(|d| *d = true);
        self.remaining = 0;
    }

    /// Every missing piece, handed out at the start.
    pub fn start(&self) -> Vec<Action> {
        (0..self.done.len())
            .filter(|i| !self.done[*i])
            .map(Action::Hand)
            .collect()
    }

    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Sources not dropped.
    pub fn alive(&self) -> usize {
        self.books.iter().filter(|b| !b.dropped).count()
    }

    /// Counts `bytes` verified bytes from `source` that did not come
    /// through the workers (a one-piece file fetched to prove its size).
    pub fn credit(&mut self, source: Source, bytes: u64) {
        self.known.insert(source.peer.clone());
        self.fetched += bytes;
        self.books.push(Book {
            source,
            dropped: true,
            bytes,
            lied: false,
            queued: None,
            waited: Duration::ZERO,
            first_place: None,
        });
    }

    /// Takes the sources of `found` that are new, within [`MAX_SOURCES`]
    /// and claim the proven size (one claiming another is dropped, named).
    pub fn offer(&mut self, found: Vec<Source>) -> Vec<Action> {
        let mut actions = Vec::new();
        for source in found {
            if self.books.len() >= MAX_SOURCES || !self.known.insert(source.peer.clone()) {
                continue;
            }
            if source.size != self.size {
                let reason = size_mismatch(source.size, self.size);
                log::warn!("not using source {}: it {reason}", source.peer);
                self.dropped.push((source.peer, reason));
                continue;
            }
            actions.push(Action::Start(self.books.len()));
            self.books.push(Book {
                source,
                dropped: false,
                bytes: 0,
                lied: false,
                queued: None,
                waited: Duration::ZERO,
                first_place: None,
            });
        }
        actions.push(Action::Show);
        actions
    }

    /// The directory answered a locate with `found` (nothing on an error):
    /// the new sources start; with none left at all the download ends.
    pub fn located(&mut self, found: Vec<Source>) -> Vec<Action> {
        let mut actions = self.offer(found);
        if self.alive() == 0 {
            let why = self
                .dropped
                .iter()
                .map(|(p, r)| format!("{p}: {r}"))
                .collect();
            actions.push(self.finish(why));
        }
        actions
    }

    /// What a report changes.
    pub fn report(&mut self, report: Report, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match report {
            Report::Done { piece, source } => {
                self.served_by(source, now, &mut actions);
                self.last_piece = now;
                if !self.done[piece] {
                    let len = piece_range(self.size, piece).1;
                    self.done[piece] = true;
                    self.remaining -= 1;
                    self.books[source].bytes += len;
                    self.fetched += len;
                    actions.push(Action::Verified(len));
                }
            }
            Report::Bad { piece, source } => {
                self.bad_pieces += 1;
                self.books[source].lied = true;
                let why = format!("sent piece {piece}, which failed verification");
                self.drop_source(source, &why, &mut actions);
                self.hand_again(piece, &mut actions);
            }
            Report::Failed {
                piece,
                source,
                error,
            } => {
                log::debug!(
                    "piece {piece} from {}: {error}",
                    self.books[source].source.peer
                );
                self.hand_again(piece, &mut actions);
            }
            Report::Queued {
                piece,
                source,
                position,
            } => {
                self.queued_at(source, position, now, &mut actions);
                self.hand_again(piece, &mut actions);
            }
            Report::Gone { source, reason } => self.drop_source(source, &reason, &mut actions),
        }
        if self.remaining == 0 && !self.finished {
            self.finished = true;
            actions.push(Action::Finish(Outcome::Complete));
        }
        actions
    }

    /// What time alone changes: the endgame (when the work queue is empty
    /// and every missing piece could be in flight, each not done is handed
    /// out again, at most every [`ENDGAME_AGAIN`]), locating more sources
    /// (none left, or every [`LOCATE_EVERY`] while under [`MAX_SOURCES`]),
    /// patience, and the checkpoint every [`CHECKPOINT_EVERY`].
    pub fn step(&mut self, now: Instant, queue_empty: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.finished {
            return actions;
        }
        if self.remaining == 0 {
            self.finished = true;
            return vec![Action::Finish(Outcome::Complete)];
        }
        if queue_empty && self.remaining <= self.alive() * self.per_source {
            for piece in (0..self.done.len()).filter(|p| !self.done[*p]) {
                let recent = self
                    .duplicated
                    .get(&piece)
                    .is_some_and(|t| now.duration_since(*t) < ENDGAME_AGAIN);
                if !recent {
                    self.duplicated.insert(piece, now);
                    actions.push(Action::Hand(piece));
                }
            }
        }
        let alive = self.alive();
        if alive == 0
            || (alive < MAX_SOURCES && now.duration_since(self.last_locate) >= LOCATE_EVERY)
        {
            self.last_locate = now;
            actions.push(Action::Locate);
        }
        if self.out_of_patience(now) {
            let why = self
                .waits(now)
                .into_iter()
                .map(|(p, d, _)| {
                    format!(
                        "{p}: still queued after {:.0} s (download_patience_secs)",
                        d.as_secs_f64()
                    )
                })
                .collect();
            actions.push(self.finish(why));
            return actions;
        }
        if now.duration_since(self.last_checkpoint) >= CHECKPOINT_EVERY {
            self.last_checkpoint = now;
            actions.push(Action::Checkpoint);
        }
        actions
    }

    /// (peer, time waited in its queue, first place given) of every source
    /// that queued us.
    pub fn waits(&self, now: Instant) -> Vec<(String, Duration, Option<usize>)> {
        self.books
            .iter()
            .filter(|b| b.first_place.is_some() || !b.waited.is_zero() || b.queued.is_some())
            .map(|b| {
                let ongoing = b.queued.map_or(Duration::ZERO, |(t, _)| now - t);
                (b.source.peer.clone(), b.waited + ongoing, b.first_place)
            })
            .collect()
    }

    /// The pieces and bytes not verified yet.
    pub fn missing(&self) -> (usize, u64) {
        let pieces: Vec<usize> = (0..self.done.len()).filter(|i| !self.done[*i]).collect();
        let bytes = pieces.iter().map(|i| piece_range(self.size, *i).1).sum();
        (pieces.len(), bytes)
    }

    fn finish(&mut self, why: Vec<String>) -> Action {
        self.finished = true;
        let (missing_pieces, missing_bytes) = self.missing();
        Action::Finish(Outcome::NoSourceLeft {
            missing_pieces,
            missing_bytes,
            why,
        })
    }

    fn hand_again(&self, piece: usize, actions: &mut Vec<Action>) {
        if !self.done[piece] {
            actions.push(Action::Hand(piece));
        }
    }

    /// `source` sent a piece: it no longer keeps us waiting.
    fn served_by(&mut self, source: usize, now: Instant, actions: &mut Vec<Action>) {
        let b = &mut self.books[source];
        if let Some((since, _)) = b.queued.take() {
            b.waited += now - since;
            log::info!(
                "{} serves us now, after {:.1} s in its queue",
                b.source.peer,
                (now - since).as_secs_f64()
            );
            actions.push(Action::Show);
        }
    }

    /// `source` put us in its queue at `place`.
    fn queued_at(
        &mut self,
        source: usize,
        place: Option<usize>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let b = &mut self.books[source];
        let changed = b.queued.map(|(_, p)| p) != Some(place);
        let since = b.queued.map_or(now, |(t, _)| t);
        b.queued = Some((since, place));
        if b.first_place.is_none() {
            b.first_place = place.or(Some(0));
        }
        if changed {
            match place {
                Some(p) => log::info!("queued at {} (position {p})", b.source.peer),
                None => log::info!("queued at {}", b.source.peer),
            }
            actions.push(Action::Show);
        }
    }

    /// Every source left keeps us waiting, none has sent a piece for
    /// longer than our patience.
    fn out_of_patience(&self, now: Instant) -> bool {
        let Some(patience) = self.patience else {
            return false;
        };
        let mut alive = self.books.iter().filter(|b| !b.dropped).peekable();
        alive.peek().is_some()
            && alive.all(|b| b.queued.is_some())
            && now.duration_since(self.last_piece) > patience
    }

    fn drop_source(&mut self, index: usize, reason: &str, actions: &mut Vec<Action>) {
        let b = &mut self.books[index];
        if !b.dropped {
            b.dropped = true;
            log::warn!("dropping source {}: {reason}", b.source.peer);
            self.dropped
                .push((b.source.peer.clone(), reason.to_string()));
            actions.push(Action::Stop(index));
            actions.push(Action::Show);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HttpAddr;

    /// A 1 MiB file: four pieces of 256 KiB.
    const SIZE: u64 = 1 << 20;

    fn source(peer: &str) -> Source {
        Source {
            peer: peer.to_string(),
            http_addr: HttpAddr::parse("http://127.0.0.1:9").unwrap(),
            name: "file.bin".to_string(),
            size: SIZE,
        }
    }

    /// A download of the whole file from `peers`, 2 requests at once each.
    fn started(peers: &[&str], t0: Instant) -> Coordinator {
        let mut c = Coordinator::new(SIZE, vec![false; 4], 2, Vec::new(), t0);
        assert_eq!(c.start(), (0..4).map(Action::Hand).collect::<Vec<_>>());
        let actions = c.offer(peers.iter().map(|p| source(p)).collect());
        let starts: Vec<usize> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Start(i) => Some(*i),
                _ => None,
            })
            .collect();
        assert_eq!(starts, (0..peers.len()).collect::<Vec<_>>());
        c
    }

    fn hands(actions: &[Action]) -> Vec<usize> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Hand(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    fn finished(actions: &[Action]) -> Option<&Outcome> {
        actions.iter().find_map(|a| match a {
            Action::Finish(o) => Some(o),
            _ => None,
        })
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn verified_pieces_complete_the_download_once() {
        let t0 = Instant::now();
        let mut c = started(&["a", "b"], t0);
        for piece in 0..3 {
            let a = c.report(
                Report::Done {
                    piece,
                    source: piece % 2,
                },
                t0,
            );
            assert_eq!(a, [Action::Verified(256 << 10)]);
        }
        // A second copy of a piece (the endgame's) counts nothing.
        assert!(c
            .report(
                Report::Done {
                    piece: 1,
                    source: 0
                },
                t0
            )
            .is_empty());
        let a = c.report(
            Report::Done {
                piece: 3,
                source: 1,
            },
            t0,
        );
        assert_eq!(finished(&a), Some(&Outcome::Complete));
        assert_eq!(c.fetched, SIZE);
        assert_eq!((c.books[0].bytes, c.books[1].bytes), (512 << 10, 512 << 10));
        assert!(c.step(t0 + secs(10), true).is_empty(), "finished once");
    }

    #[test]
    fn a_bad_piece_drops_its_source_and_goes_to_the_others() {
        let t0 = Instant::now();
        let mut c = started(&["liar", "honest"], t0);
        let a = c.report(
            Report::Bad {
                piece: 2,
                source: 0,
            },
            t0,
        );
        assert!(a.contains(&Action::Stop(0)), "{a:?}");
        assert_eq!(hands(&a), [2]);
        assert_eq!(c.bad_pieces, 1);
        assert!(c.books[0].lied && c.books[0].dropped);
        assert_eq!(c.dropped[0].0, "liar");
        assert!(c.dropped[0].1.contains("failed verification"));
        // A second bad piece from it drops it once.
        let a = c.report(
            Report::Bad {
                piece: 3,
                source: 0,
            },
            t0,
        );
        assert!(!a.contains(&Action::Stop(0)));
        assert_eq!(c.dropped.len(), 1);
        assert_eq!(c.alive(), 1);
    }

    #[test]
    fn failures_hand_the_piece_back_and_gone_drops_at_once() {
        let t0 = Instant::now();
        let mut c = started(&["a", "b"], t0);
        let failed = Report::Failed {
            piece: 1,
            source: 0,
            error: "cut".into(),
        };
        assert_eq!(hands(&c.report(failed, t0)), [1]);
        assert_eq!(c.alive(), 2, "a failure is no drop");
        let a = c.report(
            Report::Gone {
                source: 1,
                reason: "answered 404".into(),
            },
            t0,
        );
        assert!(a.contains(&Action::Stop(1)));
        assert_eq!(c.dropped, [("b".to_string(), "answered 404".to_string())]);
        // A piece finished meanwhile is not handed out again.
        c.report(
            Report::Done {
                piece: 0,
                source: 0,
            },
            t0,
        );
        let late = Report::Failed {
            piece: 0,
            source: 0,
            error: "late".into(),
        };
        assert!(hands(&c.report(late, t0)).is_empty());
    }

    #[test]
    fn a_busy_source_is_a_wait_until_patience_runs_out() {
        let t0 = Instant::now();
        let mut c = started(&["busy"], t0);
        c.patience = Some(secs(60));
        let queued = |piece| Report::Queued {
            piece,
            source: 0,
            position: Some(3),
        };
        let a = c.report(queued(0), t0);
        assert_eq!(hands(&a), [0]);
        assert!(a.contains(&Action::Show));
        assert_eq!(c.alive(), 1, "busy is not dropped");
        assert_eq!(
            c.waits(t0 + secs(5)),
            [("busy".to_string(), secs(5), Some(3))]
        );
        // Served after 20 s: the wait is counted, the queue left.
        c.report(
            Report::Done {
                piece: 1,
                source: 0,
            },
            t0 + secs(20),
        );
        assert!(c.books[0].queued.is_none());
        assert_eq!(c.waits(t0 + secs(30))[0].1, secs(20));
        // Queued again and nothing for more than the patience: over.
        c.report(queued(0), t0 + secs(21));
        assert!(finished(&c.step(t0 + secs(80), false)).is_none());
        let a = c.step(t0 + secs(81), false);
        match finished(&a) {
            Some(Outcome::NoSourceLeft {
                missing_pieces,
                why,
                ..
            }) => {
                assert_eq!(*missing_pieces, 3);
                assert!(why[0].contains("still queued"), "{why:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_endgame_races_the_last_pieces_again_every_second() {
        let t0 = Instant::now();
        let mut c = started(&["slow", "fast"], t0);
        for piece in [0, 1] {
            c.report(Report::Done { piece, source: 1 }, t0);
        }
        // Work still queued: no copies.
        assert!(hands(&c.step(t0, false)).is_empty());
        // The queue ran dry with pieces 2 and 3 in flight at "slow".
        assert_eq!(hands(&c.step(t0, true)), [2, 3]);
        assert!(hands(&c.step(t0 + Duration::from_millis(500), true)).is_empty());
        assert_eq!(hands(&c.step(t0 + ENDGAME_AGAIN, true)), [2, 3]);
        c.report(
            Report::Done {
                piece: 2,
                source: 1,
            },
            t0 + ENDGAME_AGAIN,
        );
        assert_eq!(hands(&c.step(t0 + 2 * ENDGAME_AGAIN, true)), [3]);
    }

    #[test]
    fn sources_are_located_again_and_none_left_ends_it() {
        let t0 = Instant::now();
        let mut c = started(&["a"], t0);
        assert!(!c.step(t0 + secs(1), false).contains(&Action::Locate));
        assert!(c.step(t0 + LOCATE_EVERY, false).contains(&Action::Locate));
        // A new source is taken, one claiming another size is not, and
        // a known one is not taken twice.
        let mut liar = source("liar");
        liar.size += 1;
        let a = c.located(vec![source("a"), source("b"), liar]);
        assert_eq!(
            a.iter().filter(|x| matches!(x, Action::Start(_))).count(),
            1
        );
        assert!(c.dropped[0].1.contains("claims"), "{:?}", c.dropped);
        // Everyone gone: locate at once, and with nobody new, it ends.
        for source in 0..2 {
            c.report(
                Report::Gone {
                    source,
                    reason: "gone".into(),
                },
                t0,
            );
        }
        assert!(c
            .step(t0 + LOCATE_EVERY + secs(1), false)
            .contains(&Action::Locate));
        let a = c.located(Vec::new());
        match finished(&a) {
            Some(Outcome::NoSourceLeft {
                missing_bytes, why, ..
            }) => {
                assert_eq!(*missing_bytes, SIZE);
                assert_eq!(why.len(), 3, "{why:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verified_pieces_are_checkpointed_every_second() {
        let t0 = Instant::now();
        let mut c = started(&["a"], t0);
        assert!(!c.step(t0, false).contains(&Action::Checkpoint));
        assert!(c
            .step(t0 + CHECKPOINT_EVERY, false)
            .contains(&Action::Checkpoint));
        assert!(!c
            .step(t0 + CHECKPOINT_EVERY + Duration::from_millis(10), false)
            .contains(&Action::Checkpoint));
    }
}
