//! Serving shared files: `GET|HEAD /files/{id}` (conditional requests, one
//! `Range`, upload slots and their queue, the rate limit) and
//! `GET /files/{id}/pieces`.

use std::io::{Read, Seek, SeekFrom};

use tiny_http::{Header, Method, Request, Response, StatusCode};

use super::context::Ctx;
use super::host::Host;
use super::metrics::Counting;
use super::queue::{Admission, PEER_HEADER, QUEUE_HEADER};
use super::range::ByteRange;
use super::respond::{header, json, request_header, send, text};
use super::throttle::Throttled;
use crate::id::FileId;
use crate::names::check_peer_name;
use crate::wire::{percent_encode, PieceList};

/// Who a request counts against for upload slots: over TLS with a client
/// certificate, its keyprint (which nobody else can show); else the peer
/// name it gives, scoped to its address (so nobody elsewhere shares its
/// slot), else the address alone.
fn downloader(rq: &Request) -> String {
    if let Some(kp) = rq
        .client_certificate()
        .and_then(|c| crate::tls::keyprint_of(c).ok())
    {
        return format!("keyprint {kp}");
    }
    let ip = rq.remote_addr().map_or_else(
        || "unknown".to_string(),
        |a| a.ip().to_canonical().to_string(),
    );
    match request_header(rq, PEER_HEADER) {
        Some(name) if check_peer_name(name).is_ok() => format!("{name}@{ip}"),
        _ => ip,
    }
}

pub(super) fn serve_pieces(host: &dyn Host, rq: Request, raw_id: &str) {
    let id = match FileId::parse(raw_id) {
        Ok(id) => id,
        Err(e) => return send(rq, text(400, &e.to_string())),
    };
    let Some(file) = host.file(&id) else {
        return send(rq, text(404, &format!("this peer does not share {id}")));
    };
    match host.pieces(&id) {
        Ok(cvs) => send(rq, json(200, &PieceList::new(id, file.size, &cvs))),
        Err(e) => {
            log::warn!("piece list of {id}: {e}");
            send(rq, text(404, &format!("{id} is no longer available here")))
        }
    }
}

pub(super) fn serve_file(ctx: &Ctx, rq: Request, raw_id: &str) {
    let id = match FileId::parse(raw_id) {
        Ok(id) => id,
        Err(e) => return send(rq, text(400, &e.to_string())),
    };
    let Some(shared) = ctx.host.file(&id) else {
        ctx.metrics.turned_away("not_found");
        return send(rq, text(404, &format!("this peer does not share {id}")));
    };
    // The id is the hash of the bytes: the ETag never changes for a URL.
    let etag = format!("\"{id}\"");
    if request_header(&rq, "If-None-Match").is_some_and(|v| etag_listed(v, &etag)) {
        return send(rq, Response::empty(304).with_header(header("ETag", &etag)));
    }
    // Only a body costs a slot, and only of a file above the free size;
    // HEAD and refusals do not.
    let ticket = if *rq.method() == Method::Get && shared.size > ctx.free_slot_bytes {
        let who = downloader(&rq);
        match ctx.uploads.admit(&who, std::time::Instant::now()) {
            Admission::Served(ticket) => Some(ticket),
            Admission::Queued {
                position,
                retry_after,
            } => {
                let secs = retry_after.as_secs().max(1);
                ctx.metrics.turned_away("queued");
                return send(
                    rq,
                    text(
                        503,
                        &format!(
                            "every upload slot of this peer is taken; you are number {position} \
                             in line: ask again within {secs} s to keep your place"
                        ),
                    )
                    .with_header(header("Retry-After", &secs.to_string()))
                    .with_header(header(QUEUE_HEADER, &position.to_string())),
                );
            }
        }
    } else {
        None
    };
    let gone = || text(404, &format!("{id} is no longer available here"));
    let (mut file, len) = match ctx.host.open(&id) {
        Ok(opened) => opened,
        Err(e) => {
            log::warn!("cannot open shared file {id} ({}): {e}", shared.name);
            ctx.metrics.turned_away("gone");
            return send(rq, gone());
        }
    };
    if len != shared.size {
        // Changed since it was hashed: its bytes no longer match the id.
        log::warn!(
            "{} ({id}) changed since it was hashed; not serving it",
            shared.name
        );
        ctx.metrics.turned_away("gone");
        return send(rq, gone());
    }
    let common = [
        header("Accept-Ranges", "bytes"),
        header("ETag", &etag),
        header("Content-Disposition", &content_disposition(&shared.name)),
    ];
    // If-Range: the range only if the validator is our (strong) ETag;
    // anything else (another ETag, a date: we send no Last-Modified) means
    // the client's copy may differ, so it gets the whole file.
    let range_header = match request_header(&rq, "If-Range") {
        Some(v) if v.trim() != etag => None,
        _ => request_header(&rq, "Range"),
    };
    let range = ByteRange::parse(range_header, len);
    let (status, start, count) = match range {
        ByteRange::Full => (200, 0, len),
        ByteRange::Part { start, end } => (206, start, end - start + 1),
        ByteRange::Unsatisfiable => {
            ctx.metrics.turned_away("unsatisfiable");
            let mut resp = text(
                416,
                &format!("range not satisfiable: the file has {len} bytes"),
            )
            .with_header(header("Content-Range", &format!("bytes */{len}")));
            for h in common {
                resp.add_header(h);
            }
            return send(rq, resp);
        }
    };
    if start > 0 {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            log::warn!("seek in {} ({id}): {e}", shared.name);
            return send(rq, text(500, "read error"));
        }
    }
    let mut headers: Vec<Header> = common.into();
    headers.push(header("Content-Type", "application/octet-stream"));
    if status == 206 {
        headers.push(header(
            "Content-Range",
            &format!("bytes {start}-{}/{len}", start + count - 1),
        ));
    }
    let share = ticket.as_ref().and_then(|t| t.share.clone());
    let sent = ticket.as_ref().map(|t| t.bytes.clone());
    let counted = ctx.metrics.bytes_sent.clone();
    let body: Box<dyn Read + Send> = match &ctx.bucket {
        Some(bucket) => Box::new(Counting::new(
            Throttled::new(file.take(count), bucket.clone(), share, sent),
            counted,
        )),
        None => Box::new(Counting::new(
            Throttled::unpaced(file.take(count), sent),
            counted,
        )),
    };
    if *rq.method() == Method::Get {
        ctx.metrics.files_served.inc();
    }
    // No BufReader: the vendored tiny_http reads the body in blocks of its
    // length, up to 256 KiB (a BufReader's own 256 KiB buffer was zeroed
    // for every small file served).
    let resp = Response::new(
        StatusCode(status),
        headers,
        body,
        Some(count as usize),
        None,
    )
    // Always send Content-Length (tiny_http would switch to chunked for
    // large bodies), so clients know the size and HEAD reports it.
    .with_chunked_threshold(usize::MAX);
    send(rq, resp);
    // The slot is given back only once the body is sent.
    drop(ticket);
}

/// Whether an `If-None-Match` value lists `etag` (weak comparison, so a
/// `W/` prefix is ignored) or is `*`.
fn etag_listed(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `attachment` under the file's own name (the last component of its shared
/// path: a browser would otherwise save `music_album_01.flac`), with an
/// ASCII fallback and the exact UTF-8 name (RFC 6266).
fn content_disposition(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let tag = "\"ab\"";
        for (value, hit) in [
            ("\"ab\"", true),
            ("W/\"ab\"", true),
            ("\"x\", \"ab\"", true),
            ("*", true),
            ("\"abc\"", false),
            ("ab", false),
            ("", false),
        ] {
            assert_eq!(etag_listed(value, tag), hit, "{value}");
        }
    }

    #[test]
    fn disposition_keeps_header_safe() {
        let d = content_disposition("weird \"name\"\\é.txt");
        assert!(d.starts_with("attachment; filename=\"weird _name__"));
        assert!(d.contains("filename*=UTF-8''weird%20%22name%22%5C%C3%A9.txt"));
    }

    #[test]
    fn disposition_names_the_file_not_its_folders() {
        let d = content_disposition("Music/Björk - Homogenic (1997)/01 - Hunter.flac");
        assert_eq!(
            d,
            "attachment; filename=\"01 - Hunter.flac\"; filename*=UTF-8''01%20-%20Hunter.flac"
        );
        let d = content_disposition("Björk/Jóga.flac");
        assert!(d.ends_with("filename*=UTF-8''J%C3%B3ga.flac"), "{d}");
    }
}
