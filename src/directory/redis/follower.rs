//! The `redis-follower` thread: a snapshot of every peer, then the event
//! stream applied in order; a new snapshot after a gap.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Value};

use super::super::event::Event;
use super::super::roster::Roster;
use super::conn::{as_str, connect};
use super::shared::{Applied, Shared};
use crate::sync::{MutexExt, RwLockExt};
use crate::wire::{HttpAddr, SharedFile};

/// How long one blocking read of the stream waits.
pub(super) const FOLLOW_BLOCK_MS: usize = 500;
/// The follower thread: snapshot, then apply the stream in order; again
/// from a snapshot after a gap; retrying while Redis is away.
pub(super) fn follow(sh: &Shared) {
    let mut conn: Option<redis::Connection> = None;
    let mut need_snapshot = true;
    while !sh.stop.load(Ordering::Acquire) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&sh.client, Duration::from_millis(FOLLOW_BLOCK_MS as u64)) {
                Ok(c) => {
                    // After an outage the store may be another one (Redis
                    // restarted empty): the epoch check below decides.
                    conn.insert(c)
                }
                Err(e) => {
                    log::debug!("follower: Redis unreachable: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            },
        };
        let step = if need_snapshot {
            snapshot(sh, c).map(|()| false)
        } else {
            follow_once(sh, c)
        };
        match step {
            Ok(gap) => {
                *sh.last_contact.locked() = Instant::now();
                need_snapshot = gap;
            }
            Err(e) => {
                log::warn!("follower: {e}");
                conn = None;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// The last entry of the stream, as `XREVRANGE .. COUNT 1` gives it.
pub(super) type StreamTail = Vec<(String, Vec<(String, String)>)>;

/// Notes the stream's position, reads every peer into a new roster, and
/// puts it in place.
pub(super) fn snapshot(sh: &Shared, c: &mut redis::Connection) -> redis::RedisResult<()> {
    let p = &sh.prefix;
    let t = Instant::now();
    // The epoch, the last number and the last stream id, together.
    let (epoch, seq, last): (Option<String>, Option<u64>, StreamTail) = redis::pipe()
        .atomic()
        .get(format!("{p}epoch"))
        .get(format!("{p}seq"))
        .cmd("XREVRANGE")
        .arg(format!("{p}events"))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(c)?;
    let id = last
        .first()
        .map_or_else(|| "0-0".to_string(), |(id, _)| id.clone());
    let mut roster = Roster::default();
    let names: Vec<String> = c
        .scan_match::<_, String>(format!("{p}peer:*"))?
        .map(|k| k[p.len() + "peer:".len()..].to_string())
        .collect();
    let mut peers = 0usize;
    for chunk in names.chunks(256) {
        let mut pipe = redis::pipe();
        for name in chunk {
            pipe.hget(format!("{p}peer:{name}"), &["session", "addr"])
                .hvals(format!("{p}files:{name}"));
        }
        let rows: Vec<Value> = pipe.query(c)?;
        for (name, pair) in chunk.iter().zip(rows.chunks(2)) {
            let Some(event) = joined_from(name, pair) else {
                continue;
            };
            roster.apply(event);
            peers += 1;
        }
    }
    *sh.roster.writing() = roster;
    let mut at = sh.applied.locked();
    *at = Applied {
        epoch,
        seq: seq.unwrap_or(0),
        id,
    };
    sh.synced.store(true, Ordering::Release);
    sh.applied_changed.notify_all();
    log::info!(
        "replica synchronised from Redis: {peers} peers in {:.2}s, at event {}",
        t.elapsed().as_secs_f64(),
        at.seq
    );
    Ok(())
}

/// A peer as the snapshot reads it, as the event that makes it.
pub(super) fn joined_from(name: &str, pair: &[Value]) -> Option<Event> {
    let [fields, files] = pair else { return None };
    let (session, addr) = match fields {
        Value::Array(v) if v.len() == 2 => (as_str(&v[0])?, as_str(&v[1])?),
        _ => return None,
    };
    let files = match files {
        Value::Array(v) => v
            .iter()
            .filter_map(|f| serde_json::from_str::<SharedFile>(&as_str(f)?).ok())
            .collect(),
        _ => Vec::new(),
    };
    Some(Event::Joined {
        name: name.to_string(),
        session,
        http_addr: HttpAddr::parse(&addr).ok()?,
        files,
    })
}

/// One blocking read of the stream, applied in order. Returns whether a
/// gap was found (a snapshot is needed).
pub(super) fn follow_once(sh: &Shared, c: &mut redis::Connection) -> redis::RedisResult<bool> {
    let p = &sh.prefix;
    let from = sh.applied.locked().clone();
    let opts = StreamReadOptions::default()
        .block(FOLLOW_BLOCK_MS)
        .count(1000);
    let reply: Option<StreamReadReply> =
        c.xread_options(&[format!("{p}events")], &[from.id.as_str()], &opts)?;
    let entries = reply
        .and_then(|r| r.keys.into_iter().next())
        .map(|k| k.ids)
        .unwrap_or_default();
    if entries.is_empty() {
        // Quiet: is it still the same store? (Redis may have restarted
        // empty, with no event since.)
        let epoch: Option<String> = c.get(format!("{p}epoch"))?;
        let seq: Option<u64> = c.get(format!("{p}seq"))?;
        // (Events added since the read are read next time; a store whose
        // epoch changed or whose count went back is another store.)
        return Ok(epoch != from.epoch || seq.unwrap_or(0) < from.seq);
    }
    if !sh.lag.is_zero() {
        std::thread::sleep(sh.lag);
    }
    let mut roster = sh.roster.writing();
    let mut at = sh.applied.locked();
    for entry in entries {
        let get = |k: &str| entry.map.get(k).and_then(as_str);
        let (Some(seq), Some(epoch), Some(body)) = (
            get("seq").and_then(|s| s.parse::<u64>().ok()),
            get("epoch"),
            get("e"),
        ) else {
            log::warn!("follower: event {} has no seq, epoch or body", entry.id);
            return Ok(true);
        };
        let same_epoch = at.epoch.as_deref().is_none_or(|e| e == epoch);
        if !same_epoch || seq != at.seq + 1 {
            log::info!(
                "follower: gap before event {seq} (epoch {epoch}); at {} (epoch {:?}): resynchronising",
                at.seq,
                at.epoch
            );
            return Ok(true);
        }
        match serde_json::from_str::<Event>(&body) {
            Ok(event) => {
                roster.apply(event);
            }
            Err(e) => log::warn!("follower: event {seq} unreadable ({e}); skipped"),
        }
        at.seq = seq;
        at.epoch = Some(epoch);
        at.id = entry.id.clone();
    }
    drop(roster);
    sh.applied_changed.notify_all();
    Ok(false)
}
