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

use hubshare::wire::{QueueOp, QueueState, WishOp};
use hubshare::{
    browse, download, download_folder, download_report_json, download_summary, error_chain,
    folder_event_text, folder_summary, follow, follow_one, followed_text, format_files,
    format_hits, format_peers, format_queue, format_status, format_wishes, human_size,
    is_folder_target, listing_of_files, listing_of_hits, pick_from_last, remember_listing,
    resolve_peer, reverse_through_running, still_waiting, upload, Control, Directory, DirectoryApi,
    DownloadOptions, FileId, FolderEvent, FolderFetch, Followed, FollowedOne, Peer, PeerConfig,
    ShareTable,
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

/// A change to the running peer's wishlist.
#[derive(Subcommand)]
enum WishAction {
    /// Add a search the running peer repeats (words as `peer search`
    /// takes them); each new match is queued for download.
    Add {
        /// Only show what it finds; queue nothing.
        #[arg(long)]
        show_only: bool,
        #[arg(
            required = true,
            value_name = "QUERY",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        words: Vec<String>,
    },
    /// Remove wish N (what it queued stays queued).
    Remove { n: u64 },
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
    /// Download a file by id (or PEER:FOLDER) into the download folder.
    ///
    /// With a running peer of this config, the download joins its queue
    /// and this command follows it until it ends (Ctrl-C stops following,
    /// not the download); without one, it runs here.
    Get {
        id: String,
        /// Save under this name (or folder/name) instead of the one the sources give.
        #[arg(long)]
        name: Option<String>,
        /// Fetch it even when this peer already holds the file: under
        /// --name, or beside the one at its name (`name (1).ext`).
        #[arg(long)]
        copy: bool,
        /// Run the download in this process even when a peer of this
        /// config runs.
        #[arg(long)]
        here: bool,
        /// Handed to the running peer, follow a download that waits for a
        /// source until it is done (without it, `get` ends there with an
        /// error and the download stays queued).
        #[arg(long, conflicts_with = "here")]
        wait: bool,
    },
    /// The running peer's download queue: list it (no action), or change it.
    Queue {
        #[command(subcommand)]
        action: Option<QueueAction>,
    },
    /// The running peer's wishlist: list it with what it found (no
    /// action), or change it.
    Wish {
        #[command(subcommand)]
        action: Option<WishAction>,
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
    /// Print a one-time link (10 minutes) that signs the owner in on the
    /// running peer's web page.
    WebLogin,
    /// Hash a password (read from standard input) for the owner's web
    /// sign-in: prints the `web_password_hash` line for the config.
    WebPassword,
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
    // Downloads into another folder than the config's run here.
    let own_download_dir = args.download_dir.is_none() && args.share_dir.is_none();
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
            remember_listing(&config.state_dir(), listing_of_hits(&found.hits));
            Ok(())
        }
        Command::Get {
            id,
            name,
            copy,
            here,
            wait,
        } => {
            // Firewalled sources connect out to this config's running peer.
            reverse_through_running(&config.state_dir());
            // Ctrl-C stops the download with what is verified recorded (or,
            // handed to the running peer, stops following it).
            let cancel = Arc::new(AtomicBool::new(false));
            let flag = cancel.clone();
            ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
            let running = (!here && own_download_dir)
                .then(|| Control::running(&config.state_dir()))
                .flatten();
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
                let running = running.as_ref().map(|c| (c, wait));
                get_folder(&config, &dir()?, &id, &opts, json, running)?
            } else {
                let (id, listed_name) = pick_from_last(&config.state_dir(), &id)?;
                let opts = DownloadOptions {
                    name: opts.name.clone().or(listed_name),
                    ..opts
                };
                if already_here(&config, id, copy, json) {
                    false
                } else if let Some(control) = &running {
                    hand_off(control, id, &opts, json, wait)?
                } else {
                    get_one(&config, &dir()?, id, &opts, json)?
                }
            };
            // A running peer with this config shares what lands in its
            // folder (what its queue fetched, it shares already).
            if fetched && running.is_none() && config.download_dir().starts_with(&config.share_dir)
            {
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
            remember_listing(&config.state_dir(), listing_of_files(&files));
            Ok(())
        }
        Command::Queue { action } => {
            let control = Control::open(&config.state_dir())?;
            let op = action.map(|a| match a {
                QueueAction::Add { id, name } => QueueOp::Add {
                    id,
                    name,
                    copy: false,
                },
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
        Command::Wish { action } => {
            let control = Control::open(&config.state_dir())?;
            let changed = match action {
                None => None,
                Some(WishAction::Add { show_only, words }) => Some(WishOp::Add {
                    query: words.join(" "),
                    queue: !show_only,
                }),
                Some(WishAction::Remove { n }) => Some(WishOp::Remove { n }),
            }
            .map(|op| control.wishes_apply(&op))
            .transpose()?;
            match changed {
                Some(wish) if json => say!("{}", serde_json::to_string(&wish)?),
                Some(wish) => say_raw!("{}", format_wishes(std::slice::from_ref(&wish))),
                None if json => say!("{}", serde_json::to_string(&control.wishes()?)?),
                None => say_raw!("{}", format_wishes(&control.wishes()?)),
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
            say_raw!("{}", format_status(&s));
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
        Command::WebLogin => {
            say!("{}", Control::open(&config.state_dir())?.web_login()?);
            note!("peer: it signs in once, within 10 minutes; the browser shows this peer's own certificate (`peer status` prints its keyprint)");
            Ok(())
        }
        Command::WebPassword => {
            let password = hubshare::read_secret("the owner's password: ")?;
            if password.chars().count() < 8 {
                return Err("an owner's password needs at least 8 characters".into());
            }
            let hash = hubshare::passhash::PasswordHash::new(&password);
            say!("web_password_hash = \"{hash}\"");
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

/// Whether this peer already holds `id` (and `copy` does not ask for
/// another): says where.
fn already_here(config: &PeerConfig, id: FileId, copy: bool, json: bool) -> bool {
    let extra = config.extra_share_dirs();
    let held = (!copy)
        .then(|| ShareTable::held(&config.share_dir, &extra, &config.state_dir(), &id))
        .flatten();
    let Some(path) = held else { return false };
    if json {
        let line = serde_json::json!({ "event": "already_here", "id": id, "path": path });
        say!("{line}");
    } else {
        say!(
            "already here: {} (this peer shares it; --copy fetches another copy)",
            path.display()
        );
    }
    true
}

/// Downloads one file in this process; returns whether anything was
/// fetched.
fn get_one(
    config: &PeerConfig,
    dir: &Directory,
    id: FileId,
    opts: &DownloadOptions,
    json: bool,
) -> Result<bool> {
    let r = download(dir, id, &config.download_dir(), opts)?;
    if json {
        say!("{}", download_report_json(&r));
    } else {
        say!("{}", download_summary(&r));
    }
    Ok(!r.already_had)
}

/// Hands the download of `id` to the running peer's queue and follows it
/// until it ends, printing what `get_one` prints.
fn hand_off(
    control: &Control,
    id: FileId,
    opts: &DownloadOptions,
    json: bool,
    wait: bool,
) -> Result<bool> {
    let op = QueueOp::Add {
        id: id.to_string(),
        name: opts.name.clone(),
        copy: opts.copy,
    };
    let n = control.queue_apply(&op)?.n;
    note!("peer: the running peer took it: download {n} of its queue (Ctrl-C stops following it, not the download)");
    let stop = opts.cancel.clone().unwrap_or_default();
    let mut tell = |line: String| note!("peer: {line}");
    let followed = follow_one(control, n, &stop, opts.progress, wait, &mut tell).map_err(|e| {
        format!(
            "{e}\n(download {n} stays in the running peer's queue, and goes on when it runs again)"
        )
    })?;
    match followed {
        FollowedOne::Ended(e) => match e.state {
            QueueState::Done {
                summary,
                mut report,
                ..
            } => {
                if json {
                    report["queued_as"] = n.into();
                    say!("{report}");
                } else {
                    say!("{summary}");
                }
                Ok(true)
            }
            QueueState::Failed { why } => Err(format!("download {n} failed: {why}").into()),
            other => Err(format!("download {n} ended {other:?}").into()),
        },
        FollowedOne::Gone => Err(followed_text(&Followed::Gone(n)).into()),
        FollowedOne::Waiting(e) => Err(still_waiting(&e).into()),
        FollowedOne::Stopped => left_running(&[n]),
    }
}

/// Ctrl-C while following downloads of the running peer: they go on.
fn left_running(ns: &[u64]) -> ! {
    let ns: Vec<String> = ns.iter().map(u64::to_string).collect();
    note!(
        "peer: stopped following; download {} goes on in the running peer (`peer queue` shows it)",
        ns.join(", ")
    );
    std::process::exit(130)
}

/// `PEER:folder`: every file the peer lists under `folder`, each into the
/// same path in the download folder, verified like any download (see
/// `download_folder`); with a running peer, its queue fetches them and
/// this follows them. Fails at the end if any file did.
fn get_folder(
    config: &PeerConfig,
    dir: &Directory,
    what: &str,
    opts: &DownloadOptions,
    json: bool,
    running: Option<(&Control, bool)>,
) -> Result<bool> {
    let extra = config.extra_share_dirs();
    let held = |id: &FileId| {
        (!opts.copy)
            .then(|| ShareTable::held(&config.share_dir, &extra, &config.state_dir(), id))
            .flatten()
    };
    let tell = |e: FolderEvent<'_>| {
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
            FolderEvent::Done(r) => download_report_json(r),
            FolderEvent::Failed { path, error } => {
                serde_json::json!({ "event": "failed", "path": path, "error": error })
            }
            // On stderr: stdout has a line per file once it is here.
            FolderEvent::Queued { .. } => return note!("peer: {}", folder_event_text(what, &e)),
        };
        say!("{line}");
    };
    let queue = |path: &str, id: FileId| {
        let op = QueueOp::Add {
            id: id.to_string(),
            name: Some(path.to_string()),
            copy: false,
        };
        let (control, _) = running.expect("queued only with a running peer");
        control.queue_apply(&op).map(|e| e.n)
    };
    let how = match running {
        Some(_) => FolderFetch::Queue(&queue),
        None => FolderFetch::Here,
    };
    let dest = config.download_dir();
    let mut r = download_folder(dir, what, &dest, opts, &held, &how, &mut { tell })?;
    let mut stopped = false;
    if let (Some((control, wait)), false) = (running, r.queued.is_empty()) {
        let ns: Vec<u64> = r.queued.iter().map(|q| q.0).collect();
        let stop = opts.cancel.clone().unwrap_or_default();
        let mut ended = Vec::new();
        let all = follow(control, &ns, &stop, wait, &mut |f| match f {
            Followed::Ended(e) => {
                match &e.state {
                    QueueState::Done { report, .. } if json => say!("{report}"),
                    QueueState::Done { summary, .. } => say!("{summary}"),
                    QueueState::Failed { why } => {
                        let path = e.name.as_deref().unwrap_or(&e.id);
                        tell(FolderEvent::Failed {
                            path,
                            error: why.clone(),
                        })
                    }
                    _ => {}
                }
                ended.push((e.n, matches!(e.state, QueueState::Done { .. })));
            }
            Followed::Progress(_) => {}
            Followed::Waiting(e) if !wait => {
                let path = e.name.as_deref().unwrap_or(&e.id);
                let error = still_waiting(e);
                tell(FolderEvent::Failed { path, error });
                ended.push((e.n, false));
            }
            other => {
                if let Followed::Gone(n) = other {
                    ended.push((n, false));
                }
                note!("peer: {}", followed_text(&other))
            }
        })?;
        for (n, done) in ended {
            let Some(i) = r.queued.iter().position(|q| q.0 == n) else {
                continue;
            };
            let (_, path, id) = r.queued.remove(i);
            match done {
                true => r.fetched.push((dest.join(path), id)),
                false => r.failed += 1,
            }
        }
        stopped = !all;
    }
    if json {
        say!(
            "{}",
            serde_json::json!({
                "event": "summary",
                "listed": r.listed,
                "fetched": r.fetched.len(),
                "copied": r.copied.len(),
                "present": r.present,
                "queued": r.queued.len(),
                "failed": r.failed,
            })
        );
    } else {
        say!("{}", folder_summary(what, &r));
    }
    if stopped {
        let ns: Vec<u64> = r.queued.iter().map(|q| q.0).collect();
        left_running(&ns);
    }
    if r.failed > 0 {
        return Err(format!("{} of {} file(s) failed", r.failed, r.listed).into());
    }
    Ok(!(r.fetched.is_empty() && r.copied.is_empty()))
}

fn main() -> ExitCode {
    hubshare::logging::init();
    // Over a file-size limit (`ulimit -f`), a write should fail (EFBIG) and
    // the upload or download be refused, not the whole peer killed.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    hubshare::map_big_allocations_apart();
    match run(Args::parse_from(hubshare::search_words_last(
        std::env::args_os().collect(),
    ))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note!("peer: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
