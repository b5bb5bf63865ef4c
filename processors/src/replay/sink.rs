//! Writing a replayed product's projections with the projector's own document
//! code ([`docs::writes`]) and store ([`Store`]), in batches handed to a writer task so enrichment and
//! writes overlap; every write journaled (the client's write concern, or an
//! explicit `j: true` on raw commands).
//!
//! Two modes:
//! - [`DbMode::Fresh`]: a database with nothing of that day yet: the projector's
//!   [`Store::write`] (inserts keyed by the event, latest-value upserts);
//! - [`DbMode::Overwrite`]: the live database (`--in-place`) or a re-run: every
//!   document is replaced in place under the same `_id` (so a reader sees either
//!   the old or the new version of a document, never a missing one; standalone
//!   MongoDB has no multi-document transactions), and once the whole day is
//!   replayed, that day's documents of the product that the replay did not produce
//!   (from messages in the replayed range) are deleted.

use super::ReplayError;
use crate::project::docs::{self, DocWrite, Write};
use crate::project::store::{Durability, Store};
use chrono::NaiveDate;
use ds_analytics::market::{session_bounds, trading_day, Exchange};
use ds_runtime::backoff::Backoff;
use ds_schemas::enriched::Enriched;
use mongodb::bson::Bson;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How documents are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbMode {
    /// Nothing of that day is there yet: insert.
    Fresh,
    /// Replace in place, then delete what the replay did not produce.
    Overwrite,
}

/// How long a transient MongoDB failure is retried before the replay gives up.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// The UTC nanoseconds `[start, end)` of `date` in `exchange`'s time zone, found
/// by bisection over [`trading_day`] (monotonic in time), so it is exact on
/// daylight-saving days too.
pub fn day_bounds(date: NaiveDate, exchange: Exchange) -> (i64, i64) {
    const DAY: i64 = 86_400 * 1_000_000_000;
    let open = session_bounds(date, exchange).0;
    // The smallest t in (lo, hi] with trading_day(t) > limit_day, given lo is not.
    let first_after = |mut lo: i64, mut hi: i64, limit: NaiveDate| {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if trading_day(mid, exchange) > limit {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    };
    let prev = date.pred_opt().unwrap_or(date);
    let start = first_after(open - 2 * DAY, open, prev);
    let end = first_after(open, open + 2 * DAY, date);
    (start, end)
}

/// [`DbMode::Fresh`] when `store` holds nothing of `product`'s `date`, else
/// [`DbMode::Overwrite`] (a re-run, possibly after an analytics change).
///
/// # Errors
/// When MongoDB fails.
pub async fn mode_for(
    store: &Store,
    product: &str,
    exchange: Exchange,
    date: NaiveDate,
) -> Result<DbMode, ReplayError> {
    let ids = store
        .day_ids(product, day_bounds(date, exchange), None, Some(1))
        .await?;
    Ok(if ids.values().all(Vec::is_empty) {
        DbMode::Fresh
    } else {
        DbMode::Overwrite
    })
}

/// What a sink did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkDone {
    /// Documents written.
    pub written: u64,
    /// Documents deleted (not produced by the replay).
    pub deleted: u64,
}

/// The projections of one replayed product.
pub struct ProjectionSink {
    store: Store,
    mode: DbMode,
    pending: Vec<DocWrite>,
    pending_messages: usize,
    /// Ids of append-only documents produced, per collection (overwrite mode).
    produced: HashMap<&'static str, HashSet<String>>,
    tx: Option<mpsc::Sender<Vec<DocWrite>>>,
    writer: JoinHandle<Result<u64, ReplayError>>,
}

impl ProjectionSink {
    /// Starts the writer task.
    pub fn start(store: Store, mode: DbMode) -> Self {
        let (tx, rx) = mpsc::channel(4);
        let writer = tokio::spawn(writer(store.clone(), mode, rx));
        Self {
            store,
            mode,
            pending: Vec::new(),
            pending_messages: 0,
            produced: HashMap::new(),
            tx: Some(tx),
            writer,
        }
    }

    /// Adds the documents of one raw message's outputs.
    ///
    /// # Errors
    /// When an output cannot be represented in BSON.
    pub fn add(&mut self, outputs: &[Enriched]) -> Result<(), mongodb::bson::ser::Error> {
        for o in outputs {
            for w in docs::writes(o)? {
                if self.mode == DbMode::Overwrite && w.write == Write::Insert {
                    self.produced
                        .entry(w.collection)
                        .or_default()
                        .insert(w.id.clone());
                }
                self.pending.push(w);
            }
        }
        self.pending_messages += 1;
        Ok(())
    }

    /// Raw messages whose documents are not handed over yet.
    pub fn pending_messages(&self) -> usize {
        self.pending_messages
    }

    /// Hands the pending documents to the writer (waits while it is busy).
    ///
    /// # Errors
    /// The writer's error when it failed.
    pub async fn hand_over(&mut self) -> Result<(), ReplayError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_messages = 0;
        let sent = match &self.tx {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped: its result says why.
            self.tx = None;
            match (&mut self.writer).await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(_)) => Err(ReplayError::Refused("the database writer stopped".into())),
                Err(e) => Err(ReplayError::Refused(format!(
                    "the database writer failed: {e}"
                ))),
            }
        }
    }

    /// Writes what is left and waits until everything is durable; then, in
    /// overwrite mode and when the whole range `seqs` was replayed, deletes that
    /// day's documents of `product` from the range that the replay did not produce.
    ///
    /// # Errors
    /// When a write or the clean-up fails.
    pub async fn finish(
        mut self,
        product: &str,
        exchange: Exchange,
        date: NaiveDate,
        seqs: Option<(u64, u64)>,
    ) -> Result<SinkDone, ReplayError> {
        self.hand_over().await?;
        self.tx = None;
        let written = match (&mut self.writer).await {
            Ok(r) => r?,
            Err(e) => {
                return Err(ReplayError::Refused(format!(
                    "the database writer failed: {e}"
                )))
            }
        };
        let mut deleted = 0;
        if let (DbMode::Overwrite, Some(range)) = (self.mode, seqs) {
            let existing = self
                .store
                .day_ids(product, day_bounds(date, exchange), Some(range), None)
                .await?;
            for (coll, ids) in existing {
                let produced = self.produced.get(coll);
                let extra: Vec<Bson> = ids
                    .into_iter()
                    .filter(|id| {
                        !id.as_str()
                            .is_some_and(|s| produced.is_some_and(|p| p.contains(s)))
                    })
                    .collect();
                deleted += self.store.delete(coll, &extra).await?;
            }
        }
        Ok(SinkDone { written, deleted })
    }
}

async fn writer(
    store: Store,
    mode: DbMode,
    mut rx: mpsc::Receiver<Vec<DocWrite>>,
) -> Result<u64, ReplayError> {
    let mut written = 0u64;
    while let Some(batch) = rx.recv().await {
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let r = match mode {
                DbMode::Fresh => store.write(&batch, Durability::EachWrite).await,
                DbMode::Overwrite => store.overwrite(&batch).await,
            };
            match r {
                Ok(()) => break,
                Err(e) if e.is_transient() && started.elapsed() < RETRY_FOR => {
                    tracing::warn!(error = %e, backoff = ?backoff.current(), "MongoDB unavailable; retrying replay batch");
                    backoff.sleep().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        written += batch.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_bounds_are_local_midnights() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).expect("date");
        let (s, e) = day_bounds(d, Exchange::Nse);
        // 2025-01-15 00:00 IST = 2025-01-14 18:30 UTC.
        assert_eq!(s, 1_736_879_400_000_000_000);
        assert_eq!(e - s, 86_400_000_000_000);
        // New York on the day clocks go forward: a 23-hour day.
        let dst = NaiveDate::from_ymd_opt(2025, 3, 9).expect("date");
        let (s, e) = day_bounds(dst, Exchange::Us);
        assert_eq!(e - s, 23 * 3_600_000_000_000);
        assert_eq!(trading_day(s, Exchange::Us), dst);
        assert_eq!(
            trading_day(s - 1, Exchange::Us),
            dst.pred_opt().expect("date")
        );
    }
}
