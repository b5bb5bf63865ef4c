//! Who is in which room, for one source of messages (live, or one replay
//! session), each room's log ([`super::log`]), and the fan-out of one update:
//! one append to its room's log, whatever the number of members.

use super::log::RoomLog;
use super::options::WsOptions;
use super::outbox::{Outbox, Start};
use super::protocol::Encoding;
use crate::live::Update;
use ds_runtime::metrics::metrics;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The room every client is in.
pub const GENERAL: &str = "general";

/// A room but `general`: its members and its log.
pub(super) struct Room {
    pub(super) members: HashSet<u64>,
    pub(super) log: Arc<RoomLog>,
}

/// Who is in which room, for one source of messages (live, or one replay
/// session).
pub(super) struct Registry {
    /// Every connected, authenticated client (room `general`).
    pub(super) clients: HashMap<u64, Arc<Outbox>>,
    /// The log of `general`.
    pub(super) general: Arc<RoomLog>,
    /// Every room but `general` with a member.
    pub(super) rooms: HashMap<Arc<str>, Room>,
    /// What a room's log retains at most (`max_queued_bytes`).
    retain_bytes: usize,
}

impl Registry {
    /// No clients yet; each room's log retains at most `opts.max_queued_bytes`
    /// of frames a member has not read.
    pub(super) fn new(opts: &WsOptions) -> Self {
        Self {
            clients: HashMap::new(),
            general: Arc::new(RoomLog::new(opts.max_queued_bytes)),
            rooms: HashMap::new(),
            retain_bytes: opts.max_queued_bytes,
        }
    }

    /// Adds client `id` to `general`, reading its log from `start`; returns
    /// whether it is the first client. Joined under the registry's lock, so
    /// every update appended after it is behind its start: a snapshot then the
    /// live stream has no gap.
    pub(super) fn admit(&mut self, id: u64, outbox: &Arc<Outbox>, start: Start) -> bool {
        let was_empty = self.clients.is_empty();
        outbox.join(
            Arc::from(GENERAL),
            self.general.clone(),
            start,
            Encoding::Full,
        );
        self.clients.insert(id, outbox.clone());
        was_empty
    }

    /// The log of `room`.
    pub(super) fn log(&self, room: &str) -> Option<&Arc<RoomLog>> {
        if room == GENERAL {
            Some(&self.general)
        } else {
            self.rooms.get(room).map(|r| &r.log)
        }
    }

    /// Puts client `id` in `room` (not `general`, which every client is in);
    /// returns the room's log.
    pub(super) fn enter(&mut self, room: Arc<str>, id: u64) -> Arc<RoomLog> {
        let retain = self.retain_bytes;
        let r = self.rooms.entry(room).or_insert_with(|| {
            metrics().gateway.ws_rooms.inc();
            Room {
                members: HashSet::new(),
                log: Arc::new(RoomLog::new(retain)),
            }
        });
        r.members.insert(id);
        r.log.clone()
    }

    /// Whether client `id` is in `room`.
    pub(super) fn is_in(&self, room: &str, id: u64) -> bool {
        room == GENERAL
            || self
                .rooms
                .get(room)
                .is_some_and(|r| r.members.contains(&id))
    }

    /// Closes every client stuck on a write for longer than the stall timeout.
    pub(super) fn close_stalled(&self, opts: &WsOptions) {
        for outbox in self.clients.values() {
            outbox.close_if_stalled(opts);
        }
    }
}

/// Takes client `id` out of `room`.
pub(super) fn leave(r: &mut Registry, room: &str, id: u64) {
    if let Some(members) = r.rooms.get_mut(room) {
        if members.members.remove(&id) && members.members.is_empty() {
            r.rooms.remove(room);
            metrics().gateway.ws_rooms.dec();
        }
    }
}

/// Appends `u` to its room's log in `r` (never waits on a client).
pub(super) fn dispatch(r: &Registry, u: &Arc<Update>) {
    let log = r.log(&u.room);
    // One span per fan-out (not per client), continuing the message's trace.
    let _span = u.trace.as_ref().map(|parent| {
        let span = tracing::info_span!(
            parent: None,
            "ws.send",
            room = &*u.room,
            event = u.event.name(),
            seq = u.value.seq,
            clients = if &*u.room == GENERAL {
                r.clients.len()
            } else {
                r.rooms.get(&u.room).map_or(0, |m| m.members.len())
            },
        );
        parent.adopt(&span);
        span
    });
    if let Some(log) = log {
        log.append(u.clone());
    }
}
