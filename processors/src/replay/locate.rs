//! Where a product's trading day lies in `MD_RAW`, without scanning the stream:
//! the day index the enrichers keep (`ds_day_index`) gives the first and last
//! sequence of each (product, day) they applied. Messages the product's enricher
//! has not applied yet (it is behind) are not indexed, so the range is extended
//! to the stream's end when the enricher's consumer has work pending.
//!
//! A day the index does not know is either absent from the stream or older than
//! the index: with `scan` the product's whole subject is read instead (bounded by
//! the stream's last sequence at start), otherwise the replay says so.

use super::ReplayError;
use crate::day_index;
use crate::enrich::partition::consumer_name;
use async_nats::jetstream::Context;
use chrono::NaiveDate;
use ds_analytics::market::ProductSpec;
use ds_runtime::subjects;

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
    /// How it was found.
    pub how: Location,
}

impl Located {
    /// Sequences covered.
    pub fn span(&self) -> u64 {
        (self.last_seq + 1).saturating_sub(self.first_seq)
    }
}

/// What the product's live enricher has left to apply, from its durable
/// consumer's info (read only; the consumer does not move).
struct Lag {
    ack_floor: u64,
    pending: u64,
}

async fn enricher_lag(
    stream: &async_nats::jetstream::stream::Stream,
    product: &str,
) -> Option<Lag> {
    let info = stream.consumer_info(consumer_name(product)).await.ok()?;
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
        let indexed = day_index::lookup(&kv, &p.name, date)
            .await
            .map_err(|e| ReplayError::nats(format!("day index: {e:#}")))?;
        let lag = enricher_lag(&stream, &p.name).await;
        let behind = lag
            .as_ref()
            .filter(|l| l.pending > 0 && l.ack_floor < stream_last);
        let located = match (indexed, behind) {
            (Some(r), None) => Some(Located {
                first_seq: r.first_seq,
                last_seq: r.last_seq,
                how: Location::Indexed,
            }),
            (Some(r), Some(l)) => Some(Located {
                first_seq: r.first_seq,
                last_seq: stream_last.max(r.last_seq),
                how: Location::IndexedAndUnapplied { pending: l.pending },
            }),
            (None, _) if scan => Some(Located {
                first_seq: stream_first.max(1),
                last_seq: stream_last,
                how: Location::Scan,
            }),
            (None, Some(l)) => Some(Located {
                first_seq: l.ack_floor + 1,
                last_seq: stream_last,
                how: Location::Unapplied { pending: l.pending },
            }),
            (None, None) => None,
        };
        out.push(located);
    }
    Ok(out)
}
