//! Watching the pipeline's durable consumers: how much they have pending, when
//! they start taking a backlog, and when they have drained it.

use super::Progress;
use async_nats::jetstream::Context;
use std::time::{Duration, Instant};

/// Messages the named consumers of `stream` have not been delivered yet.
///
/// # Errors
/// When the stream cannot be read.
pub async fn pending(js: &Context, stream: &str, consumers: &[String]) -> anyhow::Result<u64> {
    let s = js.get_stream(stream).await?;
    let mut n = 0u64;
    for name in consumers {
        if let Ok(info) = s.consumer_info(name).await {
            n += info.num_pending;
        }
    }
    Ok(n)
}

/// Waits until the named consumers of `stream` have taken their first messages
/// (their pending count drops below `initial`, read before their process started),
/// and returns when that was seen.
///
/// # Errors
/// When the stream cannot be read, or nothing is taken within 60 s.
pub async fn wait_started(
    js: &Context,
    stream: &str,
    consumers: &[String],
    initial: u64,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending(js, stream, consumers).await? >= initial {
        if Instant::now() > deadline {
            anyhow::bail!("{stream}: no consumer took a message within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Instant::now())
}

/// Waits until every named consumer of `stream` has nothing pending or unacked;
/// calls `on_poll` at every look.
///
/// # Errors
/// When the stream cannot be read.
pub async fn wait_drained(
    js: &Context,
    stream: &str,
    consumers: &[String],
    progress: &Progress,
    mut on_poll: impl FnMut(),
) -> anyhow::Result<Instant> {
    let s = js.get_stream(stream).await?;
    let mut last_report = Instant::now();
    loop {
        let mut pending = 0u64;
        let mut present = 0;
        for name in consumers {
            if let Ok(info) = s.consumer_info(name).await {
                present += 1;
                pending += info.num_pending + info.num_ack_pending as u64;
            }
        }
        on_poll();
        if present == consumers.len() && pending == 0 {
            return Ok(Instant::now());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            progress.line(&format!("  {pending} messages still pending on {stream}"));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The enrichers' durable consumers of `products` (one per group).
pub fn enrich_consumers(products: &[String]) -> Vec<String> {
    ds_processors::enrich::groups::groups(products.iter().map(String::as_str))
        .keys()
        .map(|g| ds_processors::enrich::partition::consumer_name(g))
        .collect()
}

/// The projector's durable consumer.
pub fn project_consumer() -> Vec<String> {
    vec!["project".to_owned()]
}
