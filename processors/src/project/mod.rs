//! The projector: `MD_ENRICHED` into the MongoDB read models of SPEC §6.
//!
//! Every write is idempotent and keyed by the event (append-only documents are
//! inserted under an id derived from the event; latest-value documents are replaced
//! only by a higher `source_seq`), so the projector needs no ordering: all instances
//! share one durable consumer as a work queue. Messages are written in batches,
//! journaled, and acked only after the batch is durable; while MongoDB is down the
//! batch is retried with backoff (kept in hand, its ack deadline extended), and
//! nothing is lost. A message that cannot be projected (undecodable, or refused
//! by MongoDB on its own) is dead-lettered.
//!
//! The MongoDB writes are the [`store`]'s; this module is the consumer around it.

pub mod docs;
pub mod store;

use crate::consumer::{self, Acks, Flow, Handler, Origin, Outcome, Unsettled};
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Context, Message};
use docs::DocWrite;
use ds_runtime::backoff::Backoff;
use ds_runtime::metrics::metrics;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::enriched::Enriched;
use ds_schemas::subjects;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use mongodb::Database;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use store::{Durability, Store, StoreError};
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

/// How long a delivered message may stay unacked before JetStream redelivers it.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Runs one projector instance until `shutdown`.
///
/// # Errors
/// When `MD_ENRICHED` is missing; transient failures are retried inside.
pub async fn run(js: Context, db: Database, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let store = Store::new(db);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    // MongoDB may be down at start-up too: wait for it rather than give up.
    while let Err(e) = store.ensure_indexes().await {
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
        match run_consumer(&js, &store, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                // Denied by its permissions: rebuilding cannot help; stop and say why.
                ds_runtime::auth::violations::check(&js.client())?;
                tracing::warn!(error = %format!("{e:#}"), backoff = ?backoff.current(), "projector consumer failed; rebuilding");
                if !backoff.wait(&mut shutdown).await {
                    return Ok(());
                }
            }
        }
    }
}

async fn run_consumer(js: &Context, store: &Store, shutdown: &mut Shutdown) -> anyhow::Result<()> {
    let source = open_consumer(js).await?;
    let mut projector = Projector {
        store: store.clone(),
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
    store: Store,
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
        let (store, mut stop) = (self.store.clone(), self.stop.clone());
        let b = std::mem::take(&mut self.batch);
        self.writers.push(tokio::spawn(async move {
            let refused =
                write_with_retry(&store, &b.msgs, &b.writes, b.max_seq, &mut stop).await?;
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
        let linger = self
            .batch
            .linger_until()
            .filter(|_| self.writers.is_empty());
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
    store: &Store,
    batch: &[Message],
    writes: &[(usize, Vec<DocWrite>)],
    max_seq: u64,
    shutdown: &mut Shutdown,
) -> anyhow::Result<Vec<(usize, String)>> {
    let all: Vec<DocWrite> = writes.iter().flat_map(|(_, w)| w.iter().cloned()).collect();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_progress = Instant::now();
    loop {
        let unavailable = match store.write(&all, Durability::Offset(max_seq)).await {
            Ok(()) => return Ok(Vec::new()),
            Err(e @ StoreError::Transient(_)) => e,
            Err(e @ StoreError::Refused(_)) => {
                tracing::warn!(error = %e, "MongoDB refused a batch; writing its messages one by one");
                match write_one_by_one(store, writes).await {
                    Some(failed) if !failed.is_empty() => return Ok(failed),
                    _ => e,
                }
            }
        };
        tracing::warn!(error = %unavailable, backoff = ?backoff.current(), "MongoDB unavailable; retrying batch");
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

/// Writes each message's documents on its own; returns those MongoDB refuses,
/// with the reason, or `None` when it went away meanwhile (retry the batch).
async fn write_one_by_one(
    store: &Store,
    writes: &[(usize, Vec<DocWrite>)],
) -> Option<Vec<(usize, String)>> {
    let mut failed = Vec::new();
    for (i, w) in writes {
        match store.write(w, Durability::EachWrite).await {
            Ok(()) => {}
            Err(StoreError::Transient(_)) => return None,
            Err(StoreError::Refused(reason)) => {
                failed.push((*i, format!("MongoDB refused the document: {reason}")));
            }
        }
    }
    Some(failed)
}
