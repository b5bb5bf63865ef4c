//! The WebSocket bridge of SPEC §8 at `GET /ws`: rooms `general`, `product:<P>`,
//! `chain:<P>`, `bars:<P>`; snapshot or resume (`since_seq`) on subscribe, then
//! live updates fanned out once from [`crate::live`]; slow clients are conflated,
//! then disconnected (1008), never waited for.
//!
//! Design: the live feed's one consumer broadcasts each message, rendered once;
//! the [`Hub`]'s fan-out task pushes it into the bounded [`outbox::Outbox`] of
//! every client in its room (never blocking); each client's writer drains its
//! outbox to the socket.
//!
//! `GET /ws?replay=<prefix>` puts the socket on a replay session instead: the
//! same rooms fed from `<prefix>.md.enriched.>` on core NATS (see [`replay`]).

pub mod auth;
pub mod hub;
pub mod outbox;
pub mod protocol;
pub mod replay;
mod session;
mod writer;

use crate::state::AppState;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::time::Duration;

pub use auth::{TokenVerifier, Verdict};
pub use hub::Hub;

/// Limits of the WebSocket bridge.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// Outside development mode, a socket not authenticated within this is
    /// closed with 4401.
    pub auth_timeout: Duration,
    /// With this many frames pending for a client, a new update replaces the
    /// pending one of the same key (latest-value conflation).
    pub conflate_after: usize,
    /// A client with more frames pending is disconnected (1008).
    pub max_pending: usize,
    /// A client whose writer made no progress for this long while frames wait
    /// is disconnected (1008).
    pub stall_timeout: Duration,
    /// A resume needing more messages than this gets `resync` + snapshot.
    pub max_replay: u64,
    /// How long sending a close frame may take.
    pub close_timeout: Duration,
    /// Largest message a client may send.
    pub max_message_size: usize,
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(5),
            conflate_after: 64,
            max_pending: 1000,
            stall_timeout: Duration::from_secs(10),
            max_replay: 20_000,
            close_timeout: Duration::from_secs(5),
            max_message_size: 64 * 1024,
        }
    }
}

/// `GET /ws`.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// The token given with the upgrade request: `?token=`, else a bearer header,
/// else `X-Api-Key`.
fn request_token(query: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    query
        .get("token")
        .map(|t| t.trim().to_owned())
        .or_else(|| {
            header_str(header::AUTHORIZATION)
                .and_then(|s| {
                    s.strip_prefix("Bearer ")
                        .or_else(|| s.strip_prefix("bearer "))
                })
                .map(|t| t.trim().to_owned())
        })
        .or_else(|| header_str(header::HeaderName::from_static("x-api-key")).map(str::to_owned))
        .filter(|t| !t.is_empty())
}

/// Upgrades to a WebSocket. Credentials are checked after the upgrade, so a
/// refused client gets close code 4401/4403 (which browsers can read) rather
/// than a failed handshake.
async fn upgrade(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = request_token(&query, &headers);
    // Validated after the upgrade, so a bad one gets a readable close code (4400).
    let replay = query.get("replay").map(|p| p.trim().to_owned());
    let hub = s.ws.clone();
    let cfg = s.cfg.clone();
    let max = hub.options().max_message_size;
    // Clients send small JSON frames: a small read buffer keeps 10,000 idle
    // sockets cheap (the default is 128 KiB each).
    ws.read_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, hub, cfg, token, replay))
}

/// The hub of a gateway on `cfg`: fed by `live`, checking tokens like the REST
/// API ([`auth::RestVerifier`]) — outside development mode the configuration
/// must hold a valid JWT secret, or no token is accepted.
pub fn build(
    cfg: &ds_runtime::config::Config,
    db: &mongodb::Database,
    live: &crate::live::Live,
    opts: WsOptions,
) -> Hub {
    let hub = Hub::new(live.clone(), opts);
    if cfg.dev && cfg.jwt_secret.is_none() {
        // Development mode without a secret: REST signs with a random key this
        // hub cannot share, and sockets read anonymously anyway.
        return hub;
    }
    match auth::RestVerifier::from_config(cfg, db.clone()) {
        Ok(v) => hub.set_verifier(std::sync::Arc::new(v)),
        Err(e) => tracing::warn!(error = %e, "WebSocket tokens cannot be verified"),
    }
    hub
}
