use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::common::{HTTPVersion, Method};
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::connection::Connection;
use crate::ConnectionLimits;
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // hubshare patch: the client's TLS certificate (DER), when it showed one
    client_certificate: Option<Arc<Vec<u8>>>,

    // hubshare patch: limits on headers
    limits: ConnectionLimits,

    // hubshare patch: a handle on the socket, to close it gracefully
    control: Option<Connection>,

    // hubshare patch: set when a request's body was left unread, so the
    // stream is no longer at the start of a request
    abandoned: Arc<AtomicBool>,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
    /// hubshare patch: request line and headers over the size limit
    HeaderTooLarge,
    /// hubshare patch: the headers took longer than the header timeout
    HeaderTimeout,
    /// hubshare patch: a byte outside ASCII in the request line or headers
    NotAscii,
}

/// hubshare patch: what is left of a request's header allowance.
struct HeaderBudget {
    bytes: usize,
    deadline: Instant,
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        limits: ConnectionLimits,
        control: Option<Connection>,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();
        let client_certificate = read_socket.peer_certificate().map(Arc::new);

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            // hubshare patch: 16 KiB instead of 1 KiB, so the headers and a
            // small body leave in one write (one segment with TCP_NODELAY)
            // instead of two.
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(16 * 1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            client_certificate,
            limits,
            abandoned: Arc::new(AtomicBool::new(false)),
            control,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    fn read_next_line(&mut self, budget: &mut HeaderBudget) -> Result<AsciiString, ReadError> {
        let mut buf = Vec::new();

        // hubshare patch: the line is scanned for in the reader's buffer,
        // not read a byte at a time (same limits, same meaning: a line ends
        // at CRLF; a lone LF is part of it).
        loop {
            // The clock is read only after a read that may have waited for
            // the client (not for every buffered chunk).
            let may_wait = !self.next_header_source.has_buffered();
            let avail = loop {
                match self.next_header_source.fill_buf() {
                    Ok(avail) => break avail,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ReadError::ReadIoError(e)),
                }
            };
            if avail.is_empty() {
                return Err(ReadError::ReadIoError(IoError::new(
                    ErrorKind::ConnectionAborted,
                    "Unexpected EOF",
                )));
            }

            // hubshare patch: after an unread body the stream is not at a
            // request; and headers are bounded in size and in time.
            if self.abandoned.load(Ordering::Acquire) {
                return Err(ReadError::ReadIoError(IoError::new(
                    ErrorKind::ConnectionAborted,
                    "the previous request's body was left unread",
                )));
            }
            if may_wait && Instant::now() > budget.deadline {
                return Err(ReadError::HeaderTimeout);
            }

            let (take, at_lf) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if take > budget.bytes {
                return Err(ReadError::HeaderTooLarge);
            }
            budget.bytes -= take;
            buf.extend_from_slice(&avail[..take]);
            self.next_header_source.consume(take);

            if at_lf && buf.len() >= 2 && buf[buf.len() - 2] == b'\r' {
                buf.truncate(buf.len() - 2); // removing the CRLF
                // hubshare patch: answered 400 (upstream closed silently).
                return AsciiString::from_ascii(buf).map_err(|_| ReadError::NotAscii);
            }
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        let mut budget = HeaderBudget {
            bytes: self.limits.max_header_bytes,
            deadline: Instant::now() + self.limits.header_timeout,
        };
        let (method, path, version, headers) = {
            // reading the request line
            let (method, path, version) = {
                let line = self.read_next_line(&mut budget)?;

                parse_request_line(
                    line.as_str().trim(), // TODO: remove this conversion
                )?
            };

            // getting all headers
            let headers = {
                let mut headers = Vec::new();
                loop {
                    let line = self.read_next_line(&mut budget)?;

                    if line.is_empty() {
                        break;
                    };
                    headers.push(match FromStr::from_str(line.as_str().trim()) {
                        // TODO: remove this conversion
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                headers
            };

            (method, path, version, headers)
        };

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap(),
            data_source,
            writer,
            self.abandoned.clone(),
        )
        .map(|rq| rq.with_client_certificate(self.client_certificate.clone()))
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
            }
        })?;

        // return the request
        Ok(request)
    }
}

impl ClientConnection {
    /// hubshare patch: answers `status` and closes so that the answer
    /// arrives: flush, shut down our sending side, then read and discard
    /// what the client still sends (bounded, one second at most) so the
    /// close does not reset the connection under the unread answer.
    fn refuse(&mut self, status: u16, message: &str, version: HTTPVersion) {
        use crate::{Response, StatusCode};
        use std::io::Write;

        let mut writer = self.sink.next().unwrap();
        Response::from_string(format!("{}\n", message))
            .with_status_code(StatusCode(status))
            .raw_print(&mut writer, version, &[], false, None)
            .ok();
        writer.flush().ok();
        drop(writer);
        self.linger();
    }

    /// hubshare patch: the closing half of [`ClientConnection::refuse`].
    fn linger(&mut self) {
        if let Some(control) = &self.control {
            let _ = control.shutdown(std::net::Shutdown::Write);
            let _ = control.set_timeouts(Some(std::time::Duration::from_secs(1)), None);
        }
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        let mut discarded = 0;
        while discarded < 256 * 1024 && started.elapsed() < std::time::Duration::from_secs(1) {
            match self.next_header_source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        use crate::{Response, StatusCode};

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                // hubshare patch: every refusal that ends the connection
                // goes through `refuse`, which delivers the answer before
                // closing (lingering close).
                Err(ReadError::WrongRequestLine) => {
                    self.refuse(400, "malformed request line", HTTPVersion(1, 1));
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader(ver)) => {
                    self.refuse(400, "malformed header", ver);
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::HeaderTooLarge) => {
                    self.refuse(431, "request headers too large", HTTPVersion(1, 1));
                    return None;
                }

                Err(ReadError::NotAscii) => {
                    self.refuse(400, "request headers must be ASCII", HTTPVersion(1, 1));
                    return None;
                }

                Err(ReadError::HeaderTimeout) => {
                    self.refuse(408, "request headers took too long", HTTPVersion(1, 1));
                    return None;
                }

                // (A socket read timeout is WouldBlock on Unix: the client
                // went quiet; just close.)
                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                    // request timeout
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(408));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // closing the connection
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(417));
                    response.raw_print(writer, ver, &[], true, None).ok();
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // checking HTTP version
            // hubshare patch: answered and closed (upstream left the
            // answer unflushed and waited for another request).
            if *rq.http_version() > (1, 1) {
                let response = Response::from_string(
                    "This server only supports HTTP versions 1.0 and 1.1\n".to_owned(),
                )
                .with_status_code(StatusCode(505));
                rq.respond(response).ok();
                self.linger();
                return None;
            }

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // returning the request
            return Some(rq);
        }
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(origin_form);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

/// hubshare patch: a request target in absolute form
/// (`https://host:port/path?query`, RFC 7230 section 5.3.2, which a server
/// must accept; ureq sends it through a proxy's tunnel) is served as its
/// path and query.
fn origin_form(target: &str) -> String {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &target[scheme.len()..])
        {
            return match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => rest[i..].to_string(),
                Some(i) => format!("/{}", &rest[i..]),
                None => "/".to_string(),
            };
        }
    }
    target.to_string()
}

#[cfg(test)]
mod test {
    #[test]
    fn absolute_targets_are_served_as_their_path() {
        for (target, path) in [
            ("https://127.0.0.1:7001/pieces/ab?x=1", "/pieces/ab?x=1"),
            ("HTTP://h/", "/"),
            ("http://h", "/"),
            ("http://h?q", "/?q"),
            ("/files/x", "/files/x"),
            ("*", "*"),
        ] {
            assert_eq!(super::origin_form(target), path, "{target}");
        }
    }

    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
