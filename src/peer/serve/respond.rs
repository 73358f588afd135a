//! Building and sending answers: headers, plain text and JSON bodies, and
//! `send`, which every answer of a peer goes through.

use std::io::{self, Read};

use serde::Serialize;
use tiny_http::{Header, Request, Response, StatusCode};

pub(super) fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values we build are ASCII")
}

/// A body built in memory.
pub(super) type Answer = Response<io::Cursor<Vec<u8>>>;

pub(super) fn text(status: u16, body: &str) -> Answer {
    Response::from_string(format!("{body}\n"))
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Answer {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "application/json"))
}

pub(super) fn request_header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

pub(super) fn send<R: Read>(rq: Request, resp: Response<R>) {
    log::debug!(
        "{} {} {} -> {}",
        rq.remote_addr()
            .map_or_else(|| "?".to_string(), |a| a.to_string()),
        rq.method(),
        rq.url(),
        resp.status_code().0
    );
    // No answer of a peer is to be read as anything but its type.
    let resp = resp.with_header(header("X-Content-Type-Options", "nosniff"));
    if let Err(e) = rq.respond(resp) {
        log::debug!("response not delivered: {e}");
    }
}

pub(super) fn not_allowed(rq: Request, allow: &str) {
    send(
        rq,
        text(405, "method not allowed").with_header(header("Allow", allow)),
    )
}
