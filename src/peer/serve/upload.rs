//! `PUT /inbox/{path}`: another peer pushes a file into this one. Refused
//! unless the peer accepts uploads; the path (`name.ext` or
//! `folder/sub/name.ext`, slashes literal or `%2F`) must pass the
//! shared-path check before it is joined to the folder, and its folders are
//! made one at a time, never through a link; the body is size-capped,
//! written to a hidden temp file beside its final place, checked against
//! the id the sender gave, and published under its path only when complete
//! (never over an existing file). Every refusal is answered only after the
//! temp file, and any folder made for it, are gone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tiny_http::Request;

use super::host::Host;
use super::respond::{json, request_header, send, text, Answer};
use crate::fsutil::publish;
use crate::id::FileId;
use crate::names;
use crate::random::random_hex;
use crate::wire::{percent_decode, InboxPolicy, SharedFile, ID_HEADER};

/// Removes a temporary file when dropped: every early return of an upload
/// cleans up after itself (after a publish there is nothing left to remove).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A fresh name in `dir`: hidden, so no scan shares it while it is being
    /// written; of fixed length, so a name at the length limit still gets one.
    fn new(dir: &Path) -> TempFile {
        TempFile {
            path: dir.join(format!(".hubshare-upload-{}", random_hex(8))),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Folders made for an upload, removed again (when still empty) unless the
/// upload is published.
struct MadeFolders(Vec<PathBuf>);

impl MadeFolders {
    /// The upload is published: the folders stay.
    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for MadeFolders {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

pub(super) fn receive_upload(
    host: &dyn Host,
    metrics: &super::metrics::PeerMetrics,
    mut rq: Request,
    raw_name: &str,
) {
    let policy = host.inbox();
    let cap = policy.max_bytes;
    if !policy.accepting {
        let why = "this peer does not accept uploads (its config has accept_uploads = false)";
        return refuse(rq, text(403, why), cap);
    }
    let Some(name) = percent_decode(raw_name) else {
        let why = "upload name is not valid percent-encoded UTF-8";
        return refuse(rq, text(400, why), cap);
    };
    if let Err(e) = names::check_shared_path(&name) {
        return refuse(rq, text(400, &e.to_string()), cap);
    }
    if rq.body_length().is_none() && request_header(&rq, "Transfer-Encoding").is_none() {
        let why = "an upload needs a Content-Length (or chunked Transfer-Encoding)";
        return send(rq, text(411, why));
    }
    if let Some(n) = rq.body_length() {
        if n as u64 > cap {
            // Not read: the cap is what the body would cost.
            let why = format!("upload of {n} bytes exceeds this peer's limit of {cap} bytes");
            return send(rq, text(413, &why));
        }
    }
    let claimed = match request_header(&rq, ID_HEADER).map(FileId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return refuse(rq, text(400, &format!("{ID_HEADER}: {e}")), cap),
    };
    let inbox = host.inbox_dir().to_path_buf();
    let made = match names::split_folder(&name).0.trim_end_matches('/') {
        "" => MadeFolders(Vec::new()),
        folder => match crate::fsutil::create_dirs_within(&inbox, Path::new(folder)) {
            Ok(made) => MadeFolders(made),
            // (Said without this peer's own paths.)
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let why =
                    format!("cannot store {name:?}: a folder on its path is a file or a link here");
                return refuse(rq, text(409, &why), cap);
            }
            Err(e) => {
                log::warn!("cannot make the folders of upload {name:?}: {e}");
                return refuse(rq, storage_refused(&e), cap);
            }
        },
    };
    let dest = inbox.join(&name);
    let dir = dest.parent().unwrap_or(&inbox).to_path_buf();
    if dest.symlink_metadata().is_ok() {
        let why = format!("a file named {name:?} is already shared here");
        return refuse(rq, text(409, &why), cap);
    }
    let (id, written) = match store_upload(&mut rq, &dir, &dest, &name, &policy, claimed) {
        Ok(stored) => stored,
        Err(refusal) => {
            drop(made);
            return refuse(rq, refusal, cap);
        }
    };
    made.keep();
    host.received(&dest, id);
    metrics.uploads_received.inc();
    metrics.bytes_received.inc_by(written);
    send(
        rq,
        json(
            201,
            &SharedFile {
                id,
                name,
                size: written,
                other_names: Vec::new(),
            },
        ),
    )
}

/// Answers a refused upload so that its sender reads the answer, not a
/// broken pipe: a client that sent `Expect: 100-continue` (curl does, for
/// bodies over 1 MiB) is answered before it sends a byte (the `100
/// Continue` goes out only when the body is read); one that sends at once
/// (ureq) has what is left of its body read and dropped first, up to the
/// upload cap, since a sender whose body is cut off sees its write fail
/// before the answer arrives. Nothing read is kept.
fn refuse(mut rq: Request, answer: Answer, cap: u64) {
    let waits =
        request_header(&rq, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if !waits && rq.body_length().is_none_or(|n| n as u64 <= cap) {
        let drained = io::copy(
            &mut rq.as_reader().take(cap.saturating_add(1)),
            &mut io::sink(),
        );
        if let Err(e) = drained {
            log::debug!("refused upload: its body broke off: {e}");
        }
    }
    send(rq, answer)
}

/// Writes an upload's body to a hidden temp file in `dir`, checks it (cap,
/// length, claimed id), and publishes it as `dest` without overwriting.
/// On any failure the temp file is gone before the refusal is returned, so
/// the client never sees an answer while a stray file still exists.
fn store_upload(
    rq: &mut Request,
    dir: &Path,
    dest: &Path,
    name: &str,
    policy: &InboxPolicy,
    claimed: Option<FileId>,
) -> Result<(FileId, u64), Answer> {
    let expected_len = rq.body_length().map(|n| n as u64);
    let tmp = TempFile::new(dir);
    let mut out = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp.path)
    {
        Ok(f) => f,
        Err(e) => {
            log::warn!("cannot create {}: {e}", tmp.path.display());
            return Err(text(500, "cannot store the upload"));
        }
    };
    // Read at most one byte past the cap, to tell "at the cap" from "over it".
    let mut body = HashingWriter::new(&mut out);
    let copied = io::copy(&mut rq.as_reader().take(policy.max_bytes + 1), &mut body);
    let write_error = body.write_error.take();
    let (id, written) = body.finish();
    match (copied, write_error) {
        // The disk (or a quota, or a file-size limit) said no.
        (Err(_), Some(e)) => {
            log::warn!("cannot store upload {name:?} after {written} bytes: {e}");
            return Err(storage_refused(&e));
        }
        (Err(e), None) => {
            log::info!("upload of {name:?} failed after {written} bytes: {e}");
            return Err(text(400, "upload interrupted"));
        }
        (Ok(_), _) if written > policy.max_bytes => {
            return Err(text(
                413,
                &format!(
                    "upload exceeds this peer's limit of {} bytes",
                    policy.max_bytes
                ),
            ));
        }
        (Ok(_), _) => {}
    }
    if let Some(n) = expected_len {
        if written != n {
            return Err(text(
                400,
                &format!("upload truncated: {written} of {n} bytes arrived"),
            ));
        }
    }
    if let Some(want) = claimed {
        if want != id {
            return Err(text(
                422,
                &format!("the bytes received hash to {id}, not to the {want} the sender gave"),
            ));
        }
    }
    if let Err(e) = out.sync_all() {
        log::warn!("cannot flush {}: {e}", tmp.path.display());
        return Err(storage_refused(&e));
    }
    drop(out);
    match publish(&tmp.path, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(text(
                409,
                &format!("a file named {name:?} is already shared here"),
            ));
        }
        Err(e) => {
            log::warn!("cannot move upload into {}: {e}", dest.display());
            return Err(text(500, "cannot store the upload"));
        }
    }
    drop(tmp);
    log::info!(
        "received upload {name:?} ({written} bytes, {id}) from {}",
        rq.remote_addr()
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string())
    );
    Ok((id, written))
}

/// 507: the disk (full, a quota, a file-size limit) would not take the upload.
fn storage_refused(e: &io::Error) -> Answer {
    text(507, &format!("this peer cannot store the upload: {e}"))
}

/// Writes through to a file while hashing what passes.
struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: blake3::Hasher,
    written: u64,
    /// The error writing to the file met, if any (as opposed to reading).
    write_error: Option<io::Error>,
}

impl<'a> HashingWriter<'a> {
    fn new(inner: &'a mut File) -> HashingWriter<'a> {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
            written: 0,
            write_error: None,
        }
    }

    fn finish(self) -> (FileId, u64) {
        (self.hasher.finalize().into(), self.written)
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.inner.write(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                self.write_error = Some(e);
                return Err(io::Error::new(
                    kind,
                    "write to the upload's temp file failed",
                ));
            }
        };
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
