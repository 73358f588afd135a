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
    format_files, format_hits, format_uploads, human_size, is_folder_target, resolve_peer, upload,
    Control, Directory, DownloadOptions, FileId, FolderEvent, Peer, PeerConfig, ShareTable,
};

/// A hubshare peer: shares a folder, finds and fetches files from other peers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Config file (TOML).
    #[arg(long, short, default_value = "config/peer1.toml")]
    config: PathBuf,
    /// Peer name, overriding the config.
    #[arg(long)]
    name: Option<String>,
    /// HTTP address to listen on, overriding the config (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory address (host:port), overriding the config.
    #[arg(long)]
    directory: Option<String>,
    /// Folder to share, overriding the config.
    #[arg(long)]
    share_dir: Option<PathBuf>,
    /// Folder to save downloads in, overriding the config.
    #[arg(long)]
    download_dir: Option<PathBuf>,
    /// Folder for this peer's state, overriding the config.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Accept uploads from other peers, overriding the config.
    #[arg(long)]
    accept_uploads: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the share folder without a menu, until Ctrl-C or SIGTERM.
    Serve,
    /// Serve and open the interactive menu (the default).
    Menu,
    /// Search the directory: words that must all occur in the name, or a file id.
    Search {
        #[arg(required = true)]
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
        /// Fetch it even when this peer already holds the file (with
        /// --name, to have a copy somewhere else).
        #[arg(long)]
        copy: bool,
    },
    /// Push a file to another peer (by name, or host:port).
    Upload {
        file: PathBuf,
        #[arg(long)]
        to: String,
        /// Name or path (folder/name) to store it under at the receiver
        /// (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the files another peer shares (by name, or host:port).
    Browse { peer: String },
    /// Show the state of the running peer with this config.
    Status,
    /// Make the running peer rescan its share folder and announce changes.
    Rescan,
    /// Log the running peer out of the directory (it keeps serving).
    Logout,
}

fn load_config(args: &Args) -> Result<PeerConfig> {
    let mut c = PeerConfig::load(&args.config)?;
    if let Some(v) = &args.name {
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
    c.check(&args.config)?;
    Ok(c)
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(args: Args) -> Result<()> {
    let config = load_config(&args)?;
    let dir = || Directory::connect(&config.directory);
    match args.command.unwrap_or(Command::Menu) {
        Command::Serve => serve(config, false),
        Command::Menu => serve(config, true),
        Command::Search { words, limit } => {
            let found = dir().search(&words.join(" "), limit, None)?;
            print!("{}", format_hits(&found.hits, found.total));
            Ok(())
        }
        Command::Get { id, name, copy } => {
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
                ..DownloadOptions::default()
            };
            let fetched = match FileId::parse(&id) {
                Ok(id) => get_one(&config, &dir(), id, &opts, copy)?,
                Err(_) if is_folder_target(&id) => get_folder(&config, &dir(), &id, &opts, copy)?,
                Err(e) => return Err(e.into()),
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
            let base = resolve_peer(&dir(), &to)?;
            let r = upload(&base, &file, name.as_deref())?;
            println!(
                "sent {} ({}, id {}) to {to} in {:.2}s",
                r.stored.name,
                human_size(r.stored.size),
                r.stored.id,
                r.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Browse { peer } => {
            let base = resolve_peer(&dir(), &peer)?;
            print!("{}", format_files(&browse(&base)?));
            Ok(())
        }
        Command::Status => {
            let s = Control::open(&config.state_dir())?.status()?;
            println!("name:      {}", s.name);
            println!("serving:   {}", s.http_addr);
            println!("directory: {} ({})", s.directory, s.session);
            println!("files:     {} ({})", s.files, human_size(s.shared_bytes));
            println!(
                "hashed:    {} since start ({} bytes)",
                human_size(s.bytes_hashed),
                s.bytes_hashed
            );
            if s.unsettled > 0 {
                println!("waiting:   {} file(s) still being written", s.unsettled);
            }
            print!("{}", format_uploads(&s.uploads));
            Ok(())
        }
        Command::Rescan => {
            let found = Control::open(&config.state_dir())?.rescan()?;
            println!(
                "rescanned: {} added, {} removed",
                found.added, found.removed
            );
            Ok(())
        }
        Command::Logout => {
            Control::open(&config.state_dir())?.logout()?;
            println!("logged out; the peer keeps serving until it is stopped");
            Ok(())
        }
    }
}

fn serve(config: PeerConfig, menu: bool) -> Result<()> {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    let peer = Arc::new(Peer::start(config)?);
    println!(
        "peer {} serving http at {}",
        peer.core().name(),
        peer.core().http_addr()
    );
    if !menu {
        let _ = stop_rx.recv();
        log::info!("stopping: logging out");
        peer.shutdown();
        return Ok(());
    }
    // The menu blocks on standard input; Ctrl-C is handled beside it.
    let on_signal = peer.clone();
    std::thread::Builder::new()
        .name("signal-watch".into())
        .spawn(move || {
            if stop_rx.recv().is_ok() {
                eprintln!("\nlogging out...");
                on_signal.shutdown();
                std::process::exit(130);
            }
        })?;
    let stdin = std::io::stdin();
    hubshare::run_menu(&peer, stdin.lock(), std::io::stdout())?;
    peer.shutdown();
    Ok(())
}

/// Downloads one file unless this peer already holds it (or `copy`);
/// returns whether anything was fetched.
fn get_one(
    config: &PeerConfig,
    dir: &Directory,
    id: FileId,
    opts: &DownloadOptions,
    copy: bool,
) -> Result<bool> {
    if !copy {
        if let Some(path) = ShareTable::held(&config.share_dir, &config.state_dir(), &id) {
            println!(
                "already here: {} (this peer shares it; --copy fetches another copy)",
                path.display()
            );
            return Ok(false);
        }
    }
    let r = download(dir, id, &config.download_dir(), opts)?;
    println!("{}", download_summary(&r));
    Ok(!r.already_had)
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
) -> Result<bool> {
    let held = |id: &FileId| {
        (!copy)
            .then(|| ShareTable::held(&config.share_dir, &config.state_dir(), id))
            .flatten()
    };
    let mut tell = |e: FolderEvent<'_>| println!("{}", folder_event_text(what, &e));
    let r = download_folder(dir, what, &config.download_dir(), opts, &held, &mut tell)?;
    if r.failed > 0 {
        return Err(format!("{} of {} file(s) failed", r.failed, r.listed).into());
    }
    Ok(!r.fetched.is_empty())
}

fn main() -> ExitCode {
    hubshare::logging::init();
    // Over a file-size limit (`ulimit -f`), a write should fail (EFBIG) and
    // the upload or download be refused, not the whole peer killed.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
