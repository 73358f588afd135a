//! Running the directory: a grpcio server over a [`MemoryStore`], the
//! standard gRPC health service (`grpc.health.v1.Health`) so ordinary probes
//! work, and a named sweeper thread that expires sessions whose lease ran
//! out. The handle binds before it returns, so a caller that asked for port 0
//! learns the real port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use grpcio::{
    CertificateRequestType, ChannelBuilder, Environment, ServerBuilder, ServerCredentials,
    ServerCredentialsBuilder,
};
use grpcio_health::{create_health, HealthService, ServingStatus};

use super::flood::FloodLimits;
use super::metrics::Metrics;
use super::notices::RelayTickets;
use super::service::{Admission, DirectoryService};
use super::status::StatusServer;
use super::{DirectoryStore, Limits, MemoryStore, RedisStore};
use crate::config::{ServerConfig, StoreKind};
use crate::relay::Relay;
use crate::tls::{load_or_create, TlsIdentity, TlsPaths, DIRECTORY_NAME};
use crate::wire::{DirectoryTarget, KeyPrint, MAX_MESSAGE_BYTES};

/// How long shutdown waits for calls in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a replica waits at start for Redis to answer.
pub const REDIS_WAIT: Duration = Duration::from_secs(10);
/// The service name health probes may ask about (besides "", the server).
pub const SERVICE_NAME: &str = "hubshare.directory.Directory";

/// Why the directory could not start.
#[derive(Debug)]
pub enum ServerError {
    /// The gRPC server could not be built or bound to its address.
    Bind {
        addr: SocketAddr,
        source: grpcio::Error,
    },
    /// The shared store (Redis) could not be reached or used; the text says why.
    Store(String),
    /// The status and metrics port could not be bound.
    Status { addr: SocketAddr, detail: String },
    /// The TLS key or certificate could not be read or made.
    Tls(std::io::Error),
    /// The relay (`[relay]`) could not be started; the text says why.
    Relay(String),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Bind { addr, .. } => write!(
                f,
                "cannot listen on {addr} (is another directory running there, or is the address not on this machine?)"
            ),
            ServerError::Store(why) => write!(f, "cannot use the shared store: {why}"),
            ServerError::Status { addr, detail } => write!(
                f,
                "cannot serve the status page on {addr} ({detail}): change http_listen"
            ),
            ServerError::Tls(e) => write!(f, "cannot use the TLS key: {e}"),
            ServerError::Relay(why) => write!(f, "cannot run the relay: {why}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Its text is only `BindFail("addr")`: the message says it all.
            ServerError::Bind {
                source: grpcio::Error::BindFail(_),
                ..
            } => None,
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Store(_)
            | ServerError::Status { .. }
            | ServerError::Tls(_)
            | ServerError::Relay(_) => None,
        }
    }
}

/// A running directory server. Dropping it without [`shutdown`](Self::shutdown)
/// stops it abruptly.
pub struct DirectoryServer {
    server: grpcio::Server,
    addr: SocketAddr,
    stop_sweeper: Option<Sender<()>>,
    sweeper: Option<JoinHandle<()>>,
    /// Test hook: the sweeper panics at its next sweep.
    fail_sweep: Arc<AtomicBool>,
    health: HealthService,
    status: Option<StatusServer>,
    /// Its keyprint and invite, over TLS.
    keyprint: Option<KeyPrint>,
    invite: Option<String>,
    relay: Option<Relay>,
}

/// The relay of `[relay]`, started here when it has a `listen` address,
/// and what the directory signs its tickets with and sends peers to.
fn start_relay(
    config: &ServerConfig,
) -> Result<(Option<Relay>, Option<RelayTickets>), ServerError> {
    let Some(rc) = &config.relay else {
        return Ok((None, None));
    };
    let err = |e: std::io::Error| ServerError::Relay(e.to_string());
    let secret = rc.secret().map_err(err)?;
    let relay = match rc.listen {
        Some(listen) => {
            let listener = std::net::TcpListener::bind(listen).map_err(|e| {
                ServerError::Relay(format!("{listen}: {e} (change [relay] listen)"))
            })?;
            Some(Relay::start(listener, rc, secret.clone()).map_err(err)?)
        }
        None => None,
    };
    let addr = rc
        .public_addr(relay.as_ref().map(Relay::addr))
        .ok_or_else(|| ServerError::Relay("[relay] needs addr or listen".to_string()))?;
    log::info!("relay for firewalled pairs at {addr}");
    Ok((
        relay,
        Some(RelayTickets {
            addr,
            secret: Arc::new(secret),
        }),
    ))
}

/// The directory's TLS identity as `config` places it (made on first use).
pub fn directory_identity(config: &ServerConfig) -> std::io::Result<TlsIdentity> {
    let (key, cert) = config.tls_paths();
    let mut names = vec![DIRECTORY_NAME.to_string(), "localhost".to_string()];
    names.extend(config.invite_addrs.iter().filter_map(|a| {
        a.rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
    }));
    load_or_create(&TlsPaths { key, cert }, &names, "hubshare directory")
}

/// The invite peers join with: the invite addresses (or the listen address
/// with its real port; this machine's name when it listens on every
/// address) and the keyprint.
pub fn invite_of(config: &ServerConfig, bound: SocketAddr, keyprint: KeyPrint) -> String {
    let addrs = if config.invite_addrs.is_empty() {
        if bound.ip().is_unspecified() {
            format!("{}:{}", crate::fsutil::host_name(), bound.port())
        } else {
            bound.to_string()
        }
    } else {
        config.invite_addrs.join(",")
    };
    DirectoryTarget::invite(&addrs, keyprint)
}

impl DirectoryServer {
    /// Binds and starts the directory described by `config`.
    pub fn start(config: &ServerConfig) -> Result<DirectoryServer, ServerError> {
        let limits = Limits {
            lease: Duration::from_secs(config.lease_secs.into()),
            heartbeat: Duration::from_secs(config.heartbeat_secs().into()),
            max_results: config.max_results,
            max_files_per_call: config.max_files_per_call,
            name_hold: Duration::from_secs(config.name_hold_secs),
            heartbeat_rate: config.heartbeat_rate,
        };
        let store: Arc<dyn DirectoryStore> = match (config.store, &config.redis_url) {
            (StoreKind::Redis, Some(url)) => Arc::new(
                RedisStore::start(url, &config.redis_prefix, limits.clone(), REDIS_WAIT)
                    .map_err(ServerError::Store)?,
            ),
            _ => {
                // Name bindings outlive a restart: kept in the state folder.
                let state = config.state_dir();
                let names = state.join(super::book::NAMES_FILE);
                crate::fsutil::sweep_stale_temps(&state, crate::fsutil::STALE_TEMP_AGE);
                let store = std::fs::create_dir_all(&state)
                    .and_then(|()| MemoryStore::with_names(limits.clone(), &names))
                    .map_err(|e| {
                        ServerError::Store(format!(
                            "the name bindings in {}: {e} (state_dir in the config)",
                            names.display()
                        ))
                    })?;
                Arc::new(store)
            }
        };
        let bind_err = |source| ServerError::Bind {
            addr: config.listen,
            source,
        };
        let env = Arc::new(Environment::new(2));
        // grpc turns SO_REUSEPORT on by default, which would let a second
        // directory bind the same port silently and split the peers.
        let args = ChannelBuilder::new(env.clone())
            .reuse_port(false)
            .max_receive_message_len(MAX_MESSAGE_BYTES)
            .max_send_message_len(MAX_MESSAGE_BYTES)
            .build_args();
        let flood = FloodLimits {
            search_rate: config.search_rate,
            search_burst: config.search_burst,
            announce_rate: config.announce_rate,
            announce_burst: config.announce_burst,
            login_rate: config.login_rate,
            login_burst: config.login_burst,
            address_search_rate: config.address_search_rate,
            address_search_burst: config.address_search_burst,
        };
        if let Some(p) = config.group_password() {
            crate::logging::redact(p.expose());
        }
        let identity = if config.tls {
            Some(directory_identity(config).map_err(ServerError::Tls)?)
        } else {
            None
        };
        let (relay, relay_tickets) = start_relay(config)?;
        let admission = Admission {
            relay: relay_tickets,
            tls: config.tls,
            group_password: config.group_password(),
            trust_advertised_addrs: config.trust_advertised_addrs,
            connect_back: config.connect_back,
            trusted_proxies: config.trusted_proxies.clone(),
            operator: identity.as_ref().map(TlsIdentity::keyprint),
        };
        let health = HealthService::default();
        let metrics = Arc::new(Metrics::new());
        let service = DirectoryService::new(store.clone(), flood, admission, metrics.clone());
        let mut server = service
            .register(ServerBuilder::new(env).channel_args(args))
            .register_service(create_health(health.clone()))
            .build()
            .map_err(bind_err)?;
        let credentials = match &identity {
            // Every client must show a certificate (its keyprint is who it
            // is); none is checked against an authority. A root must be
            // given for the request type to apply: our own serves.
            Some(id) => ServerCredentialsBuilder::new()
                .root_cert(
                    id.cert_pem().as_bytes().to_vec(),
                    CertificateRequestType::RequestAndRequireClientCertificateButDontVerify,
                )
                .add_cert(
                    id.cert_pem().as_bytes().to_vec(),
                    id.key_pem().as_bytes().to_vec(),
                )
                .build(),
            None => ServerCredentials::insecure(),
        };
        let port = server
            .add_listening_port(config.listen.to_string(), credentials)
            .map_err(bind_err)?;
        server.start();
        health.set_serving_status("", ServingStatus::Serving);
        health.set_serving_status(SERVICE_NAME, ServingStatus::Serving);
        let addr = SocketAddr::new(config.listen.ip(), port);

        let (stop_tx, stop_rx) = bounded::<()>(1);
        let sweep_every =
            (limits.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let sweep_store = store.clone();
        let sweep_health = health.clone();
        let sweep_metrics = metrics.clone();
        let fail_sweep = Arc::new(AtomicBool::new(false));
        let sweep_fails = fail_sweep.clone();
        let sweeper = std::thread::Builder::new()
            .name("lease-sweeper".into())
            .spawn(move || {
                let mut serving = true;
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(sweep_every)
                {
                    if sweep_fails.load(Ordering::Relaxed) {
                        panic!("a panic injected into the lease sweeper (test hook)");
                    }
                    let gone = sweep_store.expire();
                    for (name, addr) in &gone {
                        match addr {
                            Some(addr) => log::info!("lease expired: {name} at {addr} is gone"),
                            None => log::info!("lease expired: {name} is gone"),
                        }
                    }
                    sweep_metrics.expired(gone.len());
                    sweep_metrics.sample();
                    // A replica that lost its shared store stops taking calls.
                    let now = sweep_store.serving();
                    if now != serving {
                        serving = now;
                        let status = if now {
                            log::info!("serving again");
                            ServingStatus::Serving
                        } else {
                            log::warn!("not serving: the shared store is away");
                            ServingStatus::NotServing
                        };
                        sweep_health.set_serving_status("", status);
                        sweep_health.set_serving_status(SERVICE_NAME, status);
                    }
                }
            })
            .expect("spawn the lease sweeper thread");
        let keyprint = identity.as_ref().map(TlsIdentity::keyprint);
        let invite = keyprint.map(|kp| invite_of(config, addr, kp));
        let status = match config.http_listen {
            Some(at) => {
                let status =
                    StatusServer::start(at, metrics, store, invite.clone()).map_err(|e| {
                        ServerError::Status {
                            addr: at,
                            detail: e.to_string(),
                        }
                    })?;
                log::info!(
                    "status page on http://{0}/, metrics on http://{0}/metrics",
                    status.addr()
                );
                Some(status)
            }
            None => None,
        };
        Ok(DirectoryServer {
            server,
            addr,
            stop_sweeper: Some(stop_tx),
            sweeper: Some(sweeper),
            fail_sweep,
            health,
            status,
            keyprint,
            invite,
            relay,
        })
    }

    /// The relay running in this process, if `[relay] listen` is set.
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// The keyprint of its certificate (`None` with `tls = false`).
    pub fn keyprint(&self) -> Option<KeyPrint> {
        self.keyprint
    }

    /// The invite peers join with (`None` with `tls = false`).
    pub fn invite(&self) -> Option<&str> {
        self.invite.as_deref()
    }

    /// The address the server listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the status and metrics port, when one is configured.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status.as_ref().map(StatusServer::addr)
    }

    /// Test hook: the lease sweeper panics at its next sweep, to show that
    /// a background thread's panic fails [`shutdown`](Self::shutdown).
    #[doc(hidden)]
    pub fn panic_sweeper_for_tests(&self) {
        self.fail_sweep.store(true, Ordering::Relaxed);
    }

    /// Whether the lease sweeper has ended (only shutdown or a panic end it).
    #[doc(hidden)]
    pub fn sweeper_ended(&self) -> bool {
        self.sweeper.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops accepting calls, lets calls in flight finish (bounded by
    /// `SHUTDOWN_GRACE`), and joins the sweeper. A sweeper that panicked
    /// is logged at error level and its panic raised here, once the rest
    /// is shut down.
    pub fn shutdown(mut self) {
        // Probes see NOT_SERVING while calls in flight drain.
        self.health.shutdown();
        let done = self.server.shutdown();
        let (tx, rx) = bounded(1);
        std::thread::Builder::new()
            .name("grpc-shutdown".into())
            .spawn(move || {
                let _ = futures_executor::block_on(done);
                let _ = tx.send(());
            })
            .expect("spawn the shutdown thread");
        if rx.recv_timeout(SHUTDOWN_GRACE).is_err() {
            log::warn!("calls still in flight after {SHUTDOWN_GRACE:?}; cancelling them");
            self.server.cancel_all_calls();
        }
        drop(self.stop_sweeper.take());
        let sweeper = self.sweeper.take().map(crate::sync::join);
        drop(self.status.take());
        if let Some(Err(panicked)) = sweeper {
            panicked.raise();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Instant;

    use super::*;

    /// A directory on a free port whose sweeper runs every 250 ms, its
    /// state (the names file) in the temp folder returned with it.
    fn sweeping_often() -> (DirectoryServer, tempfile::TempDir) {
        let state = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            state_dir: Some(state.path().to_path_buf()),
            listen: "127.0.0.1:0".parse().unwrap(),
            lease_secs: 1,
            tls: false,
            ..ServerConfig::default()
        };
        (DirectoryServer::start(&config).unwrap(), state)
    }

    #[test]
    fn a_sweeper_that_panicked_fails_shutdown_loudly() {
        let (server, _state) = sweeping_often();
        assert!(!server.sweeper_ended());
        server.panic_sweeper_for_tests();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.sweeper_ended() {
            assert!(
                Instant::now() < deadline,
                "the sweeper did not reach its hook"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let raised = catch_unwind(AssertUnwindSafe(|| server.shutdown()))
            .expect_err("shutdown raises the sweeper's panic");
        let message = crate::sync::panic_message(&*raised);
        assert!(message.contains("lease sweeper"), "{message:?}");
    }

    #[test]
    fn a_healthy_sweeper_shuts_down_quietly() {
        let (server, _state) = sweeping_often();
        catch_unwind(AssertUnwindSafe(|| server.shutdown())).expect("no panic to raise");
    }
}
