//! The peer's side of the directory protocol. [`DirectoryApi`] is what the
//! peer's session and its downloads need of a directory (log in, announce,
//! heartbeat, log out, locate), one call each, so that they can be tested
//! against a directory in this process (`crate::InProcessDirectory`) as well
//! as run against the real one. [`Directory`] is the real one: a typed,
//! blocking gRPC client with a deadline on every call, which also searches
//! and looks peers up. Failures are sorted by what the caller does about
//! them: retry later, log in again, or tell the user.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpcio::{
    CallOption, ChannelBuilder, ChannelCredentialsBuilder, Environment, LbPolicy, RpcStatusCode,
};

use crate::id::FileId;
use crate::sync::MutexExt;
use crate::tls::{probe, ProbeError, TlsIdentity, DIRECTORY_NAME};
use crate::wire::proto::directory as pb;
use crate::wire::proto::directory_grpc::DirectoryClient;
use crate::wire::{
    Credentials, DirectoryTarget, GroupPassword, Hit, HttpAddr, KeyPrint, PeerListing,
    SearchOutcome, SharedFile, Source, LOGIN_FILES, MAX_FILES_PER_MESSAGE, MAX_MESSAGE_BYTES,
};

/// Deadline of every directory call but Login.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of a Login: the directory may spend up to 5 s connecting back
/// to this peer's port to see whether others can reach it.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Results asked for when the user does not say.
pub const DEFAULT_SEARCH_LIMIT: u32 = 100;

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
    /// The directory will not admit this peer as it is configured (its name
    /// is another key's, its address is not its own, the group password is
    /// wrong or missing): asking again changes nothing.
    Denied(String),
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
            ClientError::Refused(m) | ClientError::Denied(m) => {
                write!(f, "the directory refused: {m}")
            }
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
    /// Most files (added and removed together) one Announce may carry.
    pub max_files_per_call: usize,
    /// Whether the directory reached this peer's port (false: it is listed
    /// as firewalled, and others cannot download from it directly).
    pub reachable: bool,
    /// Where the directory lists it, when it says.
    pub listed_at: Option<HttpAddr>,
}

/// What a peer's session and its downloads need of the directory: one call
/// each, no splitting and no retrying (that is the caller's business).
pub trait DirectoryApi: Send + Sync {
    /// Where the directory is, for messages.
    fn addr(&self) -> &str;
    /// Starts a session with `files` (at most [`LOGIN_FILES`], which every
    /// directory accepts; the rest follow with [`announce`](Self::announce)),
    /// proving with `creds` that the name is this peer's.
    fn login(
        &self,
        name: &str,
        http_addr: &HttpAddr,
        creds: &Credentials,
        files: &[SharedFile],
    ) -> Result<Login, ClientError>;
    /// Adds and removes files of the session's peer (at most the login's
    /// `max_files_per_call` together); returns how many it shares now.
    fn announce(
        &self,
        token: &str,
        added: &[SharedFile],
        removed: &[FileId],
    ) -> Result<u64, ClientError>;
    /// Renews the session's lease; returns the interval the directory asks
    /// for from now on, when it says one (it grows with the group).
    fn heartbeat(&self, token: &str) -> Result<Option<Duration>, ClientError>;
    /// Ends the session; the directory forgets the peer's files at once.
    fn logout(&self, token: &str) -> Result<(), ClientError>;
    /// Size and live sources of a file; needs no session.
    fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), ClientError>;
    /// Searches by words or by id; needs no session (a token, when given,
    /// makes flood limits count per session rather than per address).
    fn search(
        &self,
        query: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<SearchOutcome, ClientError>;
}

/// A notice from the directory: a downloader asks this (firewalled) peer
/// to connect out to it.
#[derive(Debug, Clone)]
pub struct ConnectTo {
    /// The one-time token to present on the connection.
    pub token: String,
    /// The downloader's listed address, pinned to its keyprint.
    pub addr: HttpAddr,
    /// The certificate the downloader must show.
    pub keyprint: KeyPrint,
    pub peer: String,
    /// `addr` is a relay's, where the downloader meets this peer.
    pub relay: bool,
}

/// A connection to the directory. Cheap to clone; calls may run from any thread.
#[derive(Clone)]
pub struct Directory {
    channel: Arc<Mutex<Option<DirectoryClient>>>,
    tls: Option<Arc<TlsDial>>,
    /// The directory's keyprint, once checked.
    checked: Arc<Mutex<Option<KeyPrint>>>,
    addr: String,
    /// The group password, shown on every read (a closed group's
    /// directory answers members only).
    password: Option<GroupPassword>,
}

/// How a peer opens a TLS channel to its directory: the certificate it
/// shows, the keyprint it expects (from an invite, or trusted on first
/// use and kept in `known`).
pub struct TlsDial {
    pub me: TlsIdentity,
    pub pin: Option<KeyPrint>,
    /// The file of directories trusted on first use (`None`: do not trust
    /// on first use; a pin is then needed).
    pub known: Option<PathBuf>,
}

/// How long the first look at the directory's certificate may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

fn channel_builder() -> ChannelBuilder {
    let env = Arc::new(Environment::new(1));
    ChannelBuilder::new(env)
        .max_receive_message_len(MAX_MESSAGE_BYTES)
        .max_send_message_len(MAX_MESSAGE_BYTES)
        .max_reconnect_backoff(Duration::from_secs(2))
}

/// A channel to `addr` ("host:port", or several replicas' "IP:port"
/// separated by commas: calls go round robin over those that are up).
fn open_channel(builder: ChannelBuilder, addr: &str) -> DirectoryClient {
    let channel = if addr.contains(',') {
        let list: Vec<&str> = addr.split(',').map(str::trim).collect();
        let family = if list[0].starts_with('[') {
            "ipv6"
        } else {
            "ipv4"
        };
        builder
            .load_balancing_policy(LbPolicy::RoundRobin)
            .connect(&format!("{family}:{}", list.join(",")))
    } else {
        builder.connect(addr)
    };
    DirectoryClient::new(channel)
}

impl Directory {
    /// Prepares a plaintext channel to `addr` (a directory with
    /// `tls = false`). Nothing is sent until the first call.
    pub fn connect(addr: &str) -> Directory {
        Directory {
            channel: Arc::new(Mutex::new(Some(open_channel(channel_builder(), addr)))),
            tls: None,
            checked: Default::default(),
            addr: addr.to_string(),
            password: None,
        }
    }

    /// Prepares a TLS channel to `target`: at the first call the
    /// directory's certificate is looked at, checked against the pin (an
    /// invite's, or the one trusted on first use), and then the only one
    /// the channel accepts.
    pub fn connect_tls(target: &DirectoryTarget, dial: TlsDial) -> Directory {
        Directory {
            channel: Arc::new(Mutex::new(None)),
            tls: Some(Arc::new(TlsDial {
                pin: target.pin.or(dial.pin),
                ..dial
            })),
            checked: Default::default(),
            addr: target.addrs.clone(),
            password: None,
        }
    }

    /// The same, showing `password` on every read (a closed group's
    /// directory answers its members only).
    pub fn with_group_password(mut self, password: Option<GroupPassword>) -> Directory {
        self.password = password;
        self
    }

    /// The group password as a read carries it ("" without one).
    fn password(&self) -> String {
        self.password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default()
    }

    /// The operator removes the member `name` (the directory checks that
    /// this is its operator): the keyprint now refused ("" when the name
    /// was not bound), and whether it was online.
    pub fn remove_peer(&self, name: &str) -> Result<(String, bool), ClientError> {
        let req = pb::RemovePeerRequest {
            name: name.to_string(),
            ..Default::default()
        };
        let r = self
            .client()?
            .remove_peer_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok((r.keyprint, r.was_online))
    }

    /// Whether it speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The keyprint of the directory's certificate, once a call has
    /// checked it (`None` before, or over plaintext).
    pub fn keyprint(&self) -> Option<KeyPrint> {
        *self.checked.locked()
    }

    /// The channel, opened now if it is not yet.
    fn client(&self) -> Result<DirectoryClient, ClientError> {
        let mut channel = self.channel.locked();
        if let Some(c) = &*channel {
            return Ok(c.clone());
        }
        let dial = self
            .tls
            .as_ref()
            .expect("a plaintext channel is opened at once");
        let cert_pem = self.check_directory(dial)?;
        let creds = ChannelCredentialsBuilder::new()
            .root_cert(cert_pem.into_bytes())
            .cert(
                dial.me.cert_pem().as_bytes().to_vec(),
                dial.me.key_pem().as_bytes().to_vec(),
            )
            .build();
        let builder = channel_builder()
            .set_credentials(creds)
            .override_ssl_target(DIRECTORY_NAME);
        let client = open_channel(builder, &self.addr);
        *channel = Some(client.clone());
        Ok(client)
    }

    /// Looks at the certificate the directory shows and checks it against
    /// the pin (or trusts it on first use, saying so once); returns it in PEM.
    fn check_directory(&self, dial: &TlsDial) -> Result<String, ClientError> {
        let mut last = None;
        let mut shown = None;
        for one in self.addr.split(',').map(str::trim) {
            match probe(one, Some(&dial.me), PROBE_TIMEOUT) {
                Ok(found) => {
                    shown = Some(found);
                    break;
                }
                Err(e) => last = Some((one.to_string(), e)),
            }
        }
        let (kp, der) = match (shown, last) {
            (Some(found), _) => found,
            (None, Some((addr, ProbeError::NoTls(why)))) => {
                return Err(ClientError::Denied(format!(
                    "the directory at {addr} {}",
                    ProbeError::NoTls(why)
                )))
            }
            (None, Some((addr, e))) => {
                return Err(ClientError::Unreachable {
                    addr,
                    detail: e.to_string(),
                })
            }
            (None, None) => {
                return Err(ClientError::Unreachable {
                    addr: self.addr.clone(),
                    detail: "no address to dial".into(),
                })
            }
        };
        let trusted = match (dial.pin, &dial.known) {
            (Some(pin), _) => Some((pin, "the invite in this peer's config".to_string())),
            (None, Some(known)) => super::identity::known_directory(known, &self.addr)
                .map(|pin| (pin, format!("{} (trusted on first use)", known.display()))),
            (None, None) => None,
        };
        match trusted {
            Some((pin, _)) if pin == kp => {}
            Some((pin, from)) => {
                return Err(ClientError::Denied(format!(
                    "the directory at {} shows keyprint {kp}, but {from} pins {pin}: this may \
                     not be your directory. If its operator changed its key, set directory to \
                     the new invite (server invite prints it); if not, do not use this directory",
                    self.addr
                )))
            }
            None => match &dial.known {
                Some(known) => {
                    super::identity::remember_directory(known, &self.addr, kp).map_err(|e| {
                        ClientError::Unreachable {
                            addr: self.addr.clone(),
                            detail: format!("cannot keep its keyprint in {}: {e}", known.display()),
                        }
                    })?;
                    log::warn!(
                        "trusting the directory at {} on first use: its keyprint is {kp} (kept in \
                         {}); compare it with what its operator says, or use its invite",
                        self.addr,
                        known.display()
                    );
                }
                None => {
                    return Err(ClientError::Denied(format!(
                        "no keyprint to check the directory at {} against: use its invite",
                        self.addr
                    )))
                }
            },
        }
        *self.checked.locked() = Some(kp);
        Ok(der_to_pem(&der))
    }

    /// Opens this session's notice stream: each item is a request to
    /// connect out to a downloader. It ends when the directory closes it
    /// (the session ended, or another stream replaced it).
    pub fn notices(
        &self,
        token: &str,
    ) -> Result<impl Iterator<Item = Result<ConnectTo, ClientError>>, ClientError> {
        let req = pb::NoticesRequest {
            token: token.to_string(),
            ..Default::default()
        };
        let stream = self
            .client()?
            .notices_opt(&req, CallOption::default())
            .map_err(|e| self.err(e))?;
        let me = self.clone();
        Ok(
            futures_executor::block_on_stream(stream).filter_map(move |n| match n {
                Err(e) => Some(Err(me.err(e))),
                Ok(n) => n.connect_to.into_option().map(|c| {
                    let keyprint = KeyPrint::parse(&c.keyprint).map_err(|_| {
                        ClientError::Protocol(format!("a notice's keyprint {:?}", c.keyprint))
                    })?;
                    Ok(ConnectTo {
                        addr: parse_addr(&c.http_addr)?.pinned(Some(keyprint)),
                        token: c.token,
                        keyprint,
                        peer: c.peer,
                        relay: c.relay,
                    })
                }),
            }),
        )
    }

    /// Asks the firewalled source with `keyprint` to connect out to this
    /// session's peer, presenting `connect_token`; or (`via_relay`) to the
    /// directory's relay, whose address and ticket it returns.
    pub fn connect_me(
        &self,
        token: &str,
        keyprint: &KeyPrint,
        connect_token: &str,
        via_relay: bool,
    ) -> Result<Option<(String, String)>, ClientError> {
        let req = pb::ConnectMeRequest {
            token: token.to_string(),
            keyprint: keyprint.to_string(),
            connect_token: connect_token.to_string(),
            via_relay,
            ..Default::default()
        };
        let r = self
            .client()?
            .connect_me_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(via_relay.then_some((r.relay_addr, r.ticket)))
    }

    fn opt() -> CallOption {
        CallOption::default().timeout(CALL_TIMEOUT)
    }

    fn err(&self, e: grpcio::Error) -> ClientError {
        // A TLS handshake that failed: the directory may show another
        // certificate now. The next call looks at it again, and says so.
        if self.tls.is_some() && e.to_string().contains("handshake failed") {
            *self.channel.locked() = None;
        }
        match e {
            grpcio::Error::RpcFailure(s) => match s.code() {
                RpcStatusCode::UNAUTHENTICATED => ClientError::Unauthenticated,
                RpcStatusCode::NOT_FOUND => ClientError::NotFound(s.message().to_string()),
                RpcStatusCode::RESOURCE_EXHAUSTED => ClientError::Busy(s.message().to_string()),
                RpcStatusCode::UNAVAILABLE | RpcStatusCode::DEADLINE_EXCEEDED => {
                    let mut detail = if s.message().is_empty() {
                        format!("{:?}", s.code())
                    } else {
                        s.message().to_string()
                    };
                    if self.tls.is_none() {
                        detail.push_str(
                            "; this peer has tls = false: if the directory speaks TLS, remove it",
                        );
                    }
                    ClientError::Unreachable {
                        addr: self.addr.clone(),
                        detail,
                    }
                }
                RpcStatusCode::PERMISSION_DENIED | RpcStatusCode::ALREADY_EXISTS => {
                    ClientError::Denied(s.message().to_string())
                }
                _ => ClientError::Refused(s.message().to_string()),
            },
            other => ClientError::Unreachable {
                addr: self.addr.clone(),
                detail: other.to_string(),
            },
        }
    }

    /// A peer's HTTP address and number of shared files; needs no session.
    pub fn peer(&self, name: &str) -> Result<(HttpAddr, u64), ClientError> {
        let req = pb::GetPeerRequest {
            name: name.to_string(),
            group_password: self.password(),
            ..Default::default()
        };
        let r = self
            .client()?
            .get_peer_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok((
            listed_addr(&r.http_addr, &r.keyprint, r.firewalled)?,
            r.files,
        ))
    }

    /// Who is online (at most `limit`, by name), and how many in all.
    pub fn peers(&self, limit: u32) -> Result<(Vec<PeerListing>, u64), ClientError> {
        let req = pb::ListPeersRequest {
            limit,
            group_password: self.password(),
            ..Default::default()
        };
        let r = self
            .client()?
            .list_peers_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        let peers = r
            .peers
            .into_iter()
            .map(|p| {
                Ok(PeerListing {
                    online_since: None,
                    http_addr: listed_addr(&p.http_addr, &p.keyprint, p.firewalled)?,
                    name: p.name,
                    files: p.files,
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok((peers, r.total))
    }
}

impl DirectoryApi for Directory {
    fn addr(&self) -> &str {
        &self.addr
    }

    fn login(
        &self,
        name: &str,
        http_addr: &HttpAddr,
        creds: &Credentials,
        files: &[SharedFile],
    ) -> Result<Login, ClientError> {
        let req = pb::LoginRequest {
            name: name.to_string(),
            http_addr: http_addr.to_string(),
            files: files.iter().map(file_pb).collect(),
            identity_key: creds
                .key
                .as_ref()
                .map(|k| k.expose().to_string())
                .unwrap_or_default(),
            group_password: creds
                .group_password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default(),
            reach: creds.reach,
            ..Default::default()
        };
        let r = self
            .client()?
            .login_opt(&req, CallOption::default().timeout(LOGIN_TIMEOUT))
            .map_err(|e| self.err(e))?;
        Ok(Login {
            token: r.token,
            lease: Duration::from_secs(r.lease_secs.into()),
            heartbeat: Duration::from_secs(r.heartbeat_secs.max(1).into()),
            // A directory that does not say takes what any directory takes;
            // none is sent more than fits in a message.
            max_files_per_call: r
                .max_files_per_call
                .clamp(LOGIN_FILES, MAX_FILES_PER_MESSAGE) as usize,
            // A directory that says nothing of it checks nothing of it.
            reachable: r.reachable || r.http_addr.is_empty(),
            listed_at: HttpAddr::parse(&r.http_addr).ok(),
        })
    }

    fn announce(
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
            .client()?
            .announce_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(r.shared)
    }

    fn heartbeat(&self, token: &str) -> Result<Option<Duration>, ClientError> {
        let req = pb::HeartbeatRequest {
            token: token.to_string(),
            ..Default::default()
        };
        let r = self
            .client()?
            .heartbeat_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok((r.heartbeat_secs > 0).then(|| Duration::from_secs(r.heartbeat_secs.into())))
    }

    fn logout(&self, token: &str) -> Result<(), ClientError> {
        let req = pb::LogoutRequest {
            token: token.to_string(),
            ..Default::default()
        };
        self.client()?
            .logout_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn search(
        &self,
        query: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<SearchOutcome, ClientError> {
        let req = pb::SearchRequest {
            query: query.to_string(),
            limit,
            token: token.unwrap_or_default().to_string(),
            group_password: self.password(),
            ..Default::default()
        };
        let r = self
            .client()?
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
                    sources: h
                        .sources
                        .into_iter()
                        .map(source)
                        .collect::<Result<_, _>>()?,
                    source_count: h.source_count as usize,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(SearchOutcome {
            hits,
            total: r.total as usize,
            total_estimated: r.total_estimated,
        })
    }

    fn locate(&self, id: &FileId) -> Result<(u64, Vec<Source>), ClientError> {
        let req = pb::LocateRequest {
            id: id.to_string(),
            group_password: self.password(),
            ..Default::default()
        };
        let r = self
            .client()?
            .locate_opt(&req, Self::opt())
            .map_err(|e| self.err(e))?;
        let sources = r
            .sources
            .into_iter()
            .map(source)
            .collect::<Result<_, _>>()?;
        Ok((r.size, sources))
    }
}

fn parse_id(s: &str) -> Result<FileId, ClientError> {
    FileId::parse(s).map_err(|e| ClientError::Protocol(e.to_string()))
}

fn parse_addr(s: &str) -> Result<HttpAddr, ClientError> {
    HttpAddr::parse(s).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// An address as the directory lists it: with the keyprint to pin
/// (none: ""), and marked when the directory could not reach it.
fn listed_addr(addr: &str, keyprint: &str, firewalled: bool) -> Result<HttpAddr, ClientError> {
    let pin = match keyprint {
        "" => None,
        kp => Some(KeyPrint::parse(kp).map_err(|e| ClientError::Protocol(e.to_string()))?),
    };
    Ok(parse_addr(addr)?.pinned(pin).firewalled_as(firewalled))
}

/// A DER certificate in PEM.
fn der_to_pem(der: &[u8]) -> String {
    let b64 = crate::base64::encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn file_pb(f: &SharedFile) -> pb::SharedFile {
    pb::SharedFile {
        id: f.id.to_string(),
        size: f.size,
        name: f.name.clone(),
        other_names: f.other_names.clone().into(),
        ..Default::default()
    }
}

fn source(s: pb::Source) -> Result<Source, ClientError> {
    Ok(Source {
        peer: s.peer,
        http_addr: listed_addr(&s.http_addr, &s.keyprint, s.firewalled)?,
        name: s.name,
        size: s.size,
    })
}
