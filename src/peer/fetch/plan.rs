//! What a download needs before the swarm starts, none of it taken on a
//! source's word:
//!
//! - **the size**: sources may claim different sizes for one id (a buggy or
//!   lying one). Each claim is tried: a piece list for it must merge to the
//!   id (a list for a wrong size cannot), or, for a file of one piece, its
//!   bytes must hash to the id. The first claim proved wins; sources
//!   claiming another size are dropped.
//! - **the proof is raced**: [`PROOF_FIRST_WAVE`] sources are asked at
//!   once, then one more every [`PROOF_HEDGE`] or as soon as one fails,
//!   each bounded by [`PROOF_DEADLINE`] for its whole answer; claims are
//!   taken in turn from each size (most sources first), so a source that
//!   trickles its answer, or many that agree on a lie, hold the download a
//!   second or two at most while an honest source is online.
//! - **the name**: the one the user asked for; else the name most of the
//!   sources that sent verified pieces share the file under; never a name
//!   from a source that sent something that failed verification.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use crossbeam_channel::{unbounded, RecvTimeoutError};

use super::range::{fetch_range, FetchError, Range};
use super::transfer::{self, http_err, TransferError};
use crate::id::FileId;
use crate::names;
use crate::peer::share::STATE_SUFFIX;
use crate::pieces::piece_count;
use crate::wire::{PieceList, Source};

/// Sources asked for a proof at once when a download starts.
pub const PROOF_FIRST_WAVE: usize = 3;
/// How long the proof waits on the sources asked so far before it asks one
/// more as well.
pub const PROOF_HEDGE: Duration = Duration::from_secs(1);
/// Longest one source may take over its whole answer (piece list, or the
/// bytes of a one-piece file).
pub const PROOF_DEADLINE: Duration = Duration::from_secs(6);

/// What a source proved about the file.
pub(super) struct Proven {
    pub size: u64,
    /// The piece list (empty for a file of one piece).
    pub cvs: Vec<ChainingValue>,
    /// The whole file, when it is one piece: its bytes were the proof.
    pub whole: Option<Vec<u8>>,
    /// The peer whose answer proved it.
    pub by: String,
    /// Peers whose answer failed verification, with what was wrong.
    pub liars: Vec<(String, String)>,
}

/// The claims to try, in order: one source of each claimed size per round
/// (so many sources agreeing on a lie cannot keep the truth waiting), and
/// within a round, sizes that a piece list can prove (several pieces)
/// before one-piece sizes, then the size more sources claim first.
fn attempt_order(sources: &[Source]) -> Vec<&Source> {
    let mut groups: BTreeMap<u64, Vec<&Source>> = BTreeMap::new();
    for s in sources {
        groups.entry(s.size).or_default().push(s);
    }
    let mut groups: Vec<Vec<&Source>> = groups.into_values().collect();
    groups.sort_by_key(|g| (piece_count(g[0].size) <= 1, std::cmp::Reverse(g.len())));
    let mut order = Vec::with_capacity(sources.len());
    for round in 0.. {
        let before = order.len();
        order.extend(groups.iter().filter_map(|g| g.get(round).copied()));
        if order.len() == before {
            break;
        }
    }
    order
}

/// Why a source proved nothing.
enum Unproved {
    /// What it sent was wrong: it is dropped.
    Lied(String),
    /// It put us in its queue (a one-piece file needs a slot): its claim
    /// may still be the truth, which the piece itself will prove.
    Queued(String),
    /// It could not be reached, timed out, or answered an error.
    Failed(String),
}

/// One attempt's outcome: the proof, or why this source gave none.
type Attempt = Result<(Vec<ChainingValue>, Option<Vec<u8>>), Unproved>;

/// Proves the size of `id` from its sources (see the module docs).
///
/// When no claim is proved but sources of a one-piece file queued us, the
/// claim most of them make is taken on trust for now: the swarm will check
/// the piece against the id before a byte of it is written.
pub(super) fn prove(
    sources: &[Source],
    id: FileId,
    me: Option<&str>,
) -> Result<Proven, TransferError> {
    let order = attempt_order(sources);
    let mut queued: Vec<&Source> = Vec::new();
    let (tx, rx) = unbounded::<(usize, Attempt)>();
    let mut started = 0;
    let mut finished = 0;
    let mut failures = Vec::new();
    let mut liars = Vec::new();
    let mut next_start = Instant::now();
    loop {
        while started < order.len() && Instant::now() >= next_start {
            let source = order[started].clone();
            let tx = tx.clone();
            let index = started;
            let me = me.map(str::to_string);
            std::thread::Builder::new()
                .name(format!("prove-{}", source.peer))
                .spawn(move || {
                    let _ = tx.send((index, attempt(&source, id, me.as_deref())));
                })
                .expect("spawn a proof thread");
            started += 1;
            if started >= PROOF_FIRST_WAVE {
                next_start = Instant::now() + PROOF_HEDGE;
            }
        }
        if finished == order.len() {
            return trust_queued(&queued, liars)
                .ok_or(TransferError::BadPieceList { id, failures });
        }
        let wait = if started < order.len() {
            next_start.saturating_duration_since(Instant::now())
        } else {
            PROOF_DEADLINE * 2
        };
        match rx.recv_timeout(wait) {
            Ok((i, Ok((cvs, whole)))) => {
                let s = order[i];
                log::debug!("{} proved {id} is {} bytes", s.peer, s.size);
                return Ok(Proven {
                    size: s.size,
                    cvs,
                    whole,
                    by: s.peer.clone(),
                    liars,
                });
            }
            Ok((i, Err(unproved))) => {
                let s = order[i];
                finished += 1;
                let why = match unproved {
                    Unproved::Lied(why) => {
                        log::warn!("{} sent a bad answer for {id}: {why}", s.peer);
                        liars.push((s.peer.clone(), why.clone()));
                        why
                    }
                    Unproved::Queued(why) => {
                        queued.push(s);
                        why
                    }
                    Unproved::Failed(why) => why,
                };
                failures.push(format!("{}: {why}", s.peer));
                // Ask the next source now rather than after the hedge delay.
                next_start = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {
                if started == order.len() {
                    // Every attempt has its own deadline; this one is spent.
                    return trust_queued(&queued, liars)
                        .ok_or(TransferError::BadPieceList { id, failures });
                }
            }
            Err(RecvTimeoutError::Disconnected) => unreachable!("this loop holds a sender"),
        }
    }
}

/// The claim most of the sources that queued us make (see [`prove`]).
fn trust_queued(queued: &[&Source], liars: Vec<(String, String)>) -> Option<Proven> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for s in queued {
        *counts.entry(s.size).or_default() += 1;
    }
    let (&size, _) = counts.iter().max_by_key(|(_, n)| **n)?;
    let by = queued.iter().find(|s| s.size == size)?.peer.clone();
    log::info!("{by} and others queue us for this one-piece file; its piece will prove its size");
    Some(Proven {
        size,
        cvs: Vec::new(),
        whole: None,
        by,
        liars,
    })
}

/// Asks one source to prove its claim: a piece list that merges to the id,
/// or for a one-piece file the bytes themselves.
fn attempt(source: &Source, id: FileId, me: Option<&str>) -> Attempt {
    let size = source.size;
    let lie = |why: String| Err(Unproved::Lied(why));
    if size == 0 {
        return if FileId::of(&[]) == id {
            Ok((Vec::new(), Some(Vec::new())))
        } else {
            lie("claims 0 bytes, but the id is not that of an empty file".into())
        };
    }
    let agent = transfer::agent(&source.http_addr);
    if piece_count(size) > 1 {
        let url = source.http_addr.url(&format!("/files/{id}/pieces"));
        let list: PieceList = agent
            .get(&url)
            .timeout(PROOF_DEADLINE)
            .call()
            .map_err(|e| http_err(&url, e))
            .and_then(|r| transfer::read_json(r, &url))
            .map_err(|e| match e {
                TransferError::Protocol { .. } => Unproved::Lied(e.to_string()),
                TransferError::NotTheListed { .. } => {
                    Unproved::Lied(e.not_the_listed().unwrap_or_default())
                }
                _ => Unproved::Failed(e.to_string()),
            })?;
        return match list.verified(id, size) {
            Ok(cvs) => Ok((cvs, None)),
            Err(why) => lie(format!("its piece list for {size} bytes is wrong: {why}")),
        };
    }
    let range = Range {
        id,
        size,
        offset: 0,
        len: size,
    };
    let mut bytes = Vec::new();
    match fetch_range(
        &agent,
        &source.http_addr,
        &range,
        me,
        Some(PROOF_DEADLINE),
        &|| false,
        &mut bytes,
    ) {
        Ok(true) if FileId::of(&bytes) == id => Ok((Vec::new(), Some(bytes))),
        Ok(_) => lie(format!("its {size} bytes do not hash to the id")),
        Err(e @ FetchError::Queued { .. }) => Err(Unproved::Queued(e.to_string())),
        Err(FetchError::NotTheListed(why)) => Err(Unproved::Lied(why)),
        Err(e) => Err(Unproved::Failed(e.to_string())),
    }
}

/// The name to save under before the download starts: the one the user
/// asked for (which must be a plain file name), else the one most of
/// `sources` share it under (ties: the first in order), made safe; short
/// enough to leave room for " (n)" and ".part.state".
pub(super) fn name(
    asked: Option<&str>,
    sources: &[Source],
    id: FileId,
    dest_dir: &Path,
) -> Result<String, TransferError> {
    let wanted = match asked {
        Some(n) => {
            names::check_shared_path(n).map_err(|e| TransferError::Io {
                path: dest_dir.join(n),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            n.to_string()
        }
        None => most_shared(sources.iter().map(|s| (s.name.as_str(), 1))).unwrap_or_default(),
    };
    Ok(fit(&wanted, id))
}

/// The name to publish under once every piece is verified: the one asked
/// for, else the name most of the sources that sent verified pieces share
/// the file under (ties: the name whose sources sent more, then the first
/// alphabetically). `verified` lists (name, verified bytes) of each source
/// that sent verified pieces and never a bad one; with none, `provisional`.
pub(super) fn final_name(
    asked: Option<&str>,
    verified: &[(String, u64)],
    provisional: &str,
    id: FileId,
) -> String {
    if asked.is_some() || verified.is_empty() {
        return provisional.to_string();
    }
    let votes = verified.iter().map(|(n, bytes)| (n.as_str(), *bytes));
    match most_shared(votes) {
        Some(n) => fit(&n, id),
        None => provisional.to_string(),
    }
}

/// The name with the most votes, then the most weight, then the first
/// alphabetically.
fn most_shared<'a>(votes: impl Iterator<Item = (&'a str, u64)>) -> Option<String> {
    let mut tally: HashMap<&str, (usize, u64)> = HashMap::new();
    for (name, weight) in votes {
        let t = tally.entry(name).or_default();
        t.0 += 1;
        t.1 += weight;
    }
    tally
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(n, _)| n.to_string())
}

/// A remote name made safe: a shared path (`folder/name.ext`) stays one,
/// anything else becomes a plain file name; the file name is short enough
/// to leave room for " (n)" and ".part.state".
fn fit(name: &str, id: FileId) -> String {
    let max = names::MAX_FILE_NAME_LEN - STATE_SUFFIX.len() - 8;
    if names::check_shared_path(name).is_ok() {
        let (folder, file) = names::split_folder(name);
        return format!("{folder}{}", names::shorten(file, max));
    }
    let safe = names::sanitize_file_name(name, &id.to_string());
    names::shorten(&safe, max)
}

/// The sources this peer can reach: directly, or (firewalled ones) by a
/// reverse connection when it can take one; and the others, with why they
/// are not used.
pub(super) fn reachable(sources: Vec<Source>) -> (Vec<Source>, Vec<(String, String)>) {
    let (firewalled, direct): (Vec<Source>, Vec<Source>) = sources
        .into_iter()
        .partition(|s| super::transfer::out_of_reach(&s.http_addr));
    let dropped = firewalled
        .into_iter()
        .map(|s| (s.peer, super::transfer::FIREWALLED.to_string()))
        .collect();
    (direct, dropped)
}

/// The sources a download may use once the size is proved, and those it
/// drops with the reason: a claim of another size, or an answer that failed
/// verification.
pub(super) fn admit(sources: Vec<Source>, proven: &Proven) -> (Vec<Source>, Vec<(String, String)>) {
    let liars: HashMap<&str, &str> = proven
        .liars
        .iter()
        .map(|(p, why)| (p.as_str(), why.as_str()))
        .collect();
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for s in sources {
        if s.size != proven.size {
            dropped.push((s.peer.clone(), size_mismatch(s.size, proven.size)));
        } else if let Some(why) = liars.get(s.peer.as_str()) {
            dropped.push((s.peer.clone(), why.to_string()));
        } else {
            kept.push(s);
        }
    }
    (kept, dropped)
}

/// Why a source claiming `claimed` bytes is not used for a file of `size`.
pub(super) fn size_mismatch(claimed: u64, size: u64) -> String {
    format!("claims the file is {claimed} bytes, but it is {size} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pieces::MIN_PIECE_SIZE;
    use crate::wire::HttpAddr;

    fn source(peer: &str, size: u64, name: &str) -> Source {
        Source {
            peer: peer.into(),
            http_addr: HttpAddr::parse("http://127.0.0.1:9").unwrap(),
            name: name.into(),
            size,
        }
    }

    #[test]
    fn claims_are_tried_in_turn_provable_sizes_first() {
        let big = 3 * MIN_PIECE_SIZE;
        let s = [
            source("a", 10, "x"),
            source("b", big, "x"),
            source("c", big + 1, "x"),
            source("d", big + 1, "x"),
            source("e", big + 1, "x"),
            source("f", big, "x"),
        ];
        let order: Vec<&str> = attempt_order(&s).iter().map(|x| x.peer.as_str()).collect();
        assert_eq!(order, vec!["c", "b", "a", "d", "f", "e"]);
    }

    #[test]
    fn only_sources_that_claim_the_proved_size_and_never_lied_are_used() {
        let size = 3 * MIN_PIECE_SIZE;
        let proven = Proven {
            size,
            cvs: Vec::new(),
            whole: None,
            by: "b".into(),
            liars: vec![
                ("a".into(), "its piece list is wrong".into()),
                ("d".into(), "its piece list is wrong".into()),
            ],
        };
        let (kept, dropped) = admit(
            vec![
                source("a", size, "x"),
                source("b", size, "x"),
                source("c", size + 1, "x"),
                source("d", size + 9, "x"),
            ],
            &proven,
        );
        assert_eq!(kept, vec![source("b", size, "x")]);
        assert_eq!(
            dropped,
            vec![
                ("a".to_string(), "its piece list is wrong".to_string()),
                ("c".to_string(), size_mismatch(size + 1, size)),
                ("d".to_string(), size_mismatch(size + 9, size)),
            ]
        );
    }

    #[test]
    fn names_come_from_most_sources_and_the_asked_name_wins() {
        let id = FileId::of(b"x");
        let s = [
            source("a", 1, "Invoice 2024.pdf.exe"),
            source("b", 1, "Invoice 2024.pdf"),
            source("c", 1, "Invoice 2024.pdf"),
        ];
        let dir = Path::new("/tmp");
        assert_eq!(name(None, &s, id, dir).unwrap(), "Invoice 2024.pdf");
        assert_eq!(name(Some("mine.pdf"), &s, id, dir).unwrap(), "mine.pdf");
        assert!(name(Some("../x"), &s, id, dir).is_err());
        let verified = vec![("honest.pdf".to_string(), 10), ("other.pdf".to_string(), 5)];
        assert_eq!(final_name(None, &verified, "liar.exe", id), "honest.pdf");
        assert_eq!(
            final_name(Some("mine.pdf"), &verified, "mine.pdf", id),
            "mine.pdf"
        );
        assert_eq!(final_name(None, &[], "kept.pdf", id), "kept.pdf");
        let two_to_one = vec![
            ("a.pdf".to_string(), 1),
            ("a.pdf".to_string(), 1),
            ("b.pdf".to_string(), 100),
        ];
        assert_eq!(final_name(None, &two_to_one, "x", id), "a.pdf");
    }
}
