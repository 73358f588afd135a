//! The sessions' notice streams (`Notices`), and `ConnectMe`, the one
//! notice sent today: a downloader asks a firewalled source to connect
//! out to it. The directory names the downloader's listed address (one its
//! Login's connection back reached), never an address the caller gives,
//! so a source cannot be sent to knock on a third host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use grpcio::{RpcContext, ServerStreamingSink, WriteFlags};

use super::store::{DirError, DirectoryStore, Token};
use crate::sync::MutexExt;
use crate::wire::proto::directory as pb;
use crate::wire::{KeyPrint, Ticket};

/// Notices queued for one session beyond this are refused as busy (a
/// source that reads none of them is not helped by more).
const NOTICE_QUEUE: usize = 16;

/// Where a relay is and the secret its tickets are signed with.
#[derive(Clone)]
pub struct RelayTickets {
    /// The `host:port` peers dial.
    pub addr: String,
    pub secret: Arc<Vec<u8>>,
}

impl std::fmt::Debug for RelayTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelayTickets({}, secret ..)", self.addr)
    }
}

/// The open notice streams, by the keyprint of their session's peer.
#[derive(Default)]
pub struct NoticeStreams {
    open: Mutex<HashMap<KeyPrint, Stream>>,
}

struct Stream {
    name: String,
    /// Tells one stream from the one that replaced it.
    serial: u64,
    to: futures_channel::mpsc::Sender<pb::Notice>,
}

impl NoticeStreams {
    /// Opens the notice stream of the session `token` on `sink`: it stays
    /// open until the session's peer opens another, or the client leaves.
    pub fn open(
        self: &Arc<Self>,
        store: &dyn DirectoryStore,
        ctx: &RpcContext,
        token: &str,
        sink: ServerStreamingSink<pb::Notice>,
    ) {
        let Some((name, keyprint)) = session_keyprint(store, token) else {
            let status = grpcio::RpcStatus::with_message(
                grpcio::RpcStatusCode::UNAUTHENTICATED,
                "no such session (over TLS): log in again".to_string(),
            );
            ctx.spawn(async move {
                let _ = sink.fail(status).await;
            });
            return;
        };
        let (to, from) = futures_channel::mpsc::channel(NOTICE_QUEUE);
        let serial = {
            let mut open = self.open.locked();
            let serial = open.get(&keyprint).map_or(0, |s| s.serial + 1);
            open.insert(
                keyprint,
                Stream {
                    name: name.clone(),
                    serial,
                    to,
                },
            );
            serial
        };
        log::debug!("notices: {name} listening");
        let streams = self.clone();
        ctx.spawn(async move {
            let mut sink = sink;
            let mut notices = from.map(|n| Ok((n, WriteFlags::default())));
            let ended = sink.send_all(&mut notices).await;
            let _ = sink.close().await;
            let mut open = streams.open.locked();
            if open.get(&keyprint).is_some_and(|s| s.serial == serial) {
                open.remove(&keyprint);
            }
            log::debug!("notices: {name} stopped listening ({ended:?})");
        });
    }

    /// Ends the notice stream of the peer with `keyprint` (its session
    /// ended), if one is open.
    pub fn close(&self, keyprint: &KeyPrint) {
        self.open.locked().remove(keyprint);
    }

    /// Asks the source with `req.keyprint` to connect out to the caller,
    /// or (`via_relay`) to `relay`, where the caller meets it.
    pub fn connect_me(
        &self,
        store: &dyn DirectoryStore,
        req: &pb::ConnectMeRequest,
        relay: Option<&RelayTickets>,
    ) -> Result<pb::ConnectMeReply, DirError> {
        let token = &req.connect_token;
        if !crate::wire::is_connect_token(token) {
            return Err(DirError::Invalid(
                "connect_token: 32 lowercase hex digits".to_string(),
            ));
        }
        let target = KeyPrint::parse(&req.keyprint)
            .map_err(|_| DirError::Invalid("keyprint: a base64 SHA-256".to_string()))?;
        let me = store
            .session_name(&Token::from_client(&req.token))
            .ok_or(DirError::Unauthenticated)?;
        let (addr, _) = store.peer(&me)?;
        let Some(my_print) = addr.pin() else {
            return Err(DirError::Denied(
                "reverse connections need TLS (this peer has tls = false)".to_string(),
            ));
        };
        let mut reply = pb::ConnectMeReply::default();
        let (to, token) = if req.via_relay {
            // Not NOT_FOUND: that says the source is not listening (yet),
            // which a caller asks again about.
            let relay = relay.ok_or_else(|| {
                DirError::Denied("this directory has no relay ([relay] in its config)".to_string())
            })?;
            let ticket = Ticket::new(token, target, my_print).seal(&relay.secret);
            reply.relay_addr = relay.addr.clone();
            reply.ticket = ticket.clone();
            (format!("https://{}", relay.addr), ticket)
        } else if addr.firewalled() {
            return Err(DirError::Denied(format!(
                "{me} is firewalled too: the source cannot connect to it either (a relay can)"
            )));
        } else {
            (addr.as_str().to_string(), token.clone())
        };
        let mut open = self.open.locked();
        let Some(stream) = open.get_mut(&target) else {
            return Err(DirError::NotFound(
                "that source is not listening for notices at this directory".to_string(),
            ));
        };
        // Its session may have ended while the stream lingers.
        if !store
            .peer(&stream.name)
            .is_ok_and(|(a, _)| a.pin() == Some(target))
        {
            return Err(DirError::NotFound(format!("{} is offline", stream.name)));
        }
        let notice = pb::Notice {
            connect_to: protobuf::SingularPtrField::some(pb::ConnectTo {
                token,
                http_addr: to.clone(),
                keyprint: my_print.to_string(),
                peer: me.clone(),
                relay: req.via_relay,
                ..Default::default()
            }),
            ..Default::default()
        };
        stream.to.try_send(notice).map_err(|e| {
            if e.is_full() {
                DirError::Exhausted(format!("{} has too many connections to make", stream.name))
            } else {
                DirError::NotFound(format!("{} stopped listening for notices", stream.name))
            }
        })?;
        log::info!("connect-me: {} connects out to {me} at {to}", stream.name);
        Ok(reply)
    }
}

/// The peer of session `token` and the keyprint it is listed with.
fn session_keyprint(store: &dyn DirectoryStore, token: &str) -> Option<(String, KeyPrint)> {
    let name = store.session_name(&Token::from_client(token))?;
    let (addr, _) = store.peer(&name).ok()?;
    Some((name, addr.pin()?))
}
