//! Reading ranges of `MD_RAW` in order: an ephemeral ordered consumer with the
//! given filter subjects from each run's first sequence, ended after its last
//! (or when the stream has nothing more). Nothing durable is created and no
//! live consumer moves.

use super::ReplayError;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::Context;
use bytes::Bytes;
use ds_schemas::subjects;
use futures::StreamExt;
use prost::Message as _;
use std::collections::VecDeque;

/// A raw message as stored.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Its `MD_RAW` sequence.
    pub seq: u64,
    /// Its subject.
    pub subject: String,
    /// Its `Ds-Schema` header.
    pub schema: Option<String>,
    /// Its bytes.
    pub payload: Bytes,
}

/// The messages on some subjects in runs of sequences (each `[first, last]`),
/// in stream order: one ordered consumer per run, opened when the run before ends.
pub struct RangeReader {
    js: Context,
    /// What the reader reads, for its errors and its consumers' description.
    label: String,
    /// The subjects read.
    filters: Vec<String>,
    /// Runs not opened yet.
    runs: VecDeque<(u64, u64)>,
    messages: Option<Ordered>,
    last: u64,
}

/// Opens the `runs` of `MD_RAW` (see [`Located::runs`](super::locate::Located::runs)
/// and [`union`]) on the subjects `filters`; `label` names them in errors.
///
/// # Errors
/// When `MD_RAW` is missing or the consumer cannot be created.
pub async fn open(
    js: &Context,
    label: &str,
    filters: Vec<String>,
    runs: Vec<(u64, u64)>,
) -> Result<RangeReader, ReplayError> {
    let mut reader = RangeReader {
        js: js.clone(),
        label: label.to_owned(),
        filters,
        runs: runs.into(),
        messages: None,
        last: 0,
    };
    reader.open_next().await?;
    Ok(reader)
}

impl RangeReader {
    /// Opens the next run that holds messages; `false` when none is left. A run
    /// leaves the queue only once its consumer is open (cancel-safe).
    async fn open_next(&mut self) -> Result<bool, ReplayError> {
        while let Some(&(first, last)) = self.runs.front() {
            if first > last {
                self.runs.pop_front();
                continue;
            }
            let stream = self
                .js
                .get_stream(subjects::STREAM_RAW)
                .await
                .map_err(|e| {
                    ReplayError::nats(format!("MD_RAW: {e} (run `deltastream topology apply`)"))
                })?;
            let label = &self.label;
            let consumer = stream
                .create_consumer(OrderedConfig {
                    description: Some(format!("replay of {label} (ephemeral)")),
                    filter_subjects: self.filters.clone(),
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: first.max(1),
                    },
                    ..Default::default()
                })
                .await
                .map_err(|e| ReplayError::nats(format!("ordered consumer on {label}: {e}")))?;
            if consumer.cached_info().num_pending == 0 {
                // Nothing from `first` on: no later run holds anything either.
                self.runs.clear();
                return Ok(false);
            }
            self.messages = Some(
                consumer
                    .messages()
                    .await
                    .map_err(|e| ReplayError::nats(format!("reading {label}: {e}")))?,
            );
            self.runs.pop_front();
            self.last = last;
            return Ok(true);
        }
        Ok(false)
    }

    /// The next message of the runs, `None` at their end. Cancel-safe (a
    /// cancelled call loses no message).
    ///
    /// # Errors
    /// When the consumer fails.
    pub async fn next(&mut self) -> Result<Option<RawMessage>, ReplayError> {
        loop {
            if self.messages.is_none() && !self.open_next().await? {
                return Ok(None);
            }
            let Some(messages) = self.messages.as_mut() else {
                return Ok(None);
            };
            let m = match messages.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(ReplayError::nats(format!("reading MD_RAW: {e}"))),
                None => {
                    self.messages = None;
                    continue;
                }
            };
            let info = m
                .info()
                .map_err(|e| ReplayError::nats(format!("message info: {e}")))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if seq > self.last {
                self.messages = None;
                continue;
            }
            if seq == self.last || pending == 0 {
                // The run ends here: stop pulling (the consumer goes with it).
                self.messages = None;
                if pending == 0 {
                    self.runs.clear();
                }
            }
            let m = m.split().0;
            return Ok(Some(RawMessage {
                seq,
                subject: m.subject.to_string(),
                schema: ds_runtime::headers::schema(m.headers.as_ref()).map(str::to_owned),
                payload: m.payload,
            }));
        }
    }
}

/// The runs (each `[first, last]`) that cover every sequence of any of `runs`,
/// in order, overlapping or adjacent ones merged.
pub fn union(runs: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = runs.into_iter().filter(|(f, l)| f <= l).collect();
    runs.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
    for (first, last) in runs {
        match merged.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    merged
}

#[derive(Clone, PartialEq, prost::Message)]
struct TickTime {
    #[prost(int64, tag = "3")]
    ts_unix_ns: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ChainTime {
    #[prost(int64, tag = "4")]
    ts_unix_ns: i64,
}

/// The event time of a raw message, read cheaply (only that field is decoded),
/// so messages of other days are skipped without enriching them. `None` when the
/// subject or bytes are not a raw message: the state machine then decides.
pub fn event_time(subject: &str, payload: &[u8]) -> Option<i64> {
    let ts = match subject.split('.').nth(3)? {
        "underlying" => TickTime::decode(payload).ok()?.ts_unix_ns,
        "chain" => ChainTime::decode(payload).ok()?.ts_unix_ns,
        _ => return None,
    };
    (ts > 0).then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_merges_overlapping_and_adjacent_runs() {
        assert_eq!(union([]), vec![]);
        assert_eq!(union([(5, 3)]), vec![]);
        assert_eq!(
            union([(10, 20), (1, 4), (5, 7), (15, 30), (40, 40)]),
            vec![(1, 7), (10, 30), (40, 40)]
        );
        assert_eq!(union([(1, u64::MAX), (3, 4)]), vec![(1, u64::MAX)]);
    }

    #[test]
    fn union_covers_exactly_the_runs_sequences() {
        // Brute force over small random run sets (a fixed LCG: reproducible).
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % n
        };
        for _ in 0..2_000 {
            let runs: Vec<(u64, u64)> = (0..next(6)).map(|_| (next(40), next(40))).collect();
            let merged = union(runs.clone());
            for seq in 0..45 {
                let in_runs = runs.iter().any(|&(f, l)| (f..=l).contains(&seq));
                let in_merged = merged.iter().any(|&(f, l)| (f..=l).contains(&seq));
                assert_eq!(in_runs, in_merged, "{runs:?} -> {merged:?} at {seq}");
            }
            // Ordered, disjoint and not adjacent: no run could be merged further.
            for w in merged.windows(2) {
                assert!(w[0].1 + 1 < w[1].0, "{merged:?}");
            }
        }
    }

    #[test]
    fn event_time_matches_the_full_messages() {
        let t = ds_schemas::UnderlyingTick {
            product: "NIFTY".into(),
            price: 1.0,
            ts_unix_ns: 1_736_912_700_000_000_000,
            seq: 3,
            volume: 1,
        };
        assert_eq!(
            event_time("md.raw.NIFTY.underlying", &t.encode_to_vec()),
            Some(t.ts_unix_ns)
        );
        let c = ds_schemas::OptionChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            spot: 1.0,
            ts_unix_ns: 1_736_912_760_000_000_000,
            seq: 9,
            strikes: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(
            event_time("md.raw.NIFTY.chain.2025-01-30", &c.encode_to_vec()),
            Some(c.ts_unix_ns)
        );
        assert_eq!(event_time("md.raw.NIFTY.trades", &t.encode_to_vec()), None);
        assert_eq!(event_time("md.raw.NIFTY.underlying", &[0xff, 0xfe]), None);
    }
}
