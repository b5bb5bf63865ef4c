//! Where a product's trading day lies in `MD_RAW`, without scanning the stream:
//! the day index the enrichers keep (`ds_day_index`) gives the first and last
//! sequence of each (product, day) they applied. Messages the product's enricher
//! has not applied yet (it is behind) are not indexed, so the range is extended
//! to the stream's end when the enricher's consumer has work pending; what the
//! enricher applied after the indexed range (up to its ack floor, read before
//! the index) holds none of the day and is skipped. Beside live traffic the
//! enricher always has a few messages in flight, and without the skip a replay
//! of yesterday would read all of today.
//!
//! A day the index does not know is either absent from the stream or older than
//! the index: with `scan` the product's whole subject is read instead (bounded by
//! the stream's last sequence at start), otherwise the replay says so.

use super::ReplayError;
use crate::day_index;
use crate::enrich::partition::consumer_of;
use async_nats::jetstream::Context;
use chrono::NaiveDate;
use ds_analytics::market::ProductSpec;
use ds_schemas::subjects;

/// How a product's range was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// From the day index.
    Indexed,
    /// From the day index, extended to the stream's end because the product's
    /// enricher had not applied everything yet (`pending` messages).
    IndexedAndUnapplied {
        /// Messages the enricher had not acknowledged.
        pending: u64,
    },
    /// Not indexed, but the enricher is behind: the messages it has not applied.
    Unapplied {
        /// Messages the enricher had not acknowledged.
        pending: u64,
    },
    /// Not indexed: the product's whole subject (asked for with `scan`).
    Scan,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Indexed => f.write_str("day index"),
            Location::IndexedAndUnapplied { pending } => {
                write!(
                    f,
                    "day index + {pending} messages the enricher has not applied yet"
                )
            }
            Location::Unapplied { pending } => {
                write!(
                    f,
                    "not indexed; the {pending} messages the enricher has not applied yet"
                )
            }
            Location::Scan => f.write_str("not indexed; scanned the product's subject"),
        }
    }
}

/// A product's range of `MD_RAW` sequences to read (both ends inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// First sequence.
    pub first_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Sequences inside the range known to hold none of the day (inclusive):
    /// applied by the enricher after the indexed range ended.
    pub skip: Option<(u64, u64)>,
    /// How it was found.
    pub how: Location,
}

impl Located {
    /// The contiguous runs of sequences to read, in order.
    pub fn runs(&self) -> Vec<(u64, u64)> {
        match self.skip {
            Some((a, b)) if a <= b => [(self.first_seq, a - 1), (b + 1, self.last_seq)]
                .into_iter()
                .filter(|(f, l)| f <= l)
                .collect(),
            _ => vec![(self.first_seq, self.last_seq)],
        }
    }

    /// Whether `seq` is one of the sequences to read (per message: no allocation).
    pub fn contains(&self, seq: u64) -> bool {
        (self.first_seq..=self.last_seq).contains(&seq)
            && !self.skip.is_some_and(|(a, b)| (a..=b).contains(&seq))
    }

    /// Sequences to read.
    pub fn span(&self) -> u64 {
        self.runs().iter().map(|(f, l)| l + 1 - f).sum()
    }

    /// How many of the sequences to read come up to and including `seq` (per
    /// message: no allocation).
    pub fn position(&self, seq: u64) -> u64 {
        let upto = |first: u64, last: u64| (seq.min(last) + 1).saturating_sub(first);
        match self.skip {
            Some((a, b)) if a <= b => {
                a.checked_sub(1).map_or(0, |end| upto(self.first_seq, end))
                    + upto(b.saturating_add(1), self.last_seq)
            }
            _ => upto(self.first_seq, self.last_seq),
        }
    }
}

/// What the live enricher of the product's group has left to apply, from its durable
/// consumer's info (read only; the consumer does not move).
struct Lag {
    ack_floor: u64,
    pending: u64,
}

async fn enricher_lag(
    stream: &async_nats::jetstream::stream::Stream,
    product: &str,
) -> Option<Lag> {
    let info = stream.consumer_info(consumer_of(product)).await.ok()?;
    let pending = info.num_pending + info.num_ack_pending as u64;
    Some(Lag {
        ack_floor: info.ack_floor.stream_sequence,
        pending,
    })
}

/// Locates `date` for each product (`None`: not found and not scanned).
///
/// # Errors
/// When `MD_RAW` or the index bucket is missing or unreadable.
pub async fn locate_all(
    js: &Context,
    products: &[ProductSpec],
    date: NaiveDate,
    scan: bool,
) -> Result<Vec<Option<Located>>, ReplayError> {
    let kv = day_index::open(js)
        .await
        .map_err(|e| ReplayError::nats(format!("{e:#}")))?;
    let mut stream = js.get_stream(subjects::STREAM_RAW).await.map_err(|e| {
        ReplayError::nats(format!("MD_RAW: {e} (run `deltastream topology apply`)"))
    })?;
    let state = stream
        .info()
        .await
        .map_err(|e| ReplayError::nats(format!("MD_RAW info: {e}")))?
        .state
        .clone();
    let (stream_first, stream_last) = (state.first_sequence, state.last_sequence);
    let mut out = Vec::with_capacity(products.len());
    for p in products {
        // The enricher's ack floor first: everything up to it was indexed before
        // it was acknowledged, so the index read after it covers that much.
        let lag = enricher_lag(&stream, &p.name).await;
        let indexed = day_index::lookup(&kv, &p.name, date)
            .await
            .map_err(|e| ReplayError::nats(format!("day index: {e:#}")))?;
        let behind = lag
            .as_ref()
            .filter(|l| l.pending > 0 && l.ack_floor < stream_last);
        let located = match (indexed, behind) {
            (Some(r), None) => Some(Located {
                first_seq: r.first_seq,
                last_seq: r.last_seq,
                skip: None,
                how: Location::Indexed,
            }),
            (Some(r), Some(l)) => Some(Located {
                first_seq: r.first_seq,
                last_seq: stream_last.max(r.last_seq),
                skip: (l.ack_floor > r.last_seq).then_some((r.last_seq + 1, l.ack_floor)),
                how: Location::IndexedAndUnapplied { pending: l.pending },
            }),
            (None, _) if scan => Some(Located {
                first_seq: stream_first.max(1),
                last_seq: stream_last,
                skip: None,
                how: Location::Scan,
            }),
            (None, Some(l)) => Some(Located {
                first_seq: l.ack_floor + 1,
                last_seq: stream_last,
                skip: None,
                how: Location::Unapplied { pending: l.pending },
            }),
            (None, None) => None,
        };
        out.push(located);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_splits_the_range_and_is_not_counted() {
        let loc = |skip| Located {
            first_seq: 10,
            last_seq: 100,
            skip,
            how: Location::Indexed,
        };
        let whole = loc(None);
        assert_eq!(whole.runs(), [(10, 100)]);
        assert_eq!(whole.span(), 91);
        assert_eq!(whole.position(10), 1);
        assert_eq!(whole.position(100), 91);
        let split = loc(Some((21, 95)));
        assert_eq!(split.runs(), [(10, 20), (96, 100)]);
        assert_eq!(split.span(), 16);
        assert_eq!(split.position(20), 11);
        assert_eq!(split.position(50), 11);
        assert_eq!(split.position(96), 12);
        assert_eq!(split.position(100), 16);
        // A skip up to the end leaves the indexed range only.
        let head = loc(Some((21, 100)));
        assert_eq!(head.runs(), [(10, 20)]);
        assert_eq!(head.span(), 11);
        assert_eq!(head.position(100), 11);
        // Positions agree with the runs everywhere.
        for l in [whole, split, head, loc(Some((10, 50)))] {
            for seq in 0..=110 {
                let by_runs: u64 = l
                    .runs()
                    .iter()
                    .map(|(f, e)| (seq.min(*e) + 1).saturating_sub(*f))
                    .sum();
                assert_eq!(l.position(seq), by_runs, "{l:?} {seq}");
            }
        }
    }
}
