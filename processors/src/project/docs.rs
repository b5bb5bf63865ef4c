//! Enriched messages as MongoDB documents (SPEC §6). Pure: every field but
//! `written_at` is a function of the message, so a replay writes the same documents.
//!
//! Documents carry the message's fields under their proto names, the event time as
//! a BSON date (`ts`, or `start` for bars), and lineage: `source_seq` (the `MD_RAW`
//! sequence, or `first_source_seq`..`last_source_seq` for bars) and the
//! `processor_version` that built them.
//!
//! The documents are built as BSON bytes straight from the messages (serde into
//! the raw serializer, then a few appended elements), never as `bson::Document`
//! trees. Chains are stored in their own layout, one column per quote field
//! ([`ds_runtime::collections::chain`], the codec the gateway reads them with).

use ds_runtime::collections::{
    chain, BARS, CHAIN_LATEST, OPTION_CHAINS, UNDERLYING_LATEST, UNDERLYING_TICKS,
};
use ds_schemas::enriched::Enriched;
use mongodb::bson::{self, DateTime, RawDocumentBuf};
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
    /// The document's elements but `_id` and `written_at`, as BSON bytes (no length
    /// prefix, no terminator), shared by the writes of one event.
    pub body: Arc<[u8]>,
}

impl DocWrite {
    /// The whole document: `_id`, the body, then `written_at`.
    ///
    /// # Errors
    /// Only if the bytes were not a document (a bug here, never silently written).
    pub fn document(&self, written_at: DateTime) -> Result<RawDocumentBuf, bson::raw::Error> {
        let mut buf = Vec::with_capacity(self.body.len() + self.id.len() + 40);
        buf.extend_from_slice(&[0; 4]);
        put_str(&mut buf, "_id", &self.id);
        buf.extend_from_slice(&self.body);
        put_date(&mut buf, "written_at", written_at);
        finish(buf)
    }
}

/// Terminates a document whose first four bytes are reserved for its length.
fn finish(mut buf: Vec<u8>) -> Result<RawDocumentBuf, bson::raw::Error> {
    buf.push(0);
    let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
    buf[..4].copy_from_slice(&len.to_le_bytes());
    // Checks the length prefix and the terminator.
    RawDocumentBuf::from_bytes(buf)
}

fn put_key(buf: &mut Vec<u8>, kind: u8, key: &str) {
    buf.push(kind);
    buf.extend_from_slice(key.as_bytes());
    buf.push(0);
}

fn put_str(buf: &mut Vec<u8>, key: &str, s: &str) {
    put_key(buf, 0x02, key);
    let len = i32::try_from(s.len() + 1).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

fn put_date(buf: &mut Vec<u8>, key: &str, d: DateTime) {
    put_key(buf, 0x09, key);
    buf.extend_from_slice(&d.timestamp_millis().to_le_bytes());
}

fn put_i64(buf: &mut Vec<u8>, key: &str, v: i64) {
    put_key(buf, 0x12, key);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// The message's fields as BSON elements, followed by `extra`.
fn body<T: serde::Serialize>(
    m: &T,
    extra: impl FnOnce(&mut Vec<u8>),
) -> Result<Arc<[u8]>, bson::ser::Error> {
    let mut buf = bson::to_vec(m)?;
    // Drop the terminator; the length prefix is dropped below.
    buf.pop();
    extra(&mut buf);
    Ok(Arc::from(&buf[4..]))
}

fn date(ns: i64) -> DateTime {
    DateTime::from_millis(ns.div_euclid(1_000_000))
}

fn seq(s: u64) -> Result<i64, bson::ser::Error> {
    i64::try_from(s).map_err(|_| bson::ser::Error::UnsignedIntegerExceededRange(s))
}

/// The document writes of one enriched message.
///
/// # Errors
/// When the message cannot be represented in BSON (an integer beyond i64).
pub fn writes(e: &Enriched) -> Result<Vec<DocWrite>, bson::ser::Error> {
    Ok(match e {
        Enriched::Underlying(u) => {
            let tick = body(u, |b| {
                put_date(b, "ts", date(u.ts_unix_ns));
                put_str(b, "processor_version", PROCESSOR_VERSION);
            })?;
            vec![
                DocWrite {
                    collection: UNDERLYING_TICKS,
                    write: Write::Insert,
                    id: format!("{}:{}", u.product, u.seq),
                    source_seq: u.source_seq,
                    body: tick.clone(),
                },
                DocWrite {
                    collection: UNDERLYING_LATEST,
                    write: Write::Latest,
                    id: u.product.clone(),
                    source_seq: u.source_seq,
                    body: tick,
                },
            ]
        }
        Enriched::Bar(b) => {
            let last = seq(b.last_source_seq)?;
            vec![DocWrite {
                collection: BARS,
                write: Write::Insert,
                id: format!("{}:{}:{}", b.product, b.interval, b.start_unix_ns),
                source_seq: b.last_source_seq,
                body: body(b, |buf| {
                    put_date(buf, "start", date(b.start_unix_ns));
                    put_i64(buf, "source_seq", last);
                    put_str(buf, "processor_version", PROCESSOR_VERSION);
                })?,
            }]
        }
        Enriched::Chain(c) => {
            let mut doc = RawDocumentBuf::new();
            chain::encode(c, &mut doc)?;
            doc.append("ts", date(c.ts_unix_ns));
            doc.append("processor_version", PROCESSOR_VERSION);
            let bytes = doc.as_bytes();
            // The elements only: no length prefix, no terminator.
            let snap: Arc<[u8]> = Arc::from(&bytes[4..bytes.len() - 1]);
            vec![
                DocWrite {
                    collection: OPTION_CHAINS,
                    write: Write::Insert,
                    id: format!("{}:{}:{}", c.product, c.expiry, c.seq),
                    source_seq: c.source_seq,
                    body: snap.clone(),
                },
                DocWrite {
                    collection: CHAIN_LATEST,
                    write: Write::Latest,
                    id: format!("{}:{}", c.product, c.expiry),
                    source_seq: c.source_seq,
                    body: snap,
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
    use mongodb::bson::{doc, Document};

    fn whole(w: &DocWrite) -> Document {
        w.document(DateTime::from_millis(7))
            .expect("document")
            .to_document()
            .expect("well-formed")
    }

    /// What the documents looked like when built as `bson::Document` trees: the
    /// bytes built directly must be the same documents (stored data, readers).
    fn as_tree<T: serde::Serialize>(m: &T, id: &str, extra: Document) -> Document {
        let mut d = doc! {"_id": id};
        d.extend(bson::to_document(m).expect("bson"));
        d.extend(extra);
        d.insert("written_at", DateTime::from_millis(7));
        d
    }

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
        let w = writes(&Enriched::Underlying(u.clone())).expect("bson");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].id, "NIFTY:7");
        assert_eq!(w[0].collection, UNDERLYING_TICKS);
        assert_eq!(w[1].id, "NIFTY");
        assert_eq!(w[1].write, Write::Latest);
        let d = whole(&w[0]);
        assert_eq!(
            d.get_datetime("ts").map(|d| d.timestamp_millis()),
            Ok(1_736_912_700_000)
        );
        assert_eq!(d.get_f64("price"), Ok(21500.0));
        let extra = doc! {"ts": date(u.ts_unix_ns), "processor_version": PROCESSOR_VERSION};
        assert_eq!(d, as_tree(&u, "NIFTY:7", extra.clone()));
        assert_eq!(whole(&w[1]), as_tree(&u, "NIFTY", extra));
    }

    #[test]
    fn chain_documents_hold_the_chain_and_bars_equal_their_tree_form() {
        let quote = |strike: f64| ds_schemas::EnrichedQuote {
            strike,
            bid: 1.25,
            ask: 1.5,
            volume: 12,
            open_interest: 3400,
            iv: Some(0.2),
            delta: Some(0.5),
            oi_change: -20,
            buildup: 2,
            ..Default::default()
        };
        let c = ds_schemas::EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            spot: 21510.5,
            ts_unix_ns: 1_736_912_700_123_456_789,
            seq: 9,
            strikes: vec![21500.0, 21550.0],
            calls: vec![quote(21500.0), quote(21550.0)],
            puts: vec![quote(21500.0), quote(21550.0)],
            total_call_oi: 6800,
            source_seq: 77,
            ..Default::default()
        };
        let w = writes(&Enriched::Chain(c.clone())).expect("bson");
        for (w, id) in w.iter().zip(["NIFTY:2025-01-30:9", "NIFTY:2025-01-30"]) {
            let d = w.document(DateTime::from_millis(7)).expect("document");
            assert_eq!(chain::decode(&d).expect("decodes"), c);
            let d = d.to_document().expect("well-formed");
            assert_eq!(d.get_str("_id"), Ok(id));
            assert_eq!(d.get_datetime("ts"), Ok(&date(c.ts_unix_ns)));
            assert_eq!(d.get_str("processor_version"), Ok(PROCESSOR_VERSION));
            assert_eq!(d.get_i64("source_seq"), Ok(77));
        }
        assert_eq!(w[1].write, Write::Latest);

        let b = ds_schemas::Bar {
            product: "NIFTY".into(),
            interval: "5m".into(),
            start_unix_ns: 1_736_912_700_000_000_000,
            open: 1.0,
            first_source_seq: 3,
            last_source_seq: 8,
            ..Default::default()
        };
        let w = writes(&Enriched::Bar(b.clone())).expect("bson");
        let extra = doc! {
            "start": date(b.start_unix_ns),
            "source_seq": 8_i64,
            "processor_version": PROCESSOR_VERSION,
        };
        assert_eq!(
            whole(&w[0]),
            as_tree(&b, &format!("NIFTY:5m:{}", b.start_unix_ns), extra)
        );
    }
}
