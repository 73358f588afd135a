//! `server`: the hubshare directory. Parses arguments, loads the config,
//! starts the gRPC server, and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hubshare::{error_chain, DirectoryServer, ServerConfig};

/// The hubshare directory: knows which peers are online and what they share.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Config file (TOML). Without one, built-in defaults are used.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the config (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Lease in seconds, overriding the config.
    #[arg(long)]
    lease_secs: Option<u32>,
    /// Plaintext instead of TLS (as `tls = false`): for a trusted LAN only.
    #[arg(long)]
    no_tls: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the invite peers join with (`hubshare://HOST:PORT/?kp=...`)
    /// and the keyprint, making the key first if there is none yet.
    Invite,
    /// Remove a member from the running directory: its session ends, its
    /// name is freed, and its certificate may not log in again. Run it with
    /// the directory's own config (it shows the directory's certificate,
    /// which is how the directory knows its operator; with tls = false it
    /// must run on the directory's machine).
    Remove {
        /// The member's peer name.
        name: String,
        /// The directory's address (default: the config's listen address,
        /// on loopback when it listens on every address).
        #[arg(long)]
        at: Option<String>,
    },
}

/// Asks the running directory to remove `name`, as its operator.
fn remove(
    config: &ServerConfig,
    name: &str,
    at: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    hubshare::check_peer_name(name)?;
    let addr = at.unwrap_or_else(|| {
        let mut listen = config.listen;
        if listen.ip().is_unspecified() {
            listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        listen.to_string()
    });
    let dir = if config.tls {
        let me = hubshare::directory_identity(config)?;
        let own = me.keyprint();
        let target = hubshare::DirectoryTarget {
            addrs: addr,
            pin: Some(own),
        };
        let dial = hubshare::TlsDial {
            me,
            pin: Some(own),
            known: None,
        };
        hubshare::Directory::connect_tls(&target, dial)
    } else {
        hubshare::Directory::connect(&addr)
    };
    let (keyprint, was_online) = dir.remove_peer(name)?;
    if keyprint.is_empty() {
        println!("{name} was not bound to any certificate; nothing to refuse");
    } else {
        println!(
            "removed {name}: {}; its name is free, and keyprint {keyprint} is refused from now on",
            if was_online {
                "its session ended"
            } else {
                "it was not online"
            }
        );
    }
    Ok(())
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(l) = args.lease_secs {
        config.lease_secs = l;
    }
    if args.no_tls {
        config.tls = false;
    }
    config.check(args.config.as_deref().unwrap_or("command line".as_ref()))?;
    if let Some(Command::Invite) = args.command {
        if !config.tls {
            return Err("this directory has tls = false: peers join with its address, and nothing is encrypted".into());
        }
        let id = hubshare::directory_identity(&config)?;
        println!(
            "{}",
            hubshare::invite_of(&config, config.listen, id.keyprint())
        );
        println!("keyprint: {}", id.keyprint());
        return Ok(());
    }
    if let Some(Command::Remove { name, at }) = args.command {
        return remove(&config, &name, at);
    }

    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    let server = DirectoryServer::start(&config)?;
    println!("hubshare directory listening on {}", server.addr());
    if let Some(relay) = server.relay() {
        println!("relay listening on {}", relay.addr());
    }
    match (server.invite(), server.keyprint()) {
        (Some(invite), Some(kp)) => {
            println!("invite: {invite}");
            println!("keyprint: {kp}");
        }
        _ => log::warn!(
            "tls = false: peers' names, searches, file lists and the group password cross the \
             network unencrypted; use it on a trusted network only"
        ),
    }
    log::info!(
        "lease {}s, heartbeat {}s",
        config.lease_secs,
        config.heartbeat_secs()
    );
    let _ = stop_rx.recv();
    log::info!("shutting down");
    server.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    hubshare::logging::init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
