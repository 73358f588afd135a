//! `peer`: a hubshare peer. With no subcommand it serves its share folder and
//! opens the console menu; `serve` runs without a menu; the other
//! subcommands are one-shot actions for scripts. One-shot actions never log
//! in, so they can run beside a serving peer with the same config.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};

use hubshare::{
    browse, download, download_folder, download_summary, error_chain, folder_event_text,
    folder_summary, format_files, format_hits, format_peers, format_uploads, human_size,
    is_folder_target, listing_of_files, listing_of_hits, path_of, pick_file, resolve_peer,
    reverse_through_running, upload, wire::QueueOp, Control, Directory, DirectoryApi,
    DownloadOptions, DownloadReport, FileId, FolderEvent, Listing, Peer, PeerConfig, ShareTable,
};

/// Writes a line to standard output (see [`write_out`]).
macro_rules! say {
    ($($t:tt)*) => { write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// Writes to standard output without adding a newline.
macro_rules! say_raw {
    ($($t:tt)*) => { write_out(format_args!($($t)*)) };
}

/// Writes a line to standard error; a closed standard error is ignored
/// (there is nobody left to tell).
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Writes to standard output. A closed pipe (`peer browse bob | head -1`)
/// ends the process quietly with status 0, as a Unix filter ends when its
/// reader is gone (ripgrep does the same); any other write error ends it
/// with status 1 and the reason on stderr. What a download verified is on
/// disk by then (a `.part` is resumed by the next `get`).
fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        quit_on_output_error(&e)
    }
}

fn quit_on_output_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0)
    }
    note!("peer: cannot write to standard output: {e}");
    std::process::exit(1)
}

/// A hubshare peer: shares a folder, finds and fetches files from other peers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Config file (TOML); without it, `config/peer1.toml` (said on stderr).
    #[arg(long, short, global = true, value_hint = clap::ValueHint::FilePath)]
    config: Option<PathBuf>,
    /// Peer name, overriding the config.
    #[arg(long, global = true)]
    peer_name: Option<String>,
    /// HTTP address to listen on, overriding the config (port 0 picks a free port).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// The directory (its invite, or host:port), overriding the config.
    #[arg(long, global = true)]
    directory: Option<String>,
    /// Folder to share, overriding the config.
    #[arg(long, global = true, value_hint = clap::ValueHint::DirPath)]
    share_dir: Option<PathBuf>,
    /// Folder to save downloads in, overriding the config.
    #[arg(long, global = true, value_hint = clap::ValueHint::DirPath)]
    download_dir: Option<PathBuf>,
    /// Folder for this peer's state, overriding the config.
    #[arg(long, global = true, value_hint = clap::ValueHint::DirPath)]
    state_dir: Option<PathBuf>,
    /// Accept uploads from other peers, overriding the config.
    #[arg(long, global = true)]
    accept_uploads: Option<bool>,
    /// Print JSON instead of tables (search, browse, peers, status: one
    /// document; get: one line per file).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// A change to the running peer's download queue.
#[derive(Subcommand)]
enum QueueAction {
    /// Queue a download of a file by id.
    Add {
        id: String,
        /// Save under this name (or folder/name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop download N, keeping what is verified.
    Pause { n: u64 },
    /// Queue download N again (paused, failed or waiting).
    Resume { n: u64 },
    /// Take download N off the queue (its verified part stays).
    Cancel { n: u64 },
    /// Put download N at place TO (1: first).
    Move { n: u64, to: usize },
}

#[derive(Subcommand)]
enum Command {
    /// Serve the share folder without a menu, until Ctrl-C or SIGTERM.
    Serve,
    /// Serve and open the interactive menu (the default).
    Menu,
    /// Search the directory by name, or by id.
    ///
    /// Every word must occur in the file's path (case-insensitive, also inside
    /// a longer word: `port` finds `annual_report.pdf`); `-word` excludes;
    /// `"two words"` is a phrase; `ext:pdf` an extension; `size>10M`,
    /// `size<1G` bounds (K, M, G, T are powers of 1024); 64 hex digits or
    /// `id:HEX` a file id.
    #[command(verbatim_doc_comment)]
    Search {
        /// Words and filters (see above); `-word` needs no `--` before it.
        #[arg(required = true, value_name = "QUERY")]
        words: Vec<String>,
        /// Most results to show.
        #[arg(long, default_value_t = hubshare::DEFAULT_SEARCH_LIMIT)]
        limit: u32,
    },
    /// Download a file by id into the download folder.
    Get {
        id: String,
        /// Save under this name (or folder/name) instead of the one the sources give.
        #[arg(long)]
        name: Option<String>,
        /// Fetch it even when this peer already holds the file: under
        /// --name, or beside the one at its name (`name (1).ext`).
        #[arg(long)]
        copy: bool,
    },
    /// The running peer's download queue: list it (no action), or change it.
    Queue {
        #[command(subcommand)]
        action: Option<QueueAction>,
    },
    /// Push a file to another peer (by name, or host:port).
    Upload {
        /// The file to send.
        #[arg(value_hint = clap::ValueHint::FilePath)]
        file: PathBuf,
        /// The peer to send it to: its name, or host:port.
        #[arg(long, value_name = "PEER")]
        to: String,
        /// Name or path (folder/name) to store it under at the receiver
        /// (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the files another peer shares (by name, or host:port).
    Browse { peer: String },
    /// List the peers online, with how many files each shares.
    Peers {
        /// Most peers to show (by name).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Show the state of the running peer with this config.
    Status,
    /// Make the running peer rescan its share folder and announce changes.
    Rescan,
    /// Log the running peer out of the directory (it keeps serving).
    Logout,
    /// Log the running peer in again (after `logout`).
    Login,
}

/// The config file when none is given.
const DEFAULT_CONFIG: &str = "config/peer1.toml";

fn load_config(args: &Args) -> Result<PeerConfig> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            note!("peer: using {DEFAULT_CONFIG} (give --config FILE for another)");
            PathBuf::from(DEFAULT_CONFIG)
        }
    };
    let mut c = PeerConfig::load(&path)?;
    if let Some(v) = &args.peer_name {
        c.name = v.clone();
    }
    if let Some(v) = args.listen {
        c.listen = v;
    }
    if let Some(v) = &args.directory {
        c.directory = v.clone();
    }
    if let Some(v) = &args.share_dir {
        c.share_dir = v.clone();
    }
    if let Some(v) = &args.download_dir {
        c.download_dir = Some(v.clone());
    }
    if let Some(v) = &args.state_dir {
        c.state_dir = Some(v.clone());
    }
    if let Some(v) = args.accept_uploads {
        c.accept_uploads = v;
    }
    c.check(&path)?;
    Ok(c)
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(args: Args) -> Result<()> {
    let config = load_config(&args)?;
    let json = args.json;
    let dir = || -> Result<Directory> { Ok(hubshare::open_directory(&config)?.0) };
    match args.command.unwrap_or(Command::Menu) {
        Command::Serve => serve(config, false),
        Command::Menu => serve(config, true),
        Command::Search { words, limit } => {
            let found = dir()?.search(&words.join(" "), limit, None)?;
            if json {
                say!("{}", serde_json::to_string(&found)?);
            } else {
                say_raw!("{}", format_hits(&found));
            }
            remember_listing(&config, listing_of_hits(&found.hits));
            Ok(())
        }
        Command::Get { id, name, copy } => {
            // Firewalled sources connect out to this config's running peer.
            reverse_through_running(&config.state_dir());
            // Ctrl-C stops the download with what is verified recorded.
            let cancel = Arc::new(AtomicBool::new(false));
            let flag = cancel.clone();
            ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
            let opts = DownloadOptions {
                name,
                progress: std::io::stderr().is_terminal(),
                cancel: Some(cancel),
                peer_name: Some(config.name.clone()),
                patience: config.download_patience(),
                copy,
                flat: !config.mirror_paths,
                ..DownloadOptions::default()
            };
            let fetched = if is_folder_target(&id) {
                get_folder(&config, &dir()?, &id, &opts, copy, json)?
            } else {
                let (id, listed_name) = pick(&config, &id)?;
                let opts = DownloadOptions {
                    name: opts.name.clone().or(listed_name),
                    ..opts
                };
                get_one(&config, &dir()?, id, &opts, copy, json)?
            };
            // A running peer with this config shares what lands in its folder.
            if fetched && config.download_dir().starts_with(&config.share_dir) {
                if let Ok(c) = Control::open(&config.state_dir()) {
                    if let Err(e) = c.rescan() {
                        log::warn!("could not ask the running peer to share it: {e}");
                    }
                }
            }
            Ok(())
        }
        Command::Upload { file, to, name } => {
            reverse_through_running(&config.state_dir());
            let base = resolve_peer(&dir()?, &to)?;
            let r = upload(&base, &file, name.as_deref())?;
            say!(
                "sent {} ({}, id {}) to {to} in {:.2}s",
                r.stored.name,
                human_size(r.stored.size),
                r.stored.id,
                r.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Browse { peer } => {
            reverse_through_running(&config.state_dir());
            let base = resolve_peer(&dir()?, &peer)?;
            let files = browse(&base)?;
            if json {
                let doc = serde_json::json!({ "peer": peer, "files": files });
                say!("{doc}");
            } else {
                say_raw!("{}", format_files(&files));
            }
            remember_listing(&config, listing_of_files(&files));
            Ok(())
        }
        Command::Queue { action } => {
            let control = Control::open(&config.state_dir())?;
            let op = action.map(|a| match a {
                QueueAction::Add { id, name } => QueueOp::Add { id, name },
                QueueAction::Pause { n } => QueueOp::Pause { n },
                QueueAction::Resume { n } => QueueOp::Resume { n },
                QueueAction::Cancel { n } => QueueOp::Cancel { n },
                QueueAction::Move { n, to } => QueueOp::Move { n, to },
            });
            match op {
                None => {
                    let list = control.queue()?;
                    if json {
                        say!("{}", serde_json::to_string(&list)?);
                    } else {
                        say_raw!("{}", format_queue(&list));
                    }
                }
                Some(op) => {
                    let entry = control.queue_apply(&op)?;
                    if json {
                        say!("{}", serde_json::to_string(&entry)?);
                    } else {
                        say_raw!("{}", format_queue(std::slice::from_ref(&entry)));
                    }
                }
            }
            Ok(())
        }
        Command::Peers { limit } => {
            let (peers, total) = dir()?.peers(limit)?;
            if json {
                say!("{}", serde_json::json!({ "total": total, "peers": peers }));
            } else {
                say_raw!("{}", format_peers(&peers, total));
            }
            Ok(())
        }
        Command::Status => {
            let s = Control::open(&config.state_dir())?.status()?;
            if json {
                say!("{}", serde_json::to_string(&s)?);
                return Ok(());
            }
            say!("name:      {}", s.name);
            say!("serving:   {}", s.http_addr);
            say!("directory: {} ({})", s.directory, s.session);
            match &s.keyprint {
                Some(kp) => say!("keyprint:  {kp}"),
                None => say!("keyprint:  none (tls = false: nothing is encrypted)"),
            }
            if let Some(kp) = &s.directory_keyprint {
                say!("directory keyprint: {kp}");
            }
            let listed = s.listed_at.as_deref().unwrap_or(&s.http_addr);
            match s.reachable {
                Some(true) => say!("reachable: yes (the directory lists it at {listed})"),
                Some(false) => say!(
                    "reachable: no: firewalled (listed at {listed}); others cannot download from \
                     this peer directly"
                ),
                None => {}
            }
            for p in &s.paths {
                let (what, n) = (&p.path, p.connections);
                if p.out {
                    say!(
                        "path:      connected out to {} ({what}): {n} connection(s)",
                        p.peer
                    );
                } else {
                    say!(
                        "path:      reached source {} ({what}): {n} connection(s)",
                        p.peer
                    );
                }
            }
            say!("files:     {} ({})", s.files, human_size(s.shared_bytes));
            say!(
                "hashed:    {} since start ({} bytes)",
                human_size(s.bytes_hashed),
                s.bytes_hashed
            );
            if s.unsettled > 0 {
                say!("waiting:   {} file(s) still being written", s.unsettled);
            }
            say_raw!("{}", format_uploads(&s.uploads));
            Ok(())
        }
        Command::Rescan => {
            let found = Control::open(&config.state_dir())?.rescan()?;
            say!(
                "rescanned: {} added, {} removed",
                found.added,
                found.removed
            );
            Ok(())
        }
        Command::Login => {
            Control::open(&config.state_dir())?.login()?;
            say!("logged in: this peer's files are listed again");
            Ok(())
        }
        Command::Logout => {
            Control::open(&config.state_dir())?.logout()?;
            say!("logged out; the peer keeps serving until it is stopped");
            Ok(())
        }
    }
}

/// The log of a peer running the menu, in its state folder.
const LOG_FILE: &str = "peer.log";

fn serve(config: PeerConfig, menu: bool) -> Result<()> {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    // The menu owns the terminal: log lines go to a file meanwhile.
    let log_file = config.state_dir().join(LOG_FILE);
    if menu {
        hubshare::make_state_dir(&config.state_dir())?;
        hubshare::logging::to_file(&log_file)
            .map_err(|e| format!("cannot write the log {}: {e}", log_file.display()))?;
        note!("peer: logging to {}", log_file.display());
    }
    let peer = Arc::new(Peer::start(config)?);
    if !menu {
        // The address ends the first line (scripts read it there).
        let at = peer.core().http_addr();
        let scheme = if at.is_tls() { "https" } else { "http" };
        say!("peer {} serving {scheme} at {at}", peer.core().name());
        match at.pin() {
            Some(kp) => say!("keyprint: {kp}"),
            None => say!("unencrypted: tls = false"),
        }
        // Until Ctrl-C or SIGTERM, or a refusal no retry can change.
        let refused = peer.core().session().refusals();
        crossbeam_channel::select! {
            recv(stop_rx) -> _ => {}
            recv(refused) -> why => {
                peer.shutdown();
                let why = why.unwrap_or_default();
                return Err(format!(
                    "the directory refuses this peer: {why} (not retrying: change the config and start it again)"
                )
                .into());
            }
        }
        log::info!("stopping: logging out");
        peer.shutdown();
        return Ok(());
    }
    // The menu blocks on standard input; Ctrl-C is handled beside it: it
    // stops a fetch in the foreground, else the peer.
    let on_signal = peer.clone();
    let ctrl_c = Arc::new(hubshare::Interrupt::default());
    let switch = ctrl_c.clone();
    std::thread::Builder::new()
        .name("signal-watch".into())
        .spawn(move || {
            while stop_rx.recv().is_ok() {
                if switch.interrupt() {
                    continue;
                }
                note!("\nlogging out...");
                // A background thread that panicked is raised by shutdown
                // (and logged): exit non-zero then, as main would.
                let shut =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_signal.shutdown()));
                std::process::exit(if shut.is_ok() { 130 } else { 101 });
            }
        })?;
    let stdin = std::io::stdin();
    let menu = hubshare::run_menu(&peer, stdin.lock(), std::io::stdout(), &ctrl_c);
    peer.shutdown();
    match menu {
        // Its output closed (`peer | head`): quiet, as for the subcommands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Downloads one file unless this peer already holds it (or `copy`);
/// returns whether anything was fetched.
fn get_one(
    config: &PeerConfig,
    dir: &Directory,
    id: FileId,
    opts: &DownloadOptions,
    copy: bool,
    json: bool,
) -> Result<bool> {
    if !copy {
        let extra = config.extra_share_dirs();
        if let Some(path) = ShareTable::held(&config.share_dir, &extra, &config.state_dir(), &id) {
            if json {
                let line = serde_json::json!({ "event": "already_here", "id": id, "path": path });
                say!("{line}");
            } else {
                say!(
                    "already here: {} (this peer shares it; --copy fetches another copy)",
                    path.display()
                );
            }
            return Ok(false);
        }
    }
    let r = download(dir, id, &config.download_dir(), opts)?;
    if json {
        say!("{}", report_json(&r));
    } else {
        say!("{}", download_summary(&r));
    }
    Ok(!r.already_had)
}

/// The queue as a table: number, state, progress, id or name.
fn format_queue(list: &[hubshare::wire::QueueEntry]) -> String {
    use hubshare::wire::QueueState;
    if list.is_empty() {
        return "the download queue is empty\n".to_string();
    }
    let mut out = String::new();
    for e in list {
        let what = e.name.clone().unwrap_or_else(|| e.id.clone());
        let progress = if e.size > 0 {
            format!("{} of {}", human_size(e.done), human_size(e.size))
        } else {
            String::new()
        };
        let state = match &e.state {
            QueueState::Queued => "queued".to_string(),
            QueueState::Waiting { why } => format!("waiting for a source ({why})"),
            QueueState::Active => "active".to_string(),
            QueueState::Paused => "paused".to_string(),
            QueueState::Done { path, .. } => format!("done: {path}"),
            QueueState::Failed { why } => format!("failed: {why}"),
        };
        out.push_str(&format!("{:>3}  {what}  {progress}  {state}\n", e.n));
    }
    out
}

/// A download's outcome as one JSON line: `event` is `saved` or
/// `already_here`.
fn report_json(r: &DownloadReport) -> serde_json::Value {
    let sources: Vec<_> = r
        .sources
        .iter()
        .map(|(peer, bytes)| {
            serde_json::json!({ "peer": peer, "bytes": bytes, "path": path_of(r, peer) })
        })
        .collect();
    let dropped: Vec<_> = r
        .dropped
        .iter()
        .map(|(peer, why)| serde_json::json!({ "peer": peer, "why": why }))
        .collect();
    serde_json::json!({
        "event": if r.already_had { "already_here" } else { "saved" },
        "id": r.id,
        "path": r.path,
        "size": r.size,
        "fetched": r.fetched,
        "resumed": r.resumed_bytes,
        "elapsed_secs": r.elapsed.as_secs_f64(),
        "sources": sources,
        "dropped": dropped,
    })
}

/// What the last `search` or `browse` showed, row by row (the id, and the
/// path a browse showed it under), so that `get 3` and `get 5a59d1` can
/// pick from it.
const LAST_LISTING: &str = "last-listing.json";

fn remember_listing(config: &PeerConfig, rows: Listing) {
    let state = config.state_dir();
    let write = || -> std::io::Result<()> {
        hubshare::make_state_dir(&state)?;
        let json = serde_json::to_vec(&rows).map_err(std::io::Error::other)?;
        hubshare::write_atomic(&state.join(LAST_LISTING), &json)
    };
    if let Err(e) = write() {
        log::warn!("cannot keep the listing for `get NUMBER`: {e}");
    }
}

/// The file `what` names (see `pick_file`), the rows being the last
/// `search` or `browse` of this config's peer.
fn pick(config: &PeerConfig, what: &str) -> Result<(FileId, Option<String>)> {
    let rows: Option<Listing> = std::fs::read(config.state_dir().join(LAST_LISTING))
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok());
    Ok(pick_file(rows.as_deref(), what)?)
}

/// `PEER:folder`: every file the peer lists under `folder`, each into the
/// same path in the download folder, verified like any download (see
/// `download_folder`). Fails at the end if any file did.
fn get_folder(
    config: &PeerConfig,
    dir: &Directory,
    what: &str,
    opts: &DownloadOptions,
    copy: bool,
    json: bool,
) -> Result<bool> {
    let extra = config.extra_share_dirs();
    let held = |id: &FileId| {
        (!copy)
            .then(|| ShareTable::held(&config.share_dir, &extra, &config.state_dir(), id))
            .flatten()
    };
    let mut tell = |e: FolderEvent<'_>| {
        if !json {
            return say!("{}", folder_event_text(what, &e));
        }
        let line = match e {
            FolderEvent::Listed(n) => serde_json::json!({ "event": "listed", "files": n }),
            FolderEvent::Present { path, at } => {
                serde_json::json!({ "event": "already_here", "path": at, "as": path })
            }
            FolderEvent::Copied { path, from, to } => {
                serde_json::json!({ "event": "copied", "path": to, "from": from, "as": path })
            }
            FolderEvent::Done(r) => report_json(r),
            FolderEvent::Failed { path, error } => {
                serde_json::json!({ "event": "failed", "path": path, "error": error })
            }
        };
        say!("{line}");
    };
    let r = download_folder(dir, what, &config.download_dir(), opts, &held, &mut tell)?;
    if json {
        say!(
            "{}",
            serde_json::json!({
                "event": "summary",
                "listed": r.listed,
                "fetched": r.fetched.len(),
                "copied": r.copied.len(),
                "present": r.present,
                "failed": r.failed,
            })
        );
    } else {
        say!("{}", folder_summary(what, &r));
    }
    if r.failed > 0 {
        return Err(format!("{} of {} file(s) failed", r.failed, r.listed).into());
    }
    Ok(!(r.fetched.is_empty() && r.copied.is_empty()))
}

/// Flags that take a value, of the peer and of `search`: what follows them
/// is their value, not a query word.
const VALUE_FLAGS: &[&str] = &[
    "-c",
    "--config",
    "--peer-name",
    "--listen",
    "--directory",
    "--share-dir",
    "--download-dir",
    "--state-dir",
    "--accept-uploads",
    "--limit",
];

/// Flags without a value that `search` takes.
const SEARCH_SWITCHES: &[&str] = &["-h", "--help", "--json"];

/// Lets `peer search annual -budget --limit 5` mean what it says: after
/// `search`, every argument that is not one of the peer's flags (or a
/// flag's value) or another `--word` is a query word, moved behind a `--`
/// so that `-budget` is not taken for a flag; `--word` stays a flag, so an
/// unknown one is a usage error. Other command lines are left as they are.
fn search_words_last(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_flag = |a: &str| a.starts_with('-') && a.len() > 1;
    let takes_value = |a: &str| VALUE_FLAGS.contains(&a);
    // Find the subcommand: the first argument that is no flag or value.
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if !is_flag(&a) {
            break;
        }
        i += if takes_value(&a) { 2 } else { 1 };
    }
    if args.get(i).is_none_or(|a| a != "search") {
        return args;
    }
    let (mut flags, mut words) = (args[..=i].to_vec(), Vec::new());
    let mut rest = args[i + 1..].iter();
    while let Some(a) = rest.next() {
        let text = a.to_string_lossy();
        let known = SEARCH_SWITCHES.contains(&&*text)
            || takes_value(&text)
            || VALUE_FLAGS
                .iter()
                .any(|f| text.starts_with(&format!("{f}=")));
        if text == "--" {
            words.extend(rest.cloned());
            break;
        } else if known {
            flags.push(a.clone());
            if takes_value(&text) {
                flags.extend(rest.next().cloned());
            }
        } else if text.starts_with("--") {
            // A mistyped flag (`--jsn`, `--limt 1`) is left to clap, which
            // refuses it (exit 2) and suggests the flag meant.
            flags.push(a.clone());
        } else {
            words.push(a.clone());
        }
    }
    if !words.is_empty() {
        flags.push("--".into());
        flags.extend(words);
    }
    flags
}

fn main() -> ExitCode {
    hubshare::logging::init();
    // Over a file-size limit (`ulimit -f`), a write should fail (EFBIG) and
    // the upload or download be refused, not the whole peer killed.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    match run(Args::parse_from(search_words_last(
        std::env::args_os().collect(),
    ))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note!("peer: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::search_words_last;

    fn rewrite(line: &str) -> String {
        let args = line.split(' ').map(Into::into).collect();
        let out: Vec<String> = search_words_last(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn search_words_may_start_with_a_hyphen_and_flags_go_anywhere() {
        for (given, meant) in [
            (
                "peer search annual -budget",
                "peer search -- annual -budget",
            ),
            (
                "peer --config c.toml search annual -budget --limit 5 -c d.toml",
                "peer --config c.toml search --limit 5 -c d.toml -- annual -budget",
            ),
            (
                "peer search -draft --limit=3 report -- --literal",
                "peer search --limit=3 -- -draft report --literal",
            ),
            ("peer search --help", "peer search --help"),
            // A mistyped flag is not a query word: clap refuses it.
            ("peer search hunter --jsn", "peer search --jsn -- hunter"),
            (
                "peer search hunter --limt 1",
                "peer search --limt -- hunter 1",
            ),
            ("peer get -x", "peer get -x"),
            (
                "peer browse peer2 --config c.toml",
                "peer browse peer2 --config c.toml",
            ),
        ] {
            assert_eq!(rewrite(given), meant, "{given}");
        }
    }
}
