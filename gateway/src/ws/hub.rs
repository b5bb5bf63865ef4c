//! The hub: which client is in which room, and the one task that fans every
//! live message out to the rooms' outboxes (never waiting on a client).

use super::auth::TokenVerifier;
use super::outbox::{Entry, Outbox, Pushed};
use super::{protocol, WsOptions};
use crate::live::{Live, Update};
use ds_runtime::metrics::metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// The room every client is in.
pub const GENERAL: &str = "general";

#[derive(Default)]
struct Registry {
    /// Every connected, authenticated client (room `general`).
    clients: HashMap<u64, Arc<Outbox>>,
    rooms: HashMap<Arc<str>, HashMap<u64, Arc<Outbox>>>,
}

struct Inner {
    live: Live,
    opts: WsOptions,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    verifier: RwLock<Option<Arc<dyn TokenVerifier>>>,
}

impl Inner {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Aborts the fan-out task with the last hub handle.
struct TaskGuard(tokio::task::AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The WebSocket hub of a gateway process (cheap to clone).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
    _task: Arc<TaskGuard>,
}

/// A registered client; unregisters on drop.
pub struct Client {
    inner: Arc<Inner>,
    /// Its id.
    pub id: u64,
    /// Its outbound queue.
    pub outbox: Arc<Outbox>,
}

impl Hub {
    /// A hub fed by `live`.
    pub fn new(live: Live, opts: WsOptions) -> Self {
        let inner = Arc::new(Inner {
            live,
            opts,
            registry: Mutex::new(Registry::default()),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            verifier: RwLock::new(None),
        });
        let rx = inner.live.subscribe();
        let task = tokio::spawn(fan_out(Arc::downgrade(&inner), rx));
        Self {
            inner,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        }
    }

    /// Installs (or replaces) the token verifier. Without one, only
    /// development mode accepts sockets, anonymously.
    pub fn set_verifier(&self, v: Arc<dyn TokenVerifier>) {
        *self
            .inner
            .verifier
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    /// The token verifier, if installed.
    pub fn verifier(&self) -> Option<Arc<dyn TokenVerifier>> {
        self.inner
            .verifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Its options.
    pub fn options(&self) -> &WsOptions {
        &self.inner.opts
    }

    /// The live feed.
    pub fn live(&self) -> &Live {
        &self.inner.live
    }

    /// Connected (authenticated) clients.
    pub fn clients(&self) -> usize {
        self.inner.registry().clients.len()
    }

    /// Registers an authenticated client in `general` and queues the room's
    /// latest values; `None` while the server shuts down.
    pub fn register(&self, outbox: Arc<Outbox>) -> Option<Client> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut r = self.inner.registry();
        let was_empty = r.clients.is_empty();
        // Queued under the registry lock: every update fanned out after this is
        // behind the snapshot marker, so the snapshot + live stream has no gap.
        outbox.push(Entry::Snapshot(Arc::from(GENERAL)));
        r.clients.insert(id, outbox.clone());
        drop(r);
        metrics().ws_clients.inc();
        if was_empty {
            metrics().ws_rooms.inc();
        }
        Some(Client {
            inner: self.inner.clone(),
            id,
            outbox,
        })
    }

    /// Closes every client with 1001 and waits (at most `grace`) for them to go.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let clients: Vec<Arc<Outbox>> = self.inner.registry().clients.values().cloned().collect();
        for o in &clients {
            o.close(1001, "server shutting down");
        }
        let deadline = Instant::now() + grace;
        while self.clients() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Client {
    /// Joins `room`: queues `subscribed`, then the room's latest values (or,
    /// with `since`, every message after it from the stream), then live updates.
    pub fn subscribe(&self, room: &str, since: Option<u64>) {
        let room: Arc<str> = Arc::from(room);
        let mut r = self.inner.registry();
        // Under the registry lock, like `register`.
        self.outbox.push(Entry::Text(protocol::subscribed(&room)));
        self.outbox.push(match since {
            Some(since) => Entry::Replay {
                room: room.clone(),
                since,
            },
            None => Entry::Snapshot(room.clone()),
        });
        let members = r.rooms.entry(room).or_default();
        let new_room = members.is_empty();
        members.insert(self.id, self.outbox.clone());
        if new_room {
            metrics().ws_rooms.inc();
        }
    }

    /// Leaves `room`.
    pub fn unsubscribe(&self, room: &str) {
        let mut r = self.inner.registry();
        leave(&mut r, room, self.id);
        self.outbox.push(Entry::Left(Arc::from(room)));
        drop(r);
    }
}

fn leave(r: &mut Registry, room: &str, id: u64) {
    if let Some(members) = r.rooms.get_mut(room) {
        if members.remove(&id).is_some() && members.is_empty() {
            r.rooms.remove(room);
            metrics().ws_rooms.dec();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let mut r = self.inner.registry();
        let rooms: Vec<Arc<str>> = r
            .rooms
            .iter()
            .filter(|(_, m)| m.contains_key(&self.id))
            .map(|(k, _)| k.clone())
            .collect();
        for room in rooms {
            leave(&mut r, &room, self.id);
        }
        if r.clients.remove(&self.id).is_some() {
            metrics().ws_clients.dec();
            if r.clients.is_empty() {
                metrics().ws_rooms.dec();
            }
        }
    }
}

/// The one task that hands every live message to the outboxes of its room.
async fn fan_out(
    inner: std::sync::Weak<Inner>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Update>>,
) {
    loop {
        let u = match rx.recv().await {
            Ok(u) => u,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "WebSocket hub fell behind the live feed");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(inner) = inner.upgrade() else { return };
        dispatch(&inner, &u);
    }
}

fn dispatch(inner: &Inner, u: &Arc<Update>) {
    let r = inner.registry();
    let members = if &*u.room == GENERAL {
        Some(&r.clients)
    } else {
        r.rooms.get(&u.room)
    };
    let Some(members) = members else { return };
    let mut conflated = 0;
    for outbox in members.values() {
        match outbox.push_update(u, &inner.opts) {
            Pushed::Queued | Pushed::Closed => {}
            Pushed::Conflated => conflated += 1,
            Pushed::Dropped(reason) => {
                tracing::info!(
                    reason,
                    room = &*u.room,
                    "disconnecting a WebSocket client that does not read"
                );
                metrics().ws_dropped.with_label_values(&[reason]).inc();
            }
        }
    }
    if conflated > 0 {
        metrics()
            .ws_conflated
            .with_label_values(&[u.event.name()])
            .inc_by(conflated);
    }
}
