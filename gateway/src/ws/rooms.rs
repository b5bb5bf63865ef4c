//! Who is in which room, for one source of messages (live, or one replay
//! session), and the fan-out of one update to the outboxes of its room (never
//! waiting on a client).

use super::options::WsOptions;
use super::outbox::{Outbox, Pushed};
use crate::live::Update;
use ds_runtime::metrics::metrics;
use std::collections::HashMap;
use std::sync::Arc;

/// The room every client is in.
pub const GENERAL: &str = "general";

/// Who is in which room, for one source of messages (live, or one replay
/// session).
#[derive(Default)]
pub(super) struct Registry {
    /// Every connected, authenticated client (room `general`).
    pub(super) clients: HashMap<u64, Arc<Outbox>>,
    /// Members of each room but `general`.
    pub(super) rooms: HashMap<Arc<str>, HashMap<u64, Arc<Outbox>>>,
}

/// Takes client `id` out of `room`.
pub(super) fn leave(r: &mut Registry, room: &str, id: u64) {
    if let Some(members) = r.rooms.get_mut(room) {
        if members.remove(&id).is_some() && members.is_empty() {
            r.rooms.remove(room);
            metrics().gateway.ws_rooms.dec();
        }
    }
}

/// Hands `u` to the outboxes of its room in `r` (never waits).
pub(super) fn dispatch(r: &Registry, opts: &WsOptions, u: &Arc<Update>) {
    let members = if &*u.room == GENERAL {
        Some(&r.clients)
    } else {
        r.rooms.get(&u.room)
    };
    // One span per fan-out (not per client), continuing the message's trace.
    let _span = u.trace.as_ref().map(|parent| {
        let span = tracing::info_span!(
            parent: None,
            "ws.send",
            room = &*u.room,
            event = u.event.name(),
            seq = u.value.seq,
            clients = members.map_or(0, |m| m.len()),
        );
        parent.adopt(&span);
        span
    });
    let Some(members) = members else { return };
    let mut conflated = 0;
    for outbox in members.values() {
        match outbox.push_update(u, opts) {
            Pushed::Queued | Pushed::Closed => {}
            Pushed::Conflated => conflated += 1,
            Pushed::Dropped(reason) => {
                tracing::info!(
                    reason,
                    room = &*u.room,
                    "disconnecting a WebSocket client that does not read"
                );
                metrics()
                    .gateway
                    .ws_dropped
                    .with_label_values(&[reason])
                    .inc();
            }
        }
    }
    if conflated > 0 {
        metrics()
            .gateway
            .ws_conflated
            .with_label_values(&[u.event.name()])
            .inc_by(conflated);
    }
}
