//! The control routes through which a one-shot subcommand (`peer status`,
//! `rescan`, `logout`, `login`) acts on the running peer: they answer only a request
//! that carries the secret the peer keeps in its 0600 control file.

use std::time::Instant;

use tiny_http::{Method, Request};

use super::host::Host;
use super::queue::UploadQueue;
use super::respond::{json, not_allowed, request_header, send, text};
use crate::passhash::constant_time_eq;
use crate::wire::{QueueOp, WishOp, SECRET_HEADER};

/// Most bytes of a queue or wishlist change (a JSON object with an id
/// and a name, or a search).
const MAX_OP_BYTES: u64 = 8 * 1024;

pub(super) fn control(
    host: &dyn Host,
    uploads: &UploadQueue,
    owner: &super::owner::Owner,
    rq: Request,
    action: &str,
) {
    let authorised = request_header(&rq, SECRET_HEADER)
        .is_some_and(|s| constant_time_eq(s.as_bytes(), host.secret().as_bytes()));
    if !authorised {
        return send(rq, text(403, "control routes need the peer's secret"));
    }
    match (action, rq.method()) {
        ("status", Method::Get) => {
            let mut status = host.status();
            status.uploads = uploads.now(Instant::now());
            send(rq, json(200, &status))
        }
        ("rescan", Method::Post) => match host.rescan() {
            Ok(found) => send(rq, json(200, &found)),
            Err(e) => send(rq, text(500, &e)),
        },
        ("logout", Method::Post) => match host.logout() {
            Ok(()) => send(rq, json(200, &serde_json::json!({ "logged_out": true }))),
            Err(e) => send(rq, text(502, &e)),
        },
        ("login", Method::Post) => match host.login() {
            Ok(()) => send(rq, json(200, &serde_json::json!({ "logged_in": true }))),
            // It keeps trying in the background.
            Err(e) => send(rq, text(502, &format!("{e} (it keeps trying)"))),
        },
        ("queue", Method::Get) => send(rq, json(200, &host.queue_list())),
        ("queue", Method::Post) => apply(rq, "a queue change", |op: QueueOp| {
            host.queue_apply(op).map(|e| json(200, &e))
        }),
        ("wishes", Method::Get) => send(rq, json(200, &host.wishes_list())),
        ("wishes", Method::Post) => apply(rq, "a wishlist change", |op: WishOp| {
            host.wishes_apply(op).map(|w| json(200, &w))
        }),
        // A one-time sign-in link for the owner's page.
        ("web-login", Method::Post) => {
            let token = owner.link(Instant::now());
            let path = format!("/owner/sign-in?once={token}");
            send(rq, json(200, &serde_json::json!({ "path": path })))
        }
        ("status", _) => not_allowed(rq, "GET"),
        ("rescan" | "logout" | "login", _) => not_allowed(rq, "POST"),
        _ => send(rq, text(404, "no such control action")),
    }
}

/// Reads a change (JSON) from `rq` and answers what `change` makes of it:
/// 400 for what is not `what`, 409 with the reason for a refused change.
fn apply<Op: serde::de::DeserializeOwned>(
    mut rq: Request,
    what: &str,
    change: impl FnOnce(Op) -> Result<super::respond::Answer, String>,
) {
    use std::io::Read;
    let mut body = Vec::new();
    if rq
        .as_reader()
        .take(MAX_OP_BYTES)
        .read_to_end(&mut body)
        .is_err()
    {
        return send(rq, text(400, "could not read the request"));
    }
    match serde_json::from_slice::<Op>(&body) {
        Ok(op) => match change(op) {
            Ok(answer) => send(rq, answer),
            Err(why) => send(rq, text(409, &why)),
        },
        Err(e) => send(rq, text(400, &format!("not {what}: {e}"))),
    }
}
