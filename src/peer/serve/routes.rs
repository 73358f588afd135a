//! Routing: one request to the handler of its route (the table is in the
//! folder's doc). Never panics on input: every branch answers.

use std::time::Instant;

use tiny_http::{Method, Request, Response};

use super::context::Ctx;
use super::respond::{header, json, json_listing, not_allowed, request_header, send, text};
use super::{control, files, member, owner_page, page, upload};

/// Longest request path accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Routes one request. Never panics on input: every branch answers.
pub(super) fn handle(ctx: &Ctx, rq: Request) {
    let url = rq.url().to_string();
    if url.len() > MAX_URL_LEN {
        return send(rq, text(414, "URL too long"));
    }
    // Request smuggling: a body whose length two headers disagree on (or
    // that has a length and a transfer coding) has no single meaning.
    let lengths = rq
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Content-Length"))
        .count();
    let coded = request_header(&rq, "Transfer-Encoding").is_some();
    if lengths > 1 || (lengths == 1 && coded) {
        return send(
            rq,
            text(
                400,
                "the request gives its body length twice (Content-Length and Transfer-Encoding, or two Content-Length headers)",
            ),
        );
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = rq.method().clone();
    let host = &*ctx.host;
    // In a closed group, everything but liveness, the stylesheet, the
    // counters and control (its own secret) is for members.
    let open = matches!(
        segments.as_slice(),
        ["health"] | ["page.css"] | ["metrics"] | ["control", _] | ["owner", ..]
    );
    if !open {
        if let Err(why) = member::admit(host, &ctx.members, &rq, Instant::now()) {
            ctx.metrics.turned_away("not_a_member");
            let refusal =
                text(401, &why).with_header(header("WWW-Authenticate", member::CHALLENGE));
            return send(rq, refusal);
        }
    }
    match segments.as_slice() {
        [""] => match method {
            Method::Get | Method::Head => page::serve_page(ctx, rq),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["page.css"] => match method {
            Method::Get | Method::Head => page::serve_css(rq),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["metrics"] => match method {
            Method::Get | Method::Head => {
                use crate::wire::metrics::{
                    openmetrics_to_text, wants_openmetrics, OPENMETRICS_TYPE, PROMETHEUS_TEXT_TYPE,
                };
                let page = ctx
                    .metrics
                    .render(&ctx.uploads.now(Instant::now()), &*host.files());
                let resp = if wants_openmetrics(request_header(&rq, "Accept")) {
                    Response::from_string(page)
                        .with_header(header("Content-Type", OPENMETRICS_TYPE))
                } else {
                    Response::from_string(openmetrics_to_text(&page))
                        .with_header(header("Content-Type", PROMETHEUS_TEXT_TYPE))
                };
                send(rq, resp)
            }
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["health"] => match method {
            Method::Get | Method::Head => send(
                rq,
                json(
                    200,
                    &serde_json::json!({ "status": "ok", "name": host.name() }),
                ),
            ),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files"] => match method {
            Method::Get | Method::Head if page::wants_html(&rq) => page::serve_page(ctx, rq),
            Method::Get | Method::Head => send(
                rq,
                json_listing(200, host.files()).with_header(header("Vary", "Accept")),
            ),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id] => match method {
            Method::Get | Method::Head => files::serve_file(ctx, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["files", id, "pieces"] => match method {
            Method::Get | Method::Head => files::serve_pieces(host, rq, id),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        ["inbox"] => match method {
            Method::Get | Method::Head => send(rq, json(200, &host.inbox())),
            _ => not_allowed(rq, "GET, HEAD"),
        },
        // A path below the inbox, its slashes literal or encoded.
        ["inbox", path @ ..] => match method {
            Method::Put => upload::receive_upload(host, &ctx.metrics, rq, &path.join("/")),
            _ => not_allowed(rq, "PUT"),
        },
        ["control", action] => control::control(host, &ctx.uploads, &ctx.owner, rq, action),
        // The owner's page: its own sign-in, not the group's.
        ["owner", rest @ ..] => owner_page::route(ctx, rq, rest),
        _ => send(rq, text(404, "no such route")),
    }
}

/// The routes against a fake host: a folder of the test's own, a list of
/// what it shares, and a record of what it was handed.
#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use blake3::hazmat::ChainingValue;

    use super::super::host::{Host, SearchFailed};
    use super::super::server::{bind, HttpServer, ServeOptions};
    use crate::id::FileId;
    use crate::wire::{Hit, Source, ID_HEADER, SECRET_HEADER};
    use crate::wire::{InboxPolicy, Rescanned, SearchOutcome, SharedFile, Status};

    struct Fake {
        dir: tempfile::TempDir,
        shared: Vec<SharedFile>,
        received: Mutex<Vec<(PathBuf, FileId)>>,
    }

    impl Host for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn files(&self) -> std::sync::Arc<dyn crate::wire::FileList> {
            std::sync::Arc::new(self.shared.clone())
        }
        fn unsettled(&self) -> usize {
            0
        }
        fn file(&self, id: &FileId) -> Option<SharedFile> {
            self.shared.iter().find(|f| f.id == *id).cloned()
        }
        fn open(&self, id: &FileId) -> io::Result<(File, u64)> {
            let f = self.file(id).ok_or(io::ErrorKind::NotFound)?;
            let file = File::open(self.dir.path().join(f.name))?;
            let len = file.metadata()?.len();
            Ok((file, len))
        }
        fn pieces(&self, _: &FileId) -> io::Result<Vec<ChainingValue>> {
            Ok(Vec::new())
        }
        fn inbox(&self) -> InboxPolicy {
            InboxPolicy {
                accepting: true,
                max_bytes: 100,
            }
        }
        fn inbox_dir(&self) -> &Path {
            self.dir.path()
        }
        fn received(&self, path: &Path, id: FileId) {
            self.received.lock().unwrap().push((path.to_path_buf(), id));
        }
        fn secret(&self) -> &str {
            "s3cret"
        }
        fn status(&self) -> Status {
            Status {
                name: "fake".into(),
                http_addr: String::new(),
                directory: String::new(),
                session: "online".into(),
                files: self.shared.len(),
                shared_bytes: 0,
                bytes_hashed: 0,
                unsettled: 0,
                uploads: Default::default(),
                keyprint: None,
                directory_keyprint: None,
                reachable: None,
                listed_at: None,
                paths: Vec::new(),
            }
        }
        fn rescan(&self) -> Result<Rescanned, String> {
            Err("the share folder is gone".into())
        }
        fn logout(&self) -> Result<(), String> {
            Ok(())
        }
        fn login(&self) -> Result<(), String> {
            Err("the directory is away".into())
        }
        /// One file for "digits", a refusal for a query with a colon,
        /// nothing else.
        fn search(&self, query: &str, _: u32) -> Result<SearchOutcome, SearchFailed> {
            if query.contains(':') {
                return Err(SearchFailed::Refused("unknown filter".into()));
            }
            let hits: Vec<Hit> = self
                .shared
                .iter()
                .filter(|f| query == "digits" && f.name.starts_with("digits"))
                .map(|f| Hit {
                    id: f.id,
                    size: f.size,
                    names: vec![f.name.clone()],
                    sources: vec![Source {
                        peer: "<b>other</b>".into(),
                        http_addr: crate::wire::HttpAddr::parse("http://127.0.0.1:9").unwrap(),
                        name: f.name.clone(),
                        size: f.size,
                    }],
                    source_count: 1,
                })
                .collect();
            Ok(SearchOutcome {
                total: hits.len(),
                hits,
                total_estimated: false,
            })
        }
    }

    fn json<T: serde::de::DeserializeOwned>(r: ureq::Response) -> T {
        serde_json::from_str(&r.into_string().unwrap()).unwrap()
    }

    #[test]
    fn routes_answer_from_the_host_alone() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"0123456789abcdef";
        std::fs::write(dir.path().join("digits.txt"), body).unwrap();
        let shared = SharedFile {
            id: FileId::of(body),
            name: "digits.txt".into(),
            size: body.len() as u64,
            other_names: Vec::new(),
        };
        let host = Arc::new(Fake {
            dir,
            shared: vec![shared.clone()],
            received: Mutex::new(Vec::new()),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let opts = ServeOptions {
            workers: 2,
            timeout: Duration::from_secs(5),
            max_connections: 8,
            upload_slots: 2,
            free_slot_bytes: 64 * 1024,
            upload_turn: None,
            upload_rate_limit: 0,
            tls: None,
        };
        let server = HttpServer::start(listener, &opts, host.clone()).unwrap();
        let agent = ureq::agent();
        let get = |path: &str| agent.get(&format!("{base}{path}"));

        let listed: Vec<SharedFile> = json(get("/files").call().unwrap());
        assert_eq!(listed, vec![shared.clone()]);
        let part = get(&format!("/files/{}", shared.id))
            .set("Range", "bytes=4-7")
            .call()
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.into_string().unwrap(), "4567");
        let missing = get(&format!("/files/{}", FileId::of(b"other"))).call();
        assert!(matches!(missing, Err(ureq::Error::Status(404, _))));

        // The page: for a browser at `/` and at `/files`, with its headers;
        // a search through the host; a bad query or folder is said so.
        for path in ["/", "/files"] {
            let page = get(path)
                .set("Accept", "text/html,*/*;q=0.8")
                .call()
                .unwrap();
            assert_eq!(page.content_type(), "text/html", "{path}");
            assert!(page
                .header("Content-Security-Policy")
                .unwrap()
                .contains("default-src 'none'"));
            assert_eq!(page.header("X-Content-Type-Options"), Some("nosniff"));
            let body = page.into_string().unwrap();
            assert!(
                body.contains(&format!("<a href=\"/files/{}\">digits.txt</a>", shared.id)),
                "{body}"
            );
        }
        let found = get("/?q=digits").call().unwrap().into_string().unwrap();
        assert!(
            found.contains(&format!(
                "href=\"http://127.0.0.1:9/files/{}\">&lt;b&gt;other&lt;/b&gt;</a>",
                shared.id
            )),
            "{found}"
        );
        for (path, status) in [
            ("/?q=size%3A1", 400),
            ("/?in=nowhere", 404),
            ("/?limit=0", 400),
        ] {
            match get(path).call() {
                Err(ureq::Error::Status(s, r)) => {
                    assert_eq!(s, status, "{path}");
                    assert_eq!(r.content_type(), "text/html");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        let css = get("/page.css").call().unwrap();
        assert_eq!(css.content_type(), "text/css");
        let post = agent.post(&format!("{base}/")).call();
        assert!(matches!(post, Err(ureq::Error::Status(405, _))));

        // An upload lands whole in the host's folder and is handed over.
        let sent = b"uploaded bytes";
        let put = agent
            .put(&format!("{base}/inbox/new%20file.bin"))
            .set(ID_HEADER, &FileId::of(sent).to_string())
            .send_bytes(sent)
            .unwrap();
        assert_eq!(put.status(), 201);
        let path = host.dir.path().join("new file.bin");
        assert_eq!(std::fs::read(&path).unwrap(), sent);
        assert_eq!(
            *host.received.lock().unwrap(),
            vec![(path, FileId::of(sent))]
        );
        let too_big = agent
            .put(&format!("{base}/inbox/big.bin"))
            .send_bytes(&[0u8; 101]);
        assert!(matches!(too_big, Err(ureq::Error::Status(413, _))));

        // Control needs the host's secret, and shows the host's answers.
        let status = get("/control/status").call();
        assert!(matches!(status, Err(ureq::Error::Status(403, _))));
        let status: Status = json(
            get("/control/status")
                .set(SECRET_HEADER, "s3cret")
                .call()
                .unwrap(),
        );
        assert_eq!((status.name.as_str(), status.files), ("fake", 1));
        match agent
            .post(&format!("{base}/control/rescan"))
            .set(SECRET_HEADER, "s3cret")
            .call()
        {
            Err(ureq::Error::Status(500, r)) => {
                assert!(r.into_string().unwrap().contains("share folder is gone"))
            }
            other => panic!("{other:?}"),
        }
        server.shutdown();
    }
}
