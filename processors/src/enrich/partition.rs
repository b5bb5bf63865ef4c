//! One product's enrichment loop: restore the checkpoint, (re)build the product's
//! durable consumer from the checkpoint's sequence, then in batches apply the pure
//! [`ProductState`], publish outputs, dead-letter poison, flush, checkpoint, ack.
//!
//! Acks come last: a crash anywhere re-delivers from the checkpoint, the state
//! machine skips what it already applied, and re-published outputs carry the same
//! `Nats-Msg-Id`, so every effect happens once.

use super::state::{Applied, ProductState, RawInput};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::consumer::{self, Acks, Flow, Handler, Origin, Outcome, Unsettled};
use crate::day_index::{Recorder, Touched};
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::kv::Store;
use async_nats::jetstream::{Context, Message};
use ds_analytics::market::ProductSpec;
use ds_runtime::headers::EnrichedHeaders as _;
use ds_runtime::metrics::metrics;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::subjects;
use prometheus::{Histogram, IntCounter};
use std::time::{Duration, Instant};

/// The processor name in DLQ subjects, checkpoints and consumers.
pub const PROCESSOR: &str = "enrich";
/// Messages handled between two checkpoints at most.
pub const MAX_BATCH: usize = 512;
/// How often a busy partition writes its checkpoint and acks what it applied.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// With messages pending and none received for this long, the consumer is rebuilt.
pub const STALL_AFTER: Duration = consumer::STALL_AFTER;
/// What the enricher's dead letters name as their origin.
const ORIGIN: Origin = Origin {
    processor: PROCESSOR,
    stream: subjects::STREAM_RAW,
};

pub use crate::consumer::Exit;

/// The durable consumer of a product.
pub fn consumer_name(product: &str) -> String {
    format!("{PROCESSOR}_{product}")
}

/// The checkpoint key of a product.
pub fn checkpoint_key(product: &str) -> String {
    format!("{PROCESSOR}.{product}")
}

/// Runs one product until stopped or fenced.
///
/// # Errors
/// Transient failures (NATS unreachable, consumer stalled): the caller retries
/// with backoff, which restarts from the checkpoint.
pub async fn run(js: &Context, spec: &ProductSpec, stop: &mut Shutdown) -> anyhow::Result<Exit> {
    let product = spec.name.as_str();
    let (ckpt, restored) =
        match Checkpoint::open::<ProductState>(js, &checkpoint_key(product)).await {
            Ok(x) => x,
            Err(CheckpointError::Corrupt { key, reason }) => {
                anyhow::bail!(
                    "checkpoint {key} is corrupt ({reason}); delete it to rebuild from the stream"
                )
            }
            Err(e) => return Err(e.into()),
        };
    let state = restored.unwrap_or_else(|| ProductState::new(spec));
    let source = open_consumer(js, product, state.last_applied_seq).await?;
    tracing::info!(product, from_seq = state.last_applied_seq + 1, "enriching");
    let mut partition = Partition::new(js, spec, state, ckpt).await?;
    consumer::run(source, &mut partition, stop).await
}

/// (Re)builds the product's durable consumer from the checkpoint's sequence:
/// whatever a previous owner had in flight is dropped, and delivery resumes in
/// order after `last_applied_seq`.
async fn open_consumer(
    js: &Context,
    product: &str,
    last_applied_seq: u64,
) -> anyhow::Result<consumer::Source> {
    let stream = js
        .get_stream(subjects::STREAM_RAW)
        .await
        .context("MD_RAW is missing; run `deltastream topology apply`")?;
    let name = consumer_name(product);
    let _ = stream.delete_consumer(&name).await;
    let deliver_policy = if last_applied_seq == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: last_applied_seq + 1,
        }
    };
    let created = stream
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!(
                "enricher of {product} (rebuilt from checkpoint on takeover)"
            )),
            filter_subject: subjects::raw_product(product),
            deliver_policy,
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 20_000,
            max_deliver: -1,
            // The checkpoint in `ds_checkpoints` is the position that counts:
            // the consumer is rebuilt from it on every takeover, so the server
            // need not write its state to disk on every delivery and ack (with
            // a partition per product, those state files took nearly half of
            // nats-server's CPU; see BENCHMARKS.md).
            memory_storage: true,
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating consumer {name}"))?;
    consumer::Source::open(created, &name, PROCESSOR, MAX_BATCH).await
}

/// One product's enrichment: the pure state, where its outputs go, and what it
/// applied but has not checkpointed yet.
///
/// Checkpoints (and acks) are written at most every [`CHECKPOINT_EVERY`], and at
/// once when the partition goes idle or stops: outputs are published and
/// acknowledged per batch, so a crash re-applies at most that much, and the
/// re-published outputs are de-duplicated by their ids.
struct Partition<'a> {
    spec: &'a ProductSpec,
    state: ProductState,
    ckpt: Checkpoint,
    publisher: Publisher,
    index: Store,
    days: Touched,
    recorder: Recorder,
    unsettled: Unsettled,
    last_persist: Instant,
    processed_tick: IntCounter,
    processed_chain: IntCounter,
    seconds: Histogram,
}

impl<'a> Partition<'a> {
    async fn new(
        js: &Context,
        spec: &'a ProductSpec,
        state: ProductState,
        ckpt: Checkpoint,
    ) -> anyhow::Result<Self> {
        let m = metrics();
        Ok(Self {
            spec,
            state,
            ckpt,
            publisher: Publisher::new(js.clone(), 2048),
            index: crate::day_index::open(js).await?,
            days: Touched::default(),
            recorder: Recorder::default(),
            unsettled: Unsettled::new(Acks::UpTo, ORIGIN),
            last_persist: Instant::now(),
            processed_tick: m.processed.with_label_values(&[PROCESSOR, "underlying"]),
            processed_chain: m.processed.with_label_values(&[PROCESSOR, "chain"]),
            seconds: m.processing_seconds.with_label_values(&[PROCESSOR]),
        })
    }

    /// Applies one message to the state and publishes its outputs; what became
    /// of it is recorded, to be acked once checkpointed.
    async fn apply(&mut self, msg: Message) -> anyhow::Result<()> {
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("message info: {e}"))?
            .stream_sequence;
        let schema = ds_runtime::headers::schema(msg.headers.as_ref());
        // A sampled trace continues here (span `enrich`) and into the outputs.
        let span = ds_runtime::telemetry::remote(msg.headers.as_ref()).map(|parent| {
            let span = tracing::info_span!(
                parent: None,
                "enrich",
                product = self.spec.name.as_str(),
                subject = msg.subject.as_str(),
                stream_seq = seq,
            );
            parent.adopt(&span);
            span
        });
        let input = RawInput {
            subject: msg.subject.as_str(),
            schema,
            payload: &msg.payload,
            stream_seq: seq,
        };
        let outcome = match self.state.apply(self.spec, input) {
            Ok(Applied::Outputs { day, outputs }) => {
                self.days.touch(day, seq);
                for o in outputs {
                    let headers = o.traced_headers(seq, span.as_ref());
                    self.publisher
                        .publish_raw(o.subject(), headers, o.encode())
                        .await?;
                }
                if msg.subject.as_str().ends_with(".underlying") {
                    self.processed_tick.inc();
                } else {
                    self.processed_chain.inc();
                }
                Outcome::Done
            }
            Ok(Applied::AlreadyApplied) => Outcome::Done,
            Err(poison) => {
                // Skipped from now on: its dead letter is durable before the checkpoint.
                self.state.last_applied_seq = seq;
                Outcome::Poison(poison.0)
            }
        };
        self.unsettled
            .record(msg, outcome, &mut self.publisher)
            .await
    }

    /// Records the day index, writes the checkpoint, then acks everything applied
    /// (outputs and dead letters are already acknowledged by JetStream). The day
    /// index goes first: a crash in between re-applies the messages, and the
    /// index merge is idempotent.
    async fn persist(&mut self) -> anyhow::Result<Flow> {
        let product = self.spec.name.as_str();
        if !self.days.is_empty() {
            self.recorder
                .record(&self.index, product, &self.days)
                .await?;
            self.days.clear();
        }
        match self.ckpt.save(&self.state).await {
            Ok(()) => {}
            Err(CheckpointError::Fenced(_)) => {
                tracing::warn!(product, "another instance owns this product now; stopping");
                return Ok(Flow::Fenced);
            }
            Err(e) => return Err(e.into()),
        }
        self.unsettled.settle().await?;
        self.last_persist = Instant::now();
        Ok(Flow::Continue)
    }
}

impl Handler for Partition<'_> {
    type Ready = ();

    fn room(&self) -> usize {
        MAX_BATCH
    }

    async fn handle(&mut self, batch: Vec<Message>) -> anyhow::Result<Flow> {
        let started = Instant::now();
        let n = batch.len();
        for msg in batch {
            self.apply(msg).await?;
        }
        self.publisher.flush().await?;
        let per_msg = started.elapsed().as_secs_f64() / n.max(1) as f64;
        for _ in 0..n {
            self.seconds.observe(per_msg);
        }
        if self.last_persist.elapsed() >= CHECKPOINT_EVERY {
            return self.persist().await;
        }
        Ok(Flow::Continue)
    }

    async fn ready(&mut self) {
        if self.unsettled.is_empty() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until((self.last_persist + CHECKPOINT_EVERY).into()).await;
    }

    async fn on_ready(&mut self, (): ()) -> anyhow::Result<Flow> {
        self.persist().await
    }

    async fn stop(&mut self) -> anyhow::Result<Flow> {
        if self.unsettled.is_empty() {
            return Ok(Flow::Continue);
        }
        self.persist().await
    }
}
