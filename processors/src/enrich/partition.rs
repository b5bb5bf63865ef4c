//! One product's enrichment loop: restore the checkpoint, (re)build the product's
//! durable consumer from the checkpoint's sequence, then in batches apply the pure
//! [`ProductState`], publish outputs, dead-letter poison, flush, checkpoint, ack.
//!
//! Acks come last: a crash anywhere re-delivers from the checkpoint, the state
//! machine skips what it already applied, and re-published outputs carry the same
//! `Nats-Msg-Id`, so every effect happens once.

use super::state::{Applied, ProductState, RawInput};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::dlq;
use crate::time::now_unix_ns;
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Context};
use ds_analytics::market::ProductSpec;
use ds_runtime::headers::EnrichedHeaders as _;
use ds_runtime::metrics::metrics;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_runtime::subjects;
use futures::{FutureExt, StreamExt};
use std::time::{Duration, Instant};

/// The processor name in DLQ subjects, checkpoints and consumers.
pub const PROCESSOR: &str = "enrich";
/// Messages handled between two checkpoints at most.
pub const MAX_BATCH: usize = 512;
/// How often a busy partition writes its checkpoint and acks what it applied.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// With messages pending and none received for this long, the consumer is rebuilt.
pub const STALL_AFTER: Duration = Duration::from_secs(15);

/// How a partition loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop.
    Stopped,
    /// Another instance took the partition over (checkpoint fenced).
    Fenced,
}

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
    let (mut ckpt, restored) =
        match Checkpoint::open::<ProductState>(js, &checkpoint_key(product)).await {
            Ok(x) => x,
            Err(CheckpointError::Corrupt { key, reason }) => {
                anyhow::bail!(
                    "checkpoint {key} is corrupt ({reason}); delete it to rebuild from the stream"
                )
            }
            Err(e) => return Err(e.into()),
        };
    let mut state = restored.unwrap_or_else(|| ProductState::new(spec));
    let stream = js
        .get_stream(subjects::STREAM_RAW)
        .await
        .context("MD_RAW is missing; run `deltastream topology apply`")?;
    let name = consumer_name(product);
    // The consumer is rebuilt from the checkpoint on every start: whatever a
    // previous owner had in flight is dropped, and delivery resumes in order.
    let _ = stream.delete_consumer(&name).await;
    let deliver_policy = if state.last_applied_seq == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: state.last_applied_seq + 1,
        }
    };
    let mut consumer = stream
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
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating consumer {name}"))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(MAX_BATCH)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .with_context(|| format!("pulling from {name}"))?;
    tracing::info!(product, from_seq = state.last_applied_seq + 1, "enriching");

    let mut publisher = Publisher::new(js.clone(), 2048);
    let index = crate::day_index::open(js).await?;
    let mut days = crate::day_index::Touched::default();
    let mut recorder = crate::day_index::Recorder::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut watchdog = tokio::time::interval(STALL_AFTER);
    watchdog.tick().await;
    let mut received_since_check = 0usize;
    let m = metrics();
    let lag = m.consumer_lag.with_label_values(&[&name]);
    let processed_tick = m.processed.with_label_values(&[PROCESSOR, "underlying"]);
    let processed_chain = m.processed.with_label_values(&[PROCESSOR, "chain"]);
    let redelivered = m.redelivered.with_label_values(&[PROCESSOR]);
    let seconds = m.processing_seconds.with_label_values(&[PROCESSOR]);
    // Checkpoints (and acks) are written at most every CHECKPOINT_EVERY, and at
    // once when the partition goes idle or stops: outputs are published and
    // acknowledged per batch, so a crash re-applies at most that much, and the
    // re-published outputs are de-duplicated by their ids.
    let mut unacked: Option<async_nats::jetstream::Message> = None;
    let mut last_persist = Instant::now();
    macro_rules! persist {
        () => {{
            let mut pending = Pending {
                product,
                state: &state,
                ckpt: &mut ckpt,
                index: &index,
                recorder: &mut recorder,
                days: &mut days,
                unacked: &mut unacked,
            };
            if persist(&mut pending).await? == Persisted::Fenced {
                return Ok(Exit::Fenced);
            }
        }};
    }
    loop {
        let dirty = unacked.is_some();
        tokio::select! {
            _ = stop.wait() => {
                if dirty {
                    persist!();
                }
                return Ok(Exit::Stopped);
            }
            _ = tokio::time::sleep_until((last_persist + CHECKPOINT_EVERY).into()), if dirty => {
                persist!();
                last_persist = Instant::now();
                continue;
            }
            _ = watchdog.tick() => {
                let info = consumer.info().await.context("consumer info")?;
                lag.set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                if received_since_check == 0 && info.num_pending > 0 {
                    m.watchdog_restarts.with_label_values(&[&name]).inc();
                    anyhow::bail!("consumer {name} stalled with {} pending; rebuilding from checkpoint", info.num_pending);
                }
                received_since_check = 0;
                continue;
            }
            next = messages.next() => match next {
                Some(Ok(msg)) => batch.push(msg),
                Some(Err(e)) => return Err(anyhow::anyhow!("consumer {name}: {e}")),
                None => anyhow::bail!("consumer {name} ended"),
            },
        }
        while batch.len() < MAX_BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(msg))) => batch.push(msg),
                Some(Some(Err(e))) => return Err(anyhow::anyhow!("consumer {name}: {e}")),
                _ => break,
            }
        }
        received_since_check += batch.len();
        let started = Instant::now();
        for msg in &batch {
            let info = msg
                .info()
                .map_err(|e| anyhow::anyhow!("message info: {e}"))?;
            let seq = info.stream_sequence;
            if info.delivered > 1 {
                redelivered.inc();
            }
            let schema = ds_runtime::headers::schema(msg.headers.as_ref());
            // A sampled trace continues here (span `enrich`) and into the outputs.
            let span = ds_runtime::telemetry::remote(msg.headers.as_ref()).map(|parent| {
                let span = tracing::info_span!(
                    parent: None,
                    "enrich",
                    product,
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
            match state.apply(spec, input) {
                Ok(Applied::Outputs { day, outputs }) => {
                    days.touch(day, seq);
                    for o in outputs {
                        publisher
                            .publish_raw(
                                o.subject(),
                                o.traced_headers(seq, span.as_ref()),
                                o.encode(),
                            )
                            .await?;
                    }
                    if msg.subject.as_str().ends_with(".underlying") {
                        processed_tick.inc();
                    } else {
                        processed_chain.inc();
                    }
                }
                Ok(Applied::AlreadyApplied) => {}
                Err(poison) => {
                    let letter = dlq::letter(
                        dlq::Source {
                            processor: PROCESSOR,
                            stream: subjects::STREAM_RAW,
                            subject: msg.subject.as_str(),
                            stream_seq: seq,
                            schema,
                            payload: &msg.payload,
                        },
                        &poison.0,
                        info.delivered.max(1) as u64,
                        now_unix_ns(),
                    );
                    dlq::publish(&mut publisher, &letter).await?;
                    state.last_applied_seq = seq;
                }
            }
        }
        publisher.flush().await?;
        let per_msg = started.elapsed().as_secs_f64() / batch.len().max(1) as f64;
        for _ in 0..batch.len() {
            seconds.observe(per_msg);
        }
        unacked = batch.pop().or(unacked);
        batch.clear();
        if last_persist.elapsed() >= CHECKPOINT_EVERY {
            persist!();
            last_persist = Instant::now();
        }
    }
}

/// What a partition has applied but not yet checkpointed.
struct Pending<'a> {
    product: &'a str,
    state: &'a ProductState,
    ckpt: &'a mut Checkpoint,
    index: &'a async_nats::jetstream::kv::Store,
    recorder: &'a mut crate::day_index::Recorder,
    days: &'a mut crate::day_index::Touched,
    unacked: &'a mut Option<async_nats::jetstream::Message>,
}

#[derive(Debug, PartialEq, Eq)]
enum Persisted {
    Saved,
    Fenced,
}

/// Records the day index, writes the checkpoint, then acks everything applied
/// (the outputs are already acknowledged by JetStream). The day index goes first:
/// a crash in between re-applies the messages, and the index merge is idempotent.
async fn persist(p: &mut Pending<'_>) -> anyhow::Result<Persisted> {
    if !p.days.is_empty() {
        p.recorder.record(p.index, p.product, p.days).await?;
        p.days.clear();
    }
    match p.ckpt.save(p.state).await {
        Ok(()) => {}
        Err(CheckpointError::Fenced(_)) => {
            tracing::warn!(
                product = p.product,
                "another instance owns this product now; stopping"
            );
            return Ok(Persisted::Fenced);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(last) = p.unacked.take() {
        // AckAll: acknowledges every message up to this one.
        last.ack_with(AckKind::Ack)
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
    }
    Ok(Persisted::Saved)
}
