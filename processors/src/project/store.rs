//! The projections' store: batches of document writes into MongoDB, idempotent
//! and keyed by the event, with an error that says whether a retry can help. The
//! projector and the replay write through it and nothing else.

use super::docs::{DocWrite, Write};
use super::PROCESSOR;
use ds_runtime::collections::{
    shard_key, BARS, OPTION_CHAINS, PROJECTION_OFFSETS, UNDERLYING_TICKS,
};
use ds_schemas::subjects;
use futures::TryStreamExt;
use mongodb::bson::{doc, rawdoc, Bson, DateTime, Document, RawArrayBuf, RawDocumentBuf};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, CollectionOptions, WriteConcern};
use mongodb::Database;
use std::collections::{BTreeMap, HashMap};

const DUPLICATE_KEY: i32 = 11000;
/// Replace statements per `update` command when overwriting (a chain is ~10 kB).
const REPLACE_CHUNK: usize = 200;
/// Ids per `delete` command.
const DELETE_CHUNK: usize = 1000;

/// The append-only collections and the field holding each document's event time.
pub const DAY_COLLECTIONS: [(&str, &str); 3] = [
    (UNDERLYING_TICKS, "ts_unix_ns"),
    (BARS, "start_unix_ns"),
    (OPTION_CHAINS, "ts_unix_ns"),
];

/// Why the store could not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// MongoDB is away or in a passing state (network, timeout, no writable
    /// primary, shutting down, a write concern not confirmed): the write's fate
    /// may be unknown, and writing it again is safe (every write is idempotent).
    #[error("MongoDB unavailable: {0}")]
    Transient(String),
    /// MongoDB refused the write for good (a document it does not accept, too
    /// large, a bad value): the same write fails the same way again.
    #[error("MongoDB refused: {0}")]
    Refused(String),
}

impl StoreError {
    /// Whether writing the same again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        if ds_runtime::mongo::is_transient(&e) {
            StoreError::Transient(e.to_string())
        } else {
            StoreError::Refused(e.to_string())
        }
    }
}

/// How a batch is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every write journaled on its own (`j: true`).
    EachWrite,
    /// The documents unjournaled, then the projector's offset (`last_seq`, the
    /// batch's highest `MD_ENRICHED` sequence) journaled once they are all
    /// acknowledged. MongoDB's journal is one sequential log flushed as a whole,
    /// so once that update is acknowledged every write acknowledged before it is
    /// durable too: one journal flush per batch instead of one per command (each
    /// a wait and a wake-up in mongod, most of its CPU at steady live rates).
    Offset(u64),
}

/// Which stored latest-value document a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Newer {
    /// Only an older one (live projection: a redelivery changes nothing).
    Only,
    /// An older one or the same version (a replay rewriting it in place).
    OrSame,
}

/// The projections of one database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// The projections in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.db.name()
    }

    /// Creates the indexes the queries need (idempotent).
    ///
    /// # Errors
    /// When MongoDB fails ([`ds_runtime::Error::is_transient`] says whether to retry).
    pub async fn ensure_indexes(&self) -> ds_runtime::Result<()> {
        ds_runtime::collections::ensure_indexes(&self.db).await
    }

    /// Writes a batch of documents, idempotently: the append-only collections
    /// with one unordered `insert_many` each (a duplicate key means already
    /// written) and the latest-value documents (the newest per key in the batch)
    /// with one `update` command of conditional upserts per collection, all
    /// concurrently; then, with [`Durability::Offset`], the offset.
    ///
    /// # Errors
    /// The first failure that is not a duplicate key.
    pub async fn write(
        &self,
        writes: &[DocWrite],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let now = DateTime::now();
        let journaled = durability == Durability::EachWrite;
        let mut inserts: BTreeMap<&str, Vec<&DocWrite>> = BTreeMap::new();
        for w in writes.iter().filter(|w| w.write == Write::Insert) {
            inserts.entry(w.collection).or_default().push(w);
        }
        let by_collection = newest_latest(writes);
        let mut ops: Vec<futures::future::BoxFuture<'_, Result<(), StoreError>>> =
            Vec::with_capacity(inserts.len() + by_collection.len());
        for (coll, docs) in inserts {
            let docs: Vec<RawDocumentBuf> = docs
                .into_iter()
                .map(|w| document(w, now))
                .collect::<Result<_, _>>()?;
            let coll = self.collection(coll, journaled);
            ops.push(Box::pin(async move {
                match coll.insert_many(docs).ordered(false).await {
                    Err(e) if !only_duplicates(&e) => Err(e.into()),
                    _ => Ok(()),
                }
            }));
        }
        for (coll, writes) in by_collection {
            let command = latest_upserts(coll, &writes, now, Newer::Only, journaled)?;
            ops.push(Box::pin(async move {
                let reply = self.db.run_raw_command(command).await?;
                update_outcome(coll, &reply)
            }));
        }
        futures::future::try_join_all(ops).await?;
        if let Durability::Offset(max_seq) = durability {
            self.db
                .collection::<Document>(PROJECTION_OFFSETS)
                .update_one(
                    doc! {"_id": PROCESSOR},
                    doc! {
                        "$max": {"last_seq": i64_of(max_seq)},
                        "$set": {"stream": subjects::STREAM_ENRICHED, "written_at": now},
                    },
                )
                .upsert(true)
                .await?;
        }
        Ok(())
    }

    /// Replaces every document in place (upsert by `_id`, journaled), so a
    /// reader sees the old or the new version, never a missing one; latest-value
    /// documents only when the stored one is not newer (the same version is
    /// rewritten in place).
    ///
    /// # Errors
    /// The first failure that is not a duplicate key (a concurrent upsert of the
    /// same document, same bytes).
    pub async fn overwrite(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        let now = DateTime::now();
        let mut replaces: BTreeMap<&str, Vec<RawDocumentBuf>> = BTreeMap::new();
        for w in writes.iter().filter(|w| w.write == Write::Insert) {
            let doc = document(w, now)?;
            replaces.entry(w.collection).or_default().push(rawdoc! {
                "q": replace_filter(w, &doc)?,
                "u": doc,
                "upsert": true,
            });
        }
        for (coll, statements) in replaces {
            for chunk in statements.chunks(REPLACE_CHUNK) {
                let mut updates = RawArrayBuf::new();
                for s in chunk {
                    updates.push(s.clone());
                }
                let command = rawdoc! {
                    "update": coll,
                    "updates": updates,
                    "ordered": false,
                    "writeConcern": {"w": 1, "j": true},
                };
                update_outcome(coll, &self.db.run_raw_command(command).await?)?;
            }
        }
        for (coll, writes) in newest_latest(writes) {
            let command = latest_upserts(coll, &writes, now, Newer::OrSame, true)?;
            update_outcome(coll, &self.db.run_raw_command(command).await?)?;
        }
        Ok(())
    }

    /// Ids of `product`'s documents with an event time in `[start, end)` in each
    /// append-only collection, with `source_seq` in `seqs` when given, at most
    /// `limit` per collection.
    ///
    /// # Errors
    /// When MongoDB fails.
    pub async fn day_ids(
        &self,
        product: &str,
        (start, end): (i64, i64),
        seqs: Option<(u64, u64)>,
        limit: Option<i64>,
    ) -> Result<BTreeMap<&'static str, Vec<Bson>>, StoreError> {
        let mut out = BTreeMap::new();
        for (coll, field) in DAY_COLLECTIONS {
            let mut filter = doc! {"product": product, field: {"$gte": start, "$lt": end}};
            if let Some((first, last)) = seqs {
                filter.insert(
                    "source_seq",
                    doc! {"$gte": i64_of(first), "$lte": i64_of(last)},
                );
            }
            let collection = self.db.collection::<Document>(coll);
            let mut find = collection.find(filter).projection(doc! {"_id": 1});
            if let Some(n) = limit {
                find = find.limit(n);
            }
            let ids: Vec<Bson> = find
                .await?
                .try_collect::<Vec<Document>>()
                .await?
                .into_iter()
                .filter_map(|mut d| d.remove("_id"))
                .collect();
            out.insert(coll, ids);
        }
        Ok(out)
    }

    /// Deletes the documents `ids` of `collection`; returns how many were there.
    ///
    /// # Errors
    /// When MongoDB fails.
    pub async fn delete(&self, collection: &str, ids: &[Bson]) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for chunk in ids.chunks(DELETE_CHUNK) {
            let r = self
                .db
                .collection::<Document>(collection)
                .delete_many(doc! {"_id": {"$in": chunk.to_vec()}})
                .await?;
            deleted += r.deleted_count;
        }
        Ok(deleted)
    }

    fn collection(&self, name: &str, journaled: bool) -> mongodb::Collection<RawDocumentBuf> {
        let wc = WriteConcern::builder()
            .w(Acknowledgment::Nodes(1))
            .journal(journaled)
            .build();
        self.db.collection_with_options::<RawDocumentBuf>(
            name,
            CollectionOptions::builder().write_concern(wc).build(),
        )
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The whole document of `w`, written at `now`.
fn document(w: &DocWrite, now: DateTime) -> Result<RawDocumentBuf, StoreError> {
    w.document(now)
        .map_err(|e| StoreError::Refused(format!("document {} is malformed: {e}", w.id)))
}

/// The filter replacing `w` (its whole document `doc`): its `_id`, and its
/// collection's shard key fields ([`shard_key`]) with the document's values,
/// which the `_id` determines (both come from the event), so the filter
/// matches the same document and a sharded cluster can route the upsert.
fn replace_filter(w: &DocWrite, doc: &RawDocumentBuf) -> Result<RawDocumentBuf, StoreError> {
    let mut q = rawdoc! {"_id": w.id.as_str()};
    for &field in shard_key(w.collection) {
        let value = doc
            .get(field)
            .map_err(|e| StoreError::Refused(format!("document {} is malformed: {e}", w.id)))?
            .ok_or_else(|| {
                StoreError::Refused(format!(
                    "document {} has no {field}, part of its shard key",
                    w.id
                ))
            })?;
        q.append(field, value.to_raw_bson());
    }
    Ok(q)
}

/// Whether a MongoDB error only says "already written".
fn only_duplicates(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(im) => {
            im.write_concern_error.is_none()
                && im
                    .write_errors
                    .as_ref()
                    .is_some_and(|we| we.iter().all(|w| w.code == DUPLICATE_KEY))
        }
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// The outcome of a raw `update` command of upserts: a duplicate key only says a
/// newer document is there (the upsert's insert hit its `_id`), so it is kept; a
/// write concern error or a passing server state (shutting down …) leaves the
/// write's fate unknown, so it is transient, retried like a lost connection; any
/// other write error is MongoDB refusing the batch.
fn update_outcome(collection: &str, reply: &Document) -> Result<(), StoreError> {
    let code = |e: &Document| e.get_i32("code").unwrap_or(0);
    let describe = |e: &Document| format!("{} ({})", e.get_str("errmsg").unwrap_or("?"), code(e));
    if let Ok(e) = reply.get_document("writeConcernError") {
        return Err(StoreError::Transient(format!(
            "{collection}: write concern failed: {}",
            describe(e)
        )));
    }
    let errors: Vec<&Document> = reply
        .get_array("writeErrors")
        .map(|a| a.iter().filter_map(Bson::as_document).collect())
        .unwrap_or_default();
    if let Some(e) = errors
        .iter()
        .find(|e| ds_runtime::mongo::is_transient_code(code(e)))
    {
        return Err(StoreError::Transient(format!(
            "{collection}: {}",
            describe(e)
        )));
    }
    let refused: Vec<String> = errors
        .iter()
        .filter(|e| code(e) != DUPLICATE_KEY)
        .map(|e| describe(e))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "{collection}: {}",
            refused.join("; ")
        )))
    }
}

/// The newest latest-value write of each document in `writes`, by collection.
fn newest_latest(writes: &[DocWrite]) -> BTreeMap<&str, Vec<&DocWrite>> {
    let mut newest: HashMap<(&str, &str), &DocWrite> = HashMap::new();
    for w in writes.iter().filter(|w| w.write == Write::Latest) {
        let slot = newest.entry((w.collection, w.id.as_str())).or_insert(w);
        if w.source_seq > slot.source_seq {
            *slot = w;
        }
    }
    let mut by_collection: BTreeMap<&str, Vec<&DocWrite>> = BTreeMap::new();
    for w in newest.into_values() {
        by_collection.entry(w.collection).or_default().push(w);
    }
    by_collection
}

/// One `update` command for one collection's latest-value `writes`: a
/// conditional upsert per document, a replacement (not `$set`, so MongoDB swaps
/// the document instead of diffing ~600 elements; every field is a function of
/// the event anyway). Its reply goes through [`update_outcome`].
fn latest_upserts(
    collection: &str,
    writes: &[&DocWrite],
    now: DateTime,
    newer: Newer,
    journaled: bool,
) -> Result<RawDocumentBuf, StoreError> {
    let op = match newer {
        Newer::Only => "$lt",
        Newer::OrSame => "$lte",
    };
    let mut updates = RawArrayBuf::new();
    for w in writes {
        let mut filter = RawDocumentBuf::new();
        filter.append(op, i64_of(w.source_seq));
        updates.push(rawdoc! {
            "q": {"_id": w.id.as_str(), "source_seq": filter},
            "u": document(w, now)?,
            "upsert": true,
        });
    }
    Ok(rawdoc! {
        "update": collection,
        "updates": updates,
        "ordered": false,
        "writeConcern": {"w": 1, "j": journaled},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_value_writes_keep_the_newest_per_document_and_compare_by_seq() {
        let w = |collection, id: &str, source_seq, write| DocWrite {
            collection,
            write,
            id: id.into(),
            source_seq,
            body: std::sync::Arc::from(&[][..]),
        };
        let writes = [
            w("underlying_latest", "NIFTY", 5, Write::Latest),
            w("underlying_latest", "NIFTY", 9, Write::Latest),
            w("underlying_latest", "NIFTY", 7, Write::Latest),
            w("chain_latest", "NIFTY|2025-01-30", 3, Write::Latest),
            w("underlying_ticks", "NIFTY|1", 9, Write::Insert),
        ];
        let newest = newest_latest(&writes);
        let seqs: Vec<(&str, Vec<u64>)> = newest
            .iter()
            .map(|(c, ws)| (*c, ws.iter().map(|w| w.source_seq).collect()))
            .collect();
        assert_eq!(
            seqs,
            [("chain_latest", vec![3]), ("underlying_latest", vec![9])]
        );
        let now = DateTime::from_millis(0);
        let filter = |newer| {
            let cmd = latest_upserts(
                "underlying_latest",
                &newest["underlying_latest"],
                now,
                newer,
                true,
            )
            .expect("command");
            let cmd = cmd.to_document().expect("document");
            let update = cmd.get_array("updates").expect("updates")[0].clone();
            update
                .as_document()
                .expect("update")
                .get_document("q")
                .expect("q")
                .clone()
        };
        assert_eq!(
            filter(Newer::Only),
            doc! {"_id": "NIFTY", "source_seq": {"$lt": 9_i64}}
        );
        assert_eq!(
            filter(Newer::OrSame),
            doc! {"_id": "NIFTY", "source_seq": {"$lte": 9_i64}}
        );
    }

    #[test]
    fn a_newer_document_is_kept_but_other_write_errors_refuse() {
        let ok = doc! {"ok": 1, "n": 2, "nModified": 1};
        assert!(update_outcome("chain_latest", &ok).is_ok());
        let newer_there = doc! {"ok": 1, "n": 1, "writeErrors": [
            {"index": 1, "code": DUPLICATE_KEY, "errmsg": "E11000 duplicate key"},
        ]};
        assert!(update_outcome("chain_latest", &newer_there).is_ok());
        let refused = doc! {"ok": 1, "n": 1, "writeErrors": [
            {"index": 0, "code": DUPLICATE_KEY, "errmsg": "E11000 duplicate key"},
            {"index": 1, "code": 2, "errmsg": "bad value"},
        ]};
        let e = update_outcome("chain_latest", &refused).expect_err("refused");
        assert_eq!(e, StoreError::Refused("chain_latest: bad value (2)".into()));
        let wce = doc! {"ok": 1, "writeConcernError": {"code": 64, "errmsg": "waiting"}};
        let e = update_outcome("underlying_latest", &wce).expect_err("unknown fate");
        assert!(e.is_transient(), "{e}");
        let shutting_down = doc! {"ok": 1, "writeErrors": [
            {"index": 0, "code": 11600, "errmsg": "interrupted at shutdown"},
        ]};
        let e = update_outcome("underlying_latest", &shutting_down).expect_err("retry");
        assert!(e.is_transient(), "{e}");
    }

    #[test]
    fn errors_are_classified_by_whether_a_retry_can_help() {
        let cases: [(mongodb::error::Error, bool); 4] = [
            (std::io::Error::other("connection reset").into(), true),
            (
                std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out").into(),
                true,
            ),
            (mongodb::error::Error::custom("document too large"), false),
            (
                mongodb::bson::ser::Error::InvalidDocumentKey(Bson::Null).into(),
                false,
            ),
        ];
        for (e, transient) in cases {
            assert_eq!(StoreError::from(e).is_transient(), transient);
        }
    }

    /// An overwrite's filter names the document's shard key (a sharded cluster
    /// refuses an upsert without it) with the values its `_id` stands for.
    #[test]
    fn replace_filters_carry_the_shard_key() {
        use crate::project::docs::writes;
        use ds_schemas::enriched::Enriched;
        let ts = 1_736_912_700_000_000_000;
        let filter = |e: Enriched| {
            let w = writes(&e).expect("bson").remove(0);
            let doc = w.document(DateTime::from_millis(0)).expect("document");
            replace_filter(&w, &doc)
                .expect("filter")
                .to_document()
                .expect("well-formed")
        };
        let tick = ds_schemas::EnrichedUnderlying {
            product: "NIFTY".into(),
            ts_unix_ns: ts,
            seq: 7,
            ..Default::default()
        };
        assert_eq!(
            filter(Enriched::Underlying(tick)),
            doc! {"_id": "NIFTY:7", "product": "NIFTY", "ts_unix_ns": ts}
        );
        let bar = ds_schemas::Bar {
            product: "NIFTY".into(),
            interval: "5m".into(),
            start_unix_ns: ts,
            ..Default::default()
        };
        assert_eq!(
            filter(Enriched::Bar(bar)),
            doc! {"_id": format!("NIFTY:5m:{ts}"), "product": "NIFTY", "interval": "5m", "start_unix_ns": ts}
        );
        let chain = ds_schemas::EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            ts_unix_ns: ts,
            seq: 9,
            ..Default::default()
        };
        assert_eq!(
            filter(Enriched::Chain(chain)),
            doc! {"_id": "NIFTY:2025-01-30:9", "product": "NIFTY", "expiry": "2025-01-30", "ts_unix_ns": ts}
        );
    }
}
