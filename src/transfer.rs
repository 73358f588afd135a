//! Moving bytes between peers over HTTP with ureq: downloading a file by id
//! from the sources the directory names, and pushing (uploading) a file to
//! another peer. A download streams into `<name>.part`, hashing as it goes;
//! only bytes whose BLAKE3 hash equals the id are renamed to the final name,
//! and an existing file is never overwritten.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{ClientError, Directory};
use crate::directory::Source;
use crate::http::{percent_encode, FileInfo, InboxPolicy, ID_HEADER};
use crate::id::FileId;
use crate::names;
use crate::share::PART_SUFFIX;

/// Connect timeout of every peer-to-peer request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence tolerated while reading or writing a body.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON answer read from another peer (`GET /files`, error texts).
pub const MAX_JSON_BYTES: u64 = 16 << 20;

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
    /// A local file could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// Every source failed; each failure is listed.
    AllSourcesFailed { id: FileId, failures: Vec<String> },
    /// A peer sent something this client cannot use.
    Protocol { url: String, detail: String },
    /// The whole file arrived but does not hash to its id; it was deleted.
    Corrupt {
        id: FileId,
        got: FileId,
        sources: Vec<String>,
    },
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
            TransferError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TransferError::AllSourcesFailed { id, failures } => {
                write!(f, "could not download {id} from any source")?;
                for fail in failures {
                    write!(f, "\n  - {fail}")?;
                }
                Ok(())
            }
            TransferError::Protocol { url, detail } => write!(f, "{url}: {detail}"),
            TransferError::Corrupt { id, got, sources } => write!(
                f,
                "the bytes received from {} hash to {got}, not to {id}: the download was deleted",
                sources.join(", ")
            ),
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

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The HTTP client every transfer uses.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(IO_TIMEOUT)
        .timeout_write(IO_TIMEOUT)
        .user_agent(concat!("hubshare/", env!("CARGO_PKG_VERSION")))
        .build()
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
        ureq::Error::Transport(t) => TransferError::Transport {
            url: url.to_string(),
            detail: t.to_string(),
        },
    }
}

/// Moves `from` to `to` only if nothing stands at `to`: a hard link (which
/// fails if `to` exists) then removing `from`. Where the file system cannot
/// link, falls back to an existence check and a rename.
pub fn publish(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if to.symlink_metadata().is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "destination exists",
                ));
            }
            fs::rename(from, to)
        }
    }
}

/// `name`, or `stem (n).ext` for the first n whose path is free in `dir`.
fn free_name(dir: &Path, name: &str) -> String {
    if !dir.join(name).exists() && !dir.join(format!("{name}{PART_SUFFIX}")).exists() {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    (1..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|c| !dir.join(c).exists() && !dir.join(format!("{c}{PART_SUFFIX}")).exists())
        .expect("some numbered name is free")
}

/// What a finished download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    pub path: PathBuf,
    pub size: u64,
    pub elapsed: Duration,
    /// Peers that sent bytes, in order.
    pub sources: Vec<String>,
    /// True when an identical file was already there and nothing was fetched.
    pub already_had: bool,
}

impl DownloadReport {
    /// Average rate in MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        self.size as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How a download should behave.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// Save under this name instead of the name the source gives.
    pub name: Option<String>,
    /// Show a progress bar (it stays hidden when stderr is not a terminal).
    pub progress: bool,
}

/// Downloads `id` into `dest_dir`: locates sources, streams from the first
/// that works (continuing from the next with a `Range` request when one
/// breaks off), verifies the whole file against the id, and renames it into
/// place under a name that does not overwrite anything.
pub fn download(
    dir: &Directory,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let (size, sources) = dir.locate(&id)?;
    if sources.is_empty() {
        return Err(TransferError::Directory(ClientError::NotFound(format!(
            "no online peer shares {id}"
        ))));
    }
    let wanted = match &opts.name {
        Some(n) => {
            names::check_file_name(n).map_err(|e| TransferError::Io {
                path: dest_dir.join(n),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            n.clone()
        }
        None => names::sanitize_file_name(&sources[0].name, &id.to_string()),
    };
    // Leave room for " (n)" and ".part" within the file-system's name limit.
    let wanted = names::shorten(&wanted, names::MAX_FILE_NAME_LEN - PART_SUFFIX.len() - 8);
    fs::create_dir_all(dest_dir).map_err(io_err(dest_dir))?;

    // The same bytes already there under that name: nothing to do.
    let existing = dest_dir.join(&wanted);
    if let Ok(meta) = fs::metadata(&existing) {
        if meta.len() == size
            && crate::http::hash_file(&existing)
                .map(|(h, _)| h == id)
                .unwrap_or(false)
        {
            return Ok(DownloadReport {
                path: existing,
                size,
                elapsed: Duration::ZERO,
                sources: Vec::new(),
                already_had: true,
            });
        }
    }
    let name = free_name(dest_dir, &wanted);
    let final_path = dest_dir.join(&name);
    let part_path = dest_dir.join(format!("{name}{PART_SUFFIX}"));
    let mut part = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&part_path)
        .map_err(io_err(&part_path))?;

    let bar = progress_bar(size, opts.progress);
    let started = Instant::now();
    let agent = agent();
    let mut hasher = blake3::Hasher::new();
    let mut have = 0u64;
    let mut used = Vec::new();
    let mut failures = Vec::new();
    for source in &sources {
        if have == size {
            break;
        }
        bar.set_message(source.peer.clone());
        match fetch_from(&agent, source, id, size, have, &mut part, &mut hasher, &bar) {
            Ok(n) => {
                if n > 0 {
                    used.push(source.peer.clone());
                }
                have += n;
            }
            Err((n, e)) => {
                if n > 0 {
                    used.push(source.peer.clone());
                }
                have += n;
                if let TransferError::Io { .. } = e {
                    bar.abandon();
                    let _ = fs::remove_file(&part_path);
                    return Err(e);
                }
                log::warn!("source {} failed: {e}", source.peer);
                failures.push(format!("{}: {e}", source.peer));
            }
        }
    }
    if have < size {
        bar.abandon();
        drop(part);
        let _ = fs::remove_file(&part_path);
        return Err(TransferError::AllSourcesFailed { id, failures });
    }
    let got: FileId = hasher.finalize().into();
    if got != id {
        bar.abandon();
        drop(part);
        let _ = fs::remove_file(&part_path);
        return Err(TransferError::Corrupt {
            id,
            got,
            sources: used,
        });
    }
    part.sync_all().map_err(io_err(&part_path))?;
    drop(part);
    let mut final_path = final_path;
    // Someone may have taken the name meanwhile: pick the next free one.
    while let Err(e) = publish(&part_path, &final_path) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(TransferError::Io {
                path: final_path,
                source: e,
            });
        }
        final_path = dest_dir.join(free_name(dest_dir, &name));
    }
    bar.finish_and_clear();
    Ok(DownloadReport {
        path: final_path,
        size,
        elapsed: started.elapsed(),
        sources: used,
        already_had: false,
    })
}

fn progress_bar(size: u64, wanted: bool) -> ProgressBar {
    if !wanted {
        return ProgressBar::hidden();
    }
    // indicatif draws nothing when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar
}

/// Streams bytes `from..size` of `id` from `source` into `out`. Returns the
/// bytes added, or those and the error that stopped it.
#[allow(clippy::too_many_arguments)]
fn fetch_from(
    agent: &ureq::Agent,
    source: &Source,
    id: FileId,
    size: u64,
    from: u64,
    out: &mut File,
    hasher: &mut blake3::Hasher,
    bar: &ProgressBar,
) -> Result<u64, (u64, TransferError)> {
    let url = format!("{}/files/{id}", source.http_addr.trim_end_matches('/'));
    let mut req = agent.get(&url);
    if from > 0 {
        req = req.set("Range", &format!("bytes={from}-"));
    }
    let resp = req.call().map_err(|e| (0, http_err(&url, e)))?;
    let protocol = |detail: String| {
        (
            0,
            TransferError::Protocol {
                url: url.clone(),
                detail,
            },
        )
    };
    let expected = size - from;
    match (from, resp.status()) {
        (0, 200) => {}
        (_, 206) => {
            let want = format!("bytes {from}-{}/{size}", size - 1);
            if resp.header("Content-Range") != Some(want.as_str()) {
                return Err(protocol(format!(
                    "asked for {want}, got Content-Range {:?}",
                    resp.header("Content-Range")
                )));
            }
        }
        (_, s) => return Err(protocol(format!("unexpected status {s}"))),
    }
    if let Some(len) = resp.header("Content-Length") {
        if len.parse::<u64>().ok() != Some(expected) {
            return Err(protocol(format!(
                "Content-Length is {len}, expected {expected}"
            )));
        }
    }
    // Never read more than the file's size, whatever the source sends.
    let mut body = resp.into_reader().take(expected);
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err((
                    got,
                    TransferError::Transport {
                        url,
                        detail: e.to_string(),
                    },
                ))
            }
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            return Err((
                got,
                TransferError::Io {
                    path: PathBuf::from(format!("download of {id}")),
                    source: e,
                },
            ));
        }
        hasher.update(&buf[..n]);
        got += n as u64;
        bar.inc(n as u64);
    }
    if got < expected {
        return Err((
            got,
            TransferError::Transport {
                url,
                detail: format!("connection closed after {} of {size} bytes", from + got),
            },
        ));
    }
    Ok(got)
}

/// Where an upload goes: a peer name (looked up in the directory) or an address.
pub fn resolve_peer(dir: &Directory, target: &str) -> Result<String, TransferError> {
    if target.starts_with("http://") {
        return Ok(target.trim_end_matches('/').to_string());
    }
    if target.contains(':') {
        return Ok(format!("http://{target}"));
    }
    let (addr, _) = dir.peer(target)?;
    Ok(addr)
}

/// What a finished upload did.
#[derive(Debug, Clone)]
pub struct UploadReport {
    pub stored: FileInfo,
    pub elapsed: Duration,
}

/// Pushes `file` to the peer at `base` (an `http://host:port` address). The
/// receiver verifies the bytes against the id sent along.
pub fn upload(base: &str, file: &Path, name: Option<&str>) -> Result<UploadReport, TransferError> {
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
    names::check_file_name(&name).map_err(|e| TransferError::Io {
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
    let (id, size) = crate::http::hash_file(file).map_err(io_err(file))?;
    let agent = agent();
    let base = base.trim_end_matches('/');

    // Ask first, so a refusal does not cost sending the whole file.
    let inbox = format!("{base}/inbox");
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
    let url = format!("{base}/inbox/{}", percent_encode(&name));
    let started = Instant::now();
    let body = File::open(file).map_err(io_err(file))?;
    let resp = agent
        .put(&url)
        .set("Content-Length", &size.to_string())
        .set(ID_HEADER, &id.to_string())
        .send(body.take(size))
        .map_err(|e| http_err(&url, e))?;
    let stored: FileInfo = read_json(resp, &url)?;
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

/// Reads a bounded JSON body.
pub fn read_json<T: for<'de> serde::Deserialize<'de>>(
    resp: ureq::Response,
    url: &str,
) -> Result<T, TransferError> {
    let mut text = String::new();
    resp.into_reader()
        .take(MAX_JSON_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| TransferError::Transport {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
    serde_json::from_str(&text).map_err(|e| TransferError::Protocol {
        url: url.to_string(),
        detail: format!("not the JSON expected: {e}"),
    })
}

/// The files another peer shares (`GET /files`).
pub fn browse(base: &str) -> Result<Vec<FileInfo>, TransferError> {
    let url = format!("{}/files", base.trim_end_matches('/'));
    let resp = agent().get(&url).call().map_err(|e| http_err(&url, e))?;
    read_json(resp, &url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_name_never_picks_a_taken_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.txt"), "a.txt");
        fs::write(dir.path().join("a.txt"), b"x").unwrap();
        assert_eq!(free_name(dir.path(), "a.txt"), "a (1).txt");
        fs::write(dir.path().join("a (1).txt.part"), b"x").unwrap();
        assert_eq!(free_name(dir.path(), "a.txt"), "a (2).txt");
        fs::write(dir.path().join("noext"), b"x").unwrap();
        assert_eq!(free_name(dir.path(), "noext"), "noext (1)");
    }

    #[test]
    fn publish_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let err = publish(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        assert!(a.exists());
        fs::remove_file(&b).unwrap();
        publish(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }
}
