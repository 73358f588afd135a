//! The peer's side of the directory protocol: a typed, blocking client with a
//! deadline on every call. It converts to and from the same domain types the
//! directory uses (`SharedFile`, `Hit`, `Source`) and sorts failures by what
//! the caller does about them: retry later, log in again, or tell the user.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grpcio::{CallOption, ChannelBuilder, Environment, RpcStatusCode};

use crate::directory::{Hit, SearchOutcome, SharedFile, Source};
use crate::id::FileId;
use crate::proto::directory as pb;
use crate::proto::directory_grpc::DirectoryClient;

/// Deadline of every directory call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Files sent per Login or Announce; longer lists are split.
pub const FILES_PER_CALL: usize = 2000;

/// A failed directory call.
#[derive(Debug)]
pub enum ClientError {
    /// The directory could not be reached in time: try again later.
    Unreachable { addr: String, detail: String },
    /// The session is unknown or expired: log in again.
    Unauthenticated,
    /// Nothing matches (no such peer, no live source).
    NotFound(String),
    /// The directory refused the request; the message says why.
    Refused(String),
    /// Over the directory's flood limit: slow down.
    Busy(String),
    /// The directory answered something this client cannot use.
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { addr, detail } => {
                write!(f, "directory at {addr} is unreachable ({detail})")
            }
            ClientError::Unauthenticated => write!(f, "the directory does not know this session"),
            ClientError::NotFound(m) => f.write_str(m),
            ClientError::Refused(m) => write!(f, "the directory refused: {m}"),
            ClientError::Busy(m) => write!(f, "the directory is limiting this client: {m}"),
            ClientError::Protocol(m) => write!(f, "unexpected answer from the directory: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A session as the directory granted it.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub lease: Duration,
    pub heartbeat: Duration,
}

/// A connection to the directory. Cheap to clone; calls may run from any thread.
#[derive(Clone)]
pub struct Directory {
    client: DirectoryClient,
    addr: String,
}

impl Directory {
    /// Prepares a channel to `addr` ("host:port"). Nothing is sent until the first call.
    pub fn connect(addr: &str) -> Directory {
        let env = Arc::new(Environment::new(1));
        let channel = ChannelBuilder::new(env)
            .max_receive_message_len(crate::server::MAX_MESSAGE_BYTES)
            .max_send_message_len(crate::server::MAX_MESSAGE_BYTES)
            .max_reconnect_backoff(Duration::from_secs(2))
            .connect(addr);
        Directory {
            client: DirectoryClient::new(channel),
            addr: addr.to_string(),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn opt() -> CallOption {
        CallOption::default().timeout(CALL_TIMEOUT)
    }

    fn err(&self, e: grpcio::Error) -> ClientError {
        match e {
            grpcio::Error::RpcFailure(s) => match s.code() {
                RpcStatusCode::UNAUTHENTICATED => ClientError::Unauthenticated,
                RpcStatusCode::NOT_FOUND => ClientError::NotFound(s.message().to_string()),
                RpcStatusCode::RESOURCE_EXHAUSTED => ClientError::Busy(s.message().to_string()),
                RpcStatusCode::UNAVAILABLE | RpcStatusCode::DEADLINE_EXCEEDED => {
                    ClientError::Unreachable {
                        addr: self.addr.clone(),
                        detail: if s.message().is_empty() {
                            format!("{:?}", s.code())
                        } else {
                            s.message().to_string()
                        },
                    }
                }
                _ => ClientError::Refused(s.message().to_string()),
            },
            other => ClientError::Unreachable {
                addr: self.addr.clone(),
                detail: other.to_string(),
            },
        }
    }

    /// Logs in with the whole file list (split over Announce calls when long).
    pub fn login(
        &self,
        name: &str,
        http_addr: &str,
        files: &[SharedFile],
    ) -> Result<Login, ClientError> {
        let mut chunks = files.chunks(FILES_PER_CALL);
        let req = pb::LoginRequest {
            name: name.to_string(),
            http_addr: http_addr.to_string(),
            files: chunks.next().unwrap_or(&[]).iter().map(file_pb).collect(),
            ..Default::default()
        };
        let r = self
            .client
            .login_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        let login = Login {
            token: r.token,
            lease: Duration::from_secs(r.lease_secs.into()),
            heartbeat: Duration::from_secs(r.heartbeat_secs.max(1).into()),
        };
        for rest in chunks {
            self.announce(&login.token, rest, &[])?;
        }
        Ok(login)
    }

    /// Adds and removes files of the session's peer; returns how many it shares now.
    pub fn announce(
        &self,
        token: &str,
        added: &[SharedFile],
        removed: &[FileId],
    ) -> Result<u64, ClientError> {
        let req = pb::AnnounceRequest {
            token: token.to_string(),
            added: added.iter().map(file_pb).collect(),
            removed: removed.iter().map(|id| id.to_string()).collect(),
            ..Default::default()
        };
        let r = self
            .client
            .announce_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(r.shared)
    }

    /// Renews the session's lease.
    pub fn heartbeat(&self, token: &str) -> Result<(), ClientError> {
        let req = pb::HeartbeatRequest {
            token: token.to_string(),
            ..Default::default()
        };
        self.client
            .heartbeat_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ends the session; the directory forgets the peer's files at once.
    pub fn logout(&self, token: &str) -> Result<(), ClientError> {
        let req = pb::LogoutRequest {
            token: token.to_string(),
            ..Default::default()
        };
        self.client
            .logout_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Searches by words or by id; needs no session (a token, when given,
    /// makes flood limits count per session rather than per address).
    pub fn search(
        &self,
        query: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<SearchOutcome, ClientError> {
        let req = pb::SearchRequest {
            query: query.to_string(),
            limit,
            token: token.unwrap_or_default().to_string(),
            ..Default::default()
        };
        let r = self
            .client
            .search_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        let hits = r
            .results
            .into_iter()
            .map(|h| {
                Ok(Hit {
                    id: parse_id(&h.id)?,
                    size: h.size,
                    names: h.names.into_vec(),
                    sources: h.sources.into_iter().map(source).collect(),
                    source_count: h.source_count as usize,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(SearchOutcome {
            hits,
            total: r.total as usize,
        })
    }

    /// Size and live sources of a file; needs no session.
    pub fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), ClientError> {
        let req = pb::LocateRequest {
            id: id.to_string(),
            ..Default::default()
        };
        let r = self
            .client
            .locate_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok((r.size, r.sources.into_iter().map(source).collect()))
    }

    /// A peer's HTTP address and number of shared files; needs no session.
    pub fn peer(&self, name: &str) -> Result<(String, u64), ClientError> {
        let req = pb::GetPeerRequest {
            name: name.to_string(),
            ..Default::default()
        };
        let r = self
            .client
            .get_peer_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok((r.http_addr, r.files))
    }
}

fn parse_id(s: &str) -> Result<FileId, ClientError> {
    FileId::parse(s).map_err(|e| ClientError::Protocol(e.to_string()))
}

fn file_pb(f: &SharedFile) -> pb::SharedFile {
    pb::SharedFile {
        id: f.id.to_string(),
        size: f.size,
        name: f.name.clone(),
        ..Default::default()
    }
}

fn source(s: pb::Source) -> Source {
    Source {
        peer: s.peer,
        http_addr: s.http_addr,
        name: s.name,
    }
}
