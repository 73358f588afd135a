//! The page a browser gets from every peer: `GET /` (and `GET /files` when
//! the browser asks for HTML). It shows this peer's shared files as a tree
//! with sizes and download links, and searches the group's directory
//! through this peer (`/?q=words`), each result with a link to every
//! source's own `/files/{id}` and to that peer's share, listed through
//! this peer (`/?peer=alice`, its links straight to alice). Hand-written HTML and one stylesheet
//! (`GET /page.css`), no script: it works the same with JavaScript off.
//!
//! Everything a remote peer controls (file names, paths, peer names,
//! addresses) and everything the visitor typed goes through [`Esc`]. The
//! Content-Security-Policy allows no script, no inline style and no frame,
//! so a name that got past escaping still could not run. The page offers
//! no control action (rescan, logout): those stay behind the control
//! secret.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use tiny_http::{Request, Response, StatusCode};

use super::context::Ctx;
use super::form::PageQuery;
use super::host::SearchFailed;
use super::respond::{header, request_header, send, Answer};
use super::tree::{breadcrumbs, one_level, summary, whole_tree, Folder, Links};
use crate::html::Esc;
use crate::units::human_size;
use crate::wire::{SearchOutcome, SharedFile};

/// No script, no plugin, no frame; styles from this peer only; forms post
/// back here only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";
/// The stylesheet, served at `/page.css`.
const CSS: &str = include_str!("page.css");
/// A folder with at most this many files under it is drawn whole (every
/// subfolder open); a bigger one one level at a time, each subfolder a link.
pub const WHOLE_TREE_FILES: usize = 2000;
/// Searches the page runs on the directory at once; more are told to retry
/// (each holds a request worker while the directory answers).
pub const PAGE_SEARCHES: usize = 4;

/// The search part of a page.
pub enum Searched {
    /// No words were given.
    Nothing,
    Found(SearchOutcome),
    /// The directory did not answer; the text says why, for the visitor.
    Failed(String),
}

fn search_section(out: &mut String, q: &str, searched: &Searched) {
    let found = match searched {
        Searched::Nothing => return,
        Searched::Failed(why) => {
            let _ = write!(
                out,
                "<section class=\"results\"><h2>Search for “{}”</h2><p class=\"error\">{}</p></section>",
                Esc(q),
                Esc(why)
            );
            return;
        }
        Searched::Found(found) => found,
    };
    let _ = write!(
        out,
        "<section class=\"results\"><h2>Search for “{}”</h2><p class=\"count\">",
        Esc(q)
    );
    match (found.hits.len(), found.total) {
        (0, _) => out.push_str("No shared file matches."),
        (shown, total) if shown == total => {
            let _ = write!(
                out,
                "{total} file{} found.",
                if total == 1 { "" } else { "s" }
            );
        }
        (shown, total) => {
            let about = if found.total_estimated { "about " } else { "" };
            let _ = write!(
                out,
                "{about}{total} files match; the {shown} with the most sources are shown."
            );
        }
    }
    out.push_str("</p>");
    if found.hits.is_empty() {
        out.push_str("</section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Name</th><th class=\"num\">Size</th><th class=\"num\">Sources</th>\
         <th>Download from</th></tr></thead><tbody>",
    );
    for hit in &found.hits {
        let name = hit.names.first().map_or("", String::as_str);
        let _ = write!(out, "<tr><td><span class=\"name\">{}</span>", Esc(name));
        if hit.names.len() > 1 {
            out.push_str("<div class=\"also\">also named ");
            for (i, other) in hit.names[1..].iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "<span class=\"name\">{}</span>", Esc(other));
            }
            out.push_str("</div>");
        }
        let _ = write!(
            out,
            "<div class=\"id\" title=\"BLAKE3 (what b3sum prints)\">{}</div></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td><ul class=\"sources\">",
            hit.id,
            human_size(hit.size),
            hit.source_count
        );
        for source in &hit.sources {
            if source.http_addr.firewalled() {
                // Nothing to link to: nobody can connect to it.
                let _ = write!(
                    out,
                    "<li><span class=\"source\" title=\"the directory cannot reach it\">{}</span> (firewalled)</li>",
                    Esc(&source.peer)
                );
                continue;
            }
            let _ = write!(
                out,
                "<li><a class=\"source\" href=\"{}\">{}</a> <a class=\"peer\" href=\"{}\" title=\"what it shares\">(its files)</a>",
                Esc(&format!("{}/files/{}", source.http_addr, hit.id)),
                Esc(&source.peer),
                Esc(&Links { files: "", peer: Some(&source.peer) }.folder(""))
            );
            if source.name != name {
                let _ = write!(out, " <span class=\"as\">as {}</span>", Esc(&source.name));
            }
            out.push_str("</li>");
        }
        if hit.source_count > hit.sources.len() {
            let _ = write!(
                out,
                "<li class=\"note\">and {} more</li>",
                hit.source_count - hit.sources.len()
            );
        }
        out.push_str("</ul></td></tr>");
    }
    out.push_str("</tbody></table></section>");
}

/// The whole page, and whether the folder asked for exists. `unsettled`
/// files are still changing and not shared yet.
pub fn render(
    peer: &str,
    files: &[SharedFile],
    unsettled: usize,
    ask: &PageQuery,
    searched: &Searched,
) -> (String, bool) {
    let shelf = Shelf {
        owner: peer,
        files: Ok(files),
        links: Links::default(),
        unsettled,
    };
    render_page(peer, &shelf, ask, searched)
}

/// Whose share a page shows, and where its links go.
pub struct Shelf<'a> {
    /// The peer that shares it (this one, or one browsed through it).
    pub owner: &'a str,
    /// Its files, or why they could not be listed.
    pub files: Result<&'a [SharedFile], String>,
    pub links: Links<'a>,
    /// Files still changing, not shared yet (this peer's own only).
    pub unsettled: usize,
}

/// The page of `peer` showing `shelf`, and whether the folder asked for
/// exists there.
fn render_page(
    peer: &str,
    shelf: &Shelf<'_>,
    ask: &PageQuery,
    searched: &Searched,
) -> (String, bool) {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{peer} · hubshare</title><link rel=\"stylesheet\" href=\"/page.css\"></head><body>\
         <header><h1><a href=\"/\">hubshare</a> · <span class=\"peer\">{peer}</span></h1>\
         <form method=\"get\" action=\"/\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"words of a file name, or a file id\" \
         aria-label=\"Search the group's files\">\
         <button type=\"submit\">Search the group</button></form></header><main>",
        peer = Esc(peer),
        q = Esc(&ask.q),
    );
    search_section(&mut out, &ask.q, searched);
    let _ = write!(
        out,
        "<section class=\"share\"><h2>Shared by {}</h2>",
        Esc(shelf.owner)
    );
    if shelf.owner != peer {
        let _ = write!(
            out,
            "<p class=\"note\">Listed through {}; every link downloads straight from {}. <a href=\"/\">Back to {}'s files</a>.</p>",
            Esc(peer),
            Esc(shelf.owner),
            Esc(peer)
        );
    }
    let files = match &shelf.files {
        Ok(files) => *files,
        Err(why) => {
            let _ = write!(out, "<p class=\"error\">{}</p>", Esc(why));
            out.push_str("</section></main></body></html>\n");
            return (out, false);
        }
    };
    let (links, unsettled) = (&shelf.links, shelf.unsettled);
    let found = match Folder::at(files, &ask.folder) {
        None => {
            breadcrumbs(&mut out, &ask.folder, links);
            out.push_str("<p class=\"error\">This peer shares no such folder.</p>");
            false
        }
        Some(ref folder) => {
            if !ask.folder.is_empty() {
                breadcrumbs(&mut out, &ask.folder, links);
            }
            let _ = write!(
                out,
                "<p class=\"count\">{}.</p>",
                summary(folder.count, folder.bytes)
            );
            if unsettled > 0 {
                let _ = write!(
                    out,
                    "<p class=\"note\">{unsettled} more file{s} changed in the last seconds: \
                     shared once {they} stop changing.</p>",
                    s = if unsettled == 1 { " was" } else { "s were" },
                    they = if unsettled == 1 { "it" } else { "they" },
                );
            }
            if folder.count == 0 {
                out.push_str("<p class=\"note\">Nothing shared yet.</p>");
            } else if folder.count <= WHOLE_TREE_FILES {
                whole_tree(&mut out, folder, links);
            } else {
                one_level(&mut out, folder, &ask.folder, links);
            }
            true
        }
    };
    out.push_str(
        "</section></main><footer>Every link downloads straight from the peer that shares \
         the file. A file's id is its BLAKE3 hash: <code>b3sum</code> of what you downloaded \
         prints it.</footer></body></html>\n",
    );
    (out, found)
}

/// The page with this peer's keyprint at its foot, for a person to compare
/// with the certificate the browser shows.
fn with_keyprint(mut page: String, keyprint: Option<crate::wire::KeyPrint>) -> String {
    if let (Some(kp), Some(at)) = (keyprint, page.rfind("</body>")) {
        page.insert_str(
            at,
            &format!(
                "<footer class=\"keyprint\">This peer's keyprint: <code>{}</code>. A \
                 browser's certificate viewer shows it in hex, as the SHA-256 fingerprint of \
                 the public key: <code>{}</code></footer>",
                Esc(&kp.to_string()),
                kp.as_bytes()
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
    }
    page
}

/// A place among the [`PAGE_SEARCHES`] (counted in `in_flight`), given
/// back when dropped.
pub(super) struct SearchPlace<'a>(&'a AtomicUsize);

impl SearchPlace<'_> {
    pub(super) fn take(in_flight: &AtomicUsize) -> Option<SearchPlace<'_>> {
        in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < PAGE_SEARCHES).then_some(n + 1)
            })
            .ok()
            .map(|_| SearchPlace(in_flight))
    }
}

impl Drop for SearchPlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether the client asked for HTML (a browser does; `curl` and the
/// peers' own client do not).
pub(super) fn wants_html(rq: &Request) -> bool {
    request_header(rq, "Accept").is_some_and(|v| {
        v.split(',').any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/html")
        })
    })
}

/// `GET /` (and `GET /files` from a browser).
pub(super) fn serve_page(ctx: &Ctx, rq: Request) {
    let url = rq.url();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    let host = &*ctx.host;
    let (ask, mut status, searched) = match PageQuery::parse(query) {
        Err((ask, e)) => (ask, 400, Searched::Failed(e)),
        Ok(ask) if ask.q.is_empty() => (ask, 200, Searched::Nothing),
        Ok(ask) => {
            let (status, searched) = match SearchPlace::take(&ctx.page_searches) {
                None => (
                    503,
                    Searched::Failed(
                        "This peer is running too many searches; try again in a moment.".into(),
                    ),
                ),
                Some(_place) => match host.search(&ask.q, ask.limit) {
                    Ok(found) => (200, Searched::Found(found)),
                    Err(e) => (e.status(), Searched::Failed(e.to_string())),
                },
            };
            (ask, status, searched)
        }
    };
    let (body, folder_found) = if ask.peer.is_empty() || ask.peer == host.name() {
        // Only the folder shown is copied out of the share.
        render(
            host.name(),
            &host.files().under(&ask.folder),
            host.unsettled(),
            &ask,
            &searched,
        )
    } else {
        // Another peer's share, listed through this one.
        let listed = match SearchPlace::take(&ctx.page_searches) {
            None => Err((
                503,
                "This peer is listing too much at once; try again in a moment.".to_string(),
            )),
            Some(_place) => host
                .browse(&ask.peer)
                .map_err(|e| (e.status(), e.to_string())),
        };
        let base = listed
            .as_ref()
            .map(|(addr, _)| addr.to_string())
            .unwrap_or_default();
        let shelf = Shelf {
            owner: &ask.peer,
            files: match &listed {
                Ok((_, files)) => Ok(files.as_slice()),
                Err((code, why)) => {
                    status = status.max(*code);
                    Err(why.clone())
                }
            },
            links: Links {
                files: &base,
                peer: Some(&ask.peer),
            },
            unsettled: 0,
        };
        render_page(host.name(), &shelf, &ask, &searched)
    };
    if !folder_found && status == 200 {
        status = 404;
    }
    send(rq, html(status, with_keyprint(body, host.keyprint())));
}

/// An HTML answer with the page's security headers.
pub(super) fn html(status: u16, body: String) -> Answer {
    Response::from_data(body.into_bytes())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Content-Security-Policy", CSP))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header("X-Frame-Options", "DENY"))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("Vary", "Accept"))
}

/// `GET /page.css`.
pub(super) fn serve_css(rq: Request) {
    send(
        rq,
        Response::from_data(CSS.as_bytes().to_vec())
            .with_header(header("Content-Type", "text/css; charset=utf-8"))
            .with_header(header("Cache-Control", "max-age=3600")),
    );
}

impl SearchFailed {
    /// The HTTP status a page shows the failure with.
    pub fn status(&self) -> u16 {
        match self {
            SearchFailed::Refused(_) => 400,
            SearchFailed::Busy(_) => 503,
            SearchFailed::Unreachable(_) => 502,
            SearchFailed::NotFound(_) => 404,
        }
    }
}

impl fmt::Display for SearchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchFailed::Refused(why) => write!(f, "The directory refused this search: {why}"),
            SearchFailed::Busy(why) => {
                write!(f, "The directory is busy: {why}. Try again in a moment.")
            }
            SearchFailed::Unreachable(why) => write!(f, "This peer cannot search now: {why}."),
            SearchFailed::NotFound(why) => write!(f, "Not found: {why}."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::FOLDER_FILES;
    use super::*;
    use crate::id::FileId;
    use crate::wire::{Hit, HttpAddr, Source};

    fn file(path: &str, size: u64) -> SharedFile {
        SharedFile {
            id: FileId::of(path.as_bytes()),
            name: path.into(),
            size,
            other_names: Vec::new(),
        }
    }

    /// Every name a remote peer or the visitor controls is text on the
    /// page, never markup: no tag, attribute or entity of theirs survives.
    #[test]
    fn hostile_names_render_as_text() {
        let evil = r#"<script>alert(1)</script>.txt"#;
        let path = r#"a "quoted" & <b>bold<b>/it's <img src=x onerror=alert(2)>.bin"#;
        let mut shared = vec![file(evil, 5), file(path, 7)];
        shared[1].other_names = vec!["x/\"><svg onload=alert(3)>".into()];
        let hit = Hit {
            id: shared[0].id,
            size: 5,
            names: vec![evil.into(), "<i>other</i>".into()],
            sources: vec![
                Source {
                    peer: "<u>peer</u>".into(),
                    http_addr: HttpAddr::parse("http://127.0.0.1:7001").unwrap(),
                    name: "\"><b>".into(),
                    size: 5,
                },
                Source {
                    peer: "<s>far</s>".into(),
                    http_addr: HttpAddr::parse("http://192.0.2.1:7001")
                        .unwrap()
                        .firewalled_as(true),
                    name: evil.into(),
                    size: 5,
                },
            ],
            source_count: 4,
        };
        let ask = PageQuery {
            q: "\"><script>alert(4)</script>".into(),
            folder: String::new(),
            limit: 10,
            ..PageQuery::default()
        };
        let found = Searched::Found(SearchOutcome {
            hits: vec![hit],
            total: 1,
            total_estimated: false,
        });
        let (page, ok) = render("<em>me</em>", &shared, 0, &ask, &found);
        assert!(ok);
        // A firewalled source is named, not linked: nobody can connect to it.
        assert!(
            page.contains("&lt;s&gt;far&lt;/s&gt;</span> (firewalled)"),
            "{page}"
        );
        assert!(!page.contains("192.0.2.1"), "{page}");
        // A source's name links to its share, listed through this peer.
        assert!(
            page.contains("<a class=\"peer\" href=\"/?peer=%3Cu%3Epeer%3C%2Fu%3E\""),
            "{page}"
        );
        for raw in [
            "<script", "<img", "<svg", "<b>", "<i>", "<u>", "<em>", "\"><b>", "it's",
        ] {
            assert!(!page.contains(raw), "{raw} in {page}");
        }
        for shown in [
            "&lt;script&gt;alert(1)&lt;/script&gt;.txt",
            "a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;b&gt;/ ",
            "it&#39;s &lt;img src=x onerror=alert(2)&gt;.bin",
            "&lt;u&gt;peer&lt;/u&gt;",
            "as &quot;&gt;&lt;b&gt;",
            "value=\"&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;\"",
            "and 2 more",
        ] {
            assert!(page.contains(shown), "{shown} not in {page}");
        }
    }

    #[test]
    fn another_peers_share_is_listed_with_links_straight_to_it() {
        let shared: Vec<SharedFile> = (0..WHOLE_TREE_FILES + 1)
            .map(|i| file(&format!("album {}/t{i}.flac", i % 2), 1))
            .chain([file("readme.txt", 3)])
            .collect();
        let shelf = Shelf {
            owner: "alice",
            files: Ok(&shared),
            links: Links {
                files: "http://127.0.0.1:7001",
                peer: Some("alice"),
            },
            unsettled: 0,
        };
        let (page, found) = render_page("bob", &shelf, &PageQuery::default(), &Searched::Nothing);
        assert!(found);
        assert!(page.contains("Shared by alice"), "{page}");
        assert!(page.contains("Listed through bob"), "{page}");
        // Files link to alice herself; folders to this page, for alice.
        let readme = shared.last().unwrap();
        assert!(page.contains(&format!(
            "href=\"http://127.0.0.1:7001/files/{}\"",
            readme.id
        )));
        assert!(
            page.contains("href=\"/?peer=alice&amp;in=album%200\""),
            "{page}"
        );
        // One of its folders, with the way back up to alice's top.
        let ask = PageQuery::parse("peer=alice&in=album+1").unwrap();
        assert_eq!(ask.peer, "alice");
        let (page, found) = render_page("bob", &shelf, &ask, &Searched::Nothing);
        assert!(found);
        assert!(
            page.contains("<a href=\"/?peer=alice\">share</a>"),
            "{page}"
        );
        // A peer that cannot be listed: why, and no tree.
        let gone = Shelf {
            files: Err("Not found: no peer named \"carol\" is online.".into()),
            owner: "carol",
            ..shelf
        };
        let (page, found) = render_page("bob", &gone, &PageQuery::default(), &Searched::Nothing);
        assert!(!found);
        assert!(
            page.contains("no peer named &quot;carol&quot; is online"),
            "{page}"
        );
        // A name no peer can have is refused, the words kept.
        let (ask, why) = PageQuery::parse("q=x&peer=%3Cb%3E").unwrap_err();
        assert_eq!(ask.q, "x");
        assert!(why.starts_with("peer:"), "{why}");
    }

    #[test]
    fn folders_and_files_sort_as_people_read_them_whatever_the_case() {
        let shared = vec![
            file("Zebra/z.txt", 1),
            file("beach/b.txt", 1),
            file("Beatles/a.txt", 1),
            file("apple.txt", 1),
            file("Banana.txt", 1),
        ];
        let (page, _) = render("me", &shared, 0, &PageQuery::default(), &Searched::Nothing);
        let order: Vec<usize> = [
            "beach/",
            "Beatles/",
            "Zebra/",
            ">apple.txt<",
            ">Banana.txt<",
        ]
        .iter()
        .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} not in {page}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn the_share_is_a_tree_with_sizes_and_links() {
        let shared = vec![
            file("top.txt", 10),
            file("music/rock/b.mp3", 2048),
            file("music/rock/a.mp3", 1024),
            file("music/jazz.mp3", 1),
        ];
        let (page, _) = render("me", &shared, 0, &PageQuery::default(), &Searched::Nothing);
        // Folders first (by name), then files (by name), at each level.
        let order: Vec<usize> = [
            "music/ <span class=\"size\">3 files, 3.0 KiB",
            "rock/ <span class=\"size\">2 files, 3.0 KiB",
            ">a.mp3<",
            ">b.mp3<",
            ">jazz.mp3<",
            ">top.txt<",
        ]
        .iter()
        .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} not in {page}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(page.contains(&format!(
            "<a href=\"/files/{}\">b.mp3</a> <span class=\"size\">2.0 KiB</span>",
            shared[1].id
        )));
        assert!(page.contains("4 files, 3.0 KiB."));
        // One folder of it, with the way back up.
        let ask = PageQuery {
            folder: "music/rock".into(),
            ..PageQuery::default()
        };
        let (page, ok) = render("me", &shared, 0, &ask, &Searched::Nothing);
        assert!(ok);
        assert!(
            page.contains(
                "<a href=\"/?in=music\">music</a> / <a href=\"/?in=music%2Frock\">rock</a>"
            ),
            "{page}"
        );
        assert!(page.contains(">a.mp3<") && !page.contains(">top.txt<"));
        let ask = PageQuery {
            folder: "music/pop".into(),
            ..PageQuery::default()
        };
        assert!(!render("me", &shared, 0, &ask, &Searched::Nothing).1);
    }

    #[test]
    fn a_folder_shows_what_is_under_it_by_any_of_its_names_and_a_file_is_no_folder() {
        let mut copied = file("top.txt", 10);
        copied.other_names = vec!["music/copy of top.txt".into()];
        let shared = vec![
            copied,
            file("music/rock/b.mp3", 2048),
            file("musical.txt", 5),
            file("music.txt", 7),
        ];
        let at = |folder: &str| {
            let ask = PageQuery {
                folder: folder.into(),
                ..PageQuery::default()
            };
            render("me", &shared, 0, &ask, &Searched::Nothing)
        };
        let (page, found) = at("music");
        assert!(found);
        assert!(page.contains("2 files, 2.0 KiB."), "{page}");
        assert!(page.contains(">copy of top.txt<") && page.contains(">b.mp3<"));
        assert!(!page.contains(">musical.txt<") && !page.contains(">music.txt<"));
        // Slashes doubled or at the ends name the same folder.
        assert_eq!(at("/music//").0, page);
        for not_a_folder in ["top.txt", "music/rock/b.mp3", "mus", "music/rock/b.mp3/x"] {
            let (page, found) = at(not_a_folder);
            assert!(!found, "{not_a_folder}");
            assert!(page.contains("This peer shares no such folder."));
        }
        // The whole share, even with nothing in it.
        assert!(at("").1 && at("/").1);
        let ask = PageQuery::default();
        assert!(render("me", &[], 0, &ask, &Searched::Nothing).1);
    }

    #[test]
    fn a_big_share_is_drawn_a_level_at_a_time() {
        let mut shared: Vec<SharedFile> = (0..WHOLE_TREE_FILES)
            .map(|i| file(&format!("deep/{}/f{i}.bin", i % 7), 1))
            .collect();
        shared.extend((0..FOLDER_FILES + 3).map(|i| file(&format!("f{i:05}.bin"), 1)));
        let (page, _) = render("me", &shared, 0, &PageQuery::default(), &Searched::Nothing);
        assert!(
            page.contains(
                "<a href=\"/?in=deep\">deep/</a> <span class=\"size\">2000 files, 2.0 KiB</span>"
            ),
            "{page}"
        );
        assert!(
            !page.contains("f0.bin"),
            "files under a big folder are not drawn"
        );
        assert_eq!(page.matches("<li class=\"file\">").count(), FOLDER_FILES);
        assert!(page.contains("and 3 more files in this folder"));
        // The folder itself is small enough to be drawn whole.
        let ask = PageQuery {
            folder: "deep".into(),
            ..PageQuery::default()
        };
        let (page, _) = render("me", &shared, 0, &ask, &Searched::Nothing);
        assert_eq!(
            page.matches("<li class=\"file\">").count(),
            WHOLE_TREE_FILES
        );
        assert_eq!(page.matches("<details open>").count(), 7);
    }

    #[test]
    fn at_most_page_searches_at_once() {
        let in_flight = AtomicUsize::new(0);
        let held: Vec<SearchPlace<'_>> = (0..PAGE_SEARCHES)
            .map(|_| SearchPlace::take(&in_flight).expect("a place"))
            .collect();
        assert!(SearchPlace::take(&in_flight).is_none());
        drop(held);
        assert_eq!(in_flight.load(Ordering::Acquire), 0);
        assert!(SearchPlace::take(&in_flight).is_some());
    }

    #[test]
    fn search_outcomes_are_said() {
        let ask = PageQuery {
            q: "cat".into(),
            ..PageQuery::default()
        };
        let (page, _) = render(
            "me",
            &[],
            0,
            &ask,
            &Searched::Failed(SearchFailed::Busy("slow down".into()).to_string()),
        );
        assert!(
            page.contains(
                "<p class=\"error\">The directory is busy: slow down. Try again in a moment.</p>"
            ),
            "{page}"
        );
        let none = Searched::Found(SearchOutcome {
            hits: vec![],
            total: 0,
            total_estimated: false,
        });
        assert!(render("me", &[], 0, &ask, &none)
            .0
            .contains("No shared file matches."));
        let f = file("cat.txt", 3);
        let hit = Hit {
            id: f.id,
            size: 3,
            names: vec!["cat.txt".into()],
            sources: vec![],
            source_count: 0,
        };
        let some = Searched::Found(SearchOutcome {
            hits: vec![hit],
            total: 5000,
            total_estimated: true,
        });
        assert!(render("me", &[], 0, &ask, &some)
            .0
            .contains("about 5000 files match; the 1 with the most sources are shown."));
        assert!(render("me", &[], 0, &ask, &some)
            .0
            .contains("Nothing shared yet."));
        let (page, _) = render("me", &[], 2, &ask, &some);
        assert!(
            page.contains(
                "2 more files were changed in the last seconds: shared once they stop changing."
            ),
            "{page}"
        );
    }
}
