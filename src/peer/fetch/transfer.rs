//! Talking to other peers over HTTP with ureq: the errors every transfer
//! shares, the agent with its timeouts, bounded JSON answers, pushing
//! (uploading) a file to another peer, and browsing one. Downloads are in
//! the rest of `fetch/`.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::hash::hash_file;
use crate::id::FileId;
use crate::names;
use crate::peer::client::{ClientError, Directory};
use crate::wire::{percent_encode, HttpAddr, InboxPolicy, KeyPrint, SharedFile, ID_HEADER};

/// Connect timeout of every peer-to-peer request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence tolerated while reading or writing a body.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Why a source is dropped when another certificate answers at its address.
pub const NOT_THE_LISTED_CERTIFICATE: &str =
    "its certificate does not match the keyprint the directory lists";
/// Largest JSON answer read from another peer (piece lists, error texts,
/// what an upload stored).
pub const MAX_JSON_BYTES: u64 = 16 << 20;
/// Largest share listing read from another peer (`GET /files`): about two
/// million files at ~130 bytes each.
pub const MAX_LISTING_BYTES: u64 = 256 << 20;

/// A failed transfer.
#[derive(Debug)]
pub enum TransferError {
    /// The directory could not answer.
    Directory(ClientError),
    /// A peer answered with an error status; `message` is its explanation.
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// A peer could not be reached or the connection broke.
    Transport { url: String, detail: String },
    /// Another certificate than the one the directory lists answered at
    /// the address (a man in the middle, or another process on its port).
    NotTheListed {
        url: String,
        shown: KeyPrint,
        listed: KeyPrint,
    },
    /// A local file could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// Every source failed; each failure is listed.
    AllSourcesFailed { id: FileId, failures: Vec<String> },
    /// A peer sent something this client cannot use.
    Protocol { url: String, detail: String },
    /// No source sent a piece list that merges to the id.
    BadPieceList { id: FileId, failures: Vec<String> },
    /// Every source is gone or dropped while pieces are missing; the part
    /// file and its state are kept, so running the download again resumes.
    NoSourceLeft {
        id: FileId,
        missing_pieces: usize,
        missing_bytes: u64,
        /// The part kept (`None` when nothing was verified, so nothing kept).
        part: Option<PathBuf>,
        dropped: Vec<String>,
    },
    /// Stopped on request; the part file and its state are kept.
    Cancelled { part: Option<PathBuf> },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Directory(e) => write!(f, "{e}"),
            TransferError::Status {
                url,
                status,
                message,
            } => write!(f, "{url} answered {status}: {message}"),
            TransferError::Transport { url, detail } => write!(f, "cannot reach {url}: {detail}"),
            TransferError::NotTheListed { url, .. } => {
                write!(f, "{url}: {}", self.not_the_listed().unwrap_or_default())
            }
            TransferError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TransferError::AllSourcesFailed { id, failures } => {
                write!(f, "could not download {id} from any source")?;
                for fail in failures {
                    write!(f, "\n  - {fail}")?;
                }
                Ok(())
            }
            TransferError::Protocol { url, detail } => write!(f, "{url}: {detail}"),
            TransferError::BadPieceList { id, failures } => {
                write!(f, "could not get a piece list of {id} from any source")?;
                for fail in failures {
                    write!(f, "\n  - {fail}")?;
                }
                Ok(())
            }
            TransferError::NoSourceLeft {
                id,
                missing_pieces,
                missing_bytes,
                part,
                dropped,
            } => {
                write!(
                    f,
                    "no source left for {missing_pieces} piece(s) ({missing_bytes} bytes) of {id}; {}",
                    kept(part)
                )?;
                for d in dropped {
                    write!(f, "\n  - dropped {d}")?;
                }
                Ok(())
            }
            TransferError::Cancelled { part } => write!(f, "download stopped; {}", kept(part)),
        }
    }
}

/// What is left of a download that ended early.
fn kept(part: &Option<PathBuf>) -> String {
    match part {
        Some(p) => format!(
            "the verified part is kept in {} and running the download again resumes it",
            p.display()
        ),
        None => "nothing was verified, so nothing is kept".to_string(),
    }
}

impl TransferError {
    /// Why a source that showed another certificate is dropped, for people
    /// (`None` for any other failure).
    pub fn not_the_listed(&self) -> Option<String> {
        match self {
            TransferError::NotTheListed { shown, listed, .. } => Some(format!(
                "{NOT_THE_LISTED_CERTIFICATE} (it shows {shown}, the directory lists {listed})"
            )),
            _ => None,
        }
    }
}

impl std::error::Error for TransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransferError::Directory(e) => Some(e),
            TransferError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ClientError> for TransferError {
    fn from(e: ClientError) -> TransferError {
        TransferError::Directory(e)
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The HTTP client every transfer to `base` uses: over TLS, it accepts
/// only the certificate whose keyprint the address carries.
pub fn agent(base: &HttpAddr) -> ureq::Agent {
    agent_with_read_timeout(base, IO_TIMEOUT)
}

/// The same client with another limit on silence while reading a body.
pub fn agent_with_read_timeout(base: &HttpAddr, read: Duration) -> ureq::Agent {
    crate::tls::agent_for(base, CONNECT_TIMEOUT, read, IO_TIMEOUT)
}

/// Turns a ureq failure into a [`TransferError`], reading a bounded error text.
pub(crate) fn http_err(url: &str, e: ureq::Error) -> TransferError {
    match e {
        ureq::Error::Status(status, resp) => {
            let mut message = String::new();
            let _ = resp.into_reader().take(4096).read_to_string(&mut message);
            TransferError::Status {
                url: url.to_string(),
                status,
                message: message.trim().to_string(),
            }
        }
        ureq::Error::Transport(t) => {
            use std::error::Error as _;
            match t.source().and_then(crate::tls::pin_mismatch) {
                Some(m) => TransferError::NotTheListed {
                    url: url.to_string(),
                    shown: m.shown,
                    listed: m.expected,
                },
                None => TransferError::Transport {
                    url: url.to_string(),
                    detail: transport_detail(&t),
                },
            }
        }
    }
}

/// What went wrong below HTTP, for people: without the URL (the error
/// names it once) and without raw bytes of an answer that was not HTTP.
fn transport_detail(t: &ureq::Transport) -> String {
    use std::error::Error as _;
    let cause = || {
        t.source()
            .map(|s| s.to_string())
            .or_else(|| t.message().map(str::to_string))
            .unwrap_or_else(|| "no detail".into())
    };
    // An answer that could not be read as HTTP (ureq reports some as I/O
    // errors of kind InvalidData, with the raw bytes in the text).
    let not_http = t
        .source()
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
            )
        });
    match t.kind() {
        ureq::ErrorKind::BadStatus | ureq::ErrorKind::BadHeader => {
            "it did not answer in HTTP/1.1 (is this a hubshare peer's HTTP address?)".into()
        }
        _ if not_http => {
            "it did not answer in HTTP/1.1 (is this a hubshare peer's HTTP address?)".into()
        }
        ureq::ErrorKind::ConnectionFailed => format!("cannot connect: {}", cause()),
        ureq::ErrorKind::Dns => format!("cannot resolve the host name: {}", cause()),
        ureq::ErrorKind::Io => cause(),
        other => format!("{other}: {}", cause()),
    }
}

/// Why a firewalled source is not used.
pub(crate) const FIREWALLED: &str = "firewalled: the directory cannot reach it, and reaching it \
     (a reverse connection, or the relay) needs TLS and this config's peer running (`peer serve`)";

/// Whether this process cannot reach a source at `addr`: the directory
/// lists it as firewalled, and no reverse connection (nor the relay) can
/// reach it from here.
pub(crate) fn out_of_reach(addr: &HttpAddr) -> bool {
    addr.firewalled() && !crate::tls::reverse_possible(addr)
}

/// `addr`, unless the directory lists `peer` there as firewalled and no
/// reverse connection can reach it.
pub fn direct(peer: &str, addr: HttpAddr) -> Result<HttpAddr, TransferError> {
    if out_of_reach(&addr) {
        return Err(TransferError::Protocol {
            url: peer.to_string(),
            detail: FIREWALLED.to_string(),
        });
    }
    Ok(addr)
}

/// Another peer, as a person names it: a peer name (looked up in the
/// directory), an `http://` address, or `host:port`.
pub fn resolve_peer(dir: &Directory, target: &str) -> Result<HttpAddr, TransferError> {
    let bad = |detail: String| TransferError::Protocol {
        url: target.to_string(),
        detail,
    };
    let addr = if target.starts_with("http://") || target.starts_with("https://") {
        target.to_string()
    } else if target.contains(':') {
        if dir.is_tls() {
            return Err(bad(format!(
                "over TLS a peer is checked by the keyprint the directory lists: give its \
                 name, or https://{target}#kp=KEYPRINT"
            )));
        }
        format!("http://{target}")
    } else {
        return direct(target, dir.peer(target)?.0);
    };
    let addr = HttpAddr::parse(&addr).map_err(|e| bad(e.to_string()))?;
    if addr.is_tls() && addr.pin().is_none() {
        return Err(bad(format!(
            "an https:// address needs the keyprint its certificate must have: {addr}#kp=KEYPRINT, \
             or give the peer's name"
        )));
    }
    Ok(addr)
}

/// What a finished upload did.
#[derive(Debug, Clone)]
pub struct UploadReport {
    pub stored: SharedFile,
    pub elapsed: Duration,
}

/// Pushes `file` to the peer at `base`. The receiver verifies the bytes
/// against the id sent along.
pub fn upload(
    base: &HttpAddr,
    file: &Path,
    name: Option<&str>,
) -> Result<UploadReport, TransferError> {
    let name = match name {
        Some(n) => n.to_string(),
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| TransferError::Io {
                path: file.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name in UTF-8"),
            })?,
    };
    names::check_shared_path(&name).map_err(|e| TransferError::Io {
        path: file.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
    })?;
    let meta = fs::metadata(file).map_err(io_err(file))?;
    if !meta.is_file() {
        return Err(TransferError::Io {
            path: file.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let (id, size) = hash_file(file).map_err(io_err(file))?;
    let agent = agent(base);

    // Ask first, so a refusal does not cost sending the whole file.
    let inbox = base.url("/inbox");
    let policy: InboxPolicy = read_json(
        agent.get(&inbox).call().map_err(|e| http_err(&inbox, e))?,
        &inbox,
    )?;
    if !policy.accepting {
        return Err(TransferError::Status {
            url: inbox,
            status: 403,
            message: "this peer does not accept uploads".into(),
        });
    }
    if size > policy.max_bytes {
        return Err(TransferError::Status {
            url: inbox,
            status: 413,
            message: format!(
                "the file has {size} bytes, this peer accepts at most {}",
                policy.max_bytes
            ),
        });
    }
    let url = base.url(&format!("/inbox/{}", percent_encode(&name)));
    let started = Instant::now();
    let body = File::open(file).map_err(io_err(file))?;
    let resp = agent
        .put(&url)
        .set("Content-Length", &size.to_string())
        .set(ID_HEADER, &id.to_string())
        .send(body.take(size))
        .map_err(|e| http_err(&url, e))?;
    let stored: SharedFile = read_json(resp, &url)?;
    if stored.id != id || stored.size != size {
        return Err(TransferError::Protocol {
            url,
            detail: format!(
                "the receiver stored {} ({} bytes), not {id} ({size} bytes)",
                stored.id, stored.size
            ),
        });
    }
    Ok(UploadReport {
        stored,
        elapsed: started.elapsed(),
    })
}

/// Reads a bounded JSON body (at most [`MAX_JSON_BYTES`]).
pub fn read_json<T: for<'de> serde::Deserialize<'de>>(
    resp: ureq::Response,
    url: &str,
) -> Result<T, TransferError> {
    read_json_up_to(resp, url, MAX_JSON_BYTES)
}

/// Reads a JSON body of at most `cap` bytes, parsed as it arrives (the
/// text is never whole in memory); a longer one is refused as such.
pub fn read_json_up_to<T: for<'de> serde::Deserialize<'de>>(
    resp: ureq::Response,
    url: &str,
    cap: u64,
) -> Result<T, TransferError> {
    let mut body = io::BufReader::with_capacity(64 * 1024, resp.into_reader().take(cap));
    let parsed = serde_json::from_reader(&mut body);
    // All of `cap` read and the text not over: it was cut at the cap.
    let cut = body.into_inner().limit() == 0;
    parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Io => TransferError::Transport {
            url: url.to_string(),
            detail: e.to_string(),
        },
        _ if cut => TransferError::Protocol {
            url: url.to_string(),
            detail: format!(
                "the answer is longer than {}, the most read from a peer",
                crate::units::human_size(cap)
            ),
        },
        _ => TransferError::Protocol {
            url: url.to_string(),
            detail: format!("not the JSON expected: {e}"),
        },
    })
}

/// The files another peer shares (`GET /files`).
pub fn browse(base: &HttpAddr) -> Result<Vec<SharedFile>, TransferError> {
    let url = base.url("/files");
    let resp = agent(base)
        .get(&url)
        .call()
        .map_err(|e| http_err(&url, e))?;
    read_json_up_to(resp, &url, MAX_LISTING_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> ureq::Response {
        ureq::Response::new(200, "OK", body).unwrap()
    }

    fn listing(files: usize) -> String {
        let files: Vec<SharedFile> = (0..files)
            .map(|i| SharedFile::named(&format!("folder {}/track {i:06}.flac", i % 100)))
            .collect();
        serde_json::to_string(&files).unwrap()
    }

    #[test]
    fn a_listing_past_the_json_cap_is_read_and_one_past_its_own_cap_is_refused_as_such() {
        // More than MAX_JSON_BYTES: a big share's listing still reads.
        let big = listing(160_000);
        assert!(big.len() as u64 > MAX_JSON_BYTES);
        let files: Vec<SharedFile> = read_json_up_to(answer(&big), "u", MAX_LISTING_BYTES).unwrap();
        assert_eq!(files.len(), 160_000);
        assert_eq!(files[159_999].name, "folder 99/track 159999.flac");

        let small = listing(100);
        let err = read_json_up_to::<Vec<SharedFile>>(answer(&small), "u", 4 << 10).unwrap_err();
        assert!(
            err.to_string()
                .contains("the answer is longer than 4.0 KiB, the most read from a peer"),
            "{err}"
        );
        let ok: Vec<SharedFile> = read_json(answer(&small), "u").unwrap();
        assert_eq!(ok.len(), 100);
        let err = read_json::<Vec<SharedFile>>(answer("[{\"id\": 3}]"), "u").unwrap_err();
        assert!(err.to_string().contains("not the JSON expected"), "{err}");
        let err = read_json::<Vec<SharedFile>>(answer("[] trailing"), "u").unwrap_err();
        assert!(err.to_string().contains("not the JSON expected"), "{err}");
    }
}
