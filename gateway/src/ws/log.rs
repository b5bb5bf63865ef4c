//! A room's log: the live updates of one room, appended once by the fan-out
//! and read by every member's writer from its own cursor. Appending costs the
//! same for 10 or 10,000 members (only writers parked at the end of the log
//! are woken); each writer does its own reading, conflation and lag check on
//! its own task, so the per-client work spreads over every core instead of
//! queueing behind one fan-out task.
//!
//! An entry stays until every reader has passed it, or until the log holds
//! more than its byte bound: a reader left behind that far has lagged, reads
//! on from the end, and its writer resyncs the room (see [`super::outbox`]).

use crate::live::Update;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

/// Appends between two passes that drop what every reader has read.
const TRIM_EVERY: u32 = 32;

/// A reader's handle in a log: its slot among the log's readers.
pub(super) type ReaderId = usize;

struct Reader {
    /// Absolute index of the next entry to read.
    next: u64,
    /// Parked at the end of the log: woken by the next append.
    parked: bool,
    /// What wakes its writer.
    signal: Arc<Notify>,
}

/// A retained update.
struct Logged {
    update: Arc<Update>,
    /// Byte offset just past it.
    end: u64,
    /// When it was appended.
    at: Instant,
}

/// When a reader's backlog is conflated (see [`RoomLog::read`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Conflate {
    /// More than this many bytes waiting.
    pub(super) bytes: usize,
    /// Its oldest waiting update appended before this.
    pub(super) stale_before: Option<Instant>,
}

impl Conflate {
    /// Past `bytes` waiting, whatever their age.
    #[cfg(test)]
    pub(super) fn after_bytes(bytes: usize) -> Self {
        Self {
            bytes,
            stale_before: None,
        }
    }
}

struct Inner {
    /// Retained entries.
    ring: VecDeque<Logged>,
    /// Absolute index of `ring[0]`.
    first: u64,
    /// Byte offset where `ring[0]` starts (bytes ever appended before it).
    first_offset: u64,
    /// Bytes ever appended.
    end_offset: u64,
    readers: Vec<Option<Reader>>,
    free: Vec<ReaderId>,
    /// Readers parked at the end.
    parked: Vec<ReaderId>,
    since_trim: u32,
}

impl Inner {
    fn tail(&self) -> u64 {
        self.first + self.ring.len() as u64
    }

    /// Byte offset where entry `abs` starts (`abs` in `first..=tail`).
    fn offset_of(&self, abs: u64) -> u64 {
        match abs.checked_sub(self.first + 1) {
            None => self.first_offset,
            Some(i) => self.ring.get(i as usize).map_or(self.end_offset, |e| e.end),
        }
    }

    /// Drops the entries every reader has passed.
    fn trim_read(&mut self) {
        let tail = self.tail();
        let min = self
            .readers
            .iter()
            .flatten()
            .map(|r| r.next)
            .fold(tail, u64::min);
        self.pop_until(min);
    }

    fn pop_until(&mut self, abs: u64) {
        while self.first < abs {
            let Some(e) = self.ring.pop_front() else {
                break;
            };
            self.first += 1;
            self.first_offset = e.end;
        }
    }
}

/// What a read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// `taken` updates moved out, holding `bytes`; when `newest_only`, the
    /// whole backlog with `conflated` older ones of the same keys skipped.
    Taken {
        /// Updates moved into the output.
        taken: usize,
        /// Updates skipped for a newer one of their key.
        conflated: u64,
        /// Bytes of the frames taken.
        bytes: u64,
        /// The backlog was past the conflation bound.
        newest_only: bool,
    },
    /// Nothing new: the reader is parked and the next append wakes it.
    Parked,
    /// The reader fell behind what the log retains: it skipped `skipped`
    /// updates and now reads from the end of the log.
    Lagged {
        /// Updates it will never read from the log.
        skipped: u64,
    },
}

/// The log of one room.
pub(super) struct RoomLog {
    inner: Mutex<Inner>,
    /// Past this many bytes retained, the oldest entries go even if unread.
    retain_bytes: u64,
}

impl RoomLog {
    /// An empty log retaining at most `retain_bytes` of unread frames.
    pub(super) fn new(retain_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                ring: VecDeque::new(),
                first: 0,
                first_offset: 0,
                end_offset: 0,
                readers: Vec::new(),
                free: Vec::new(),
                parked: Vec::new(),
                since_trim: 0,
            }),
            retain_bytes: retain_bytes as u64,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation leaves the log consistent; a poisoned lock only means
        // another thread panicked elsewhere.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new reader at the end of the log, woken through `signal`.
    pub(super) fn attach(&self, signal: Arc<Notify>) -> ReaderId {
        let mut g = self.lock();
        let reader = Reader {
            next: g.tail(),
            parked: false,
            signal,
        };
        match g.free.pop() {
            Some(id) => {
                g.readers[id] = Some(reader);
                id
            }
            None => {
                g.readers.push(Some(reader));
                g.readers.len() - 1
            }
        }
    }

    /// Removes a reader.
    pub(super) fn detach(&self, id: ReaderId) {
        let mut g = self.lock();
        if g.readers.get_mut(id).and_then(Option::take).is_some() {
            g.free.push(id);
            g.parked.retain(|p| *p != id);
        }
    }

    /// Appends `u` and wakes the readers parked at the end.
    pub(super) fn append(&self, u: Arc<Update>) {
        let mut g = self.lock();
        let end = g.end_offset + u.frame.len() as u64;
        g.end_offset = end;
        g.ring.push_back(Logged {
            update: u,
            end,
            at: Instant::now(),
        });
        g.since_trim += 1;
        if g.since_trim >= TRIM_EVERY {
            g.since_trim = 0;
            g.trim_read();
        }
        // The byte bound: a reader still before the new first entry has lagged.
        while g.end_offset - g.first_offset > self.retain_bytes && g.ring.len() > 1 {
            let first = g.first + 1;
            g.pop_until(first);
        }
        let parked = std::mem::take(&mut g.parked);
        for id in &parked {
            if let Some(r) = g.readers.get_mut(*id).and_then(Option::as_mut) {
                r.parked = false;
                r.signal.notify_one();
            }
        }
        // Keep the allocation for the next round.
        g.parked = parked;
        g.parked.clear();
    }

    /// Moves reader `id`'s next updates into `out`: at most `max` of them and
    /// about `conflate.bytes` bytes, or, when more than that many bytes wait
    /// or the oldest waiting one is stale (`conflate.stale_before`), all of
    /// them with only the newest of each key kept (in the order of those
    /// newest ones; `on_skip` sees each one left out).
    pub(super) fn read(
        &self,
        id: ReaderId,
        max: usize,
        conflate: Conflate,
        on_skip: &mut dyn FnMut(&Update),
        out: &mut Vec<Arc<Update>>,
    ) -> Read {
        let mut g = self.lock();
        let (first, tail) = (g.first, g.tail());
        let Some(next) = g.readers.get(id).and_then(Option::as_ref).map(|r| r.next) else {
            return Read::Parked;
        };
        if next < first {
            if let Some(r) = g.readers.get_mut(id).and_then(Option::as_mut) {
                r.next = tail;
            }
            return Read::Lagged {
                skipped: tail - next,
            };
        }
        if next >= tail {
            if let Some(r) = g.readers.get_mut(id).and_then(Option::as_mut) {
                if !r.parked {
                    r.parked = true;
                    g.parked.push(id);
                }
            }
            return Read::Parked;
        }
        let waiting = g.end_offset - g.offset_of(next);
        let from = (next - first) as usize;
        let before = out.len();
        let mut conflated = 0;
        let conflate_after = conflate.bytes;
        let stale = match (conflate.stale_before, g.ring.get(from)) {
            (Some(before), Some(oldest)) => oldest.at < before,
            _ => false,
        };
        let newest_only = stale || waiting > conflate_after as u64;
        let new_next = if newest_only {
            let mut seen: HashSet<&str> = HashSet::new();
            let start = out.len();
            for Logged { update: u, .. } in g.ring.range(from..).rev() {
                if seen.insert(&u.key) {
                    out.push(u.clone());
                } else {
                    on_skip(u);
                    conflated += 1;
                }
            }
            out[start..].reverse();
            tail
        } else {
            // At most `max` updates and about `conflate_after` bytes: a reader
            // that is slow to take them looks again soon, and conflates then.
            let mut bytes = 0;
            let mut n = 0;
            for Logged { update: u, .. } in g.ring.range(from..).take(max) {
                if n > 0 && bytes >= conflate_after {
                    break;
                }
                bytes += u.frame.len();
                out.push(u.clone());
                n += 1;
            }
            next + n as u64
        };
        if let Some(r) = g.readers.get_mut(id).and_then(Option::as_mut) {
            r.next = new_next;
        }
        let bytes = out[before..].iter().map(|u| u.frame.len() as u64).sum();
        Read::Taken {
            taken: out.len() - before,
            conflated,
            bytes,
            newest_only,
        }
    }

    /// Entries retained (for tests and metrics).
    #[cfg(test)]
    fn retained(&self) -> usize {
        self.lock().ring.len()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::live::render;
    use ds_schemas::enriched::Enriched;
    use ds_schemas::EnrichedUnderlying;

    /// A rendered tick of `product` at `seq` (also the outbox's tests').
    pub(in crate::ws) fn tick(product: &str, seq: u64) -> Arc<Update> {
        let m = Enriched::Underlying(EnrichedUnderlying {
            product: product.into(),
            ..Default::default()
        });
        Arc::new(render::update(m, seq).expect("renders"))
    }

    /// Updates taken and conflated, when the read took any.
    fn counts(read: Read) -> Option<(usize, u64)> {
        match read {
            Read::Taken {
                taken, conflated, ..
            } => Some((taken, conflated)),
            _ => None,
        }
    }

    /// Reads with no conflation.
    fn read_all(log: &RoomLog, r: ReaderId, max: usize, out: &mut Vec<Arc<Update>>) -> Read {
        log.read(r, max, Conflate::after_bytes(usize::MAX), &mut |_| {}, out)
    }

    fn seqs(v: &[Arc<Update>]) -> Vec<u64> {
        v.iter().map(|u| u.value.seq).collect()
    }

    #[test]
    fn readers_start_at_the_end_and_read_in_order_in_batches() {
        let log = RoomLog::new(1 << 20);
        log.append(tick("A", 1));
        let r = log.attach(Arc::new(Notify::new()));
        for s in 2..=6 {
            log.append(tick("A", s));
        }
        let mut out = Vec::new();
        assert_eq!(counts(read_all(&log, r, 3, &mut out)), Some((3, 0)));
        assert_eq!(seqs(&out), vec![2, 3, 4]);
        out.clear();
        read_all(&log, r, 10, &mut out);
        assert_eq!(seqs(&out), vec![5, 6]);
        assert_eq!(read_all(&log, r, 10, &mut out), Read::Parked);
    }

    #[test]
    fn past_the_bound_only_the_newest_of_each_key_is_read() {
        let log = RoomLog::new(1 << 20);
        let r = log.attach(Arc::new(Notify::new()));
        for (p, s) in [("A", 1), ("B", 2), ("A", 3), ("C", 4), ("B", 5)] {
            log.append(tick(p, s));
        }
        let mut out = Vec::new();
        let got = log.read(r, 2, Conflate::after_bytes(1), &mut |_| {}, &mut out);
        assert_eq!(counts(got), Some((3, 2)));
        assert_eq!(seqs(&out), vec![3, 4, 5]);
    }

    /// A backlog whose oldest update is stale is conflated however small; a
    /// fresh one is read in full.
    #[test]
    fn a_stale_backlog_is_read_newest_per_key() {
        let log = RoomLog::new(1 << 20);
        let r = log.attach(Arc::new(Notify::new()));
        let before = Instant::now();
        for (p, s) in [("A", 1), ("A", 2), ("B", 3), ("A", 4)] {
            log.append(tick(p, s));
        }
        let fresh = Conflate {
            bytes: usize::MAX,
            stale_before: Some(before),
        };
        let mut out = Vec::new();
        let got = log.read(r, 2, fresh, &mut |_| {}, &mut out);
        // Both updates of key A: nothing conflated.
        assert_eq!(counts(got), Some((2, 0)));
        assert_eq!(seqs(&out), vec![1, 2]);
        log.append(tick("B", 5));
        let stale = Conflate {
            bytes: usize::MAX,
            stale_before: Some(Instant::now()),
        };
        out.clear();
        let mut skipped = Vec::new();
        let got = log.read(r, 2, stale, &mut |u| skipped.push(u.value.seq), &mut out);
        assert_eq!(counts(got), Some((2, 1)));
        assert_eq!(seqs(&out), vec![4, 5]);
        assert_eq!(skipped, vec![3]);
    }

    #[test]
    fn what_every_reader_passed_is_dropped_and_a_reader_left_too_far_behind_lags() {
        let l = tick("A", 10).frame.len();
        let log = RoomLog::new(8 * l);
        let fast = log.attach(Arc::new(Notify::new()));
        let slow = log.attach(Arc::new(Notify::new()));
        let mut out = Vec::new();
        for s in 0..(2 * TRIM_EVERY as u64) {
            log.append(tick("A", s + 10));
            out.clear();
            read_all(&log, fast, 100, &mut out);
        }
        // The slow reader keeps the log at its byte bound, then falls off it.
        assert!(log.retained() <= 8, "{}", log.retained());
        assert!(matches!(
            read_all(&log, slow, 100, &mut out),
            Read::Lagged { skipped } if skipped == 2 * u64::from(TRIM_EVERY)
        ));
        // It reads on from the end.
        assert_eq!(read_all(&log, slow, 100, &mut out), Read::Parked);
        log.detach(slow);
        for s in 0..u64::from(TRIM_EVERY) {
            log.append(tick("A", s + 1000));
        }
        out.clear();
        read_all(&log, fast, 1000, &mut out);
        log.append(tick("A", 5000));
        for s in 0..u64::from(TRIM_EVERY) {
            log.append(tick("A", s + 6000));
            out.clear();
            read_all(&log, fast, 1000, &mut out);
        }
        assert!(log.retained() < TRIM_EVERY as usize, "{}", log.retained());
    }

    #[tokio::test]
    async fn an_append_wakes_a_parked_reader_once() {
        let log = RoomLog::new(1 << 20);
        let signal = Arc::new(Notify::new());
        let r = log.attach(signal.clone());
        let mut out = Vec::new();
        assert_eq!(read_all(&log, r, 10, &mut out), Read::Parked);
        assert_eq!(read_all(&log, r, 10, &mut out), Read::Parked);
        let woken = signal.notified();
        log.append(tick("A", 1));
        tokio::time::timeout(std::time::Duration::from_secs(5), woken)
            .await
            .expect("woken");
        assert!(matches!(
            read_all(&log, r, 10, &mut out),
            Read::Taken { taken: 1, .. }
        ));
    }
}
