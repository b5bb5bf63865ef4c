//! The hub: the clients of the process and the one task that fans every live
//! message out to the rooms' outboxes ([`super::rooms`]). A client on a replay
//! session (`?replay=<prefix>`) is in the rooms of that session's
//! [`ReplayFeed`] instead, fanned out the same way.

use super::options::WsOptions;
use super::outbox::{Entry, Outbox, Start};
use super::protocol;
use super::protocol::Encoding;
use super::replay::ReplayFeed;
use super::rooms::{dispatch, leave, Registry};
use crate::live::{Live, TaskGuard, Update};
use ds_runtime::metrics::metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

struct Inner {
    live: Live,
    opts: WsOptions,
    registry: Mutex<Registry>,
    /// Replay sessions with clients, by prefix.
    replays: Mutex<HashMap<Arc<str>, Arc<ReplayFeed>>>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
}

impl Inner {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replays(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<ReplayFeed>>> {
        self.replays.lock().unwrap_or_else(|p| p.into_inner())
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
    /// The replay session it is on, if any (else live).
    replay: Option<Arc<ReplayFeed>>,
}

impl Hub {
    /// A hub fed by `live`.
    pub fn new(live: Live, opts: WsOptions) -> Self {
        let inner = Arc::new(Inner {
            registry: Mutex::new(Registry::new(&opts)),
            live,
            opts,
            replays: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
        });
        let rx = inner.live.subscribe();
        let task = tokio::spawn(fan_out(Arc::downgrade(&inner), rx));
        Self {
            inner,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        }
    }

    /// Its options.
    pub fn options(&self) -> &WsOptions {
        &self.inner.opts
    }

    /// The live feed.
    pub fn live(&self) -> &Live {
        &self.inner.live
    }

    /// Connected (authenticated) clients, live and on replay sessions.
    pub fn clients(&self) -> usize {
        // No feed handle is cloned (a client leaving counts them); lock order:
        // `replays`, then a registry.
        let on_replays: usize = self
            .inner
            .replays()
            .values()
            .map(|f| f.shared.registry().clients.len())
            .sum();
        self.inner.registry().clients.len() + on_replays
    }

    /// Registers an authenticated client in `general` and queues the room's
    /// latest values; `None` while the server shuts down.
    pub fn register(&self, outbox: Arc<Outbox>) -> Option<Client> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let was_empty = self.inner.registry().admit(id, &outbox, Start::Snapshot);
        Some(self.registered(id, outbox, was_empty, None))
    }

    /// Registers an authenticated client on the replay session `prefix`
    /// (validated by the caller with [`ds_schemas::subjects::validate_replay_prefix`]): in
    /// its `general`, no snapshot. The session's feed is started by its first
    /// client and stopped with its last. `None` while the server shuts down.
    pub(super) fn register_replay(&self, outbox: Arc<Outbox>, prefix: &str) -> Option<Client> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let feed = self
            .inner
            .replays()
            .entry(Arc::from(prefix))
            .or_insert_with(|| {
                let client = self.inner.live.jetstream().client();
                Arc::new(ReplayFeed::start(prefix, client, self.inner.opts.clone()))
            })
            .clone();
        let was_empty = feed.shared.registry().admit(id, &outbox, Start::Live);
        Some(self.registered(id, outbox, was_empty, Some(feed)))
    }

    fn registered(
        &self,
        id: u64,
        outbox: Arc<Outbox>,
        was_empty: bool,
        replay: Option<Arc<ReplayFeed>>,
    ) -> Client {
        metrics().gateway.ws_clients.inc();
        if was_empty {
            metrics().gateway.ws_rooms.inc();
        }
        Client {
            inner: self.inner.clone(),
            id,
            outbox,
            replay,
        }
    }

    /// Closes every client with 1001 and waits (at most `grace`) for them to go.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let mut clients: Vec<Arc<Outbox>> =
            self.inner.registry().clients.values().cloned().collect();
        for f in self.inner.replays().values() {
            clients.extend(f.shared.registry().clients.values().cloned());
        }
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
    /// The replay session the client is on (`None`: live).
    pub fn replay_prefix(&self) -> Option<&str> {
        self.replay.as_ref().map(|f| &*f.shared.prefix)
    }

    /// The rooms of its source (live or its replay session).
    fn registry(&self) -> MutexGuard<'_, Registry> {
        match &self.replay {
            Some(f) => f.shared.registry(),
            None => self.inner.registry(),
        }
    }

    /// Waits (at most `timeout`) until its replay session receives messages;
    /// `true` at once for a live client.
    pub(super) async fn replay_ready(&self, timeout: Duration) -> bool {
        match &self.replay {
            Some(f) => f.wait_ready(timeout).await,
            None => true,
        }
    }

    /// Joins `room`: queues `subscribed`, then the room's latest values (or,
    /// with `since`, every message after it from the stream), then live updates,
    /// `chain_update` frames encoded as `encoding` asks.
    /// On a replay session: `subscribed`, then the session's messages (no
    /// snapshot; `since` gets an `error` event and is otherwise ignored).
    pub fn subscribe(&self, room: &str, since: Option<u64>, encoding: Encoding) {
        let room: Arc<str> = Arc::from(room);
        let mut r = self.registry();
        // Under the registry lock, like `register`.
        self.outbox
            .push(Entry::Text(protocol::subscribed(&room, encoding)));
        let start = match (since, &self.replay) {
            (Some(_), Some(_)) => {
                self.outbox.push(Entry::Text(protocol::error(
                    "since_seq is ignored on a replay session: nothing is stored, so there \
                     is no snapshot or resume, and seq counts the session's messages",
                )));
                Start::Live
            }
            (None, Some(_)) => Start::Live,
            (Some(since), None) => Start::After(since),
            (None, None) => Start::Snapshot,
        };
        let log = r.enter(room.clone(), self.id);
        self.outbox.join(room, log, start, encoding);
    }

    /// Sends `room` again from scratch (`resync`): a `resync` event, the
    /// room's latest values (live only), and whole frames until the client has
    /// each chain again. `false` when the client is not in the room.
    pub fn resync(&self, room: &str) -> bool {
        let r = self.registry();
        let joined = r.is_in(room, self.id);
        if joined {
            self.outbox.push(Entry::Resync {
                room: Arc::from(room),
                snapshot: self.replay.is_none(),
                reason: "asked for by the client",
            });
        }
        joined
    }

    /// Leaves `room`.
    pub fn unsubscribe(&self, room: &str) {
        let mut r = self.registry();
        leave(&mut r, room, self.id);
        self.outbox.push(Entry::Left(Arc::from(room)));
        drop(r);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.leave_all();
        // The last client of a replay session stops its feed: the map's handle
        // and ours are then the only ones. Handles are taken and dropped only
        // under the map lock, so exactly one leaving client sees that.
        if let Some(feed) = self.replay.take() {
            let mut replays = self.inner.replays();
            let last = Arc::strong_count(&feed) == 2;
            let prefix = feed.shared.prefix.clone();
            drop(feed);
            if last {
                replays.remove(&prefix);
            }
        }
    }
}

impl Client {
    fn leave_all(&self) {
        let mut r = self.registry();
        let rooms: Vec<Arc<str>> = r
            .rooms
            .iter()
            .filter(|(_, m)| m.members.contains(&self.id))
            .map(|(k, _)| k.clone())
            .collect();
        for room in rooms {
            leave(&mut r, &room, self.id);
        }
        if r.clients.remove(&self.id).is_some() {
            metrics().gateway.ws_clients.dec();
            if r.clients.is_empty() {
                metrics().gateway.ws_rooms.dec();
            }
        }
    }
}

/// Live messages handed out under one registry lock.
const FAN_OUT_BATCH: usize = 256;
/// How often clients stuck on a write are looked for.
const STALL_SWEEP: Duration = Duration::from_secs(1);

/// The one task that appends every live message to its room's log (whatever
/// has arrived meanwhile under one registry lock; the members' writers read
/// it, see [`super::outbox`]), and once a second closes the clients, live or
/// on a replay session, whose writer is stuck.
async fn fan_out(
    inner: std::sync::Weak<Inner>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Update>>,
) {
    let mut batch = Vec::with_capacity(FAN_OUT_BATCH);
    let mut sweep = tokio::time::interval(STALL_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = sweep.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                close_stalled(&inner);
                continue;
            }
        };
        match received {
            Ok(u) => batch.push(u),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "WebSocket hub fell behind the live feed");
                continue;
            }
            Err(RecvError::Closed) => return,
        }
        while batch.len() < FAN_OUT_BATCH {
            match rx.try_recv() {
                Ok(u) => batch.push(u),
                Err(TryRecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "WebSocket hub fell behind the live feed");
                }
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let registry = inner.registry();
        for u in batch.drain(..) {
            dispatch(&registry, &u);
        }
    }
}

/// Closes the stuck clients of the live rooms and of every replay session.
fn close_stalled(inner: &Inner) {
    let feeds: Vec<Arc<ReplayFeed>> = inner.replays().values().cloned().collect();
    inner.registry().close_stalled(&inner.opts);
    for f in feeds {
        f.shared.registry().close_stalled(&inner.opts);
    }
}
