//! One range of a file fetched from one source with a `Range` request,
//! reading no more than asked whatever the source sends, and why it failed.

use std::io::{self, Read};
use std::time::Duration;

use super::transfer::http_err;
use crate::id::FileId;
use crate::wire::{HttpAddr, PEER_HEADER, QUEUE_HEADER};

/// Why a range could not be fetched.
#[derive(Debug)]
pub(super) enum FetchError {
    /// The source is busy and put us in its queue (503): ask again after
    /// `retry_after`; `position` is our place in line, when it says.
    Queued {
        retry_after: Duration,
        position: Option<usize>,
    },
    /// The source does not have the file (any more): drop it at once.
    Gone(String),
    /// Another certificate than the listed one answered: drop it at once.
    NotTheListed(String),
    /// Anything else, said for people.
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Queued {
                position: Some(p), ..
            } => write!(f, "busy (503): queued at position {p}"),
            FetchError::Queued { .. } => f.write_str("busy (503)"),
            FetchError::Gone(why) | FetchError::NotTheListed(why) | FetchError::Failed(why) => {
                f.write_str(why)
            }
        }
    }
}

/// `len` bytes at `offset` of the file `id` of `size` bytes.
pub(super) struct Range {
    pub id: FileId,
    pub size: u64,
    pub offset: u64,
    pub len: u64,
}

/// Fetches `range` into `into` (its old bytes are overwritten; it is
/// resized to the range, so a worker that keeps one buffer for all its
/// pieces allocates and zeroes it once) with a `Range` request, naming
/// this downloader `me` (so the source counts all our connections as one
/// downloader), within `timeout` when given, reading no more than asked
/// whatever the source sends. `Ok(false)` when `stop` turned true
/// meanwhile: `into` then holds no whole range.
pub(super) fn fetch_range(
    agent: &ureq::Agent,
    base: &HttpAddr,
    range: &Range,
    me: Option<&str>,
    timeout: Option<Duration>,
    stop: &dyn Fn() -> bool,
    into: &mut Vec<u8>,
) -> Result<bool, FetchError> {
    let Range {
        id,
        size,
        offset,
        len,
    } = *range;
    let failed = |why: String| Err(FetchError::Failed(why));
    let end = offset + len - 1;
    let url = base.url(&format!("/files/{id}"));
    let mut req = agent
        .get(&url)
        .set("Range", &format!("bytes={offset}-{end}"));
    if let Some(me) = me {
        req = req.set(PEER_HEADER, me);
    }
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(503, r)) => {
            let number = |h: &str| r.header(h).and_then(|v| v.trim().parse::<u64>().ok());
            return Err(FetchError::Queued {
                retry_after: Duration::from_secs(number("Retry-After").unwrap_or(1).max(1)),
                position: number(QUEUE_HEADER).map(|p| p as usize),
            });
        }
        Err(ureq::Error::Status(code @ (404 | 410), _)) => {
            return Err(FetchError::Gone(format!(
                "answered {code}: it does not share the file (any more)"
            )))
        }
        Err(e) => {
            let e = http_err(&url, e);
            return match e.not_the_listed() {
                Some(why) => Err(FetchError::NotTheListed(why)),
                None => failed(e.to_string()),
            };
        }
    };
    let want = format!("bytes {offset}-{end}/{size}");
    if resp.status() != 206 || resp.header("Content-Range") != Some(want.as_str()) {
        return failed(format!(
            "asked for {want}, got status {} with Content-Range {:?}",
            resp.status(),
            resp.header("Content-Range")
        ));
    }
    let mut body = resp.into_reader().take(len);
    let data = into;
    data.resize(len as usize, 0);
    let mut got = 0;
    while got < data.len() {
        if stop() {
            return Ok(false);
        }
        let upto = (got + 64 * 1024).min(data.len());
        match body.read(&mut data[got..upto]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return failed(format!("{url}: {e}")),
        }
    }
    if got < data.len() {
        return failed(format!(
            "{url}: connection closed after {got} of {len} bytes"
        ));
    }
    Ok(true)
}
