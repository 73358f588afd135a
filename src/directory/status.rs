//! The directory's optional HTTP port (`http_listen`): `GET /metrics`
//! (Prometheus, OpenMetrics text), `GET /` (a status page for people: the
//! numbers, and who is online: name, files, address, online since),
//! `GET /peer/{name}` (what that peer shares) and `GET /health`. One thread
//! answers; it reads only the metrics and the store. Everything a peer
//! chose (its address, its file names) goes through [`Esc`]; peer names
//! can hold nothing else than `[A-Za-z0-9._-]`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, Server};

use super::metrics::Metrics;
use super::roster::unix_now;
use super::store::{DirError, DirectoryStore};
use crate::html::Esc;
use crate::units::human_size;
use crate::wire::metrics::{
    openmetrics_to_text, wants_openmetrics, OPENMETRICS_TYPE, PROMETHEUS_TEXT_TYPE,
};

/// The running status server.
pub struct StatusServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

/// A page for people: HTML that may load nothing (no script, no style).
fn html_page(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Content-Security-Policy", "default-src 'none'"))
}

/// "3 d 4 h", "5 h 2 min", "42 s".
fn human_uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min {} s", secs % 60),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Peers listed on the status page (the first by name; the rest counted).
const PAGE_PEERS: usize = 1000;
/// Files listed on a peer's page (the first by path).
const PAGE_FILES: usize = 5000;

/// `2026-12-02 02:50 UTC` for Unix seconds.
fn utc_minute(secs: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m) = (secs % 86_400 / 3600, secs % 3600 / 60);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02} UTC")
}

const HEAD: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">";

/// Who is online, as a table: name (a link to its page), files, address,
/// online since.
fn peers_table(store: &dyn DirectoryStore) -> String {
    let (peers, total) = store.peers(PAGE_PEERS);
    if peers.is_empty() {
        return "<h2>Peers online</h2><p>Nobody is online.</p>".to_string();
    }
    let now = unix_now();
    let mut out = String::from(
        "<h2>Peers online</h2><table id=\"online\"><tr><th align=\"left\">name</th>\
         <th align=\"right\">files</th><th align=\"left\">address</th>\
         <th align=\"left\">online since</th></tr>",
    );
    for p in &peers {
        let since = p.online_since.map_or_else(String::new, |t| {
            format!(
                "{} ({})",
                utc_minute(t),
                human_uptime(now.saturating_sub(t))
            )
        });
        out.push_str(&format!(
            "<tr><td><a href=\"/peer/{name}\">{name}</a></td><td align=\"right\">{}</td>\
             <td>{}</td><td>{since}</td></tr>",
            p.files,
            Esc(&if p.http_addr.firewalled() {
                format!("{} (firewalled)", p.http_addr)
            } else {
                p.http_addr.to_string()
            }),
            name = Esc(&p.name),
        ));
    }
    out.push_str("</table>");
    if total > peers.len() {
        out.push_str(&format!(
            "<p>and {} more (the first {} by name are listed).</p>",
            total - peers.len(),
            peers.len()
        ));
    }
    out
}

/// `GET /peer/{name}`: what one peer shares (404 when it is not online).
fn peer_page(store: &dyn DirectoryStore, name: &str) -> (u16, String) {
    let listed = crate::names::check_peer_name(name)
        .map_err(|e| DirError::NotFound(e.to_string()))
        .and_then(|()| store.peer_files(name, PAGE_FILES));
    let (files, total) = match listed {
        Ok(found) => found,
        Err(e) => {
            let why = match e {
                DirError::NotFound(m) => m,
                other => other.to_string(),
            };
            return (
                404,
                format!(
                    "{HEAD}<title>hubshare directory</title></head><body><p><a href=\"/\">hubshare directory</a></p>\
                     <p>{}</p></body></html>\n",
                    Esc(&why)
                ),
            );
        }
    };
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let mut out = format!(
        "{HEAD}<title>{name} · hubshare directory</title></head><body>\
         <p><a href=\"/\">hubshare directory</a></p><h1>{name}</h1>\
         <p id=\"count\">{total} file{s} shared{listed}.</p>\
         <table id=\"files\"><tr><th align=\"left\">path</th><th align=\"right\">size</th>\
         <th align=\"left\">id (BLAKE3)</th></tr>",
        name = Esc(name),
        s = if total == 1 { "" } else { "s" },
        listed = if total > files.len() {
            format!(
                "; the first {} by path, {}, are listed",
                files.len(),
                human_size(bytes)
            )
        } else {
            format!(", {}", human_size(bytes))
        },
    );
    for f in &files {
        out.push_str(&format!(
            "<tr><td>{}</td><td align=\"right\">{}</td><td><code>{}</code></td></tr>",
            Esc(&f.name),
            human_size(f.size),
            f.id
        ));
    }
    out.push_str("</table></body></html>\n");
    (200, out)
}

/// The status page: the numbers, then who is online.
fn page(metrics: &Metrics, store: &dyn DirectoryStore, invite: Option<&str>) -> String {
    let (peers, files) = store.counts();
    let serving = if store.serving() {
        "serving"
    } else {
        "NOT serving (its shared store is away)"
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>hubshare directory</title></head>\
         <body><h1>hubshare directory</h1><table>\
         <tr><th align=\"left\">state</th><td>{serving}</td></tr>\
         <tr><th align=\"left\">peers online</th><td id=\"peers\">{peers}</td></tr>\
         <tr><th align=\"left\">files</th><td id=\"files\">{files}</td></tr>\
         <tr><th align=\"left\">searches/s (last minute)</th><td id=\"rate\">{:.1}</td></tr>\
         <tr><th align=\"left\">searches answered</th><td id=\"searches\">{}</td></tr>\
         <tr><th align=\"left\">uptime</th><td>{}</td></tr>\
         <tr><th align=\"left\">version</th><td>{}</td></tr>\
         <tr><th align=\"left\">invite</th><td id=\"invite\"><code>{}</code></td></tr>\
         </table>{}<p><a href=\"/metrics\">/metrics</a> (Prometheus)</p></body></html>\n",
        metrics.search_rate(),
        metrics.searches(),
        human_uptime(metrics.uptime().as_secs()),
        env!("CARGO_PKG_VERSION"),
        Esc(invite.unwrap_or("none: tls = false, nothing is encrypted")),
        peers_table(store),
    )
}

impl StatusServer {
    /// Binds `addr` and answers on a thread of its own.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        store: Arc<dyn DirectoryStore>,
        invite: Option<String>,
    ) -> io::Result<StatusServer> {
        let server = Arc::new(Server::http(addr).map_err(|e| io::Error::other(e.to_string()))?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the status port is not an IP address"))?;
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("status-http".into())
            .spawn(move || {
                for rq in serving.incoming_requests() {
                    let path = rq.url().split('?').next().unwrap_or("").to_string();
                    let resp = match (rq.method(), path.as_str()) {
                        (Method::Get | Method::Head, "/metrics") => {
                            let accept = rq
                                .headers()
                                .iter()
                                .find(|h| h.field.equiv("Accept"))
                                .map(|h| h.value.as_str());
                            let page = metrics.render(&*store);
                            if wants_openmetrics(accept) {
                                Response::from_string(page)
                                    .with_header(header("Content-Type", OPENMETRICS_TYPE))
                            } else {
                                Response::from_string(openmetrics_to_text(&page))
                                    .with_header(header("Content-Type", PROMETHEUS_TEXT_TYPE))
                            }
                        }
                        (Method::Get | Method::Head, "/") => {
                            html_page(200, page(&metrics, &*store, invite.as_deref()))
                        }
                        (Method::Get | Method::Head, p) if p.starts_with("/peer/") => {
                            let (status, body) = peer_page(&*store, &p["/peer/".len()..]);
                            html_page(status, body)
                        }
                        (Method::Get | Method::Head, "/health") => {
                            let ok = store.serving();
                            Response::from_string(if ok { "ok\n" } else { "not serving\n" })
                                .with_status_code(if ok { 200 } else { 503 })
                        }
                        (Method::Get | Method::Head, _) => Response::from_string(
                            "no such page: /, /peer/NAME, /metrics, /health\n",
                        )
                        .with_status_code(404),
                        _ => Response::from_string("method not allowed\n").with_status_code(405),
                    };
                    let resp = resp.with_header(header("X-Content-Type-Options", "nosniff"));
                    if let Err(e) = rq.respond(resp) {
                        log::debug!("status page not delivered: {e}");
                    }
                }
            })?;
        Ok(StatusServer {
            server,
            thread: Some(thread),
            addr,
        })
    }

    /// The address it listens on (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            crate::sync::join_or_raise(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_796_186_999), "2026-12-02 04:49 UTC");
        assert_eq!(utc_minute(1_796_182_140), "2026-12-02 03:29 UTC");
    }

    #[test]
    fn the_pages_list_who_is_online_and_what_each_shares_as_text() {
        use crate::directory::memory::MemoryStore;
        use crate::directory::store::Limits;
        let store = MemoryStore::new(Limits {
            lease: std::time::Duration::from_secs(10),
            heartbeat: std::time::Duration::from_secs(3),
            max_results: 50,
            max_files_per_call: 100,
            name_hold: std::time::Duration::from_secs(60),
            heartbeat_rate: 2000,
        });
        let file = |name: &str| crate::wire::SharedFile {
            id: crate::id::FileId::of(name.as_bytes()),
            name: name.into(),
            size: 2048,
            other_names: Vec::new(),
        };
        let files = vec![file("b/<script>x</script>.txt"), file("a & b.flac")];
        let addr = crate::wire::HttpAddr::parse("http://127.0.0.1:7001").unwrap();
        let batch = store.limits().batch(files, Vec::new()).unwrap();
        store
            .login(
                "alice",
                crate::wire::KeyPrint::of_seed("alice"),
                &addr,
                batch,
            )
            .unwrap();
        let behind = crate::wire::HttpAddr::parse("http://192.0.2.1:7002")
            .unwrap()
            .firewalled_as(true);
        store
            .login(
                "bob",
                crate::wire::KeyPrint::of_seed("bob"),
                &behind,
                store.limits().batch(Vec::new(), Vec::new()).unwrap(),
            )
            .unwrap();
        let metrics = Metrics::new();
        let page = page(&metrics, &store, Some("hubshare://h:1/?kp=<k>"));
        assert!(page.contains("<a href=\"/peer/alice\">alice</a></td><td align=\"right\">2</td><td>http://127.0.0.1:7001</td>"), "{page}");
        assert!(
            page.contains("<td>http://192.0.2.1:7002 (firewalled)</td>"),
            "{page}"
        );
        assert!(page.contains(" UTC ("), "{page}");
        assert!(
            page.contains("<code>hubshare://h:1/?kp=&lt;k&gt;</code>"),
            "{page}"
        );
        let (status, page) = peer_page(&store, "alice");
        assert_eq!(status, 200);
        assert!(page.contains("2 files shared, 4.0 KiB."), "{page}");
        assert!(
            page.find("a &amp; b.flac").unwrap()
                < page.find("b/&lt;script&gt;x&lt;/script&gt;.txt").unwrap(),
            "{page}"
        );
        assert!(!page.contains("<script"), "{page}");
        assert_eq!(peer_page(&store, "carol").0, 404);
        assert_eq!(peer_page(&store, "<b>").0, 404);
        assert!(!peer_page(&store, "<b>").1.contains("<b>"));
    }

    #[test]
    fn uptime_reads_as_people_say_it() {
        assert_eq!(human_uptime(42), "42 s");
        assert_eq!(human_uptime(125), "2 min 5 s");
        assert_eq!(human_uptime(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(human_uptime(2 * 86_400 + 5 * 3600), "2 d 5 h");
    }
}
