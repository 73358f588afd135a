//! What a person sees: the interactive menu of a running peer, and the
//! tables and sizes that the menu and the subcommands print. The menu reads
//! lines from any `BufRead` and writes to any `Write`, so it can be driven by
//! a script as well as by a terminal.

use super::client::{DirectoryApi, DEFAULT_SEARCH_LIMIT};
use super::core::QueueControl;
use super::fetch::{self, DownloadOptions, FolderEvent, FolderReport};
pub use super::fetch::{download_summary, path_of};
use super::{Interrupt, Peer};
use crate::id::FileId;
pub use crate::units::human_size;
use crate::wire::{
    Hit, PeerListing, QueueEntry, QueueOp, QueueState, SearchOutcome, SharedFile, UploadsNow,
};
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// One line (or a summary) for each step of a folder fetch.
pub fn folder_event_text(what: &str, event: &FolderEvent<'_>) -> String {
    match event {
        FolderEvent::Listed(n) => format!("{n} file(s) under {what}"),
        FolderEvent::Present { at, .. } => format!("already here: {}", at.display()),
        FolderEvent::Copied { from, to, .. } => format!(
            "copied {} from {} (this peer held those bytes; verified)",
            to.display(),
            from.display()
        ),
        FolderEvent::Done(r) => download_summary(r),
        FolderEvent::Failed { path, error } => format!("failed {path}: {error}"),
        FolderEvent::Queued { path, n } => {
            format!("queued {path} in the running peer (download {n})")
        }
    }
}

/// The last line of a folder fetch: how each listed file came to be here.
pub fn folder_summary(what: &str, r: &FolderReport) -> String {
    let mut out = format!(
        "{what}: {} file(s): {} fetched, {} copied, {} already present",
        r.listed,
        r.fetched.len(),
        r.copied.len(),
        r.present
    );
    if !r.queued.is_empty() {
        out.push_str(&format!(", {} queued", r.queued.len()));
    }
    if r.failed > 0 {
        out.push_str(&format!(", {} failed", r.failed));
    }
    out
}

/// `peer status` as text: a line per fact.
pub fn format_status(s: &crate::wire::Status) -> String {
    let mut out = String::new();
    macro_rules! line {
        ($($t:tt)*) => {{
            out.push_str(&format!($($t)*));
            out.push('\n');
        }};
    }
    line!("name:      {}", s.name);
    line!("serving:   {}", s.http_addr);
    line!("directory: {} ({})", s.directory, s.session);
    match &s.keyprint {
        Some(kp) => line!("keyprint:  {kp}"),
        None => line!("keyprint:  none (tls = false: nothing is encrypted)"),
    }
    if let Some(kp) = &s.directory_keyprint {
        line!("directory keyprint: {kp}");
    }
    let listed = s.listed_at.as_deref().unwrap_or(&s.http_addr);
    match s.reachable {
        Some(true) => line!("reachable: yes (the directory lists it at {listed})"),
        Some(false) => line!(
            "reachable: no: firewalled (listed at {listed}); others cannot download from \
             this peer directly"
        ),
        None => {}
    }
    for p in &s.paths {
        let (what, n) = (&p.path, p.connections);
        if p.out {
            line!(
                "path:      connected out to {} ({what}): {n} connection(s)",
                p.peer
            );
        } else {
            line!(
                "path:      reached source {} ({what}): {n} connection(s)",
                p.peer
            );
        }
    }
    line!("files:     {} ({})", s.files, human_size(s.shared_bytes));
    line!(
        "hashed:    {} since start ({} bytes)",
        human_size(s.bytes_hashed),
        s.bytes_hashed
    );
    if s.unsettled > 0 {
        line!("waiting:   {} file(s) still being written", s.unsettled);
    }
    out.push_str(&format_uploads(&s.uploads));
    out
}

/// Who a peer is sending to and who waits for a slot, a line each (nothing
/// when neither).
pub fn format_uploads(u: &UploadsNow) -> String {
    let mut out = String::new();
    for (who, secs, bytes) in &u.serving {
        out.push_str(&format!(
            "uploading: to {who} for {secs} s ({}, {bytes} bytes)\n",
            human_size(*bytes)
        ));
    }
    for (i, (who, secs)) in u.queued.iter().enumerate() {
        out.push_str(&format!("queued:    {} {who}, waiting {secs} s\n", i + 1));
    }
    out
}

/// Hex digits of an id the tables show: enough to tell files apart, and
/// what `get` takes as the start of an id (`--json` gives whole ids).
pub const SHORT_ID: usize = 16;

fn short_id(id: &FileId) -> String {
    id.to_string()[..SHORT_ID].to_string()
}

/// Search results as aligned columns: number, id (its start), size,
/// source count, names; then how many matched, when not all are shown.
pub fn format_hits(found: &SearchOutcome) -> String {
    let (hits, total) = (&found.hits, found.total);
    if hits.is_empty() {
        return "no files found\n".to_string();
    }
    // Who has it: the first source and how many more, so that two files of
    // one name (two `readme.txt`) are told apart.
    let peers: Vec<String> = hits
        .iter()
        .map(|h| match h.sources.first() {
            Some(s) if h.source_count > 1 => format!("{} +{}", s.peer, h.source_count - 1),
            Some(s) => s.peer.clone(),
            None => format!("{} source(s)", h.source_count),
        })
        .collect();
    let width = peers.iter().map(String::len).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:>3}  {:<SHORT_ID$}  {:>10}  {:<width$}  NAME\n",
        "#", "ID", "SIZE", "PEERS"
    );
    for (i, (h, peer)) in hits.iter().zip(&peers).enumerate() {
        out.push_str(&format!(
            "{:>3}  {:<SHORT_ID$}  {:>10}  {peer:<width$}  {}\n",
            i + 1,
            short_id(&h.id),
            human_size(h.size),
            h.names.join(" | ")
        ));
    }
    if found.total_estimated {
        out.push_str(&format!(
            "({} of about {total} matches shown)\n",
            hits.len()
        ));
    } else if total > hits.len() {
        out.push_str(&format!("({} of {total} matches shown)\n", hits.len()));
    }
    out
}

/// The menu's transfers (the download queue): number, name, state and
/// progress; `labels` names the ones the menu started by what it showed.
fn format_transfers(list: &[QueueEntry], labels: &HashMap<u64, String>) -> String {
    if list.is_empty() {
        return "no transfers yet (3) download starts one)\n".into();
    }
    let mut out = String::new();
    for e in list {
        let of = || format!("{} of {}", human_size(e.done), human_size(e.size));
        let state = match &e.state {
            QueueState::Queued => "queued   (waits for a place)".to_string(),
            QueueState::Waiting { why } => format!("waiting  for a source: {why}"),
            QueueState::Active if e.size == 0 => "starting".to_string(),
            QueueState::Active => format!("running  {}", of()),
            QueueState::Done { summary, .. } => {
                format!("done     {}", summary.lines().next().unwrap_or(""))
            }
            QueueState::Paused => format!("stopped  {} verified and kept (12) resumes it)", of()),
            QueueState::Failed { why } => format!("failed   {why}"),
        };
        let label = labels.get(&e.n).cloned().unwrap_or_else(|| e.label());
        out.push_str(&format!("{:>3}  {label}  {state}\n", e.n));
    }
    out
}

/// Who is online: name, file count, address; and how many in all when not
/// every one is listed.
pub fn format_peers(peers: &[PeerListing], total: u64) -> String {
    if peers.is_empty() {
        return "no peers online\n".to_string();
    }
    let width = peers.iter().map(|p| p.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<width$}  {:>7}  ADDRESS\n", "NAME", "FILES");
    for p in peers {
        let mark = if p.http_addr.firewalled() {
            " (firewalled: not reachable from others)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<width$}  {:>7}  {}{mark}\n",
            p.name, p.files, p.http_addr
        ));
    }
    if total > peers.len() as u64 {
        out.push_str(&format!("({} of {total} peers shown)\n", peers.len()));
    }
    out
}

/// The file `what` names: a full id, `id:` and an id, a row number of the
/// last listing (`rows`: a search's or a browse's, with the path a browse
/// showed), or the start of an id in it (4 or more hex digits, naming one
/// file only).
pub fn pick_file(
    rows: Option<&[(FileId, Option<String>)]>,
    what: &str,
) -> Result<(FileId, Option<String>), String> {
    let what = what.strip_prefix("id:").unwrap_or(what);
    if let Ok(id) = FileId::parse(what) {
        return Ok((id, None));
    }
    let listing = || {
        rows.filter(|r| !r.is_empty()).ok_or_else(|| {
            format!("{what:?} is not a file id, and there is no numbered listing to pick from: search or browse first, then give a row's number")
        })
    };
    if let (Ok(n), true) = (what.parse::<usize>(), what.len() < 4) {
        let rows = listing()?;
        return match n.checked_sub(1).and_then(|i| rows.get(i)) {
            Some(row) => Ok(row.clone()),
            None => Err(format!(
                "the last listing has {} rows; no number {n}",
                rows.len()
            )),
        };
    }
    if what.len() >= 4 && what.chars().all(|c| c.is_ascii_hexdigit()) {
        let prefix = what.to_ascii_lowercase();
        let mut found: Vec<&(FileId, Option<String>)> = listing()?
            .iter()
            .filter(|(id, _)| id.to_string().starts_with(&prefix))
            .collect();
        found.dedup_by_key(|(id, _)| *id);
        return match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!(
                "no file of the last listing has an id starting with {prefix}"
            )),
            many => Err(format!(
                "{} files of the last listing have an id starting with {prefix}: give more digits",
                many.len()
            )),
        };
    }
    Err(format!(
        "{what:?} is not a file id (64 hex digits, or id:HEX), a number of the last listing, the start of an id in it, or PEER:FOLDER"
    ))
}

/// What a numbered table showed, row by row: the id, and the path a browse
/// showed it under (what `pick_file` picks from).
pub type Listing = Vec<(FileId, Option<String>)>;

/// What the last `search` or `browse` of a config showed, row by row (the
/// id, and the path a browse showed it under), in its state folder, so
/// that `get 3` and `get 5a59d1` can pick from it.
const LAST_LISTING: &str = "last-listing.json";

/// Keeps `rows` as the last listing of the peer of `state_dir`.
pub fn remember_listing(state_dir: &Path, rows: Listing) {
    let write = || -> io::Result<()> {
        super::make_state_dir(state_dir)?;
        let json = serde_json::to_vec(&rows).map_err(io::Error::other)?;
        crate::fsutil::write_atomic(&state_dir.join(LAST_LISTING), &json)
    };
    if let Err(e) = write() {
        log::warn!("cannot keep the listing for `get NUMBER`: {e}");
    }
}

/// The file `what` names (see [`pick_file`]), the rows being the last
/// `search` or `browse` of the peer of `state_dir`.
pub fn pick_from_last(state_dir: &Path, what: &str) -> Result<(FileId, Option<String>), String> {
    let rows: Option<Listing> = std::fs::read(state_dir.join(LAST_LISTING))
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok());
    pick_file(rows.as_deref(), what)
}

/// The rows of [`format_hits`], to pick from.
pub fn listing_of_hits(hits: &[Hit]) -> Listing {
    hits.iter().map(|h| (h.id, None)).collect()
}

/// The rows of [`format_files`], to pick from (a row downloads under the
/// path it shows).
pub fn listing_of_files(files: &[SharedFile]) -> Listing {
    file_rows(files)
        .into_iter()
        .map(|(path, f)| (f.id, Some(path.to_string())))
        .collect()
}

/// The rows of a peer's file list: one per path, in path order (the same
/// bytes at two paths are two rows). Row `n` of the table is `rows[n - 1]`.
fn file_rows(files: &[SharedFile]) -> Vec<(&str, &SharedFile)> {
    let mut rows: Vec<(&str, &SharedFile)> = files
        .iter()
        .flat_map(|f| f.paths().map(move |p| (p, f)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    rows
}

/// A peer's file list as aligned, numbered columns: id, size, path (see
/// [`file_rows`]).
pub fn format_files(files: &[SharedFile]) -> String {
    if files.is_empty() {
        return "no files shared\n".to_string();
    }
    let mut out = format!("{:>3}  {:<SHORT_ID$}  {:>10}  NAME\n", "#", "ID", "SIZE");
    for (i, (path, f)) in file_rows(files).into_iter().enumerate() {
        out.push_str(&format!(
            "{:>3}  {:<SHORT_ID$}  {:>10}  {}\n",
            i + 1,
            short_id(&f.id),
            human_size(f.size),
            path
        ));
    }
    out
}

/// Reads one line from standard input without showing it (when it is a
/// terminal: `prompt` goes to stderr and echo is off while it is typed).
pub fn read_secret(prompt: &str) -> io::Result<String> {
    use std::io::IsTerminal;
    let stdin = io::stdin();
    let terminal = stdin.is_terminal();
    // SAFETY: termios calls on fd 0 with a zeroed struct they fill in.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let quiet = terminal && unsafe { libc::tcgetattr(0, &mut old) } == 0;
    if quiet {
        let mut silent = old;
        silent.c_lflag &= !libc::ECHO;
        // SAFETY: as above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &silent) };
    }
    if terminal {
        eprint!("{prompt}");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if quiet {
        // SAFETY: as above; the settings read before.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &old) };
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Queues a download of `id` (under `name`); its number in the queue.
fn queue_add(queue: &dyn QueueControl, id: FileId, name: Option<String>) -> Result<u64, String> {
    let op = QueueOp::Add {
        id: id.to_string(),
        name,
        copy: false,
    };
    queue.apply(op).map(|e| e.n)
}

/// The interactive menu over a running peer. Returns when the user quits or
/// input ends.
pub fn run_menu(
    peer: &Peer,
    mut input: impl BufRead,
    mut out: impl Write,
    ctrl_c: &Interrupt,
) -> io::Result<()> {
    let core = peer.core();
    let dir = core.directory().clone();
    // The menu's transfers are the peer's download queue.
    let queue = core
        .queue()
        .ok_or_else(|| io::Error::other("this peer has no download queue"))?
        .clone();
    let mut labels: HashMap<u64, String> = HashMap::new();
    let running = || {
        let list = queue.list();
        list.iter()
            .filter(|e| e.state == QueueState::Active)
            .count()
    };
    // What the last search or browse showed, to pick from by number, and
    // the names of the files it showed (the transfer list shows names).
    let mut last_rows: Listing = Vec::new();
    let mut shown_names: std::collections::HashMap<FileId, String> = Default::default();
    writeln!(
        out,
        "hubshare peer {:?}: serving {} at {}; directory {}; {}",
        core.name(),
        core.share().dir().display(),
        core.http_addr(),
        dir.addr(),
        match core.http_addr().pin() {
            Some(kp) => format!("keyprint {kp}"),
            None => "unencrypted (tls = false)".to_string(),
        }
    )?;
    loop {
        let state = core.session().state();
        write!(out, "\n{}", format_uploads(&peer.uploads()))?;
        write!(
            out,
            "[{state}]{}\n 1) log in          5) list my files / rescan   9) peers online\n 2) search          6) browse a peer           10) transfers\n 3) download        7) log out                 11) stop a transfer\n 4) upload to peer  8) quit                    12) resume a transfer\n> ",
            match running() {
                0 => String::new(),
                n => format!(" {n} download(s) running"),
            }
        )?;
        out.flush()?;
        let Some(choice) = read_line(&mut input)? else {
            // End of input: like quitting.
            return Ok(());
        };
        match choice.as_str() {
            "1" | "login" => match core.session().login() {
                Ok(()) => writeln!(out, "logged in")?,
                Err(e) => writeln!(out, "login failed: {e}")?,
            },
            "2" | "search" => {
                let Some(q) = ask(&mut input, &mut out, "words or file id: ")? else {
                    continue;
                };
                match dir.search(&q, DEFAULT_SEARCH_LIMIT, core.session().token().as_deref()) {
                    Ok(found) => {
                        write!(out, "{}", format_hits(&found))?;
                        last_rows = listing_of_hits(&found.hits);
                        for h in &found.hits {
                            if let Some(name) = h.names.first() {
                                shown_names.insert(h.id, name.clone());
                            }
                        }
                    }
                    Err(e) => writeln!(out, "search failed: {e}")?,
                }
            }
            "3" | "download" => {
                let Some(what) = ask(
                    &mut input,
                    &mut out,
                    "number (of the last search or browse), file id or its start, or PEER:FOLDER: ",
                )?
                else {
                    continue;
                };
                let opts = DownloadOptions {
                    progress: true,
                    peer_name: Some(core.name().to_string()),
                    patience: core.config().download_patience(),
                    counters: Some(core.download_counters()),
                    ..DownloadOptions::default()
                };
                let dest = core.config().download_dir();
                if fetch::is_folder_target(&what) {
                    // Listing and copying in the foreground (Ctrl-C stops
                    // it, not the peer); its downloads join the queue.
                    let work = ctrl_c.foreground();
                    let opts = DownloadOptions {
                        cancel: Some(work.flag.clone()),
                        ..opts
                    };
                    let held = |id: &FileId| core.share().get(id).map(|e| e.path);
                    let mut tell = |e: FolderEvent<'_>| {
                        let _ = writeln!(out, "{}", folder_event_text(&what, &e));
                    };
                    let add = |path: &str, id: FileId| {
                        queue_add(&*queue, id, Some(path.to_string())).map_err(|detail| {
                            fetch::TransferError::Protocol {
                                url: what.clone(),
                                detail,
                            }
                        })
                    };
                    let how = fetch::FolderFetch::Queue(&add);
                    match fetch::download_folder(&dir, &what, &dest, &opts, &held, &how, &mut tell)
                    {
                        Ok(r) => {
                            for (path, id) in r.fetched.iter().chain(&r.copied) {
                                if path.starts_with(core.share().dir()) {
                                    core.shared_file_added(path, *id);
                                }
                            }
                            writeln!(out, "{}", folder_summary(&what, &r))?;
                        }
                        Err(_) if work.interrupted() => writeln!(
                            out,
                            "stopped the folder fetch (Ctrl-C): what is verified is kept, and fetching {what} again resumes; the peer keeps serving"
                        )?,
                        Err(e) => {
                            writeln!(out, "download failed: {}", crate::error::error_chain(&e))?
                        }
                    }
                    continue;
                }
                let (id, listed_name) = match pick_file(Some(&last_rows), &what) {
                    Ok(picked) => picked,
                    Err(e) => {
                        writeln!(out, "{e}")?;
                        continue;
                    }
                };
                if let Some(e) = core.share().get(&id) {
                    writeln!(
                        out,
                        "already here: {} (this peer shares it)",
                        e.path.display()
                    )?;
                    continue;
                }
                // In the background: the prompt stays usable.
                let label = listed_name
                    .clone()
                    .or_else(|| shown_names.get(&id).cloned());
                match queue_add(&*queue, id, listed_name) {
                    Ok(n) => {
                        if let Some(label) = label {
                            labels.insert(n, label);
                        }
                        writeln!(
                            out,
                            "queued transfer {n} in the background (10) lists transfers, 11) stops one)"
                        )?
                    }
                    Err(e) => writeln!(out, "cannot queue it: {e}")?,
                }
            }
            "10" | "transfers" => write!(out, "{}", format_transfers(&queue.list(), &labels))?,
            "11" | "stop" | "12" | "resume" => {
                let stop = matches!(choice.as_str(), "11" | "stop");
                let prompt = match stop {
                    true => "stop transfer number: ",
                    false => "resume transfer number: ",
                };
                let Some(n) = ask(&mut input, &mut out, prompt)? else {
                    continue;
                };
                let done = n
                    .parse()
                    .map_err(|_| format!("{n:?} is not a number"))
                    .and_then(|n| match stop {
                        true => queue
                            .apply(QueueOp::Pause { n })
                            .map(|_| "stopped; what is verified is kept"),
                        false => queue.apply(QueueOp::Resume { n }).map(|_| "resumed"),
                    });
                match done {
                    Ok(said) => writeln!(out, "{said}")?,
                    Err(e) => writeln!(out, "{e}")?,
                }
            }
            "4" | "upload" => {
                let Some(file) = ask(&mut input, &mut out, "file to send: ")? else {
                    continue;
                };
                let Some(to) = ask(&mut input, &mut out, "to peer (name or host:port): ")? else {
                    continue;
                };
                let sent = fetch::resolve_peer(&dir, &to)
                    .and_then(|base| fetch::upload(&base, Path::new(&file), None));
                match sent {
                    Ok(r) => writeln!(
                        out,
                        "sent {} ({}) to {to}",
                        r.stored.name,
                        human_size(r.stored.size)
                    )?,
                    Err(e) => writeln!(out, "upload failed: {}", crate::error::error_chain(&e))?,
                }
            }
            "5" | "list" | "rescan" => {
                match core.rescan() {
                    Ok(c) if !c.is_empty() => writeln!(
                        out,
                        "rescanned: {} added, {} removed",
                        c.added.len(),
                        c.removed.len()
                    )?,
                    Ok(_) => {}
                    Err(e) => writeln!(out, "rescan failed: {}", crate::error::error_chain(&e))?,
                }
                write!(out, "{}", format_files(&core.share().files().to_vec()))?;
            }
            "6" | "browse" => {
                let Some(who) = ask(&mut input, &mut out, "peer (name or host:port): ")? else {
                    continue;
                };
                match fetch::resolve_peer(&dir, &who).and_then(|b| fetch::browse(&b)) {
                    Ok(files) => {
                        write!(out, "{}", format_files(&files))?;
                        last_rows = listing_of_files(&files);
                    }
                    Err(e) => writeln!(out, "browse failed: {}", crate::error::error_chain(&e))?,
                }
            }
            "7" | "logout" => match core.session().logout() {
                Ok(()) => writeln!(out, "logged out: your files are no longer listed")?,
                Err(e) => writeln!(out, "logout failed: {e}")?,
            },
            "8" | "q" | "quit" | "exit" => {
                let unfinished = queue
                    .list()
                    .iter()
                    .filter(|e| {
                        !matches!(e.state, QueueState::Done { .. } | QueueState::Failed { .. })
                    })
                    .count();
                if unfinished > 0 {
                    writeln!(
                        out,
                        "stopping; {unfinished} download(s) stay queued: what is verified is kept, and they go on when the peer starts again"
                    )?;
                }
                return Ok(());
            }
            "9" | "peers" => match dir.peers(0) {
                Ok((peers, total)) => write!(out, "{}", format_peers(&peers, total))?,
                Err(e) => writeln!(out, "cannot list peers: {e}")?,
            },
            "" => {}
            other => writeln!(out, "unknown choice {other:?}: type a number from 1 to 12")?,
        }
    }
}

fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

/// Prompts and reads one non-empty answer; `None` on end of input or an empty answer.
fn ask(input: &mut impl BufRead, out: &mut impl Write, prompt: &str) -> io::Result<Option<String>> {
    write!(out, "{prompt}")?;
    out.flush()?;
    Ok(read_line(input)?.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
    }

    #[test]
    fn hit_table_is_aligned() {
        let hit = |name: &str, size, peers: &[&str]| Hit {
            id: FileId::of(name.as_bytes()),
            size,
            names: vec![name.into()],
            sources: peers
                .iter()
                .map(|p| crate::wire::Source {
                    peer: p.to_string(),
                    http_addr: crate::wire::HttpAddr::parse("http://127.0.0.1:1").unwrap(),
                    name: name.into(),
                    size,
                })
                .collect(),
            source_count: peers.len(),
        };
        let mut found = SearchOutcome {
            hits: vec![
                hit("a.txt", 1, &["alice", "bob", "carol"]),
                hit("long name.bin", 5 << 30, &["bob"]),
            ],
            total: 3,
            total_estimated: false,
        };
        let table = format_hits(&found);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        let name_col = lines[0].find("NAME").unwrap();
        assert_eq!(lines[1].find("a.txt"), Some(name_col));
        assert_eq!(lines[2].find("long name.bin"), Some(name_col));
        // Who has each: the first source, and how many more.
        let peer_col = lines[0].find("PEERS").unwrap();
        assert_eq!(lines[1].find("alice +2"), Some(peer_col));
        assert_eq!(lines[2].find("bob "), Some(peer_col));
        assert_eq!(lines[3], "(2 of 3 matches shown)");
        found.total = 25_000;
        found.total_estimated = true;
        let table = format_hits(&found);
        assert_eq!(
            table.lines().last(),
            Some("(2 of about 25000 matches shown)")
        );
    }
}
