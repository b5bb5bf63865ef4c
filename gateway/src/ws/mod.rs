//! The WebSocket bridge of SPEC §8 at `GET /ws`: rooms `general`, `product:<P>`,
//! `chain:<P>`, `bars:<P>`; snapshot or resume (`since_seq`) on subscribe, then
//! live updates fanned out once from [`crate::live`]; slow clients are conflated,
//! then disconnected (1008), never waited for.
//!
//! Design: the live feed's one consumer broadcasts each message, rendered once;
//! the [`Hub`]'s fan-out task appends it once to its room's log ([`rooms`],
//! [`log`]; never blocking); each client's writer reads its rooms' logs from
//! its own cursors ([`outbox::Outbox`]), conflating when behind, and writes
//! to the socket.
//!
//! `GET /ws?replay=<prefix>` puts the socket on a replay session instead: the
//! same rooms fed from `<prefix>.md.enriched.>` on core NATS (see [`replay`]).

pub mod auth;
pub mod hub;
mod log;
pub mod options;
pub mod outbox;
pub mod protocol;
pub mod replay;
mod rooms;
mod session;
mod writer;

use crate::auth::credential::Presented;
use crate::state::AppState;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;

pub use hub::Hub;
pub use options::WsOptions;

/// The kernel's send buffer of every accepted socket (Linux doubles it for
/// its own bookkeeping). Left to autotuning it grows to megabytes per socket
/// on loopback, where a slow client's backlog then waits unconflated, stale
/// by seconds, out of the bridge's reach; with a fixed size a client that
/// falls behind blocks its writer soon, and what comes meanwhile waits in the
/// room's log, where the writer conflates it (see [`outbox`]).
pub const SEND_BUFFER: usize = 64 * 1024;

/// Sets what every accepted socket needs: no Nagle (the writers flush whole
/// batches, and a small frame held back for an ACK the client delays, 40 ms
/// on Linux, is a p99 spike) and a send buffer of [`SEND_BUFFER`].
pub fn tune_socket(s: &tokio::net::TcpStream) {
    if let Err(e) = s.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    if let Err(e) = socket2::SockRef::from(s).set_send_buffer_size(SEND_BUFFER) {
        tracing::debug!(error = %e, "cannot set SO_SNDBUF");
    }
}

/// Clients send small JSON frames: a small read buffer keeps 10,000 sockets
/// cheap (the default is 128 KiB each; a bigger frame, up to
/// `max_message_size`, still gets the room it needs). The library zeroes it
/// before every read, so smaller also costs less CPU.
pub const READ_BUFFER: usize = 1024;

/// Frames are copied into the socket's write buffer until a flush, or until it
/// holds this much, when it is written out. The buffer keeps the largest size
/// it reached, so this bounds a client's memory when its writer takes a long
/// batch (the default, 128 KiB, is 1.25 GiB over 10,000 backed-up clients). A
/// flush usually carries a few frames, ~1 KB; a write of 4 KiB already costs
/// the kernel more than the syscall.
pub const WRITE_BUFFER: usize = 4 * 1024;

/// `GET /ws`.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// Upgrades to a WebSocket. Credentials (`?token=`, else the headers, read by
/// the same extractor as REST) are checked after the upgrade, so a refused
/// client gets close code 4401 (which browsers can read) rather than a failed
/// handshake; a bad `?replay=` prefix or `?format=` is likewise closed with 4400.
async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    from_headers: Presented,
    ws: WebSocketUpgrade,
) -> Response {
    let presented = match query.get("token").map(|t| Presented::from_token(t)) {
        Some(p) if p != Presented::Nothing => p,
        _ => from_headers,
    };
    let asked = session::Asked {
        replay: query.get("replay").map(|p| p.trim().to_owned()),
        format: protocol::Format::parse(query.get("format").map(String::as_str)),
    };
    let max = state.ws.options().max_message_size;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, state, presented, asked))
}

#[cfg(test)]
mod tests {
    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, F: std::future::Future>(_: fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's task is one such future, held for the socket's life:
    /// 10,000 clients multiply it (reading a room back, 11 KB of it, is boxed).
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(super::session::run);
        assert!(size <= 8 * 1024, "session::run is {size} bytes");
    }
}
