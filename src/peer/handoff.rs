//! `peer get` beside a running peer of the same config: the download goes
//! to the running peer's queue (through its control routes) and this
//! process follows it until it ends. Stopping the follower (Ctrl-C) leaves
//! the download running.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::control::Control;
use super::fetch::TransferError;
use crate::units::human_size;
use crate::wire::{unix_now, QueueEntry, QueueState, Wish};

/// How often a follower looks at the queue.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// What a follower is told about one download.
pub enum Followed<'a> {
    /// A running one, at every look.
    Progress(&'a QueueEntry),
    /// It waits for a source (told as it starts waiting, and when why changes).
    Waiting(&'a QueueEntry),
    /// Paused in the running peer (told once).
    Paused(&'a QueueEntry),
    /// Done or failed.
    Ended(&'a QueueEntry),
    /// Taken off the queue (cancelled) before it ended.
    Gone(u64),
}

/// Follows downloads `ns` of `control`'s queue, telling `tell` how each
/// goes, until every one has ended or is gone (`true`), or `stop` is set
/// (`false`: they go on in the running peer). Unless `wait`, one that
/// waits for a source is followed no further once told.
pub fn follow(
    control: &Control,
    ns: &[u64],
    stop: &AtomicBool,
    wait: bool,
    tell: &mut dyn FnMut(Followed<'_>),
) -> Result<bool, TransferError> {
    let mut open: BTreeMap<u64, Option<QueueState>> = ns.iter().map(|n| (*n, None)).collect();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let list = control.queue()?;
        open.retain(|n, last| {
            let Some(e) = list.iter().find(|e| e.n == *n) else {
                tell(Followed::Gone(*n));
                return false;
            };
            let changed = last.as_ref() != Some(&e.state);
            *last = Some(e.state.clone());
            match &e.state {
                QueueState::Done { .. } | QueueState::Failed { .. } => {
                    tell(Followed::Ended(e));
                    return false;
                }
                QueueState::Waiting { .. } if changed || !wait => {
                    tell(Followed::Waiting(e));
                    return wait;
                }
                QueueState::Paused if changed => tell(Followed::Paused(e)),
                QueueState::Active => tell(Followed::Progress(e)),
                _ => {}
            }
            true
        });
        if open.is_empty() {
            return Ok(true);
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// How following one download ended.
pub enum FollowedOne {
    /// Done or failed: the entry as it ended.
    Ended(QueueEntry),
    /// Taken off the queue before it ended.
    Gone,
    /// It waits for a source (and stays queued).
    Waiting(QueueEntry),
    /// The follower was stopped; the download goes on.
    Stopped,
}

/// Follows download `n` alone: its progress drawn on stderr when
/// `progress` (and stderr is a terminal), `note` told when it waits (if
/// `wait`: else that ends the following) or is paused.
pub fn follow_one(
    control: &Control,
    n: u64,
    stop: &AtomicBool,
    progress: bool,
    wait: bool,
    note: &mut dyn FnMut(String),
) -> Result<FollowedOne, TransferError> {
    let bar = super::fetch::progress_bar(0, progress, 0);
    let mut ended = FollowedOne::Gone;
    let all = follow(control, &[n], stop, wait, &mut |f| match f {
        Followed::Waiting(e) if !wait => ended = FollowedOne::Waiting(e.clone()),
        Followed::Progress(e) => {
            bar.set_length(e.size);
            bar.set_position(e.done);
        }
        Followed::Ended(e) => ended = FollowedOne::Ended(e.clone()),
        other => note(followed_text(&other)),
    });
    bar.finish_and_clear();
    Ok(if all? { ended } else { FollowedOne::Stopped })
}

/// What a follower says when a download waits, is paused or is gone.
pub fn followed_text(f: &Followed<'_>) -> String {
    match f {
        Followed::Waiting(e) => format!(
            "download {} waits for a source: {}; the running peer looks again every {} s",
            e.n,
            match &e.state {
                QueueState::Waiting { why } => why.as_str(),
                _ => "",
            },
            super::downloads::WAIT_RETRY.as_secs()
        ),
        Followed::Paused(e) => format!(
            "download {} is paused in the running peer (`peer queue resume {}` goes on)",
            e.n, e.n
        ),
        Followed::Gone(n) => format!("download {n} was taken off the running peer's queue"),
        Followed::Progress(e) | Followed::Ended(e) => format!("download {}", e.n),
    }
}

/// Why `peer get` stops following a download that waits for a source,
/// and what the user can do.
pub fn still_waiting(e: &QueueEntry) -> String {
    format!(
        "{}\n(it stays in the running peer's queue: `peer get --wait` follows it until it is done, `peer queue cancel {}` drops it)",
        followed_text(&Followed::Waiting(e)),
        e.n
    )
}

/// The queue as a table: number, what, progress, state.
pub fn format_queue(list: &[QueueEntry]) -> String {
    if list.is_empty() {
        return "the download queue is empty\n".to_string();
    }
    let mut out = String::new();
    for e in list {
        let what = e.label();
        let progress = if e.size > 0 {
            format!("{} of {}", human_size(e.done), human_size(e.size))
        } else {
            String::new()
        };
        let state = match &e.state {
            QueueState::Queued => "queued".to_string(),
            QueueState::Waiting { why } => format!("waiting for a source ({why})"),
            QueueState::Active => "active".to_string(),
            QueueState::Paused => "paused".to_string(),
            QueueState::Done { path, .. } => format!("done: {path}"),
            QueueState::Failed { why } => format!("failed: {why}"),
        };
        out.push_str(&format!("{:>3}  {what}  {progress}  {state}\n", e.n));
    }
    out
}

/// The wishlist as text: a line per wish, and one per match it found.
pub fn format_wishes(list: &[Wish]) -> String {
    if list.is_empty() {
        return "the wishlist is empty (`peer wish add WORDS` adds one)\n".to_string();
    }
    let mut out = String::new();
    for w in list {
        let does = if w.queue {
            "queues matches"
        } else {
            "shows matches"
        };
        let when = match w.searched_at {
            0 => "not searched yet".to_string(),
            at => format!("searched {} s ago", unix_now().saturating_sub(at)),
        };
        out.push_str(&format!("{:>3}  {}  ({does}; {when})\n", w.n, w.query));
        if let Some(e) = &w.error {
            out.push_str(&format!("       last search failed: {e}\n"));
        }
        for m in &w.matches {
            let queued = match m.queued {
                Some(n) => format!("  queued as download {n}"),
                None => String::new(),
            };
            out.push_str(&format!(
                "       found {}  {}  {}{queued}\n",
                m.name,
                human_size(m.size),
                &m.id[..m.id.len().min(16)]
            ));
        }
    }
    out
}
