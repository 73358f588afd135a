//! `download`: one file id to a verified file under its final name, in
//! order: locate the sources, prove the size (`plan.rs`), choose the name,
//! open or resume the part (`part.rs`), fetch and verify every piece
//! (`swarm.rs`), publish.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use super::lock::DownloadLock;
use super::options::{DownloadOptions, DownloadReport};
use super::part::{choose_name, make_folders, numbered, Part};
use super::plan;
use super::progress::progress_bar;
use super::swarm::Swarm;
use super::transfer::{self, TransferError};
use super::worker::Job;
use crate::hash::hash_file;
use crate::id::FileId;
use crate::peer::client::{ClientError, DirectoryApi};
use crate::pieces::{piece_count, piece_range};

/// Downloads `id` into `dest_dir` from every source the directory knows.
pub fn download(
    dir: &dyn DirectoryApi,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let Some(counters) = &opts.counters else {
        return download_counted(dir, id, dest_dir, opts);
    };
    counters.running.inc();
    let result = download_counted(dir, id, dest_dir, opts);
    counters.running.dec();
    match &result {
        Ok(_) => counters.completed.inc(),
        Err(_) => counters.failed.inc(),
    };
    result
}

fn download_counted(
    dir: &dyn DirectoryApi,
    id: FileId,
    dest_dir: &Path,
    opts: &DownloadOptions,
) -> Result<DownloadReport, TransferError> {
    let started = Instant::now();
    // The directory's size is what most sources claim; each source's own
    // claim is checked instead.
    let (_, sources) = dir.locate(&id)?;
    if sources.is_empty() {
        return Err(TransferError::Directory(ClientError::NotFound(format!(
            "no online peer shares {id}"
        ))));
    }
    let (sources, firewalled) = plan::reachable(sources);
    if sources.is_empty() {
        let names: Vec<&str> = firewalled.iter().map(|(p, _)| p.as_str()).collect();
        return Err(TransferError::Directory(ClientError::NotFound(format!(
            "every online source of {id} is firewalled ({}): the directory cannot reach \
             them, and reaching them (a reverse connection, or the relay) needs TLS and \
             this config's peer running (`peer serve`)",
            names.join(", ")
        ))));
    }
    if let Some(n) = opts.name.as_deref() {
        // A bad name is refused before anything is fetched.
        plan::name(Some(n), &[], id, dest_dir)?;
    }
    let proven = plan::prove(&sources, id, opts.peer_name.as_deref())?;
    let size = proven.size;
    let (sources, mut dropped) = plan::admit(sources, &proven);
    let walled: Vec<(String, Option<crate::wire::KeyPrint>)> = sources
        .iter()
        .filter(|s| s.http_addr.firewalled())
        .map(|s| (s.peer.clone(), s.http_addr.pin()))
        .collect();
    let via = || {
        walled
            .iter()
            .map(|(peer, pin)| {
                let path = pin.as_ref().and_then(crate::tls::path_to);
                (peer.clone(), path.unwrap_or("reverse"))
            })
            .collect()
    };
    dropped.extend(firewalled);
    let wanted = placed(
        plan::name(opts.name.as_deref(), &sources, id, dest_dir)?,
        opts,
    );
    fs::create_dir_all(dest_dir).map_err(transfer::io_err(dest_dir))?;
    make_folders(dest_dir, &wanted)?;
    // One download of a name at a time here: a second waits for the first,
    // then finds the file done (or resumes what the first left).
    let waiting = |busy: &super::lock::Busy| {
        let who = busy
            .pid
            .map_or_else(|| "another process".to_string(), |p| format!("process {p}"));
        log::info!(
            "waiting: {} is being downloaded into {} by {who}",
            wanted,
            dest_dir.display()
        );
    };
    let cancel = opts.cancel.as_deref();
    let Some(_lock) = DownloadLock::take(dest_dir, &wanted, cancel, waiting)
        .map_err(transfer::io_err(&dest_dir.join(&wanted)))?
    else {
        return Err(TransferError::Cancelled { part: None });
    };

    // The file may be here already: at its name, or beside another file of
    // that name (`name (1).ext`, where a download that waited for this
    // lock put it).
    let existing = (!opts.copy)
        .then(|| already_here(dest_dir, &wanted, id, size))
        .flatten();
    if let Some(path) = existing {
        return Ok(DownloadReport {
            id,
            path,
            size,
            elapsed: started.elapsed(),
            sources: Vec::new(),
            dropped,
            via: via(),
            queued: Vec::new(),
            resumed_bytes: 0,
            fetched: 0,
            already_had: true,
        });
    }

    let (name, state) = choose_name(dest_dir, &wanted, id, size);
    let count = piece_count(size);
    let cvs = proven.cvs;
    let (part, mut done) = Part::open(dest_dir, &name, state, id, size, &cvs)?;
    let resumed_bytes: u64 = (0..count)
        .filter(|i| done[*i])
        .map(|i| piece_range(size, i).1)
        .sum();
    if resumed_bytes > 0 {
        log::info!("resuming {name}: {resumed_bytes} of {size} bytes already verified");
    }
    // A one-piece file was fetched whole to prove its size.
    let whole = match proven.whole {
        Some(bytes) if count == 1 && !done[0] => {
            part.file
                .write_all_at(&bytes, 0)
                .map_err(transfer::io_err(&part.path))?;
            done[0] = true;
            let by = sources.iter().find(|s| s.peer == proven.by).cloned();
            by.map(|s| (s, bytes.len() as u64))
        }
        _ => None,
    };

    let job = Arc::new(Job {
        id,
        size,
        me: opts.peer_name.clone(),
        pace: opts.pace.clone(),
        cvs,
        part,
        done: done.iter().map(|d| AtomicBool::new(*d)).collect(),
    });
    let bar = match &opts.watch {
        Some(bar) => {
            bar.set_length(size);
            bar.set_position(resumed_bytes);
            bar.reset_eta();
            bar.clone()
        }
        None => progress_bar(size, opts.progress, resumed_bytes),
    };
    let mut swarm = Swarm::new(
        job.clone(),
        done,
        opts.connections_per_source,
        &bar,
        dropped,
    );
    swarm.coord.patience = opts.patience;
    if let Some((source, bytes)) = whole {
        swarm.credit(source, bytes);
        bar.inc(bytes);
    }
    let outcome = swarm.run(dir, sources, size == 0, opts.cancel.as_deref());
    swarm.stop_workers();
    let (fetched, dropped, per_source, verified, queued) = (
        swarm.coord.fetched,
        swarm.coord.dropped.clone(),
        swarm.bytes_per_source(),
        swarm.verified_names(),
        swarm.waits(),
    );
    if let Some(c) = &opts.counters {
        c.bytes_received.inc_by(fetched);
        c.bad_pieces.inc_by(swarm.coord.bad_pieces);
        c.sources_dropped.inc_by(dropped.len() as u64);
    }
    drop(swarm);
    if let Err(e) = outcome {
        bar.abandon();
        return Err(e);
    }
    bar.finish_and_clear();
    let final_name = placed(
        plan::final_name(opts.name.as_deref(), &verified, &name, id),
        opts,
    );
    let path = job.part.publish(&final_name)?;
    Ok(DownloadReport {
        id,
        path,
        size,
        elapsed: started.elapsed(),
        sources: per_source,
        dropped,
        via: via(),
        queued,
        resumed_bytes,
        fetched,
        already_had: false,
    })
}

/// The first of `wanted`, `wanted (1)`, ... (while they exist) that holds
/// the `size` bytes of `id`.
fn already_here(dir: &Path, wanted: &str, id: FileId, size: u64) -> Option<std::path::PathBuf> {
    (0..)
        .map(|n| dir.join(numbered(wanted, n)))
        .map_while(|path| fs::metadata(&path).ok().map(|meta| (path, meta)))
        .find(|(path, meta)| meta.len() == size && hash_file(path).is_ok_and(|(h, _)| h == id))
        .map(|(path, _)| path)
}

/// Where a download goes in the download folder: the shared path the
/// sources give (`music/a/x.mp3`), or only its last part when the folder
/// is plain (`flat`, and no name asked).
fn placed(name: String, opts: &DownloadOptions) -> String {
    match name.rsplit_once('/') {
        Some((_, file)) if opts.flat && opts.name.is_none() => file.to_string(),
        _ => name,
    }
}
