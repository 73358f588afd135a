//! `relay`: a hubshare relay run apart from the directory, for peers that
//! are both firewalled. Parses arguments, loads `config/relay.toml`,
//! serves until Ctrl-C or SIGTERM. The directory's `[relay]` table names
//! its address (`addr`) and the same `secret_file`.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hubshare::{error_chain, relay::Relay, RelayConfig};

/// A hubshare relay: splices the two ends of each ticket its directory gave.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Config file (TOML): listen, secret_file and the caps.
    #[arg(long, short)]
    config: PathBuf,
    /// Address to listen on, overriding the config (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = RelayConfig::load(&args.config)?;
    if let Some(l) = args.listen {
        config.listen = Some(l);
    }
    let listen = config.listen.ok_or("listen is needed")?;
    let secret = config.secret()?;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let relay = Relay::start(listener, &config, secret)?;
    println!("hubshare relay listening on {}", relay.addr());
    let _ = stop_rx.recv();
    log::info!("shutting down");
    Ok(())
}

fn main() -> ExitCode {
    hubshare::logging::init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
