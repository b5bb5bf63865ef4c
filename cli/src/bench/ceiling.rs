//! The machine's own ceiling: raw JetStream publish, consume+ack, and
//! consume→republish of messages the size of our ticks and chains, no processing.

use super::Progress;
use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::{stream, Context};
use bytes::Bytes;
use ds_runtime::publish::Publisher;
use futures::StreamExt;
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
    let input = fresh_stream(js, "BENCH_IN", "bench.in.>").await?;
    let _output = fresh_stream(js, "BENCH_OUT", "bench.out.>").await?;

    progress.line(&format!(
        "ceiling: publishing {n} {label} messages ({} B)",
        payload.len()
    ));
    let mut publisher = Publisher::new(js.clone(), 1024);
    let t = Instant::now();
    for i in 0..n {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("b{i}").as_str());
        publisher
            .publish_raw(format!("bench.in.{}", i % 4), h, payload.clone())
            .await?;
    }
    publisher.flush().await?;
    let publish = n as f64 / t.elapsed().as_secs_f64();

    progress.line(&format!("ceiling: consuming {n} {label} messages"));
    let mut msgs = pull_messages(&input, "bench_consume").await?;
    let t = Instant::now();
    for _ in 0..n {
        let Some(m) = msgs.next().await else { break };
        m.map_err(|e| anyhow::anyhow!("{e}"))?
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let consume = n as f64 / t.elapsed().as_secs_f64();
    drop(msgs);

    progress.line(&format!("ceiling: relaying {n} {label} messages"));
    let mut msgs = pull_messages(&input, "bench_relay").await?;
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
            out.publish_raw(format!("bench.out.{}", done % 4), h, m.payload.clone())
                .await?;
        }
        out.flush().await?;
        for m in &batch {
            m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        done += batch.len();
        batch.clear();
    }
    let relay = done as f64 / t.elapsed().as_secs_f64();
    let _ = js.delete_stream("BENCH_IN").await;
    let _ = js.delete_stream("BENCH_OUT").await;
    Ok(Ceiling {
        publish,
        consume,
        relay,
    })
}
