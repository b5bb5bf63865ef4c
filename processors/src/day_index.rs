//! Where each trading day of each product lies in `MD_RAW`: the enrichers record
//! the first and last sequence of every (product, day) they apply in the
//! `ds_day_index` KV bucket, so `replay` finds a day without scanning the stream
//! (event time, not storage time: a back-filled day is indexed like a live one).

use anyhow::Context as _;
use async_nats::jetstream::kv::Store;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The index bucket (declared in `nats/kv/ds_day_index.json`).
pub const BUCKET: &str = "ds_day_index";

/// The `MD_RAW` sequences of one product's trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRange {
    /// Sequence of the day's first message.
    pub first_seq: u64,
    /// Sequence of the day's last message (so far).
    pub last_seq: u64,
}

impl DayRange {
    fn merge(self, other: DayRange) -> DayRange {
        DayRange {
            first_seq: self.first_seq.min(other.first_seq),
            last_seq: self.last_seq.max(other.last_seq),
        }
    }
}

/// The key of a product's day, e.g. `NIFTY.2025-01-15`.
pub fn key(product: &str, day: NaiveDate) -> String {
    format!("{product}.{}", day.format("%Y-%m-%d"))
}

/// The days a batch touched, with their sequence ranges.
#[derive(Debug, Default, Clone)]
pub struct Touched(BTreeMap<NaiveDate, DayRange>);

impl Touched {
    /// Records that `seq` belongs to `day`.
    pub fn touch(&mut self, day: NaiveDate, seq: u64) {
        let r = DayRange {
            first_seq: seq,
            last_seq: seq,
        };
        self.0
            .entry(day)
            .and_modify(|x| *x = x.merge(r))
            .or_insert(r);
    }

    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Opens the index bucket.
///
/// # Errors
/// When it is missing (run `topology apply`).
pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Store> {
    js.get_key_value(BUCKET)
        .await
        .with_context(|| format!("KV bucket {BUCKET} is missing; run `deltastream topology apply`"))
}

/// A product's view of the index, cached so a batch costs one write per day it
/// touched (no read): the product's owner is the only writer of its keys.
#[derive(Debug, Default)]
pub struct Recorder {
    known: BTreeMap<NaiveDate, DayRange>,
}

impl Recorder {
    /// Merges the ranges of `touched` into the index (min of firsts, max of lasts:
    /// idempotent, so re-applying a batch after a crash changes nothing).
    ///
    /// # Errors
    /// When the bucket cannot be read or written.
    pub async fn record(
        &mut self,
        kv: &Store,
        product: &str,
        touched: &Touched,
    ) -> anyhow::Result<()> {
        for (day, range) in &touched.0 {
            let k = key(product, *day);
            let old = match self.known.get(day) {
                Some(r) => Some(*r),
                None => match kv.get(&k).await? {
                    Some(v) => serde_json::from_slice::<DayRange>(&v).ok(),
                    None => None,
                },
            };
            let merged = old.map_or(*range, |o| o.merge(*range));
            if old != Some(merged) {
                kv.put(&k, Bytes::from(serde_json::to_vec(&merged)?))
                    .await?;
            }
            self.known.insert(*day, merged);
        }
        // Keep the cache small: days long gone are not touched again (and if they
        // are, they are read back).
        while self.known.len() > 8 {
            self.known.pop_first();
        }
        Ok(())
    }
}

/// Where `product`'s `day` lies in `MD_RAW`, if the enrichers have seen it.
///
/// # Errors
/// When the bucket cannot be read.
pub async fn lookup(kv: &Store, product: &str, day: NaiveDate) -> anyhow::Result<Option<DayRange>> {
    match kv.get(key(product, day)).await? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}
