//! A client's outbound side: its control queue (events of its own requests,
//! room joins and leaves, in order) and its cursors into the logs of the rooms
//! it is in ([`super::log`]). The fan-out appends each live update once per
//! room; the client's writer reads its rooms' logs from its own cursors, so
//! the per-client work of a broadcast (taking, conflating, checking how far
//! behind the client is) happens on the writer's task, on any core, and only
//! for clients that are ready to write.
//!
//! With more than `conflate_after_bytes` of a room waiting, or its oldest
//! waiting update older than `conflate_after_age`, the writer takes only the
//! newest update of each key (latest-value conflation); a client more than `max_queued_bytes` behind (a
//! room's log no longer holds its next update), or whose writer has been stuck
//! on a write for `stall_timeout`, is closed with a reason.

use super::log::{Conflate, Read, ReaderId, RoomLog};
use super::options::{WsOptions, SLOW_CLIENT};
use super::protocol::Encoding;
use crate::live::Update;
use axum::extract::ws::Utf8Bytes;
use ds_runtime::metrics::metrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Something to send, in order.
#[derive(Debug)]
pub enum Entry {
    /// A live message of a room the client is in.
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
        /// Its cursor in the room's log, placed when the client joined; the
        /// room's updates are read from it once the writer has this entry.
        cursor: Option<Cursor>,
    },
    /// A room again from scratch (`resync`, asked for by the client or because
    /// it fell behind the room's log): the next frame of each of its chains is
    /// whole, after the room's latest values when `snapshot` (a live room; a
    /// replay session stores none).
    Resync {
        /// The room.
        room: Arc<str>,
        /// Send the latest values.
        snapshot: bool,
        /// Why, as the `resync` event says.
        reason: &'static str,
    },
}

/// A client's place in a room's log; leaves the log when dropped.
pub struct Cursor {
    room: Arc<str>,
    log: Arc<RoomLog>,
    id: ReaderId,
    /// A live room: the latest values can be sent again after a lag.
    snapshot: bool,
}

impl Cursor {
    /// A cursor at the end of `log`, woken through `signal`.
    fn new(room: Arc<str>, log: Arc<RoomLog>, signal: Arc<Notify>, snapshot: bool) -> Self {
        let id = log.attach(signal);
        Self {
            room,
            log,
            id,
            snapshot,
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.log.detach(self.id);
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("room", &self.room)
            .field("id", &self.id)
            .finish()
    }
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

struct Queue {
    /// Control entries, in order.
    control: VecDeque<Entry>,
    /// The rooms whose `Join` the writer has taken: their updates are read.
    rooms: Vec<Cursor>,
    /// Reused between reads.
    scratch: Vec<Arc<Update>>,
    closed: bool,
}

/// Milliseconds since the process's first outbox, for the stall clock.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The control queue and room cursors of one client, plus the signals its
/// writer waits on.
pub struct Outbox {
    q: Mutex<Queue>,
    ready: Arc<Notify>,
    close: watch::Sender<Option<CloseReason>>,
    /// The writer has something in hand (not parked waiting for more).
    busy: AtomicBool,
    /// When the writer last delivered something, or last found work after
    /// being parked ([`now_ms`]).
    last_progress: AtomicU64,
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
                control: VecDeque::new(),
                rooms: Vec::new(),
                scratch: Vec::new(),
                closed: false,
            }),
            ready: Arc::new(Notify::new()),
            close: watch::channel(None).0,
            busy: AtomicBool::new(false),
            last_progress: AtomicU64::new(now_ms()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Queue operations leave it consistent at every step; a poisoned lock
        // only means another thread panicked elsewhere.
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues joining `room`, whose updates are read from `log` from now on
    /// (call it where no update can be appended to `log` meanwhile, so the
    /// room's snapshot and its log have no gap). `false` when the client is
    /// closing.
    pub(super) fn join(
        &self,
        room: Arc<str>,
        log: Arc<RoomLog>,
        start: Start,
        encoding: Encoding,
    ) -> bool {
        // Only a replay session's rooms start live: they store no snapshot.
        let snapshot = start != Start::Live;
        let cursor = Cursor::new(room.clone(), log, self.ready.clone(), snapshot);
        self.push(Entry::Join {
            room,
            start,
            encoding,
            cursor: Some(cursor),
        })
    }

    /// Queues a control event or marker. Returns `false` when the client is
    /// closing.
    pub fn push(&self, e: Entry) -> bool {
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        q.control.push_back(e);
        drop(q);
        self.ready.notify_one();
        true
    }

    /// Moves up to about `max` entries into `out` (which the caller reuses),
    /// waiting until there is at least one: control entries first, then each
    /// room's updates (all of them, newest per key, when the room is more than
    /// `opts.conflate_after_bytes` or `opts.conflate_after_age` behind). A client left behind by a room's
    /// log is closed; its writer then sees the close.
    pub async fn next_batch(&self, out: &mut Vec<Entry>, max: usize, opts: &WsOptions) {
        loop {
            let notified = self.ready.notified();
            if self.take(out, max, opts) {
                if !self.busy.swap(true, Ordering::Relaxed) {
                    // The stall clock runs from when work arrived.
                    self.last_progress.store(now_ms(), Ordering::Relaxed);
                }
                return;
            }
            self.busy.store(false, Ordering::Relaxed);
            notified.await;
        }
    }

    /// Takes what is there; `true` when `out` got something.
    fn take(&self, out: &mut Vec<Entry>, max: usize, opts: &WsOptions) -> bool {
        let mut too_far = false;
        let mut resyncs = Vec::new();
        // Updates skipped by event, counted into the metric once per take.
        let mut tally = Skipped::default();
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        while out.len() < max {
            let Some(mut e) = q.control.pop_front() else {
                break;
            };
            match &mut e {
                Entry::Join { cursor, .. } => {
                    if let Some(c) = cursor.take() {
                        q.rooms.retain(|r| r.room != c.room);
                        q.rooms.push(c);
                    }
                }
                Entry::Left(room) => q.rooms.retain(|r| r.room != *room),
                _ => {}
            }
            out.push(e);
        }
        let conflate = Conflate {
            bytes: opts.conflate_after_bytes,
            stale_before: Instant::now().checked_sub(opts.conflate_after_age),
        };
        let Queue { rooms, scratch, .. } = &mut *q;
        for c in rooms.iter() {
            let room_max = max.saturating_sub(out.len() + scratch.len()).max(1);
            let mut skipped = |u: &Update| tally.add(u.event.name());
            let read = c.log.read(c.id, room_max, conflate, &mut skipped, scratch);
            match read {
                Read::Taken {
                    bytes,
                    newest_only: true,
                    ..
                } if bytes > opts.max_queued_bytes as u64 => {
                    // Even its latest values are more than it may have queued.
                    too_far = true;
                }
                Read::Lagged { skipped } => {
                    // What it missed is replaced by the room's latest values
                    // (after this batch's updates: it read none of this room).
                    tally.add_n("resync", skipped);
                    resyncs.push(Entry::Resync {
                        room: c.room.clone(),
                        snapshot: c.snapshot,
                        reason: "fell behind the room",
                    });
                }
                Read::Taken { .. } | Read::Parked => {}
            }
        }
        // The rooms' updates merged back into the order they were published
        // (each room's are in order already; the sort is stable).
        if rooms.len() > 1 {
            scratch.sort_by_key(|u| u.value.seq);
        }
        out.extend(scratch.drain(..).map(Entry::Update));
        out.append(&mut resyncs);
        drop(q);
        tally.count();
        if too_far {
            self.close(
                SLOW_CLIENT,
                format!(
                    "client too slow: more than {} KiB queued",
                    opts.max_queued_bytes / 1024
                ),
            );
            dropped("queue_bytes");
            out.clear();
            return false;
        }
        !out.is_empty()
    }

    /// The writer handed something to the socket.
    pub fn progress(&self) {
        self.last_progress.store(now_ms(), Ordering::Relaxed);
    }

    /// Closes the client if its writer has had work in hand without delivering
    /// anything for `opts.stall_timeout`; `true` when it did.
    pub fn close_if_stalled(&self, opts: &WsOptions) -> bool {
        let stuck_ms = now_ms().saturating_sub(self.last_progress.load(Ordering::Relaxed));
        if !self.busy.load(Ordering::Relaxed)
            || Duration::from_millis(stuck_ms) <= opts.stall_timeout
            || self.is_closed()
        {
            return false;
        }
        let secs = opts.stall_timeout.as_secs_f64();
        self.close(
            SLOW_CLIENT,
            format!("client too slow: nothing delivered for {secs:.0} s"),
        );
        dropped("stalled");
        true
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the client with `code` and `reason` (the first close wins); pending
    /// entries are discarded and its rooms' logs no longer wait for it.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let (control, rooms) = {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            q.closed = true;
            (std::mem::take(&mut q.control), std::mem::take(&mut q.rooms))
        };
        // Detached outside the client's lock.
        drop((control, rooms));
        let reason = reason.into();
        self.close.send_replace(Some(CloseReason { code, reason }));
    }

    /// Watches for [`Outbox::close`].
    pub fn closed(&self) -> watch::Receiver<Option<CloseReason>> {
        self.close.subscribe()
    }
}

/// Updates a client skipped in one take, by event: for a newer one of their
/// key, or (`resync`) left behind in a room's log and replaced by its latest
/// values. A handful of events, so a short list.
#[derive(Default)]
struct Skipped(Vec<(&'static str, u64)>);

impl Skipped {
    fn add(&mut self, event: &'static str) {
        self.add_n(event, 1);
    }

    fn add_n(&mut self, event: &'static str, n: u64) {
        match self.0.iter_mut().find(|(e, _)| *e == event) {
            Some((_, c)) => *c += n,
            None => self.0.push((event, n)),
        }
    }

    /// Adds them to `deltastream_ws_conflated_total`.
    fn count(&self) {
        for (event, n) in &self.0 {
            metrics()
                .gateway
                .ws_conflated
                .with_label_values(&[event])
                .inc_by(*n);
        }
    }
}

/// Counts a client disconnected for being too slow (`reason`: `stalled` or
/// `queue_bytes`).
fn dropped(reason: &'static str) {
    tracing::info!(
        reason,
        "disconnecting a WebSocket client that does not read"
    );
    metrics()
        .gateway
        .ws_dropped
        .with_label_values(&[reason])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::super::log::tests::tick;
    use super::*;

    fn seqs(batch: &[Entry]) -> Vec<u64> {
        batch
            .iter()
            .filter_map(|e| match e {
                Entry::Update(u) => Some(u.value.seq),
                _ => None,
            })
            .collect()
    }

    async fn batch(o: &Outbox, opts: &WsOptions) -> Vec<Entry> {
        let mut out = Vec::new();
        o.next_batch(&mut out, 10, opts).await;
        out
    }

    /// An outbox in a room with the given bounds, its `Join` already taken.
    async fn joined(opts: &WsOptions) -> (Outbox, Arc<RoomLog>) {
        let log = Arc::new(RoomLog::new(opts.max_queued_bytes));
        let o = Outbox::new();
        assert!(o.join(Arc::from("r"), log.clone(), Start::Live, Encoding::Full));
        let first = batch(&o, opts).await;
        assert!(matches!(first[..], [Entry::Join { .. }]), "{first:?}");
        (o, log)
    }

    #[tokio::test]
    async fn conflates_per_key_past_the_soft_bound_and_resyncs_past_the_log() {
        // Frames of these ticks are L bytes, give or take a digit of seq.
        let l = tick("A", 10).frame.len();
        let opts = WsOptions {
            conflate_after_bytes: 2 * l + l / 2,
            max_queued_bytes: 4 * l + l / 2,
            // Bytes only: a test thread paused 100 ms must not conflate.
            conflate_after_age: Duration::from_secs(3600),
            ..WsOptions::default()
        };
        let (o, log) = joined(&opts).await;
        log.append(tick("A", 1));
        log.append(tick("B", 2));
        // Under the soft bound: everything, in order.
        assert_eq!(seqs(&batch(&o, &opts).await), vec![1, 2]);
        // Past it: A@3 replaces A@1 and stays behind B@2 (order per key kept).
        for (p, s) in [("A", 3), ("B", 4), ("A", 5)] {
            log.append(tick(p, s));
        }
        assert_eq!(seqs(&batch(&o, &opts).await), vec![4, 5]);
        // Further behind than the log keeps: the room again from its latest values.
        for (i, p) in ["C", "D", "E", "F", "G", "H"].iter().enumerate() {
            log.append(tick(p, 10 + i as u64));
        }
        let got = batch(&o, &opts).await;
        assert!(
            matches!(&got[..], [Entry::Resync { snapshot: false, reason, .. }] if reason.contains("behind")),
            "{got:?}"
        );
        assert!(o.closed().borrow().is_none());
    }

    #[tokio::test]
    async fn a_client_whose_latest_values_exceed_the_hard_bound_is_closed() {
        let l = tick("A", 10).frame.len();
        let opts = WsOptions {
            conflate_after_bytes: l,
            max_queued_bytes: 2 * l + l / 2,
            conflate_after_age: Duration::from_secs(3600),
            ..WsOptions::default()
        };
        let (o, log) = joined(&WsOptions::default()).await;
        // Three keys, each once: conflation keeps all three, over the bound.
        for (i, p) in ["A", "B", "C"].iter().enumerate() {
            log.append(tick(p, 10 + i as u64));
        }
        let mut out = Vec::new();
        assert!(!o.take(&mut out, 10, &opts));
        let reason = o.closed().borrow().clone().expect("closed");
        assert_eq!(reason.code, SLOW_CLIENT);
        assert!(reason.reason.contains("KiB queued"), "{}", reason.reason);
        assert!(!o.push(Entry::Text("late".into())));
    }

    #[tokio::test]
    async fn one_wake_up_takes_everything_that_came_meanwhile() {
        let opts = WsOptions::default();
        let (o, log) = joined(&opts).await;
        let waiting = tokio::spawn(async move {
            let got = batch(&o, &WsOptions::default()).await;
            seqs(&got)
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for i in 0..5 {
            log.append(tick(&format!("P{i}"), i + 1));
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task");
        assert!(
            !got.is_empty() && got == (1..=got.len() as u64).collect::<Vec<_>>(),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_writer_stuck_with_work_in_hand_is_closed_and_an_idle_one_is_not() {
        let opts = WsOptions {
            stall_timeout: Duration::from_millis(50),
            ..WsOptions::default()
        };
        let (o, log) = joined(&opts).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Its writer delivered the Join and has nothing in hand: not stalled.
        o.progress();
        let mut out = Vec::new();
        assert!(!o.take(&mut out, 10, &opts));
        o.busy.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(!o.close_if_stalled(&opts));
        // It takes an update and never gets it out.
        log.append(tick("A", 1));
        assert_eq!(seqs(&batch(&o, &opts).await), vec![1]);
        assert!(!o.close_if_stalled(&opts));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(o.close_if_stalled(&opts));
        let reason = o.closed().borrow().clone().expect("closed");
        assert!(
            reason.reason.contains("nothing delivered"),
            "{}",
            reason.reason
        );
    }
}
