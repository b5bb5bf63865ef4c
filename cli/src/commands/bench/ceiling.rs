//! Section 1, the machine's own ceiling: raw JetStream publish, consume+ack, and
//! consume→republish of messages the size of our ticks and chains, no processing.

use super::env::Env;
use super::Progress;
use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::{stream, Context};
use bytes::Bytes;
use ds_processors::feed::model::{FeedEvent, ProductFeed};
use ds_runtime::config::Config;
use ds_runtime::publish::Publisher;
use futures::StreamExt;
use prost::Message;
use std::time::Instant;

/// Rates in messages per second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ceiling {
    /// Asynchronous windowed publish.
    pub publish: f64,
    /// Pull consume + ack.
    pub consume: f64,
    /// Consume + publish elsewhere + ack (what an enricher does, minus the work).
    pub relay: f64,
}

/// Measures the ceiling at tick and at chain size.
///
/// # Errors
/// When JetStream fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    let (tick, chain) = sample_payloads(&env.cfg);
    let n = if env.quick { 20_000 } else { 100_000 };
    let tick_ceiling = measure(&env.js, "tick-size", tick.into(), n, &env.progress).await?;
    let chain_ceiling = measure(&env.js, "chain-size", chain.into(), n / 5, &env.progress).await?;
    for (label, c) in [("tick-size", tick_ceiling), ("chain-size", chain_ceiling)] {
        env.report.info(
            "ceiling",
            format!("JetStream publish, {label}"),
            c.publish,
            "msg/s",
        );
        env.report.info(
            "ceiling",
            format!("JetStream consume+ack, {label}"),
            c.consume,
            "msg/s",
        );
        env.report.info(
            "ceiling",
            format!("JetStream consume+publish+ack, {label}"),
            c.relay,
            "msg/s",
        );
    }
    env.found.tick_ceiling = tick_ceiling;
    env.found.chain_ceiling = chain_ceiling;
    Ok(())
}

/// An encoded tick and chain of the first configured product.
fn sample_payloads(cfg: &Config) -> (Vec<u8>, Vec<u8>) {
    let spec = &cfg.products[0];
    let mut feed = ProductFeed::new(spec, &cfg.feed, 1, &Default::default());
    let mut events = Vec::new();
    let mut i = 0;
    while !events.iter().any(|e| matches!(e, FeedEvent::Chain(_))) {
        feed.step(1_736_912_700_000_000_000 + i * 1_000_000_000, &mut events);
        i += 1;
    }
    let tick = events.iter().find_map(|e| match e {
        FeedEvent::Tick(t) => Some(t.encode_to_vec()),
        FeedEvent::Chain(_) => None,
    });
    let chain = events.iter().find_map(|e| match e {
        FeedEvent::Chain(c) => Some(c.encode_to_vec()),
        FeedEvent::Tick(_) => None,
    });
    (tick.unwrap_or_default(), chain.unwrap_or_default())
}

async fn fresh_stream(js: &Context, name: &str, subjects: &str) -> anyhow::Result<stream::Stream> {
    let _ = js.delete_stream(name).await;
    Ok(js
        .create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?)
}

/// A durable pull consumer named `name` on `stream`, as a message stream.
async fn pull_messages(stream: &stream::Stream, name: &str) -> anyhow::Result<pull::Stream> {
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(name.into()),
            ack_policy: AckPolicy::Explicit,
            max_ack_pending: 20_000,
            ..Default::default()
        })
        .await?;
    Ok(consumer
        .stream()
        .max_messages_per_batch(512)
        .messages()
        .await?)
}

/// Measures the three rates for `n` messages of `payload`.
///
/// # Errors
/// When JetStream fails.
pub async fn measure(
    js: &Context,
    label: &str,
    payload: Bytes,
    n: usize,
    progress: &Progress,
) -> anyhow::Result<Ceiling> {
    let input = fresh_stream(js, "BENCH_IN", "md.bench.in.>").await?;
    let _output = fresh_stream(js, "BENCH_OUT", "md.bench.out.>").await?;
    progress.line(&format!(
        "ceiling: publishing {n} {label} messages ({} B)",
        payload.len()
    ));
    let publish = publish_rate(js, payload, n).await?;
    progress.line(&format!("ceiling: consuming {n} {label} messages"));
    let consume = consume_rate(&input, n).await?;
    progress.line(&format!("ceiling: relaying {n} {label} messages"));
    let relay = relay_rate(js, &input, n).await?;
    let _ = js.delete_stream("BENCH_IN").await;
    let _ = js.delete_stream("BENCH_OUT").await;
    Ok(Ceiling {
        publish,
        consume,
        relay,
    })
}

/// Publishes `n` messages of `payload` on `md.bench.in.>`; msgs/s.
async fn publish_rate(js: &Context, payload: Bytes, n: usize) -> anyhow::Result<f64> {
    let mut publisher = Publisher::new(js.clone(), 1024);
    let t = Instant::now();
    for i in 0..n {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("b{i}").as_str());
        publisher
            .publish_raw(format!("md.bench.in.{}", i % 4), h, payload.clone())
            .await?;
    }
    publisher.flush().await?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Consumes and acks `n` messages of `input`, one at a time; msgs/s.
async fn consume_rate(input: &stream::Stream, n: usize) -> anyhow::Result<f64> {
    let mut msgs = pull_messages(input, "bench_consume").await?;
    let t = Instant::now();
    for _ in 0..n {
        let Some(m) = msgs.next().await else { break };
        m.map_err(|e| anyhow::anyhow!("{e}"))?
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Consumes `n` messages of `input` in batches, publishes each on `md.bench.out.>`
/// and acks the batch once its publishes are acknowledged; msgs/s.
async fn relay_rate(js: &Context, input: &stream::Stream, n: usize) -> anyhow::Result<f64> {
    let mut msgs = pull_messages(input, "bench_relay").await?;
    let mut out = Publisher::new(js.clone(), 2048);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(512);
    let mut done = 0;
    while done < n {
        let Some(m) = msgs.next().await else { break };
        batch.push(m.map_err(|e| anyhow::anyhow!("{e}"))?);
        while batch.len() < 512 {
            match futures::FutureExt::now_or_never(msgs.next()) {
                Some(Some(Ok(m))) => batch.push(m),
                _ => break,
            }
        }
        for m in &batch {
            let mut h = async_nats::HeaderMap::new();
            h.insert(
                "Nats-Msg-Id",
                format!("r{}", m.info().map(|i| i.stream_sequence).unwrap_or(0)).as_str(),
            );
            out.publish_raw(format!("md.bench.out.{}", done % 4), h, m.payload.clone())
                .await?;
        }
        out.flush().await?;
        for m in &batch {
            m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        done += batch.len();
        batch.clear();
    }
    Ok(done as f64 / t.elapsed().as_secs_f64())
}
