//! A client's bounded outbound queue. The hub pushes without ever waiting; the
//! client's writer drains it. A client that falls behind gets latest-value
//! conflation per room key, and past a bound is closed with a reason.

use super::options::WsOptions;
use crate::live::Update;
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// Something to send, in order.
#[derive(Debug)]
pub enum Entry {
    /// A live message (conflatable by its key).
    Update(Arc<Update>),
    /// A control event (`subscribed`, `pong`, `error`, …).
    Text(Utf8Bytes),
    /// The latest values of a room, read when the writer gets here.
    Snapshot(Arc<str>),
    /// The client left a room: later updates of it are not sent.
    Left(Arc<str>),
    /// The client joined a room of a replay session: updates from here on, no
    /// snapshot.
    Joined(Arc<str>),
    /// Every message of a room after `since`, read back from the stream (a
    /// resume, `since_seq`).
    Resume {
        /// The room.
        room: Arc<str>,
        /// The client's last seen sequence.
        since: u64,
    },
}

/// Why a connection is being closed by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code (1001 going away, 1008 policy, 4401 unauthenticated).
    pub code: u16,
    /// Human-readable reason (at most 123 bytes on the wire).
    pub reason: String,
}

/// What happened to a pushed update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued behind the others.
    Queued,
    /// Queued, replacing an older pending update of the same key.
    Conflated,
    /// The client was too far behind and is being disconnected now.
    Dropped(&'static str),
    /// The client is closing; nothing queued.
    Closed,
}

struct Queue {
    /// Pending entries; `None` is a conflated (removed) slot.
    slots: VecDeque<Option<Entry>>,
    /// Absolute index of `slots[0]`.
    head: u64,
    /// Absolute index of the pending update of each key.
    keyed: HashMap<Arc<str>, u64>,
    /// Entries in `slots` that are not `None`.
    pending: usize,
    /// Last time the writer made progress (or the queue went from empty to not).
    last_progress: Instant,
    closed: bool,
}

/// The queue plus the signals the writer waits on.
pub struct Outbox {
    q: Mutex<Queue>,
    ready: Notify,
    close: watch::Sender<Option<CloseReason>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self {
            q: Mutex::new(Queue {
                slots: VecDeque::new(),
                head: 0,
                keyed: HashMap::new(),
                pending: 0,
                last_progress: Instant::now(),
                closed: false,
            }),
            ready: Notify::new(),
            close: watch::channel(None).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Queue operations leave it consistent at every step; a poisoned lock
        // only means another thread panicked elsewhere.
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a live update, conflating or closing a client that falls behind.
    /// Never waits.
    pub fn push_update(&self, u: &Arc<Update>, opts: &WsOptions) -> Pushed {
        let mut q = self.lock();
        if q.closed {
            return Pushed::Closed;
        }
        if q.pending > 0 && q.last_progress.elapsed() > opts.stall_timeout {
            drop(q);
            let secs = opts.stall_timeout.as_secs_f64();
            self.close(
                1008,
                format!("client not reading: no progress for {secs:.0} s"),
            );
            return Pushed::Dropped("stalled");
        }
        let mut outcome = Pushed::Queued;
        if q.pending >= opts.conflate_after {
            if let Some(idx) = q.keyed.get(&u.key).and_then(|abs| abs.checked_sub(q.head)) {
                if let Some(slot) = q.slots.get_mut(idx as usize) {
                    if slot.take().is_some() {
                        q.pending -= 1;
                        outcome = Pushed::Conflated;
                    }
                }
            }
        }
        if q.pending >= opts.max_pending {
            drop(q);
            self.close(
                1008,
                format!(
                    "client too slow: more than {} updates pending",
                    opts.max_pending
                ),
            );
            return Pushed::Dropped("pending_limit");
        }
        self.push_locked(&mut q, Entry::Update(u.clone()));
        drop(q);
        self.ready.notify_one();
        outcome
    }

    /// Queues a control event or marker (never conflated). Returns `false` when
    /// the client is closing.
    pub fn push(&self, e: Entry) -> bool {
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        self.push_locked(&mut q, e);
        drop(q);
        self.ready.notify_one();
        true
    }

    fn push_locked(&self, q: &mut Queue, e: Entry) {
        if q.pending == 0 {
            // The stall clock runs while something waits.
            q.last_progress = Instant::now();
        }
        let abs = q.head + q.slots.len() as u64;
        if let Entry::Update(u) = &e {
            q.keyed.insert(u.key.clone(), abs);
        }
        q.slots.push_back(Some(e));
        q.pending += 1;
    }

    /// Takes up to `max` entries, waiting until there is at least one.
    pub async fn next_batch(&self, max: usize) -> Vec<Entry> {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.lock();
                let mut out = Vec::new();
                while out.len() < max {
                    let Some(slot) = q.slots.pop_front() else {
                        break;
                    };
                    let abs = q.head;
                    q.head += 1;
                    let Some(e) = slot else { continue };
                    q.pending -= 1;
                    if let Entry::Update(u) = &e {
                        if q.keyed.get(&u.key) == Some(&abs) {
                            q.keyed.remove(&u.key);
                        }
                    }
                    out.push(e);
                }
                if !out.is_empty() {
                    return out;
                }
            }
            notified.await;
        }
    }

    /// The writer delivered something to the socket.
    pub fn progress(&self) {
        self.lock().last_progress = Instant::now();
    }

    /// Entries waiting.
    pub fn pending(&self) -> usize {
        self.lock().pending
    }

    /// Closes the client with `code` and `reason` (the first close wins); pending
    /// entries are discarded.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            q.closed = true;
            q.slots.clear();
            q.keyed.clear();
            q.pending = 0;
        }
        let reason = reason.into();
        self.close.send_replace(Some(CloseReason { code, reason }));
    }

    /// Watches for [`Outbox::close`].
    pub fn closed(&self) -> watch::Receiver<Option<CloseReason>> {
        self.close.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::render;
    use ds_schemas::enriched::Enriched;
    use ds_schemas::EnrichedUnderlying;
    use std::time::Duration;

    fn tick(product: &str, seq: u64) -> Arc<Update> {
        let m = Enriched::Underlying(EnrichedUnderlying {
            product: product.into(),
            ..Default::default()
        });
        Arc::new(render::update(m, seq).expect("renders"))
    }

    fn seqs(batch: &[Entry]) -> Vec<u64> {
        batch
            .iter()
            .filter_map(|e| match e {
                Entry::Update(u) => Some(u.value.seq),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn conflates_per_key_past_the_soft_bound_and_drops_past_the_hard_one() {
        let opts = WsOptions {
            conflate_after: 2,
            max_pending: 4,
            ..WsOptions::default()
        };
        let o = Outbox::new();
        assert_eq!(o.push_update(&tick("A", 1), &opts), Pushed::Queued);
        assert_eq!(o.push_update(&tick("B", 2), &opts), Pushed::Queued);
        // Two pending: A@1 is replaced by A@3, which goes to the back (order per room kept).
        assert_eq!(o.push_update(&tick("A", 3), &opts), Pushed::Conflated);
        assert_eq!(o.pending(), 2);
        assert_eq!(seqs(&o.next_batch(10).await), vec![2, 3]);
        for (i, p) in ["C", "D", "E", "F"].iter().enumerate() {
            let r = o.push_update(&tick(p, 10 + i as u64), &opts);
            assert_eq!(r, Pushed::Queued, "{p}");
        }
        assert_eq!(
            o.push_update(&tick("G", 20), &opts),
            Pushed::Dropped("pending_limit")
        );
        let reason = o.closed().borrow().clone().expect("closed");
        assert_eq!(reason.code, 1008);
        assert_eq!(o.push_update(&tick("H", 21), &opts), Pushed::Closed);
    }

    #[tokio::test]
    async fn a_stalled_client_is_dropped() {
        let opts = WsOptions {
            stall_timeout: Duration::from_millis(50),
            ..WsOptions::default()
        };
        let o = Outbox::new();
        assert_eq!(o.push_update(&tick("A", 1), &opts), Pushed::Queued);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            o.push_update(&tick("B", 2), &opts),
            Pushed::Dropped("stalled")
        );
    }
}
