//! Enriched messages as MongoDB documents (SPEC §6). Pure: every field but
//! `written_at` is a function of the message, so a replay writes the same documents.
//!
//! Documents carry the message's fields under their proto names, the event time as
//! a BSON date (`ts`, or `start` for bars), and lineage: `source_seq` (the `MD_RAW`
//! sequence, or `first_source_seq`..`last_source_seq` for bars) and the
//! `processor_version` that built them.

use crate::enriched::Enriched;
use ds_runtime::collections::{
    BARS, CHAIN_LATEST, OPTION_CHAINS, UNDERLYING_LATEST, UNDERLYING_TICKS,
};
use mongodb::bson::{self, DateTime, Document};
use std::sync::Arc;

/// The version of the code that builds projections (lineage).
pub const PROCESSOR_VERSION: &str = concat!("deltastream/", env!("CARGO_PKG_VERSION"));

/// How a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Append-only, keyed by the event: insert, a duplicate key means already there.
    Insert,
    /// Latest-value: replace only if the stored one has a lower `source_seq`.
    Latest,
}

/// One document to write.
#[derive(Debug, Clone, PartialEq)]
pub struct DocWrite {
    /// Target collection.
    pub collection: &'static str,
    /// How.
    pub write: Write,
    /// `_id` of the document.
    pub id: String,
    /// `source_seq` ordering latest-value writes.
    pub source_seq: u64,
    /// The document. For an insert its `_id` is `id`; a latest-value write shares
    /// the event's document (no copy) and is stored under `id` whatever `_id` says.
    pub doc: Arc<Document>,
}

fn to_doc<T: serde::Serialize>(m: &T) -> Result<Document, bson::ser::Error> {
    bson::to_document(m)
}

fn date(ns: i64) -> DateTime {
    DateTime::from_millis(ns.div_euclid(1_000_000))
}

/// The document writes of one enriched message.
///
/// # Errors
/// When the message cannot be represented in BSON (an integer beyond i64).
pub fn writes(e: &Enriched) -> Result<Vec<DocWrite>, bson::ser::Error> {
    Ok(match e {
        Enriched::Underlying(u) => {
            let mut d = to_doc(u)?;
            d.insert("ts", date(u.ts_unix_ns));
            d.insert("processor_version", PROCESSOR_VERSION);
            let tick_id = format!("{}:{}", u.product, u.seq);
            d.insert("_id", tick_id.clone());
            let tick = Arc::new(d);
            let latest = tick.clone();
            vec![
                DocWrite {
                    collection: UNDERLYING_TICKS,
                    write: Write::Insert,
                    id: tick_id,
                    source_seq: u.source_seq,
                    doc: tick,
                },
                DocWrite {
                    collection: UNDERLYING_LATEST,
                    write: Write::Latest,
                    id: u.product.clone(),
                    source_seq: u.source_seq,
                    doc: latest,
                },
            ]
        }
        Enriched::Bar(b) => {
            let mut d = to_doc(b)?;
            let id = format!("{}:{}:{}", b.product, b.interval, b.start_unix_ns);
            d.insert("_id", id.clone());
            d.insert("start", date(b.start_unix_ns));
            d.insert("source_seq", bson::to_bson(&b.last_source_seq)?);
            d.insert("processor_version", PROCESSOR_VERSION);
            vec![DocWrite {
                collection: BARS,
                write: Write::Insert,
                id,
                source_seq: b.last_source_seq,
                doc: Arc::new(d),
            }]
        }
        Enriched::Chain(c) => {
            let mut d = to_doc(c)?;
            d.insert("ts", date(c.ts_unix_ns));
            d.insert("processor_version", PROCESSOR_VERSION);
            let snap_id = format!("{}:{}:{}", c.product, c.expiry, c.seq);
            let latest_id = format!("{}:{}", c.product, c.expiry);
            d.insert("_id", snap_id.clone());
            let snap = Arc::new(d);
            let latest = snap.clone();
            vec![
                DocWrite {
                    collection: OPTION_CHAINS,
                    write: Write::Insert,
                    id: snap_id,
                    source_seq: c.source_seq,
                    doc: snap,
                },
                DocWrite {
                    collection: CHAIN_LATEST,
                    write: Write::Latest,
                    id: latest_id,
                    source_seq: c.source_seq,
                    doc: latest,
                },
            ]
        }
        // Summaries are the chain's analytics again: the chain documents hold them.
        Enriched::Summary(_) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_documents_are_keyed_by_event() {
        let u = ds_schemas::EnrichedUnderlying {
            product: "NIFTY".into(),
            price: 21500.0,
            ts_unix_ns: 1_736_912_700_000_000_000,
            seq: 7,
            source_seq: 42,
            ..Default::default()
        };
        let w = writes(&Enriched::Underlying(u)).expect("bson");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].id, "NIFTY:7");
        assert_eq!(w[0].collection, UNDERLYING_TICKS);
        assert_eq!(w[1].id, "NIFTY");
        assert_eq!(w[1].write, Write::Latest);
        assert_eq!(
            w[0].doc.get_datetime("ts").map(|d| d.timestamp_millis()),
            Ok(1_736_912_700_000)
        );
        assert_eq!(w[0].doc.get_f64("price"), Ok(21500.0));
    }
}
