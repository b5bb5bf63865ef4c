//! The projector: `MD_ENRICHED` into the MongoDB read models of SPEC §6.
//!
//! Every write is idempotent and keyed by the event (append-only documents are
//! inserted under an id derived from the event; latest-value documents are replaced
//! only by a higher `source_seq`), so the projector needs no ordering: all instances
//! share one durable consumer as a work queue. Messages are written in batches,
//! journaled, and acked only after the batch is durable; while MongoDB is down the
//! batch is retried with backoff (kept in hand, its ack deadline extended), and
//! nothing is lost. A message that fails on its own `MAX_DELIVERIES` times is
//! dead-lettered.

pub mod docs;

use crate::consumer::{self, Acks, Flow, Handler, Origin, Outcome, Unsettled};
use crate::enriched::Enriched;
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Context, Message};
use docs::{DocWrite, Write};
use ds_runtime::backoff::Backoff;
use ds_runtime::collections::PROJECTION_OFFSETS;
use ds_runtime::metrics::metrics;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_runtime::subjects;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use mongodb::bson::{doc, rawdoc, Bson, DateTime, Document, RawArrayBuf, RawDocumentBuf};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, CollectionOptions, WriteConcern};
use mongodb::Database;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::task::{JoinError, JoinHandle};

/// The processor name (DLQ subjects, metrics).
pub const PROCESSOR: &str = "project";
/// The durable consumer all projector instances share.
pub const CONSUMER: &str = "project";
/// Messages written per batch at most.
pub const MAX_BATCH: usize = 1000;
/// How long a small batch waits for more messages before it is written: a few
/// milliseconds of projection latency for several times fewer MongoDB commands
/// at steady live rates (each command costs mongod a context switch or two).
const LINGER: Duration = Duration::from_millis(5);
/// A batch this large is written without lingering.
const LINGER_ENOUGH: usize = 64;
/// Batches being written at once at most (a full batch may start while another
/// is still being journaled).
const MAX_WRITERS: usize = 2;

const DUPLICATE_KEY: i32 = 11000;
/// How long a delivered message may stay unacked before JetStream redelivers it.
const ACK_WAIT: Duration = Duration::from_secs(10);

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

/// The outcome of a raw `update` command of conditional upserts: a duplicate key
/// only says a newer document is there (the upsert's insert hit its `_id`), so it
/// is kept; a write concern error or a passing server state (shutting down …)
/// leaves the write's fate unknown, so it is an I/O error, retried like a lost
/// connection; any other write error is MongoDB refusing the batch.
pub(crate) fn update_outcome(
    collection: &str,
    reply: &Document,
) -> Result<(), mongodb::error::Error> {
    let code = |e: &Document| e.get_i32("code").unwrap_or(0);
    let describe = |e: &Document| format!("{} ({})", e.get_str("errmsg").unwrap_or("?"), code(e));
    let retry = |what: String| {
        mongodb::error::Error::from(std::io::Error::other(format!("{collection}: {what}")))
    };
    if let Ok(e) = reply.get_document("writeConcernError") {
        return Err(retry(format!("write concern failed: {}", describe(e))));
    }
    let errors: Vec<&Document> = reply
        .get_array("writeErrors")
        .map(|a| a.iter().filter_map(Bson::as_document).collect())
        .unwrap_or_default();
    if let Some(e) = errors
        .iter()
        .find(|e| ds_runtime::mongo::is_transient_code(code(e)))
    {
        return Err(retry(describe(e)));
    }
    let refused: Vec<String> = errors
        .iter()
        .filter(|e| code(e) != DUPLICATE_KEY)
        .map(|e| describe(e))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(mongodb::error::Error::custom(format!(
            "{collection}: {}",
            refused.join("; ")
        )))
    }
}

/// The newest latest-value write of each document in `writes`, by collection.
pub(crate) fn newest_latest(writes: &[DocWrite]) -> BTreeMap<&str, Vec<&DocWrite>> {
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

/// Which stored latest-value document a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newer {
    /// Only an older one (live projection: a redelivery changes nothing).
    Only,
    /// An older one or the same version (a replay rewriting it in place).
    OrSame,
}

/// One `update` command for one collection's latest-value `writes`: a
/// conditional upsert per document, a replacement (not `$set`, so MongoDB swaps
/// the document instead of diffing ~600 elements; every field is a function of
/// the event anyway). Its reply goes through [`update_outcome`]: a duplicate key
/// means a newer document is there and is kept.
///
/// # Errors
/// When a document cannot be represented in BSON.
pub(crate) fn latest_upserts(
    collection: &str,
    writes: &[&DocWrite],
    now: DateTime,
    newer: Newer,
    journaled: bool,
) -> Result<RawDocumentBuf, mongodb::error::Error> {
    let op = match newer {
        Newer::Only => "$lt",
        Newer::OrSame => "$lte",
    };
    let mut updates = RawArrayBuf::new();
    for w in writes {
        let seq = i64::try_from(w.source_seq).unwrap_or(i64::MAX);
        let mut filter = RawDocumentBuf::new();
        filter.append(op, seq);
        let document = w.document(now).map_err(|e| {
            mongodb::error::Error::custom(format!("document {} is malformed: {e}", w.id))
        })?;
        updates.push(rawdoc! {
            "q": {"_id": w.id.as_str(), "source_seq": filter},
            "u": document,
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

/// Writes a batch of documents, idempotently: the append-only collections with one
/// unordered `insert_many` each and the latest-value documents (the newest per key
/// in the batch) with one `update` command of conditional upserts per collection,
/// all concurrently.
///
/// Durability: with `max_seq > 0` (the projector) the documents are written
/// unjournaled and the offset update that follows them, once they are all
/// acknowledged, is journaled (`j: true`).
/// MongoDB's journal is one sequential log flushed as a whole, so once that update
/// is acknowledged every write acknowledged before it is durable too: one journal
/// flush per batch instead of one per command (each a wait and a wake-up in
/// mongod, most of its CPU at steady live rates). With `max_seq == 0` every write
/// is journaled itself.
///
/// # Errors
/// The first MongoDB error that is not a duplicate key.
pub async fn write_batch(
    db: &Database,
    writes: &[DocWrite],
    max_seq: u64,
) -> Result<(), mongodb::error::Error> {
    let now = DateTime::now();
    let mut inserts: BTreeMap<&str, Vec<&DocWrite>> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.write == Write::Insert) {
        inserts.entry(w.collection).or_default().push(w);
    }
    let document = |w: &DocWrite| {
        w.document(now).map_err(|e| {
            mongodb::error::Error::custom(format!("document {} is malformed: {e}", w.id))
        })
    };
    let journaled = max_seq == 0;
    let collection = |name: &str| {
        let wc = WriteConcern::builder()
            .w(Acknowledgment::Nodes(1))
            .journal(journaled)
            .build();
        db.collection_with_options::<RawDocumentBuf>(
            name,
            CollectionOptions::builder().write_concern(wc).build(),
        )
    };
    let by_collection = newest_latest(writes);
    let mut ops: Vec<futures::future::BoxFuture<'_, Result<(), mongodb::error::Error>>> =
        Vec::with_capacity(inserts.len() + by_collection.len());
    for (coll, docs) in inserts {
        let docs: Vec<RawDocumentBuf> = docs.into_iter().map(document).collect::<Result<_, _>>()?;
        let coll = collection(coll);
        ops.push(Box::pin(async move {
            match coll.insert_many(docs).ordered(false).await {
                Err(e) if !only_duplicates(&e) => Err(e),
                _ => Ok(()),
            }
        }));
    }
    for (coll, writes) in by_collection {
        let command = latest_upserts(coll, &writes, now, Newer::Only, journaled)?;
        ops.push(Box::pin(async move {
            let reply = db.run_raw_command(command).await?;
            update_outcome(coll, &reply)
        }));
    }
    futures::future::try_join_all(ops).await?;
    if max_seq > 0 {
        db.collection::<Document>(PROJECTION_OFFSETS)
            .update_one(
                doc! {"_id": PROCESSOR},
                doc! {
                    "$max": {"last_seq": i64::try_from(max_seq).unwrap_or(i64::MAX)},
                    "$set": {"stream": subjects::STREAM_ENRICHED, "written_at": now},
                },
            )
            .upsert(true)
            .await?;
    }
    Ok(())
}

/// Runs one projector instance until `shutdown`.
///
/// # Errors
/// When `MD_ENRICHED` is missing; transient failures are retried inside.
pub async fn run(js: Context, db: Database, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    // MongoDB may be down at start-up too: wait for it rather than give up.
    while let Err(e) = ds_runtime::collections::ensure_indexes(&db).await {
        if !e.is_transient() {
            tracing::error!(error = %e, "cannot create the projection indexes");
            return Err(e.into());
        }
        tracing::warn!(error = %e, backoff = ?backoff.current(), "MongoDB unavailable; waiting to create indexes");
        if !backoff.wait(&mut shutdown).await {
            return Ok(());
        }
    }
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    loop {
        match run_consumer(&js, &db, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), backoff = ?backoff.current(), "projector consumer failed; rebuilding");
                if !backoff.wait(&mut shutdown).await {
                    return Ok(());
                }
            }
        }
    }
}

async fn run_consumer(js: &Context, db: &Database, shutdown: &mut Shutdown) -> anyhow::Result<()> {
    let source = open_consumer(js).await?;
    let mut projector = Projector {
        db: db.clone(),
        stop: shutdown.clone(),
        publisher: Publisher::new(js.clone(), 256),
        batch: Batch::default(),
        writers: FuturesUnordered::new(),
    };
    consumer::run(source, &mut projector, shutdown).await?;
    Ok(())
}

/// The durable consumer every projector instance shares.
async fn open_consumer(js: &Context) -> anyhow::Result<consumer::Source> {
    let stream = js
        .get_stream(subjects::STREAM_ENRICHED)
        .await
        .context("MD_ENRICHED is missing; run `deltastream topology apply`")?;
    let created = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                description: Some("MongoDB projector (shared by all instances)".into()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                // Short, so the batch of a projector that died is redelivered to the
                // others quickly; a batch held longer (MongoDB down) is kept alive
                // with progress acks.
                ack_wait: ACK_WAIT,
                max_ack_pending: 20_000,
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .context("creating consumer project")?;
    consumer::Source::open(created, CONSUMER, PROCESSOR, MAX_BATCH).await
}

/// What the projector's dead letters name as their origin.
const ORIGIN: Origin = Origin {
    processor: PROCESSOR,
    stream: subjects::STREAM_ENRICHED,
};

/// The projector's side of the consumer loop, a group commit: a batch is written
/// once no writer is busy and it has lingered [`LINGER`] (or holds
/// [`LINGER_ENOUGH`] messages); while writers are busy, arriving messages are
/// decoded into the next batch, so batches grow with the load, and a full batch
/// may start while another is still being journaled ([`MAX_WRITERS`]).
struct Projector {
    db: Database,
    /// Stops the writers' retries.
    stop: Shutdown,
    publisher: Publisher,
    batch: Batch,
    writers: FuturesUnordered<JoinHandle<anyhow::Result<Written>>>,
}

/// What became due.
enum Due {
    /// A writer finished.
    Written(Box<Result<anyhow::Result<Written>, JoinError>>),
    /// The batch lingered long enough.
    Ripe,
}

impl Projector {
    /// Starts writing the batch in hand when it is ripe and no writer is busy,
    /// or when it is full and a writer is free.
    fn launch(&mut self) {
        let len = self.batch.len();
        let full = len >= MAX_BATCH;
        let ripe = self
            .batch
            .linger_until()
            .is_none_or(|t| Instant::now() >= t);
        let start = (self.writers.is_empty() && ripe) || (full && self.writers.len() < MAX_WRITERS);
        if len == 0 || !start {
            return;
        }
        let (db, mut stop) = (self.db.clone(), self.stop.clone());
        let b = std::mem::take(&mut self.batch);
        self.writers.push(tokio::spawn(async move {
            let refused = write_with_retry(&db, &b.msgs, &b.writes, b.max_seq, &mut stop).await?;
            Ok(Written {
                msgs: b.msgs,
                refused,
                unsettled: b.unsettled,
                spans: b.spans,
                last_event: b.last_event,
                started: b.started.unwrap_or_else(Instant::now),
            })
        }));
    }

    /// Dead-letters what MongoDB refused, then acks the batch and counts it.
    async fn finish(&mut self, w: Written) -> anyhow::Result<()> {
        let Written {
            msgs,
            refused,
            mut unsettled,
            spans,
            last_event,
            started,
        } = w;
        let mut refused: HashMap<usize, String> = refused.into_iter().collect();
        for (i, msg) in msgs.into_iter().enumerate() {
            let outcome = refused.remove(&i).map_or(Outcome::Done, Outcome::Poison);
            unsettled.record(msg, outcome, &mut self.publisher).await?;
        }
        let n = unsettled.len();
        self.publisher.flush().await?;
        unsettled.settle().await?;
        for span in &spans {
            span.record("batch", n);
        }
        drop(spans);
        let m = metrics();
        m.processed
            .with_label_values(&[PROCESSOR, "enriched"])
            .inc_by(n as u64);
        for (p, ts) in &last_event {
            m.last_event_ts
                .with_label_values(&[p])
                .set(ts / 1_000_000_000);
        }
        let per_msg = started.elapsed().as_secs_f64() / n.max(1) as f64;
        let seconds = m.processing_seconds.with_label_values(&[PROCESSOR]);
        for _ in 0..n {
            seconds.observe(per_msg);
        }
        Ok(())
    }
}

impl Handler for Projector {
    type Ready = Due;

    fn room(&self) -> usize {
        MAX_BATCH.saturating_sub(self.batch.len())
    }

    async fn handle(&mut self, msgs: Vec<Message>) -> anyhow::Result<Flow> {
        for msg in msgs {
            self.batch.add(msg, &mut self.publisher).await?;
        }
        self.publisher.flush().await?;
        self.launch();
        Ok(Flow::Continue)
    }

    async fn ready(&mut self) -> Due {
        let linger = self.batch.linger_until().filter(|_| self.writers.is_empty());
        tokio::select! {
            Some(done) = self.writers.next(), if !self.writers.is_empty() => Due::Written(Box::new(done)),
            _ = tokio::time::sleep_until(linger.unwrap_or_else(Instant::now).into()), if linger.is_some() => Due::Ripe,
            else => std::future::pending().await,
        }
    }

    async fn on_ready(&mut self, due: Due) -> anyhow::Result<Flow> {
        if let Due::Written(done) = due {
            self.finish((*done).context("batch writer")??).await?;
        }
        self.launch();
        Ok(Flow::Continue)
    }

    /// Finishes the batches being written; the one in hand is not acked and
    /// will be redelivered.
    async fn stop(&mut self) -> anyhow::Result<Flow> {
        while let Some(done) = self.writers.next().await {
            self.finish(done.context("batch writer")??).await?;
        }
        Ok(Flow::Continue)
    }
}

/// Messages collected and decoded while the writers are busy.
struct Batch {
    /// The messages decoded into document writes.
    msgs: Vec<Message>,
    /// The document writes of each decoded message, by index in `msgs`.
    writes: Vec<(usize, Vec<DocWrite>)>,
    /// The messages that cannot be projected (dead-lettered), acked with the batch.
    unsettled: Unsettled,
    max_seq: u64,
    last_event: HashMap<String, i64>,
    /// `project` spans of the sampled messages, open until the batch is acked.
    spans: Vec<tracing::Span>,
    /// When its first message arrived.
    started: Option<Instant>,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            msgs: Vec::new(),
            writes: Vec::new(),
            unsettled: Unsettled::new(Acks::Each, ORIGIN),
            max_seq: 0,
            last_event: HashMap::new(),
            spans: Vec::new(),
            started: None,
        }
    }
}

impl Batch {
    /// Messages in the batch.
    fn len(&self) -> usize {
        self.msgs.len() + self.unsettled.len()
    }

    /// Until when a small batch waits for more messages (`None`: it does not).
    fn linger_until(&self) -> Option<Instant> {
        self.started
            .filter(|_| self.len() < LINGER_ENOUGH)
            .map(|t| t + LINGER)
    }

    /// Decodes `msg` into its document writes, or dead-letters it when it cannot be
    /// projected (it is acked with the batch either way).
    async fn add(&mut self, msg: Message, publisher: &mut Publisher) -> anyhow::Result<()> {
        self.started.get_or_insert_with(Instant::now);
        let stream_seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("message info: {e}"))?
            .stream_sequence;
        self.max_seq = self.max_seq.max(stream_seq);
        if let Some(parent) = ds_runtime::telemetry::remote(msg.headers.as_ref()) {
            let span = tracing::info_span!(
                parent: None,
                "project",
                subject = msg.subject.as_str(),
                stream_seq,
                // Known when the batch is cut: recorded in `finish`.
                batch = tracing::field::Empty,
            );
            parent.adopt(&span);
            self.spans.push(span);
        }
        let schema = ds_runtime::headers::schema(msg.headers.as_ref());
        let decoded = Enriched::decode(schema, msg.subject.as_str(), &msg.payload)
            .map_err(|e| e.to_string())
            .and_then(|e| {
                docs::writes(&e)
                    .map(|w| (e, w))
                    .map_err(|e| format!("not representable in BSON: {e}"))
            });
        match decoded {
            Ok((e, w)) => {
                if let Enriched::Underlying(u) = &e {
                    self.last_event.insert(u.product.clone(), u.ts_unix_ns);
                }
                self.writes.push((self.msgs.len(), w));
                self.msgs.push(msg);
                Ok(())
            }
            Err(reason) => {
                self.unsettled
                    .record(msg, Outcome::Poison(reason), publisher)
                    .await
            }
        }
    }
}

/// A batch whose documents are durable, to be acked.
struct Written {
    msgs: Vec<Message>,
    /// Messages MongoDB refused for good (index in `msgs`), with the reason.
    refused: Vec<(usize, String)>,
    /// The batch's messages that could not be projected, dead-lettered already.
    unsettled: Unsettled,
    /// `project` spans of the sampled messages, ended once acked.
    spans: Vec<tracing::Span>,
    last_event: HashMap<String, i64>,
    started: Instant,
}

/// Writes the batch, retrying transient MongoDB failures with backoff for as long
/// as it takes (extending the messages' ack deadline meanwhile): an outage loses
/// nothing. When MongoDB refuses the batch for good, the messages are written one
/// by one and those it refuses are returned with the reason, to be dead-lettered.
///
/// # Errors
/// Only when stopped while MongoDB is unavailable (nothing is acked then).
async fn write_with_retry(
    db: &Database,
    batch: &[Message],
    writes: &[(usize, Vec<DocWrite>)],
    max_seq: u64,
    shutdown: &mut Shutdown,
) -> anyhow::Result<Vec<(usize, String)>> {
    let all: Vec<DocWrite> = writes.iter().flat_map(|(_, w)| w.iter().cloned()).collect();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_progress = Instant::now();
    loop {
        let refused = match write_batch(db, &all, max_seq).await {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if ds_runtime::mongo::is_transient(&e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "MongoDB refused a batch; writing its messages one by one");
                let mut failed = Vec::new();
                for (i, w) in writes {
                    match write_batch(db, w, 0).await {
                        Ok(()) => {}
                        Err(e) if ds_runtime::mongo::is_transient(&e) => {
                            // MongoDB went away meanwhile: retry the whole batch.
                            failed.clear();
                            break;
                        }
                        Err(e) => failed.push((*i, format!("MongoDB refused the document: {e}"))),
                    }
                }
                if !failed.is_empty() {
                    return Ok(failed);
                }
                e
            }
        };
        tracing::warn!(error = %refused, backoff = ?backoff.current(), "MongoDB unavailable; retrying batch");
        if last_progress.elapsed() > ACK_WAIT / 3 {
            for msg in batch {
                let _ = msg.ack_with(AckKind::Progress).await;
            }
            last_progress = Instant::now();
        }
        if !backoff.wait(shutdown).await {
            anyhow::bail!(
                "stopped while MongoDB was unavailable (batch not acked, will be redelivered)"
            );
        }
    }
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
        assert!(e.to_string().contains("chain_latest: bad value (2)"), "{e}");
        let wce = doc! {"ok": 1, "writeConcernError": {"code": 64, "errmsg": "waiting"}};
        let e = update_outcome("underlying_latest", &wce).expect_err("unknown fate");
        assert!(ds_runtime::mongo::is_transient(&e), "{e}");
        let shutting_down = doc! {"ok": 1, "writeErrors": [
            {"index": 0, "code": 11600, "errmsg": "interrupted at shutdown"},
        ]};
        let e = update_outcome("underlying_latest", &shutting_down).expect_err("retry");
        assert!(ds_runtime::mongo::is_transient(&e), "{e}");
        assert!(!ds_runtime::mongo::is_transient(
            &update_outcome("chain_latest", &refused).expect_err("refused")
        ));
    }
}
