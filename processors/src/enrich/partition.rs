//! One group's enrichment loop: restore each product's checkpoint, (re)build the
//! group's durable consumer from the lowest checkpointed sequence, then in
//! batches apply each product's pure [`ProductState`], publish outputs,
//! dead-letter poison and wait for the batch's publish acks; every
//! [`CHECKPOINT_EVERY`] a task makes what was applied durable (the products
//! that moved checkpointed, then the messages acked) while the loop goes on
//! enriching.
//!
//! The publish acks stay in the loop: an output the servers lost (a cluster
//! node died) is noticed before the next batch is published, and re-published
//! from the checkpoint before anything later on its subject, so each enriched
//! subject keeps its order.
//!
//! Acks come last: a crash anywhere re-delivers from the lowest checkpoint, each
//! product's state machine skips what it already applied, and re-published
//! outputs carry the same `Nats-Msg-Id`, so every effect happens once.

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
use std::collections::BTreeMap;
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

/// The durable consumer of a group (a partition, [`super::groups`]).
pub fn consumer_name(group: &str) -> String {
    format!("{PROCESSOR}_{group}")
}

/// The durable consumer that reads `product`.
pub fn consumer_of(product: &str) -> String {
    consumer_name(&super::groups::partition_of(product))
}

/// The checkpoint key of a product.
pub fn checkpoint_key(product: &str) -> String {
    format!("{PROCESSOR}.{product}")
}

/// Runs the group `group` of `specs` until stopped or fenced.
///
/// # Errors
/// Transient failures (NATS unreachable, consumer stalled): the caller retries
/// with backoff, which restarts from the checkpoints.
pub async fn run(
    js: &Context,
    group: &str,
    specs: &[&ProductSpec],
    stop: &mut Shutdown,
) -> anyhow::Result<Exit> {
    let mut products = BTreeMap::new();
    for spec in specs {
        products.insert(spec.name.clone(), Product::open(js, spec).await?);
    }
    let from = products
        .values()
        .map(|p| p.state.last_applied_seq)
        .min()
        .unwrap_or(0);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let source = open_consumer(js, group, &names, from).await?;
    tracing::info!(
        group,
        products = specs.len(),
        from_seq = from + 1,
        "enriching"
    );
    let mut partition = Partition::new(js, products).await?;
    consumer::run(source, &mut partition, stop).await
}

/// (Re)builds the group's durable consumer from `last_applied_seq`, the lowest
/// of its products' checkpoints: whatever a previous owner had in flight is
/// dropped, and delivery resumes in order after it.
async fn open_consumer(
    js: &Context,
    group: &str,
    products: &[&str],
    last_applied_seq: u64,
) -> anyhow::Result<consumer::Source> {
    let stream = js
        .get_stream(subjects::STREAM_RAW)
        .await
        .context("MD_RAW is missing; run `deltastream topology apply`")?;
    let name = consumer_name(group);
    let _ = stream.delete_consumer(&name).await;
    // Upgrading from a consumer per product: those consumers (`enrich_<P>`,
    // upper case, so never a group's name) would otherwise stay on the server.
    for product in products {
        let _ = stream.delete_consumer(&consumer_name(product)).await;
    }
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
                "enricher of group {group} (rebuilt from the checkpoints on takeover)"
            )),
            filter_subjects: products.iter().map(|p| subjects::raw_product(p)).collect(),
            deliver_policy,
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 20_000,
            max_deliver: -1,
            // The checkpoints in `ds_checkpoints` are the position that counts:
            // the consumer is rebuilt from them on every takeover, so the server
            // need not write its state to disk on every delivery and ack (with
            // a consumer per product, those state files took nearly half of
            // nats-server's CPU; see BENCHMARKS.md).
            memory_storage: true,
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating consumer {name}"))?;
    consumer::Source::open(created, &name, PROCESSOR, MAX_BATCH).await
}

/// One product of a group: its pure state, where it is checkpointed, and the
/// days it touched since its last checkpoint.
struct Product<'a> {
    spec: &'a ProductSpec,
    state: ProductState,
    /// Its checkpoint slot; away while a checkpoint of it is being written.
    slot: Option<Slot>,
    days: Touched,
    /// Applied something since the last checkpoint.
    moved: bool,
}

/// Where a product's progress is made durable: its checkpoint and what it
/// knows of the day index.
struct Slot {
    ckpt: Checkpoint,
    recorder: Recorder,
}

impl<'a> Product<'a> {
    async fn open(js: &Context, spec: &'a ProductSpec) -> anyhow::Result<Self> {
        let key = checkpoint_key(&spec.name);
        let (ckpt, restored) = match Checkpoint::open::<ProductState>(js, &key).await {
            Ok(x) => x,
            Err(CheckpointError::Corrupt { key, reason }) => {
                anyhow::bail!(
                    "checkpoint {key} is corrupt ({reason}); delete it to rebuild from the stream"
                )
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            spec,
            state: restored.unwrap_or_else(|| ProductState::new(spec)),
            slot: Some(Slot {
                ckpt,
                recorder: Recorder::default(),
            }),
            days: Touched::default(),
            moved: false,
        })
    }

    /// What to write for this product now (its state as it is), if it moved
    /// since its last checkpoint; its slot goes with it.
    fn snapshot(&mut self) -> anyhow::Result<Option<Write>> {
        if !self.moved {
            return Ok(None);
        }
        let Some(slot) = self.slot.take() else {
            anyhow::bail!("{}: a checkpoint is already being written", self.spec.name);
        };
        let state = match slot.ckpt.encode(&self.state) {
            Ok(state) => state,
            Err(e) => {
                self.slot = Some(slot);
                return Err(e.into());
            }
        };
        self.moved = false;
        Ok(Some(Write {
            product: self.spec.name.clone(),
            slot,
            days: std::mem::take(&mut self.days),
            state,
        }))
    }
}

/// One product's checkpoint, written in the background.
struct Write {
    product: String,
    slot: Slot,
    days: Touched,
    state: bytes::Bytes,
}

impl Write {
    /// Records the day index, then writes the checkpoint. The day index goes
    /// first: a crash in between re-applies the messages, and the index merge
    /// is idempotent.
    async fn run(&mut self, index: &Store) -> anyhow::Result<Flow> {
        let product = self.product.as_str();
        if !self.days.is_empty() {
            self.slot
                .recorder
                .record(index, product, &self.days)
                .await?;
        }
        match self.slot.ckpt.save_encoded(self.state.clone()).await {
            Ok(()) => Ok(Flow::Continue),
            Err(CheckpointError::Fenced(_)) => {
                tracing::warn!(product, "another instance owns this product now; stopping");
                Ok(Flow::Fenced)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A checkpoint written: the slots back, and how the partition goes on.
struct Written {
    slots: Vec<(String, Slot)>,
    flow: anyhow::Result<Flow>,
}

/// Makes a snapshot durable (its outputs and dead letters already are): each
/// product's day index and checkpoint (at once, each to its own key), then
/// the acks of the messages it covers. Acks come last.
async fn write(mut writes: Vec<Write>, index: Store, mut acks: Unsettled) -> Written {
    let flow = async {
        let flows = futures::future::join_all(writes.iter_mut().map(|w| w.run(&index))).await;
        for flow in flows {
            if flow? == Flow::Fenced {
                return Ok(Flow::Fenced);
            }
        }
        acks.settle().await?;
        Ok(Flow::Continue)
    }
    .await;
    Written {
        slots: writes.into_iter().map(|w| (w.product, w.slot)).collect(),
        flow,
    }
}

/// One group's enrichment: its products, where their outputs go, and what they
/// applied but have not checkpointed yet.
///
/// A checkpoint is taken at most every [`CHECKPOINT_EVERY`], and when the
/// partition stops: the products' states as they are and the messages applied
/// (whose outputs are acknowledged already), handed to a task that makes
/// them durable in order ([`write`]) while the partition goes on enriching. One
/// checkpoint is written at a time. A crash re-applies what came after the
/// last written checkpoint, and the re-published outputs are de-duplicated by
/// their ids.
struct Partition<'a> {
    products: BTreeMap<String, Product<'a>>,
    publisher: Publisher,
    index: Store,
    unsettled: Unsettled,
    last_persist: Instant,
    /// The checkpoint being written, if any.
    writing: Option<tokio::task::JoinHandle<Written>>,
    processed_tick: IntCounter,
    processed_chain: IntCounter,
    seconds: Histogram,
}

/// What became due for a partition.
enum Due {
    /// The checkpoint being written is done.
    Written(Written),
    /// Time for the next checkpoint.
    Checkpoint,
}

impl<'a> Partition<'a> {
    async fn new(js: &Context, products: BTreeMap<String, Product<'a>>) -> anyhow::Result<Self> {
        let m = metrics();
        Ok(Self {
            products,
            publisher: Publisher::new(js.clone(), 2048),
            index: crate::day_index::open(js).await?,
            unsettled: Unsettled::new(Acks::UpTo, ORIGIN),
            last_persist: Instant::now(),
            writing: None,
            processed_tick: m.processed.with_label_values(&[PROCESSOR, "underlying"]),
            processed_chain: m.processed.with_label_values(&[PROCESSOR, "chain"]),
            seconds: m.processing_seconds.with_label_values(&[PROCESSOR]),
        })
    }

    /// Applies one message to its product's state and publishes its outputs;
    /// what became of it is recorded, to be acked once checkpointed.
    async fn apply(&mut self, msg: Message) -> anyhow::Result<()> {
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("message info: {e}"))?
            .stream_sequence;
        let name = subjects::product_or_unknown(msg.subject.as_str());
        let Some(product) = self.products.get_mut(name) else {
            // The consumer's filters deliver only the group's products.
            let reason = format!("subject {} names no product of this group", msg.subject);
            return self
                .unsettled
                .record(msg, Outcome::Poison(reason), &mut self.publisher)
                .await;
        };
        let schema = ds_runtime::headers::schema(msg.headers.as_ref());
        // A sampled trace continues here (span `enrich`) and into the outputs.
        let span = ds_runtime::telemetry::remote(msg.headers.as_ref()).map(|parent| {
            let span = tracing::info_span!(
                parent: None,
                "enrich",
                product = name,
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
        let outcome = match product.state.apply(product.spec, input) {
            Ok(Applied::Outputs { day, outputs }) => {
                product.days.touch(day, seq);
                product.moved = true;
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
                product.state.last_applied_seq = seq;
                product.moved = true;
                Outcome::Poison(poison.0)
            }
        };
        self.unsettled
            .record(msg, outcome, &mut self.publisher)
            .await
    }

    /// Hands a checkpoint of every product that moved, with the messages it
    /// covers, to a task that writes it ([`write`]).
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        let mut writes = Vec::new();
        for product in self.products.values_mut() {
            writes.extend(product.snapshot()?);
        }
        let acks = std::mem::replace(&mut self.unsettled, Unsettled::new(Acks::UpTo, ORIGIN));
        let index = self.index.clone();
        self.writing = Some(tokio::spawn(write(writes, index, acks)));
        self.last_persist = Instant::now();
        Ok(())
    }

    /// Takes back the slots of a checkpoint written.
    fn written(&mut self, written: Written) -> anyhow::Result<Flow> {
        self.writing = None;
        for (name, slot) in written.slots {
            if let Some(p) = self.products.get_mut(&name) {
                p.slot = Some(slot);
            }
        }
        written.flow
    }

    /// Waits for the checkpoint being written, if any.
    async fn finish_writing(&mut self) -> anyhow::Result<Flow> {
        match self.writing.as_mut() {
            Some(task) => {
                let written = joined(task.await);
                self.written(written)
            }
            None => Ok(Flow::Continue),
        }
    }
}

/// A checkpoint task's result, or its failure as one.
fn joined(r: Result<Written, tokio::task::JoinError>) -> Written {
    r.unwrap_or_else(|e| Written {
        slots: Vec::new(),
        flow: Err(anyhow::anyhow!("checkpoint writer: {e}")),
    })
}

impl Handler for Partition<'_> {
    type Ready = Due;

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
        if self.writing.is_none() && self.last_persist.elapsed() >= CHECKPOINT_EVERY {
            self.checkpoint()?;
        }
        Ok(Flow::Continue)
    }

    async fn ready(&mut self) -> Due {
        if let Some(task) = self.writing.as_mut() {
            return Due::Written(joined(task.await));
        }
        if self.unsettled.is_empty() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until((self.last_persist + CHECKPOINT_EVERY).into()).await;
        Due::Checkpoint
    }

    async fn on_ready(&mut self, due: Due) -> anyhow::Result<Flow> {
        match due {
            Due::Written(written) => self.written(written),
            Due::Checkpoint => {
                self.checkpoint()?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn stop(&mut self) -> anyhow::Result<Flow> {
        if self.finish_writing().await? == Flow::Fenced {
            return Ok(Flow::Fenced);
        }
        if self.unsettled.is_empty() {
            return Ok(Flow::Continue);
        }
        self.checkpoint()?;
        self.finish_writing().await
    }
}
