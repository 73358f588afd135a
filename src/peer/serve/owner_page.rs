//! `/owner`: the running peer's page for its owner (see `owner.rs` for
//! the sign-in and its tokens). Signed in, the owner searches the group,
//! browses another peer, queues a download to this peer with one click,
//! and watches the queue (`/owner/queue`, a page that refreshes itself:
//! no script) with its pause, resume and cancel buttons. Every form that
//! changes something posts its session's form token; one without it, or
//! with another session's, is refused (403) and changes nothing. A visitor
//! who is not signed in gets the sign-in form only. Over `tls = false`
//! there is no owner page (its cookie needs HTTPS).

use std::fmt::Write;
use std::io::Read;
use std::time::Instant;

use tiny_http::{Method, Request};

use super::context::Ctx;
use super::form::{form_decode, PageQuery};
use super::owner::{cleared_cookie, session_cookie, Refused, Signed};
use super::page::{html, SearchPlace};
use super::respond::{header, send, Answer};
use crate::html::Esc;
use crate::units::human_size;
use crate::wire::{QueueEntry, QueueOp, QueueState, Wish, WishOp};

/// Most bytes of a posted form.
const MAX_FORM_BYTES: u64 = 8 * 1024;
/// Seconds between two loads of the queue page while something runs.
const REFRESH_SECS: u32 = 2;

/// Routes `/owner/...` (`rest` is what follows `owner`).
pub(super) fn route(ctx: &Ctx, mut rq: Request, rest: &[&str]) {
    let host = &*ctx.host;
    if host.keyprint().is_none() {
        let body = page(host.name(), None, "<p class=\"error\">The owner's page needs HTTPS: this peer runs with <code>tls = false</code>.</p>");
        return send(rq, html(403, body));
    }
    let now = Instant::now();
    let signed = ctx.owner.session(&rq, now);
    let query = rq.url().split_once('?').map_or("", |(_, q)| q).to_string();
    match (rest, rq.method().clone(), signed) {
        ([] | [""], Method::Get | Method::Head, Some(s)) => home(ctx, rq, &s, &query),
        ([] | [""], Method::Get | Method::Head, None) => send(rq, sign_in_page(ctx, 200, "")),
        (["queue"], Method::Get | Method::Head, Some(s)) => {
            let body = queue_page(host.name(), &s, &host.queue_list());
            send(rq, html(200, body))
        }
        // GET only: a HEAD (a link preview) does not use up the link.
        (["sign-in"], Method::Get, _) => {
            let once = field(&query, "once").unwrap_or_default();
            match ctx.owner.sign_in_by_link(&once, now) {
                Some(token) => send(rq, signed_in(&token)),
                None => send(
                    rq,
                    sign_in_page(ctx, 403, "This sign-in link is used up or too old: <code>peer web-login</code> prints a new one."),
                ),
            }
        }
        (["sign-in"], Method::Post, _) => {
            let form = read_form(&mut rq);
            let password = field(&form, "password").unwrap_or_default();
            match ctx.owner.sign_in(host.owner_password_hash(), &password, now) {
                Ok(token) => send(rq, signed_in(&token)),
                Err(Refused::NoPassword) => send(
                    rq,
                    sign_in_page(ctx, 403, "This peer has no owner password (<code>web_password_hash</code>): sign in with a link from <code>peer web-login</code>."),
                ),
                Err(Refused::Wrong) => send(rq, sign_in_page(ctx, 403, "Wrong password.")),
                Err(Refused::Slowed(wait)) => {
                    let secs = wait.as_secs().max(1);
                    let why = format!("Too many wrong passwords: try again in {secs} s, or sign in with a link from <code>peer web-login</code>.");
                    let answer = sign_in_page(ctx, 429, &why)
                        .with_header(header("Retry-After", &secs.to_string()));
                    send(rq, answer)
                }
            }
        }
        (["queue" | "sign-out" | "wishes"], Method::Post, signed) => {
            let form = read_form(&mut rq);
            let token = field(&form, "form").unwrap_or_default();
            if signed.is_none() || !ctx.owner.form_ok(&rq, &token, now) {
                log::warn!("owner page: a form without its session's token was refused");
                let body = page(host.name(), None, "<p class=\"error\">This form's token does not match a signed-in session: nothing was changed. <a href=\"/owner\">Reload the owner's page</a> and try again.</p>");
                return send(rq, html(403, body));
            }
            if rest == ["sign-out"] {
                ctx.owner.sign_out(&rq);
                let answer =
                    see_other("/owner").with_header(header("Set-Cookie", &cleared_cookie()));
                return send(rq, answer);
            }
            let done = match rest {
                ["wishes"] => wish_op(&form)
                    .and_then(|op| host.wishes_apply(op))
                    .map(|_| "/owner#wishes"),
                _ => queue_op(&form)
                    .and_then(|op| host.queue_apply(op))
                    .map(|_| "/owner/queue"),
            };
            match done {
                Ok(to) => send(rq, see_other(to)),
                Err(why) => {
                    let body = format!("<p class=\"error\">{}</p><p><a href=\"/owner/queue\">Back to the queue</a></p>", Esc(&why));
                    send(rq, html(409, page(host.name(), signed.as_ref(), &body)))
                }
            }
        }
        (["queue"], _, None) => send(rq, sign_in_page(ctx, 401, "Sign in first.")),
        _ => send(
            rq,
            html(
                404,
                page(host.name(), None, "<p class=\"error\">No such page.</p>"),
            ),
        ),
    }
}

/// The answer to a sign-in: the session's cookie, and on to the page.
fn signed_in(token: &str) -> Answer {
    see_other("/owner").with_header(header("Set-Cookie", &session_cookie(token)))
}

fn see_other(to: &str) -> Answer {
    html(303, String::new()).with_header(header("Location", to))
}

/// The form's body (at most [`MAX_FORM_BYTES`]; empty if unreadable).
fn read_form(rq: &mut Request) -> String {
    let mut body = String::new();
    let _ = rq
        .as_reader()
        .take(MAX_FORM_BYTES)
        .read_to_string(&mut body);
    body
}

/// The value of `key` in a form-encoded `form`.
fn field(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| form_decode(v))
}

/// The queue change a form asks for.
fn queue_op(form: &str) -> Result<QueueOp, String> {
    let n = || {
        field(form, "n")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| "no download number".to_string())
    };
    match field(form, "op").as_deref() {
        Some("add") => Ok(QueueOp::Add {
            id: field(form, "id").unwrap_or_default(),
            name: field(form, "name").filter(|n| !n.is_empty()),
            copy: false,
        }),
        Some("pause") => Ok(QueueOp::Pause { n: n()? }),
        Some("resume") => Ok(QueueOp::Resume { n: n()? }),
        Some("cancel") => Ok(QueueOp::Cancel { n: n()? }),
        _ => Err("not a queue change".into()),
    }
}

/// The wishlist change a form asks for.
fn wish_op(form: &str) -> Result<WishOp, String> {
    match field(form, "op").as_deref() {
        Some("add") => Ok(WishOp::Add {
            query: field(form, "query").unwrap_or_default(),
            queue: field(form, "queue").is_some(),
        }),
        Some("remove") => Ok(WishOp::Remove {
            n: field(form, "n")
                .and_then(|n| n.parse().ok())
                .ok_or("no wish number")?,
        }),
        _ => Err("not a wishlist change".into()),
    }
}

/// The wishlist: each wish with what it found, a remove button, and the
/// form that adds one.
fn wishes_section(out: &mut String, s: &Signed, wishes: &[Wish]) {
    out.push_str("<section id=\"wishes\"><h2>Wishlist</h2>");
    for w in wishes {
        let does = if w.queue {
            "downloads new matches"
        } else {
            "shows new matches"
        };
        let _ = write!(
            out,
            "<div class=\"wish\"><strong>{}</strong> <span class=\"note\">({does})</span> ",
            Esc(&w.query)
        );
        let n = w.n.to_string();
        post_button(
            out,
            s,
            "/owner/wishes",
            &[("op", "remove"), ("n", &n)],
            "Remove",
        );
        out.push_str("<ul class=\"sources\">");
        for m in &w.matches {
            let _ = write!(
                out,
                "<li>{} <span class=\"size\">{}</span> ",
                Esc(&m.name),
                human_size(m.size)
            );
            match m.queued {
                Some(q) => {
                    let _ = write!(out, "<span class=\"note\">queued as download {q}</span>");
                }
                None => post_button(
                    out,
                    s,
                    "/owner/queue",
                    &[("op", "add"), ("id", &m.id)],
                    "Download to this peer",
                ),
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></div>");
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/owner/wishes\"><input type=\"hidden\" name=\"form\" value=\"{}\">\
         <input type=\"hidden\" name=\"op\" value=\"add\">\
         <input type=\"search\" name=\"query\" placeholder=\"words to look for every few minutes\" aria-label=\"A new wish\" required>\
         <label><input type=\"checkbox\" name=\"queue\" value=\"1\" checked> download what it finds</label>\
         <button type=\"submit\">Add to the wishlist</button></form></section>",
        Esc(&s.form_token)
    );
}

/// A page of the owner's: its header (with the sign-out form when signed
/// in) around `body`.
fn page(peer: &str, signed: Option<&Signed>, body: &str) -> String {
    page_with(peer, signed, body, "")
}

fn page_with(peer: &str, signed: Option<&Signed>, body: &str, head: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{head}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{peer} · owner · hubshare</title><link rel=\"stylesheet\" href=\"/page.css\"></head><body>\
         <header><h1><a href=\"/owner\">hubshare</a> · <span class=\"peer\">{peer}</span> · owner</h1>",
        peer = Esc(peer)
    );
    if let Some(s) = signed {
        let _ = write!(
            out,
            "<nav class=\"owner\"><a href=\"/owner\">Search</a> · <a href=\"/owner/queue\">Queue</a> · <a href=\"/\">Public page</a></nav>\
             <form class=\"inline\" method=\"post\" action=\"/owner/sign-out\"><input type=\"hidden\" name=\"form\" value=\"{}\"><button type=\"submit\">Sign out</button></form>",
            Esc(&s.form_token)
        );
    }
    out.push_str("</header><main>");
    out.push_str(body);
    out.push_str("</main></body></html>\n");
    out
}

fn sign_in_page(ctx: &Ctx, status: u16, said: &str) -> Answer {
    let mut body = String::from("<section><h2>Sign in as this peer's owner</h2>");
    if !said.is_empty() {
        let _ = write!(body, "<p class=\"error\">{said}</p>");
    }
    body.push_str(
        "<form id=\"sign-in\" method=\"post\" action=\"/owner/sign-in\">\
         <input type=\"password\" name=\"password\" autocomplete=\"current-password\" aria-label=\"Owner's password\" required>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"note\">Or run <code>peer web-login</code> beside this peer: it prints a one-time sign-in link.</p></section>",
    );
    html(status, page(ctx.host.name(), None, &body))
}

/// A button that posts one queue change.
fn button(out: &mut String, s: &Signed, fields: &[(&str, &str)], label: &str) {
    post_button(out, s, "/owner/queue", fields, label)
}

/// A button that posts `fields` (and the session's form token) to `to`.
fn post_button(out: &mut String, s: &Signed, to: &str, fields: &[(&str, &str)], label: &str) {
    let _ = write!(
        out,
        "<form class=\"inline\" method=\"post\" action=\"{to}\"><input type=\"hidden\" name=\"form\" value=\"{}\">",
        Esc(&s.form_token)
    );
    for (k, v) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            Esc(v)
        );
    }
    let _ = write!(out, "<button type=\"submit\">{label}</button></form>");
}

/// Search (`?q=`) and browse (`?peer=`), each result with its download
/// button.
fn home(ctx: &Ctx, rq: Request, s: &Signed, query: &str) {
    let host = &*ctx.host;
    let ask = PageQuery::parse(query).unwrap_or_else(|(ask, _)| ask);
    let mut body = format!(
        "<section><form method=\"get\" action=\"/owner\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"words of a file name, or a file id\" aria-label=\"Search the group\">\
         <button type=\"submit\">Search the group</button></form>\
         <form method=\"get\" action=\"/owner\"><input type=\"search\" name=\"peer\" value=\"{}\" placeholder=\"a peer's name\" aria-label=\"Browse a peer\">\
         <button type=\"submit\">Browse</button></form></section>",
        Esc(&ask.q),
        Esc(&ask.peer)
    );
    let busy =
        "<p class=\"error\">This peer is running too many searches; try again in a moment.</p>";
    if !ask.q.is_empty() {
        body.push_str("<section class=\"results\"><h2>Found</h2>");
        match SearchPlace::take(&ctx.page_searches).map(|_p| host.search(&ask.q, ask.limit)) {
            None => body.push_str(busy),
            Some(Err(e)) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", Esc(&e.to_string()));
            }
            Some(Ok(found)) if found.hits.is_empty() => {
                body.push_str("<p>No shared file matches.</p>")
            }
            Some(Ok(found)) => {
                body.push_str("<table><tr><th>Name</th><th class=\"num\">Size</th><th class=\"num\">Sources</th><th></th></tr>");
                for h in &found.hits {
                    let name = h.names.first().map_or("", String::as_str);
                    let _ = write!(
                        body,
                        "<tr><td class=\"name\">{}<div class=\"id\">{}</div></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>",
                        Esc(name),
                        h.id,
                        human_size(h.size),
                        h.source_count
                    );
                    button(
                        &mut body,
                        s,
                        &[("op", "add"), ("id", &h.id.to_string())],
                        "Download to this peer",
                    );
                    body.push_str("</td></tr>");
                }
                body.push_str("</table>");
            }
        }
        body.push_str("</section>");
    }
    if !ask.peer.is_empty() {
        let _ = write!(
            body,
            "<section class=\"share\"><h2>Shared by {}</h2>",
            Esc(&ask.peer)
        );
        match SearchPlace::take(&ctx.page_searches).map(|_p| host.browse(&ask.peer)) {
            None => body.push_str(busy),
            Some(Err(e)) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", Esc(&e.to_string()));
            }
            Some(Ok((_, files))) => {
                body.push_str("<table><tr><th>Path</th><th class=\"num\">Size</th><th></th></tr>");
                for f in &files {
                    let _ = write!(
                        body,
                        "<tr><td class=\"name\">{}</td><td class=\"num\">{}</td><td>",
                        Esc(&f.name),
                        human_size(f.size)
                    );
                    button(
                        &mut body,
                        s,
                        &[("op", "add"), ("id", &f.id.to_string())],
                        "Download to this peer",
                    );
                    body.push_str("</td></tr>");
                }
                body.push_str("</table>");
            }
        }
        body.push_str("</section>");
    }
    wishes_section(&mut body, s, &host.wishes_list());
    send(rq, html(200, page(host.name(), Some(s), &body)))
}

/// The download queue, with progress and its buttons; it reloads itself
/// every [`REFRESH_SECS`] while a download is unfinished.
fn queue_page(peer: &str, s: &Signed, list: &[QueueEntry]) -> String {
    let mut body = String::from("<section class=\"queue\"><h2>Downloads to this peer</h2>");
    if list.is_empty() {
        body.push_str("<p>The queue is empty: <a href=\"/owner\">search</a> and download.</p>");
    } else {
        body.push_str("<table><tr><th class=\"num\">#</th><th>File</th><th>State</th><th class=\"num\">Progress</th><th></th></tr>");
    }
    let mut unfinished = false;
    for e in list {
        let what = e.label();
        let (state, ended) = match &e.state {
            QueueState::Queued => ("queued".to_string(), false),
            QueueState::Waiting { why } => (format!("waiting for a source: {why}"), false),
            QueueState::Active => ("active".to_string(), false),
            QueueState::Paused => ("paused".to_string(), false),
            QueueState::Done { path, .. } => (format!("done: {path}"), true),
            QueueState::Failed { why } => (format!("failed: {why}"), true),
        };
        unfinished |= !ended && e.state != QueueState::Paused;
        let progress = match (e.done, e.size) {
            (_, 0) => String::new(),
            (d, t) => format!("{} of {} ({}%)", human_size(d), human_size(t), d * 100 / t),
        };
        let _ = write!(
            body,
            "<tr class=\"entry\" data-n=\"{}\"><td class=\"num\">{}</td><td class=\"name\">{}</td><td class=\"state\">{}</td><td class=\"num\">{}</td><td>",
            e.n,
            e.n,
            Esc(&what),
            Esc(&state),
            progress
        );
        let n = e.n.to_string();
        match &e.state {
            QueueState::Queued | QueueState::Active | QueueState::Waiting { .. } => {
                button(&mut body, s, &[("op", "pause"), ("n", &n)], "Pause")
            }
            QueueState::Paused | QueueState::Failed { .. } => {
                button(&mut body, s, &[("op", "resume"), ("n", &n)], "Resume")
            }
            QueueState::Done { .. } => {}
        }
        if !matches!(e.state, QueueState::Done { .. }) {
            button(&mut body, s, &[("op", "cancel"), ("n", &n)], "Cancel");
        }
        body.push_str("</td></tr>");
    }
    if !list.is_empty() {
        body.push_str("</table>");
    }
    body.push_str("</section>");
    let head = match unfinished {
        true => format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"),
        false => String::new(),
    };
    page_with(peer, Some(s), &body, &head)
}
