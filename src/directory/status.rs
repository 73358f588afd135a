//! The directory's optional HTTP port (`http_listen`): `GET /metrics`
//! (Prometheus, OpenMetrics text), `GET /` (a status page for people: peers
//! online, files, searches per second, uptime, version) and `GET /health`.
//! One thread answers; it touches only the metrics and the store's counts.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, Server};

use super::metrics::Metrics;
use super::store::DirectoryStore;
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

/// The status page: numbers only (no text a peer controls).
fn page(metrics: &Metrics, store: &dyn DirectoryStore) -> String {
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
         </table><p><a href=\"/metrics\">/metrics</a> (Prometheus)</p></body></html>\n",
        metrics.search_rate(),
        metrics.searches(),
        human_uptime(metrics.uptime().as_secs()),
        env!("CARGO_PKG_VERSION"),
    )
}

impl StatusServer {
    /// Binds `addr` and answers on a thread of its own.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        store: Arc<dyn DirectoryStore>,
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
                            Response::from_string(page(&metrics, &*store))
                                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                                .with_header(header(
                                    "Content-Security-Policy",
                                    "default-src 'none'",
                                ))
                        }
                        (Method::Get | Method::Head, "/health") => {
                            let ok = store.serving();
                            Response::from_string(if ok { "ok\n" } else { "not serving\n" })
                                .with_status_code(if ok { 200 } else { 503 })
                        }
                        (Method::Get | Method::Head, _) => {
                            Response::from_string("no such page: /, /metrics, /health\n")
                                .with_status_code(404)
                        }
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
    fn uptime_reads_as_people_say_it() {
        assert_eq!(human_uptime(42), "42 s");
        assert_eq!(human_uptime(125), "2 min 5 s");
        assert_eq!(human_uptime(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(human_uptime(2 * 86_400 + 5 * 3600), "2 d 5 h");
    }
}
