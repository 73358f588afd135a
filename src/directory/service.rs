//! The directory's gRPC service: a thin layer that turns protobuf messages
//! into checked types (ids parsed, names and addresses checked, limits
//! applied), calls the [`DirectoryStore`], and turns its answer or its error
//! into a reply or a status. Handlers run on grpcio's completion-queue
//! threads, so they only touch memory: no blocking I/O here. Searches, the
//! one call whose cost grows with the index, go to a pool of worker threads
//! (one per core): all the calls of one connection arrive on one
//! completion queue, and would otherwise be answered one at a time.

use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use grpcio::{RpcContext, RpcStatus, RpcStatusCode, UnarySink};

use super::flood::{Allowances, FloodLimits};
use super::query::Query;
use super::store::{DirError, DirectoryStore, Token};
use crate::id::FileId;
use crate::names;
use crate::wire::proto::directory as pb;
use crate::wire::proto::directory_grpc;
use crate::wire::{Hit, HttpAddr, SharedFile, Source};

/// A search waiting for a worker, with where its answer goes: back to the
/// completion-queue thread that holds the call, which sends the reply.
struct SearchJob {
    req: pb::SearchRequest,
    reply_to: futures_channel::oneshot::Sender<Result<pb::SearchReply, DirError>>,
}

/// Searches queued beyond this are refused as busy rather than left to
/// wait for seconds.
const SEARCH_QUEUE: usize = 1024;

/// The gRPC face of a [`DirectoryStore`].
#[derive(Clone)]
pub struct DirectoryService {
    store: Arc<dyn DirectoryStore>,
    searches: Arc<Allowances>,
    announces: Arc<Allowances>,
    search_pool: crossbeam_channel::Sender<SearchJob>,
}

/// Answers queued searches until every sender is gone.
fn search_worker(store: Arc<dyn DirectoryStore>, jobs: crossbeam_channel::Receiver<SearchJob>) {
    for SearchJob { req, reply_to } in jobs {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| do_search(&*store, req)));
        let result = result.unwrap_or_else(|_| {
            log::error!("a search panicked");
            Err(DirError::Internal(
                "internal error while searching".to_string(),
            ))
        });
        // The caller may have gone (deadline passed): nothing to do then.
        let _ = reply_to.send(result);
    }
}

fn do_search(
    store: &dyn DirectoryStore,
    req: pb::SearchRequest,
) -> Result<pb::SearchReply, DirError> {
    let query = Query::parse(&req.query)?;
    let outcome = store.search(&query, req.limit)?;
    Ok(pb::SearchReply {
        results: outcome.hits.into_iter().map(hit_pb).collect(),
        total: outcome.total as u64,
        ..Default::default()
    })
}

impl DirectoryService {
    /// The service, with its search workers (one per core) started; they
    /// stop when the last clone of the service is dropped.
    pub fn new(store: Arc<dyn DirectoryStore>, flood: FloodLimits) -> DirectoryService {
        let (search_pool, jobs) = crossbeam_channel::bounded(SEARCH_QUEUE);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..workers {
            let (store, jobs) = (store.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("search-{i}"))
                .spawn(move || search_worker(store, jobs))
                .expect("start a search worker thread");
        }
        DirectoryService {
            search_pool,
            store,
            searches: Arc::new(Allowances::new(
                flood.search_rate,
                flood.search_burst,
                "Search",
            )),
            announces: Arc::new(Allowances::new(
                flood.announce_rate,
                flood.announce_burst,
                "Announce",
            )),
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
        let peer = ctx.peer();
        // "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000": drop the port.
        let addr = peer.rsplit_once(':').map_or(peer.as_str(), |(a, _)| a);
        format!("addr:{addr}")
    }

    /// The grpcio service to register with a server.
    pub fn into_grpc(self) -> grpcio::Service {
        directory_grpc::create_directory(self)
    }
}

fn status(err: DirError) -> RpcStatus {
    let code = match err {
        DirError::Unauthenticated => RpcStatusCode::UNAUTHENTICATED,
        DirError::NotFound(_) => RpcStatusCode::NOT_FOUND,
        DirError::Invalid(_) => RpcStatusCode::INVALID_ARGUMENT,
        DirError::Exhausted(_) => RpcStatusCode::RESOURCE_EXHAUSTED,
        DirError::Internal(_) => RpcStatusCode::INTERNAL,
    };
    RpcStatus::with_message(code, err.to_string())
}

fn reply<T: Send + 'static>(
    ctx: &RpcContext,
    sink: UnarySink<T>,
    method: &'static str,
    result: Result<T, DirError>,
) {
    ctx.spawn(answer(sink, method, result));
}

/// Sends `result` as the call's reply or its status; the future ends when
/// gRPC has taken it (a failure to deliver is only logged).
fn answer<T>(
    sink: UnarySink<T>,
    method: &'static str,
    result: Result<T, DirError>,
) -> impl std::future::Future<Output = ()> + Send {
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
            })
        })
        .collect()
}

fn source_pb(s: Source) -> pb::Source {
    pb::Source {
        peer: s.peer,
        http_addr: s.http_addr.to_string(),
        name: s.name,
        ..Default::default()
    }
}

fn hit_pb(h: Hit) -> pb::SearchResult {
    pb::SearchResult {
        id: h.id.to_hex(),
        size: h.size,
        names: h.names.into(),
        sources: h.sources.into_iter().map(source_pb).collect(),
        source_count: h.source_count as u32,
        ..Default::default()
    }
}

impl DirectoryService {
    fn do_login(&self, req: pb::LoginRequest) -> Result<pb::LoginReply, DirError> {
        names::check_peer_name(&req.name).map_err(invalid)?;
        let http_addr = HttpAddr::parse(&req.http_addr).map_err(invalid)?;
        let limits = self.store.limits();
        // Refuse an oversized list before doing work on each entry.
        limits.check_call(req.files.len())?;
        let files = limits.batch(parse_files(&req.files)?, Vec::new())?;
        let n = req.files.len();
        let s = self
            .store
            .login(&req.name, &http_addr, files, Instant::now())?;
        log::info!("login: {} at {http_addr} with {n} files", req.name);
        Ok(pb::LoginReply {
            token: s.token.as_str().to_string(),
            lease_secs: s.lease.as_secs() as u32,
            heartbeat_secs: s.heartbeat.as_secs().max(1) as u32,
            max_files_per_call: s.max_files_per_call,
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
        let shared =
            self.store
                .announce(&Token::from_client(&req.token), change, Instant::now())?;
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
            http_addr: http_addr.to_string(),
            files: files as u64,
            ..Default::default()
        })
    }
}

impl directory_grpc::Directory for DirectoryService {
    fn login(&mut self, ctx: RpcContext, req: pb::LoginRequest, sink: UnarySink<pb::LoginReply>) {
        let r = self.do_login(req);
        reply(&ctx, sink, "Login", r);
    }

    fn announce(
        &mut self,
        ctx: RpcContext,
        req: pb::AnnounceRequest,
        sink: UnarySink<pb::AnnounceReply>,
    ) {
        let key = self.caller(&req.token, &ctx);
        let r = self
            .announces
            .check(key)
            .and_then(|()| self.do_announce(req));
        reply(&ctx, sink, "Announce", r);
    }

    fn heartbeat(
        &mut self,
        ctx: RpcContext,
        req: pb::HeartbeatRequest,
        sink: UnarySink<pb::HeartbeatReply>,
    ) {
        let r = self
            .store
            .heartbeat(&Token::from_client(&req.token), Instant::now())
            .map(|lease| pb::HeartbeatReply {
                lease_secs: lease.as_secs() as u32,
                ..Default::default()
            });
        reply(&ctx, sink, "Heartbeat", r);
    }

    fn search(
        &mut self,
        ctx: RpcContext,
        req: pb::SearchRequest,
        sink: UnarySink<pb::SearchReply>,
    ) {
        let key = self.caller(&req.token, &ctx);
        if let Err(e) = self.searches.check(key) {
            return reply(&ctx, sink, "Search", Err(e));
        }
        let (reply_to, answered) = futures_channel::oneshot::channel();
        if self
            .search_pool
            .try_send(SearchJob { req, reply_to })
            .is_err()
        {
            let busy = DirError::Exhausted(
                "the directory is busy with other searches; retry shortly".to_string(),
            );
            return reply(&ctx, sink, "Search", Err(busy));
        }
        ctx.spawn(async move {
            let result = answered.await.unwrap_or_else(|_| {
                Err(DirError::Internal("the search worker stopped".to_string()))
            });
            answer(sink, "Search", result).await;
        });
    }

    fn locate(
        &mut self,
        ctx: RpcContext,
        req: pb::LocateRequest,
        sink: UnarySink<pb::LocateReply>,
    ) {
        let r = self.do_locate(req);
        reply(&ctx, sink, "Locate", r);
    }

    fn get_peer(
        &mut self,
        ctx: RpcContext,
        req: pb::GetPeerRequest,
        sink: UnarySink<pb::GetPeerReply>,
    ) {
        let r = self.do_get_peer(req);
        reply(&ctx, sink, "GetPeer", r);
    }

    fn logout(
        &mut self,
        ctx: RpcContext,
        req: pb::LogoutRequest,
        sink: UnarySink<pb::LogoutReply>,
    ) {
        let r = self
            .store
            .logout(&Token::from_client(&req.token))
            .map(|()| pb::LogoutReply::default());
        reply(&ctx, sink, "Logout", r);
    }
}
