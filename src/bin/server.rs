//! `server`: the hubshare directory. Parses arguments, loads the config,
//! starts the gRPC server, and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
    config.check(args.config.as_deref().unwrap_or("command line".as_ref()))?;

    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    let server = DirectoryServer::start(&config)?;
    println!("hubshare directory listening on {}", server.addr());
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
