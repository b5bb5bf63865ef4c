//! One WebSocket connection: authentication, then a reader (client operations)
//! and a writer (everything the client receives) until either side ends.

use super::auth::{check, UNAUTHENTICATED};
use super::hub::Client;
use super::outbox::{Entry, Outbox};
use super::protocol::{self, Encoding, Format, Op, BAD_QUERY_CLOSE};
use super::writer::{Ended, Writer};
use crate::auth::credential::Presented;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

/// How long to wait for the client's close reply after a server close.
const CLOSE_REPLY: Duration = Duration::from_secs(2);

/// How long a new replay-session client waits for the session's NATS
/// subscription before it is served anyway (with an `error` event).
const REPLAY_READY: Duration = Duration::from_secs(5);

/// What the upgrade request's query asked for besides credentials.
pub struct Asked {
    /// The replay session of `?replay=<prefix>`.
    pub replay: Option<String>,
    /// The data frames' format of `?format=` (or why it names none).
    pub format: Result<Format, String>,
}

impl Asked {
    /// The format, once the replay prefix and the format are known good.
    fn check(&self) -> Result<Format, String> {
        if let Some(prefix) = &self.replay {
            ds_schemas::subjects::validate_replay_prefix(prefix)?;
        }
        self.format.clone()
    }
}

/// Runs a connection to its end. `presented` is what the upgrade request
/// carried (`?token=`, bearer header or `X-Api-Key`); `asked` the rest of its
/// query (a bad replay prefix or format is closed with 4400).
pub async fn run(socket: WebSocket, state: AppState, presented: Presented, asked: Asked) {
    let hub = &state.ws;
    let (mut sink, mut source) = socket.split();
    let format = match asked.check() {
        Ok(f) => f,
        Err(reason) => {
            close_now(&mut sink, &mut source, BAD_QUERY_CLOSE, &reason).await;
            return;
        }
    };
    let replay = asked.replay;
    let outbox = Arc::new(Outbox::new());
    let Some(role) = authenticate(&state, presented, &mut sink, &mut source).await else {
        return;
    };
    if let Some(role) = &role {
        outbox.push(Entry::Text(protocol::authenticated(Some(role))));
    }
    let registered = match &replay {
        Some(prefix) => hub.register_replay(outbox.clone(), prefix),
        None => hub.register(outbox.clone()),
    };
    let Some(client) = registered else {
        close_now(&mut sink, &mut source, 1001, "server shutting down").await;
        return;
    };
    // Subscriptions are confirmed only once the session's messages arrive.
    if !client.replay_ready(REPLAY_READY).await {
        outbox.push(Entry::Text(protocol::error(
            "the replay session is not receiving yet (NATS unavailable?); retrying",
        )));
    }
    let writer = Writer::new(
        &mut sink,
        outbox.clone(),
        hub.live().clone(),
        hub.options().clone(),
        format,
    );
    let ended = tokio::select! {
        ended = writer.run() => Some(ended),
        () = read_loop(&mut source, &client, &state, format) => None,
    };
    drop(client);
    match ended {
        // We sent a close frame: give the client a moment to answer it, so the
        // TCP close does not discard what it has not read yet.
        Some(Ended::Closed(r)) => {
            tracing::debug!(code = r.code, reason = %r.reason, "WebSocket closed by the server");
            drain(&mut source, CLOSE_REPLY).await;
        }
        Some(Ended::SocketError) => {}
        // The client left: complete the closing handshake.
        None => {
            let _ = tokio::time::timeout(CLOSE_REPLY, sink.close()).await;
        }
    }
}

/// Reads client operations until the client closes or the socket fails.
async fn read_loop(source: &mut Source, client: &Client, state: &AppState, format: Format) {
    while let Some(frame) = source.next().await {
        match frame {
            Ok(Message::Text(t)) => handle(t.as_str(), client, state, format).await,
            Ok(Message::Binary(_)) => {
                client.outbox.push(Entry::Text(protocol::error(
                    "binary frames are not supported; send JSON text frames",
                )));
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
        }
    }
}

async fn handle(text: &str, client: &Client, state: &AppState, format: Format) {
    let reply = |t: Utf8Bytes| {
        client.outbox.push(Entry::Text(t));
    };
    match protocol::parse(text) {
        Err(message) => reply(protocol::error(&message)),
        Ok(Op::Ping) => reply(protocol::pong()),
        // Boxed: a credential check is a large future, rarely awaited here.
        Ok(Op::Auth(token)) => match Box::pin(check(state, &Presented::from_token(&token))).await {
            Ok(role) => reply(protocol::authenticated(role.as_deref())),
            Err(reason) => client.outbox.close(reason.code, reason.reason),
        },
        Ok(Op::Subscribe {
            replay: Some(asked),
            ..
        }) if Some(asked.as_str()) != client.replay_prefix() => {
            let on = client
                .replay_prefix()
                .map_or("live".to_owned(), |p| format!("replay session {p:?}"));
            reply(protocol::error(&format!(
                "this socket is on {on}, not replay session {asked:?}: a socket follows one \
                 source, chosen when it connects (GET /ws?replay=<prefix>)"
            )));
        }
        Ok(Op::Subscribe {
            encoding: Encoding::Delta,
            ..
        }) if format == Format::Proto => reply(protocol::error(
            "\"encoding\":\"delta\" is for JSON frames; a ?format=proto socket gets whole \
             binary frames (protobuf is already compact): subscribe without it",
        )),
        Ok(Op::Subscribe {
            kind,
            symbol,
            since_seq,
            encoding,
            ..
        }) => match state.product(&symbol) {
            Ok(_) => client.subscribe(&kind.room(&symbol), since_seq, encoding),
            Err(e) => reply(protocol::error(&e.to_string())),
        },
        Ok(Op::Unsubscribe { kind, symbol }) => client.unsubscribe(&kind.room(&symbol)),
        Ok(Op::Resync { kind, symbol }) => {
            let room = kind.room(&symbol);
            if !client.resync(&room) {
                reply(protocol::error(&format!(
                    "not subscribed to {room}: subscribe instead of resync"
                )));
            }
        }
    }
}

/// Authenticates the socket: `Some(role)` (`Some(None)` for anonymous in
/// development mode), or `None` once it has been closed.
async fn authenticate(
    state: &AppState,
    presented: Presented,
    sink: &mut Sink,
    source: &mut Source,
) -> Option<Option<String>> {
    if presented != Presented::Nothing {
        return match check(state, &presented).await {
            Ok(role) => Some(role),
            Err(r) => {
                close_now(sink, source, r.code, &r.reason).await;
                None
            }
        };
    }
    if state.cfg.dev {
        return Some(None);
    }
    let timeout = state.ws.options().auth_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, source.next()).await {
            Err(_) => {
                let reason = format!(
                    "not authenticated within {} s: connect with ?token= or send {{\"op\":\"auth\",\"token\":…}}",
                    timeout.as_secs_f64()
                );
                close_now(sink, source, UNAUTHENTICATED, &reason).await;
                return None;
            }
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(f))) => f,
        };
        let reply = match frame {
            Message::Text(t) => match protocol::parse(t.as_str()) {
                Ok(Op::Auth(token)) => match check(state, &Presented::from_token(&token)).await {
                    Ok(role) => return Some(role),
                    Err(r) => {
                        close_now(sink, source, r.code, &r.reason).await;
                        return None;
                    }
                },
                Ok(Op::Ping) => protocol::pong(),
                Ok(_) => protocol::error("authenticate first: send {\"op\":\"auth\",\"token\":…}"),
                Err(message) => protocol::error(&message),
            },
            Message::Binary(_) => {
                protocol::error("binary frames are not supported; send JSON text frames")
            }
            _ => continue,
        };
        if tokio::time::timeout(
            state.ws.options().close_timeout,
            sink.send(Message::Text(reply)),
        )
        .await
        .map_or(true, |r| r.is_err())
        {
            return None;
        }
    }
}

/// Sends a close frame and waits briefly for the reply.
async fn close_now(sink: &mut Sink, source: &mut Source, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(super::writer::truncate(reason, 123)),
    };
    if tokio::time::timeout(CLOSE_REPLY, sink.send(Message::Close(Some(frame))))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        drain(source, CLOSE_REPLY).await;
    }
}

/// Reads (and discards) until the client's close reply, the end of the stream,
/// or `limit`.
async fn drain(source: &mut Source, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(m)) = source.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
