//! A client's bounded outbound queue. The hub pushes without ever waiting; the
//! client's writer drains it in batches. The bound is in bytes (what the
//! client still has to receive): past a soft bound a new update replaces the
//! queued one of its room key (latest-value conflation), past a hard bound,
//! or with no progress for too long, the client is closed with a reason.
//!
//! The writer is woken only when the queue goes from empty to not: a writer
//! still busy with a batch finds what came meanwhile on its next take, so
//! under load one wake-up and one socket flush carry many frames.

use super::options::{WsOptions, SLOW_CLIENT};
use super::protocol::Encoding;
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
    /// The client left a room: later updates of it are not sent.
    Left(Arc<str>),
    /// The client joined a room: its frames start as `start` says, encoded as
    /// `encoding` asks.
    Join {
        /// The room.
        room: Arc<str>,
        /// Where its frames start.
        start: Start,
        /// How its `chain_update` frames are encoded.
        encoding: Encoding,
    },
    /// The client asked for a room again from scratch (`resync`): the next
    /// frame of each of its chains is whole, after the room's latest values
    /// when `snapshot` (a live room; a replay session stores none).
    Resync {
        /// The room.
        room: Arc<str>,
        /// Send the latest values.
        snapshot: bool,
    },
}

/// Where a joined room's frames start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the room's latest values, read when the writer gets here.
    Snapshot,
    /// With every message of the room after this `MD_ENRICHED` sequence, read
    /// back from the stream (a resume, `since_seq`).
    After(u64),
    /// With the next live update (a replay session: nothing is stored).
    Live,
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
    /// The client was too far behind and is being disconnected now (the
    /// metric label: `stalled` or `queue_bytes`).
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
    /// Bytes of those entries ([`Entry::bytes`]).
    bytes: usize,
    /// Last time the writer made progress (or the queue went from empty to not).
    last_progress: Instant,
    closed: bool,
}

impl Entry {
    /// What it counts towards the byte bound: a frame's length (a marker
    /// counts nothing; what it reads is sent when the writer gets to it).
    fn bytes(&self) -> usize {
        match self {
            Entry::Update(u) => u.frame.len(),
            Entry::Text(t) => t.len(),
            _ => 0,
        }
    }
}

impl Queue {
    /// Appends `e`; `true` when the queue was empty (the writer may be waiting).
    fn push(&mut self, e: Entry) -> bool {
        let was_empty = self.pending == 0;
        if was_empty {
            // The stall clock runs while something waits.
            self.last_progress = Instant::now();
        }
        let abs = self.head + self.slots.len() as u64;
        if let Entry::Update(u) = &e {
            self.keyed.insert(u.key.clone(), abs);
        }
        self.bytes += e.bytes();
        self.slots.push_back(Some(e));
        self.pending += 1;
        was_empty
    }

    /// Removes the queued update of `key`, if any; `true` when one was.
    fn conflate(&mut self, key: &Arc<str>) -> bool {
        let Some(idx) = self
            .keyed
            .get(key)
            .and_then(|abs| abs.checked_sub(self.head))
        else {
            return false;
        };
        let Some(e) = self.slots.get_mut(idx as usize).and_then(Option::take) else {
            return false;
        };
        self.pending -= 1;
        self.bytes -= e.bytes();
        true
    }

    /// Moves up to `max` entries into `out`.
    fn take(&mut self, out: &mut Vec<Entry>, max: usize) {
        while out.len() < max {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            let abs = self.head;
            self.head += 1;
            let Some(e) = slot else { continue };
            self.pending -= 1;
            self.bytes -= e.bytes();
            if let Entry::Update(u) = &e {
                if self.keyed.get(&u.key) == Some(&abs) {
                    self.keyed.remove(&u.key);
                }
            }
            out.push(e);
        }
    }
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
                bytes: 0,
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
                SLOW_CLIENT,
                format!("client too slow: nothing delivered for {secs:.0} s"),
            );
            return Pushed::Dropped("stalled");
        }
        let size = u.frame.len();
        let mut outcome = Pushed::Queued;
        if q.bytes + size > opts.conflate_after_bytes && q.conflate(&u.key) {
            outcome = Pushed::Conflated;
        }
        if q.bytes + size > opts.max_queued_bytes {
            drop(q);
            self.close(
                SLOW_CLIENT,
                format!(
                    "client too slow: more than {} KiB queued",
                    opts.max_queued_bytes / 1024
                ),
            );
            return Pushed::Dropped("queue_bytes");
        }
        let wake = q.push(Entry::Update(u.clone()));
        drop(q);
        if wake {
            self.ready.notify_one();
        }
        outcome
    }

    /// Queues a control event or marker (never conflated). Returns `false` when
    /// the client is closing.
    pub fn push(&self, e: Entry) -> bool {
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        let wake = q.push(e);
        drop(q);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// Moves up to `max` entries into `out` (which the caller reuses), waiting
    /// until there is at least one.
    pub async fn next_batch(&self, out: &mut Vec<Entry>, max: usize) {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.lock();
                q.take(out, max);
                if !out.is_empty() {
                    return;
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

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
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
            q.bytes = 0;
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

    async fn batch(o: &Outbox) -> Vec<Entry> {
        let mut out = Vec::new();
        o.next_batch(&mut out, 10).await;
        out
    }

    #[tokio::test]
    async fn conflates_per_key_past_the_soft_bound_and_drops_past_the_hard_one() {
        // Frames of these ticks are L bytes, give or take a digit of seq.
        let l = tick("A", 10).frame.len();
        let opts = WsOptions {
            conflate_after_bytes: 2 * l + l / 2,
            max_queued_bytes: 4 * l + l / 2,
            ..WsOptions::default()
        };
        let o = Outbox::new();
        assert_eq!(o.push_update(&tick("A", 1), &opts), Pushed::Queued);
        assert_eq!(o.push_update(&tick("B", 2), &opts), Pushed::Queued);
        // A third frame would pass the soft bound: A@1 is replaced by A@3, which
        // goes to the back (order per room kept).
        assert_eq!(o.push_update(&tick("A", 3), &opts), Pushed::Conflated);
        assert_eq!(o.pending(), 2);
        assert_eq!(o.queued_bytes(), 2 * l - 2);
        assert_eq!(seqs(&batch(&o).await), vec![2, 3]);
        assert_eq!(o.queued_bytes(), 0);
        for (i, p) in ["C", "D", "E", "F"].iter().enumerate() {
            let r = o.push_update(&tick(p, 10 + i as u64), &opts);
            assert_eq!(r, Pushed::Queued, "{p}");
        }
        assert_eq!(
            o.push_update(&tick("G", 20), &opts),
            Pushed::Dropped("queue_bytes")
        );
        let reason = o.closed().borrow().clone().expect("closed");
        assert_eq!(reason.code, SLOW_CLIENT);
        assert!(reason.reason.contains("KiB queued"), "{}", reason.reason);
        assert_eq!(o.push_update(&tick("H", 21), &opts), Pushed::Closed);
    }

    #[tokio::test]
    async fn one_wake_up_takes_everything_that_came_meanwhile() {
        let opts = WsOptions::default();
        let o = Outbox::new();
        for i in 0..5 {
            o.push_update(&tick(&format!("P{i}"), i + 1), &opts);
        }
        assert_eq!(seqs(&batch(&o).await), vec![1, 2, 3, 4, 5]);
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
