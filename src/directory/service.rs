//! The directory's gRPC service: a thin layer that turns protobuf messages
//! into checked types (ids parsed, names and addresses checked, limits
//! applied), calls the [`DirectoryStore`], and turns its answer or its error
//! into a reply or a status. Handlers run on grpcio's completion-queue
//! threads, so they only touch memory: no blocking I/O here. Searches, the
//! one call whose cost grows with the index, go to a pool of worker threads
//! (one per core): all the calls of one connection arrive on one
//! completion queue, and would otherwise be answered one at a time. Writes
//! (Login, Announce, Heartbeat, Logout) go to a small pool of their own:
//! with a shared store each is a network round trip.
//!
//! A Login is admitted in this order, each refusal changing nothing: the
//! client address's login allowance, the peer name, the identity key, the
//! group password, the advertised address (its host must be the address
//! the Login came from, unless the operator trusts advertised addresses),
//! the file list; then the store checks that the name is not bound to
//! another key.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use grpcio::{
    RpcContext, RpcStatus, RpcStatusCode, ServerBuilder, ServerStreamingSink, ServiceBuilder,
    UnarySink,
};

use super::caller::{client_ip, real_ip, FORWARDED_HEADER};
use super::flood::{Allowances, FloodLimits};
use super::metrics::Metrics;
use super::notices::{NoticeStreams, RelayTickets};
use super::query::Query;
use super::reach;
use super::reply::{self, EncodedReply};
use super::store::{DirError, DirectoryStore, Token};
use crate::id::FileId;
use crate::names;
use crate::wire::proto::directory as pb;
use crate::wire::proto::directory_grpc;
use crate::wire::{
    GroupPassword, HttpAddr, IdentityKey, KeyPrint, SharedFile, Source, LOGIN_FILES,
};

/// Searches queued beyond this are refused as busy rather than left to
/// wait for seconds.
const SEARCH_QUEUE: usize = 1024;
/// Threads that run the store's writes (Login, Announce, Heartbeat,
/// Logout): a shared store answers them over the network, which must not
/// hold a completion-queue thread.
const WRITE_WORKERS: usize = 4;
/// Writes queued beyond this are refused as busy.
const WRITE_QUEUE: usize = 4096;
/// Logins run on their own workers: each may wait up to
/// [`reach::CONNECT_BACK_TIMEOUT`] for the peer's port, and must not hold
/// up heartbeats meanwhile.
const LOGIN_WORKERS: usize = 16;
/// Logins queued beyond this are refused as busy.
const LOGIN_QUEUE: usize = 1024;

/// A call waiting for a worker of a pool; it sends its own answer back to
/// the completion-queue thread that holds the call.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `n` threads named `{name}-{i}` running the jobs of a queue of
/// `queue`; they stop when every sender is gone.
fn start_pool(name: &str, n: usize, queue: usize) -> crossbeam_channel::Sender<Job> {
    let (pool, jobs) = crossbeam_channel::bounded::<Job>(queue);
    for i in 0..n {
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                for job in jobs {
                    job();
                }
            })
            .expect("start a worker thread");
    }
    pool
}
/// Most peers one ListPeers reply names (sorted by name; the total says how
/// many are online).
pub const MAX_PEERS_LISTED: usize = 1000;

/// Who may log in, beyond the rules every Login follows.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Whether the port speaks TLS: a peer is then known by the keyprint
    /// of its client certificate, else by its identity key.
    pub tls: bool,
    /// The password every Login must carry, if any.
    pub group_password: Option<GroupPassword>,
    /// Accept any advertised address; otherwise its host must be the
    /// address the Login came from.
    pub trust_advertised_addrs: bool,
    /// Connect back to each Login's port (see `reach.rs`).
    pub connect_back: bool,
    /// Proxies whose `x-forwarded-for` names the real client.
    pub trusted_proxies: Vec<IpAddr>,
    /// The relay firewalled pairs meet at, if any.
    pub relay: Option<RelayTickets>,
    /// The directory's own keyprint: a client showing its certificate is
    /// the operator (`server remove`). `None` with `tls = false`: the
    /// operator is then a client on this machine (loopback).
    pub operator: Option<KeyPrint>,
}

/// The gRPC face of a [`DirectoryStore`].
#[derive(Clone)]
pub struct DirectoryService {
    store: Arc<dyn DirectoryStore>,
    admission: Arc<Admission>,
    searches: Arc<Allowances>,
    /// All searches from one address, whatever session they come from.
    address_searches: Arc<Allowances>,
    announces: Arc<Allowances>,
    logins: Arc<Allowances>,
    search_pool: crossbeam_channel::Sender<Job>,
    write_pool: crossbeam_channel::Sender<Job>,
    login_pool: crossbeam_channel::Sender<Job>,
    metrics: Arc<Metrics>,
    notices: Arc<NoticeStreams>,
}

/// A Search's reply, encoded from the results the store lends.
fn do_search(store: &dyn DirectoryStore, req: pb::SearchRequest) -> Result<EncodedReply, DirError> {
    let query = Query::parse(&req.query)?;
    let mut reply = EncodedReply::with_capacity(req.limit as usize);
    let matches = store.search_each(&query, req.limit, &mut |hit| reply.push(&hit))?;
    Ok(reply.finish(matches))
}

impl DirectoryService {
    /// The service, with its search workers (one per core) started; they
    /// stop when the last clone of the service is dropped.
    pub fn new(
        store: Arc<dyn DirectoryStore>,
        flood: FloodLimits,
        admission: Admission,
        metrics: Arc<Metrics>,
    ) -> DirectoryService {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        DirectoryService {
            search_pool: start_pool("search", workers, SEARCH_QUEUE),
            write_pool: start_pool("write", WRITE_WORKERS, WRITE_QUEUE),
            login_pool: start_pool("login", LOGIN_WORKERS, LOGIN_QUEUE),
            metrics,
            store,
            notices: Default::default(),
            admission: Arc::new(admission),
            searches: Arc::new(Allowances::new(
                flood.search_rate,
                flood.search_burst,
                "Search",
            )),
            address_searches: Arc::new(Allowances::new(
                flood.address_search_rate,
                flood.address_search_burst,
                "Search (all sessions of this address together)",
            )),
            announces: Arc::new(Allowances::new(
                flood.announce_rate,
                flood.announce_burst,
                "Announce",
            )),
            logins: Arc::new(Allowances::new(
                flood.login_rate,
                flood.login_burst,
                "Login (from this address)",
            )),
        }
    }

    /// Runs `work` (a call to the store that may wait on the network) on a
    /// write worker and sends its answer from there.
    fn offload<T: Send + 'static>(
        &self,
        ctx: &RpcContext,
        sink: UnarySink<T>,
        method: &'static str,
        work: impl FnOnce() -> Result<T, DirError> + Send + 'static,
    ) {
        let busy = "the directory is busy; retry shortly";
        self.run_on(&self.write_pool, busy, ctx, sink, method, work);
    }

    /// Runs `work` on a worker of `pool` and replies with its result from
    /// the completion-queue thread; a full queue is refused as `busy`.
    fn run_on<T: Send + 'static>(
        &self,
        pool: &crossbeam_channel::Sender<Job>,
        busy: &str,
        ctx: &RpcContext,
        sink: UnarySink<T>,
        method: &'static str,
        work: impl FnOnce() -> Result<T, DirError> + Send + 'static,
    ) {
        let (reply_to, answered) = futures_channel::oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| {
                    log::error!("{method} panicked");
                    Err(DirError::Internal(format!("internal error in {method}")))
                });
            // The caller may have gone (deadline passed): nothing to do then.
            let _ = reply_to.send(result);
        });
        if pool.try_send(job).is_err() {
            let busy = DirError::Exhausted(busy.to_string());
            return reply(&self.metrics, ctx, sink, method, Err(busy));
        }
        let metrics = self.metrics.clone();
        ctx.spawn(async move {
            let result = answered.await.unwrap_or_else(|_| {
                Err(DirError::Internal(format!("the {method} worker stopped")))
            });
            answer(&metrics, sink, method, result).await;
        });
    }

    /// The address the call came from (see [`real_ip`]).
    fn client_addr(&self, ctx: &RpcContext) -> Option<IpAddr> {
        let forwarded = ctx
            .request_headers()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(FORWARDED_HEADER))
            .map(|(_, v)| v.to_vec());
        real_ip(
            client_ip(&ctx.peer()),
            forwarded.as_deref(),
            &self.admission.trusted_proxies,
        )
    }

    /// The keyprint of the client's TLS certificate, when it showed one.
    fn client_keyprint(ctx: &RpcContext) -> Option<KeyPrint> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let auth = ctx.auth_context()?;
        let pem = (&auth)
            .into_iter()
            .find(|p| p.name() == "x509_pem_cert")?
            .value()
            .to_vec();
        let der = CertificateDer::from_pem_slice(&pem).ok()?;
        crate::tls::keyprint_of(&der).ok()
    }

    /// The flood-limit key of a client address (without its port).
    fn address_key(&self, ctx: &RpcContext) -> String {
        match self.client_addr(ctx) {
            Some(ip) => format!("addr:{ip}"),
            None => format!("addr:{}", ctx.peer()),
        }
    }

    /// Whom a call counts against: the session's peer when the token is
    /// valid, else the client's address (without its port).
    fn caller(&self, token: &str, ctx: &RpcContext) -> String {
        if !token.is_empty() {
            if let Some(name) = self.store.session_name(&Token::from_client(token)) {
                return format!("peer:{name}");
            }
        }
        self.address_key(ctx)
    }

    /// A read in a closed group (one with a password) is for members: a
    /// live session's token, or the password. Says what is missing, never
    /// what there is.
    fn check_reader(&self, token: &str, offered: &str) -> Result<(), DirError> {
        if self.admission.group_password.is_none() {
            return Ok(());
        }
        if !token.is_empty()
            && self
                .store
                .session_name(&Token::from_client(token))
                .is_some()
        {
            return Ok(());
        }
        self.check_password(offered).map_err(|e| match e {
            DirError::Denied(m) => DirError::Denied(format!(
                "this group is closed: its directory answers members only ({m})"
            )),
            other => other,
        })
    }

    /// Whether the caller is the directory's operator: over TLS a client
    /// showing the directory's own certificate, else one on this machine.
    fn check_operator(&self, ctx: &RpcContext) -> Result<(), DirError> {
        let operator = match self.admission.operator {
            Some(own) => Self::client_keyprint(ctx) == Some(own),
            None => client_ip(&ctx.peer()).is_some_and(|ip| ip.is_loopback()),
        };
        if operator {
            return Ok(());
        }
        Err(DirError::Denied(
            "only the directory's operator may remove a member (`server remove` with the \
             directory's own config, on its machine)"
                .to_string(),
        ))
    }

    /// Refuses a Login without the group password the operator set.
    fn check_password(&self, offered: &str) -> Result<(), DirError> {
        match &self.admission.group_password {
            None => Ok(()),
            Some(_) if offered.is_empty() => Err(DirError::Denied(
                "this group needs its password: set group_password (or \
                 group_password_file) in the peer's config"
                    .to_string(),
            )),
            Some(p) if !p.matches(offered) => {
                Err(DirError::Denied("wrong group password".to_string()))
            }
            Some(_) => Ok(()),
        }
    }

    /// Registers the service with a server: the generated service, then
    /// Search again with its reply type [`EncodedReply`] (a later
    /// registration of a method replaces an earlier one, so the generated
    /// Search, left unimplemented, is never called).
    pub fn register(self, server: ServerBuilder) -> ServerBuilder {
        let mut searches = self.clone();
        let search = ServiceBuilder::new()
            .add_unary_handler(&reply::SEARCH, move |ctx, req, sink| {
                searches.search(ctx, req, sink)
            })
            .build();
        server
            .register_service(directory_grpc::create_directory(self))
            .register_service(search)
    }

    /// A Search: checked against the flood limits here, answered by a
    /// search worker.
    fn search(&mut self, ctx: RpcContext, req: pb::SearchRequest, sink: UnarySink<EncodedReply>) {
        let arrived = Instant::now();
        if let Err(e) = self.check_reader(&req.token, &req.group_password) {
            return reply(&self.metrics, &ctx, sink, "Search", Err(e));
        }
        let key = self.caller(&req.token, &ctx);
        let allowed = self
            .searches
            .check(key)
            .and_then(|()| self.address_searches.check(self.address_key(&ctx)));
        if let Err(e) = allowed {
            return reply(&self.metrics, &ctx, sink, "Search", Err(e));
        }
        let (store, metrics) = (self.store.clone(), self.metrics.clone());
        let busy = "the directory is busy with other searches; retry shortly";
        self.run_on(&self.search_pool, busy, &ctx, sink, "Search", move || {
            let result = do_search(&*store, req);
            metrics.searched(arrived.elapsed());
            result
        });
    }
}

fn status(err: DirError) -> RpcStatus {
    let code = match err {
        DirError::Unauthenticated => RpcStatusCode::UNAUTHENTICATED,
        DirError::NotFound(_) => RpcStatusCode::NOT_FOUND,
        DirError::Invalid(_) => RpcStatusCode::INVALID_ARGUMENT,
        DirError::Exhausted(_) => RpcStatusCode::RESOURCE_EXHAUSTED,
        DirError::Taken(_) => RpcStatusCode::ALREADY_EXISTS,
        DirError::Denied(_) => RpcStatusCode::PERMISSION_DENIED,
        DirError::Internal(_) => RpcStatusCode::INTERNAL,
        DirError::Unavailable(_) => RpcStatusCode::UNAVAILABLE,
    };
    RpcStatus::with_message(code, err.to_string())
}

fn reply<T: Send + 'static>(
    metrics: &Metrics,
    ctx: &RpcContext,
    sink: UnarySink<T>,
    method: &'static str,
    result: Result<T, DirError>,
) {
    ctx.spawn(answer(metrics, sink, method, result));
}

/// Sends `result` as the call's reply or its status; the future ends when
/// gRPC has taken it (a failure to deliver is only logged).
fn answer<T>(
    metrics: &Metrics,
    sink: UnarySink<T>,
    method: &'static str,
    result: Result<T, DirError>,
) -> impl std::future::Future<Output = ()> + Send {
    metrics.answered(method, result.as_ref().map(|_| ()));
    let sent = match result {
        Ok(r) => sink.success(r),
        Err(e) => {
            log::debug!("{method} refused: {e}");
            sink.fail(status(e))
        }
    };
    sent.map(move |r| {
        if let Err(e) = r {
            log::debug!("{method}: reply not delivered: {e}");
        }
    })
}

fn invalid(e: impl ToString) -> DirError {
    DirError::Invalid(e.to_string())
}

fn parse_id(s: &str) -> Result<FileId, DirError> {
    FileId::parse(s).map_err(invalid)
}

/// The files of a request with their ids parsed (their names are checked
/// by [`Limits::batch`](super::Limits::batch)).
fn parse_files(files: &[pb::SharedFile]) -> Result<Vec<SharedFile>, DirError> {
    files
        .iter()
        .map(|f| {
            Ok(SharedFile {
                id: parse_id(&f.id)?,
                size: f.size,
                name: f.name.clone(),
                other_names: f.other_names.to_vec(),
            })
        })
        .collect()
}

fn source_pb(s: Source) -> pb::Source {
    pb::Source {
        peer: s.peer,
        keyprint: keyprint_text(&s.http_addr),
        firewalled: s.http_addr.firewalled(),
        http_addr: s.http_addr.to_string(),
        name: s.name,
        size: s.size,
        ..Default::default()
    }
}

/// The keyprint a downloader pins at this address ("" when none).
fn keyprint_text(addr: &HttpAddr) -> String {
    addr.pin_text().unwrap_or_default().to_string()
}

impl DirectoryService {
    fn do_login(
        &self,
        req: pb::LoginRequest,
        from: Option<IpAddr>,
        certificate: Option<KeyPrint>,
    ) -> Result<pb::LoginReply, DirError> {
        names::check_peer_name(&req.name).map_err(invalid)?;
        let owner = if self.admission.tls {
            certificate.ok_or_else(|| {
                DirError::Denied(
                    "a Login needs the peer's client certificate (its keyprint is the \
                     peer's identity)"
                        .into(),
                )
            })?
        } else {
            IdentityKey::parse(&req.identity_key)
                .map_err(|e| {
                    DirError::Invalid(format!(
                        "identity_key: {e}; a peer makes its own on first start and keeps it"
                    ))
                })?
                .print()
        };
        self.check_password(&req.group_password)?;
        // Downloaders get the keyprint with the address, and pin it.
        let asked = HttpAddr::parse(&req.http_addr)
            .map_err(invalid)?
            .pinned(self.admission.tls.then_some(owner));
        let limits = self.store.limits();
        // Refuse an oversized list before doing work on each entry (and
        // before connecting back).
        limits.check_call(req.files.len())?;
        let files = limits.batch(parse_files(&req.files)?, Vec::new())?;
        let reached = reach::decide(
            asked,
            req.reach,
            from,
            self.admission.trust_advertised_addrs,
            self.admission.connect_back,
        )?;
        let http_addr = reached.addr;
        let n = req.files.len();
        let s = self
            .store
            .login(&req.name, owner, &http_addr, files)
            .inspect_err(|e| {
                if let DirError::Taken(_) = e {
                    let from = from.map_or_else(|| "an unknown address".into(), |ip| ip.to_string());
                    log::warn!(
                        "login refused: {} is another peer's name; refused keyprint {owner} from {from}",
                        req.name
                    );
                }
            })?;
        if let Some(why) = &reached.why_not {
            log::info!(
                "login: {} is firewalled: {why}; listed at {http_addr} as firewalled (others \
                 cannot download from it directly)",
                req.name
            );
        }
        if n < LOGIN_FILES as usize {
            log::info!("login: {} at {http_addr} with {n} files", req.name);
        } else {
            // A Login carries the first files only; the total is logged
            // when the announces that follow are in.
            log::info!(
                "login: {} at {http_addr} with its first {n} files (the rest follow)",
                req.name
            );
        }
        let (lease_secs, heartbeat_secs) = s.grant.secs();
        Ok(pb::LoginReply {
            token: s.token.as_str().to_string(),
            lease_secs,
            heartbeat_secs,
            max_files_per_call: s.max_files_per_call,
            reachable: !http_addr.firewalled(),
            http_addr: http_addr.to_string(),
            ..Default::default()
        })
    }

    fn do_announce(&self, req: pb::AnnounceRequest) -> Result<pb::AnnounceReply, DirError> {
        let limits = self.store.limits();
        limits.check_call(req.added.len() + req.removed.len())?;
        let removed = req
            .removed
            .iter()
            .map(|s| parse_id(s))
            .collect::<Result<Vec<_>, _>>()?;
        let change = limits.batch(parse_files(&req.added)?, removed)?;
        let calls = req.added.len() + req.removed.len();
        let token = Token::from_client(&req.token);
        let shared = self.store.announce(&token, change)?;
        // A peer catching up sends full Announces; a short one ends the
        // catch-up (or is a change): then the total is worth a line.
        let name = || self.store.session_name(&token).unwrap_or_default();
        if calls < limits.max_files_per_call as usize {
            log::info!("announce: {} now shares {shared} files", name());
        } else {
            log::debug!("announce: {} shares {shared} files so far", name());
        }
        Ok(pb::AnnounceReply {
            shared: shared as u64,
            ..Default::default()
        })
    }

    fn do_locate(&self, req: pb::LocateRequest) -> Result<pb::LocateReply, DirError> {
        let hit = self.store.locate(&parse_id(&req.id)?)?;
        Ok(pb::LocateReply {
            size: hit.size,
            sources: hit.sources.into_iter().map(source_pb).collect(),
            source_count: hit.source_count as u32,
            ..Default::default()
        })
    }

    fn do_get_peer(&self, req: pb::GetPeerRequest) -> Result<pb::GetPeerReply, DirError> {
        names::check_peer_name(&req.name).map_err(invalid)?;
        let (http_addr, files) = self.store.peer(&req.name)?;
        Ok(pb::GetPeerReply {
            name: req.name,
            keyprint: keyprint_text(&http_addr),
            firewalled: http_addr.firewalled(),
            http_addr: http_addr.to_string(),
            files: files as u64,
            ..Default::default()
        })
    }
}

impl directory_grpc::Directory for DirectoryService {
    fn login(&mut self, ctx: RpcContext, req: pb::LoginRequest, sink: UnarySink<pb::LoginReply>) {
        let from = self.client_addr(&ctx);
        if let Err(e) = self.logins.check(self.address_key(&ctx)) {
            return reply(&self.metrics, &ctx, sink, "Login", Err(e));
        }
        let certificate = Self::client_keyprint(&ctx);
        let svc = self.clone();
        let busy = "the directory is busy with other logins; retry shortly";
        self.run_on(&self.login_pool, busy, &ctx, sink, "Login", move || {
            svc.do_login(req, from, certificate)
        });
    }

    fn announce(
        &mut self,
        ctx: RpcContext,
        req: pb::AnnounceRequest,
        sink: UnarySink<pb::AnnounceReply>,
    ) {
        let key = self.caller(&req.token, &ctx);
        if let Err(e) = self.announces.check(key) {
            return reply(&self.metrics, &ctx, sink, "Announce", Err(e));
        }
        let svc = self.clone();
        self.offload(&ctx, sink, "Announce", move || svc.do_announce(req));
    }

    fn heartbeat(
        &mut self,
        ctx: RpcContext,
        req: pb::HeartbeatRequest,
        sink: UnarySink<pb::HeartbeatReply>,
    ) {
        let store = self.store.clone();
        self.offload(&ctx, sink, "Heartbeat", move || {
            store
                .heartbeat(&Token::from_client(&req.token))
                .map(|grant| {
                    let (lease_secs, heartbeat_secs) = grant.secs();
                    pb::HeartbeatReply {
                        lease_secs,
                        heartbeat_secs,
                        ..Default::default()
                    }
                })
        });
    }

    fn locate(
        &mut self,
        ctx: RpcContext,
        req: pb::LocateRequest,
        sink: UnarySink<pb::LocateReply>,
    ) {
        let r = self
            .check_reader(&req.token, &req.group_password)
            .and_then(|()| self.do_locate(req));
        reply(&self.metrics, &ctx, sink, "Locate", r);
    }

    fn get_peer(
        &mut self,
        ctx: RpcContext,
        req: pb::GetPeerRequest,
        sink: UnarySink<pb::GetPeerReply>,
    ) {
        let r = self
            .check_reader(&req.token, &req.group_password)
            .and_then(|()| self.do_get_peer(req));
        reply(&self.metrics, &ctx, sink, "GetPeer", r);
    }

    fn list_peers(
        &mut self,
        ctx: RpcContext,
        req: pb::ListPeersRequest,
        sink: UnarySink<pb::ListPeersReply>,
    ) {
        let r = self
            .check_reader(&req.token, &req.group_password)
            .and_then(|()| self.address_searches.check(self.address_key(&ctx)))
            .map(|()| {
                let limit = match req.limit as usize {
                    0 => MAX_PEERS_LISTED,
                    n => n.min(MAX_PEERS_LISTED),
                };
                let (peers, total) = self.store.peers(limit);
                pb::ListPeersReply {
                    peers: peers
                        .into_iter()
                        .map(|p| pb::PeerInfo {
                            name: p.name,
                            keyprint: keyprint_text(&p.http_addr),
                            firewalled: p.http_addr.firewalled(),
                            http_addr: p.http_addr.to_string(),
                            files: p.files,
                            ..Default::default()
                        })
                        .collect(),
                    total: total as u64,
                    ..Default::default()
                }
            });
        reply(&self.metrics, &ctx, sink, "ListPeers", r);
    }

    fn logout(
        &mut self,
        ctx: RpcContext,
        req: pb::LogoutRequest,
        sink: UnarySink<pb::LogoutReply>,
    ) {
        let (store, notices) = (self.store.clone(), self.notices.clone());
        self.offload(&ctx, sink, "Logout", move || {
            let token = Token::from_client(&req.token);
            let who = store
                .session_name(&token)
                .and_then(|name| Some((store.peer(&name).ok()?.0, name)));
            store.logout(&token)?;
            if let Some((addr, name)) = who {
                if let Some(kp) = addr.pin() {
                    notices.close(&kp);
                }
                log::info!("logout: {name} at {addr}");
            }
            Ok(pb::LogoutReply::default())
        });
    }

    fn notices(
        &mut self,
        ctx: RpcContext,
        req: pb::NoticesRequest,
        sink: ServerStreamingSink<pb::Notice>,
    ) {
        self.metrics.answered("Notices", Ok(()));
        self.notices.open(&*self.store, &ctx, &req.token, sink);
    }

    /// Counted against the caller's search allowance: each asks a source
    /// for a connection.
    fn connect_me(
        &mut self,
        ctx: RpcContext,
        req: pb::ConnectMeRequest,
        sink: UnarySink<pb::ConnectMeReply>,
    ) {
        let r = self
            .searches
            .check(self.caller(&req.token, &ctx))
            .and_then(|()| {
                self.notices
                    .connect_me(&*self.store, &req, self.admission.relay.as_ref())
            });
        reply(&self.metrics, &ctx, sink, "ConnectMe", r);
    }

    fn remove_peer(
        &mut self,
        ctx: RpcContext,
        req: pb::RemovePeerRequest,
        sink: UnarySink<pb::RemovePeerReply>,
    ) {
        if let Err(e) = self
            .check_operator(&ctx)
            .and_then(|()| names::check_peer_name(&req.name).map_err(invalid))
        {
            return reply(&self.metrics, &ctx, sink, "RemovePeer", Err(e));
        }
        let store = self.store.clone();
        self.offload(&ctx, sink, "RemovePeer", move || {
            let removed = store.remove(&req.name)?;
            let owner = removed.owner.map(|k| k.to_string());
            log::warn!(
                "removed by the operator: {} ({}), {}",
                req.name,
                owner.as_deref().map_or_else(
                    || "its name was not bound".to_string(),
                    |k| format!("keyprint {k}, refused from now on")
                ),
                if removed.was_online {
                    "its session ended"
                } else {
                    "it was not online"
                }
            );
            Ok(pb::RemovePeerReply {
                keyprint: owner.unwrap_or_default(),
                was_online: removed.was_online,
                ..Default::default()
            })
        });
    }
}
