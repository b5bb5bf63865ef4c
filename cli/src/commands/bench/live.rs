//! Live traffic paced at a fixed rate and the latency from each event's
//! publish to its enriched message.

use super::env::Env;
use super::report::percentile;
use anyhow::Context as _;
use async_nats::jetstream::Context;
use ds_processors::feed::model::{FeedEvent, ProductFeed};
use ds_runtime::config::Config;
use futures::StreamExt;
use prost::Message;
use std::time::{Duration, Instant};

/// Latency percentiles (ms) of a window.
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// The event-time window of the run, for the projection query.
    pub window: (i64, i64),
    /// Every sample (ms), sorted.
    pub samples: Vec<f64>,
}

impl Latency {
    fn of(mut samples: Vec<f64>, window: (i64, i64)) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            p50: percentile(&samples, 50.0),
            p99: percentile(&samples, 99.0),
            max: samples.last().copied().unwrap_or(0.0),
            window,
            samples,
        }
    }

    /// The samples of several windows as one.
    pub fn pooled(windows: &[Latency]) -> Self {
        let samples = windows
            .iter()
            .flat_map(|l| l.samples.iter().copied())
            .collect();
        let window = (
            windows.iter().map(|l| l.window.0).min().unwrap_or(0),
            windows.iter().map(|l| l.window.1).max().unwrap_or(0),
        );
        Self::of(samples, window)
    }

    /// The `p`-th percentile of the samples.
    pub fn percentile(&self, p: f64) -> f64 {
        percentile(&self.samples, p)
    }
}

/// Live latency of `secs` of live feed events paced at 1,000 msgs/s, from the
/// event's timestamp (set at publish time) to receipt of its enriched message.
///
/// # Errors
/// When publishing or subscribing fails.
pub async fn paced_latency(env: &Env, secs: u64) -> anyhow::Result<Latency> {
    LiveTraffic::start(env, secs).await?.finish().await
}

/// Paced live traffic at 1,000 msgs/s, measured after a warm-up: a pipeline
/// left idle wakes up slowly (its first tens of milliseconds are slower
/// whatever runs beside it), and that is not what a window measures.
pub struct LiveTraffic {
    publisher: tokio::task::JoinHandle<anyhow::Result<()>>,
    collector: tokio::task::JoinHandle<Vec<f64>>,
    window: (i64, i64),
}

/// Live traffic flows this long before its window opens.
const LIVE_WARMUP: Duration = Duration::from_secs(2);

impl LiveTraffic {
    /// Starts the traffic; returns when the measured window of `secs` opens.
    ///
    /// # Errors
    /// When subscribing fails.
    pub async fn start(env: &Env, secs: u64) -> anyhow::Result<Self> {
        let client = &env.client;
        let sub_ticks = client.subscribe("md.enriched.*.underlying").await?;
        let sub_chains = client.subscribe("md.enriched.*.chain.*").await?;
        let now_ns = ds_processors::time::now_unix_ns();
        let from_ns = now_ns + LIVE_WARMUP.as_nanos() as i64;
        let window = (
            from_ns,
            from_ns + Duration::from_secs(secs).as_nanos() as i64,
        );
        let opens = Instant::now() + LIVE_WARMUP;
        let closes = opens + Duration::from_secs(secs);
        let collector = tokio::spawn(async move {
            collect(sub_ticks, sub_chains, None, window, closes)
                .await
                .total
        });
        let (cfg, js) = (env.cfg.clone(), env.js.clone());
        let publisher = tokio::spawn(async move { publish_paced(&cfg, &js, 1000, closes).await });
        tokio::time::sleep_until(tokio::time::Instant::from_std(opens)).await;
        Ok(Self {
            publisher,
            collector,
            window,
        })
    }

    /// Waits for the window to close and its last enriched messages.
    ///
    /// # Errors
    /// When publishing failed.
    pub async fn finish(self) -> anyhow::Result<Latency> {
        self.publisher.await.context("live publisher")??;
        let lat = self.collector.await.context("latency collector")?;
        Ok(Latency::of(lat, self.window))
    }
}

/// A live window's latencies (ms), each sorted: from event time to receipt of
/// the enriched message (`total`), and that split where the bench saw the raw
/// message arrive (a core subscriber beside the enricher's consumer): event
/// time → raw seen (`to_raw`: the feed and the server storing it) and raw seen →
/// enriched seen (`raw_to_enriched`: the enricher, and the server again).
#[derive(Debug, Default)]
pub struct Split {
    /// Event time → enriched message received.
    pub total: Vec<f64>,
    /// Event time → raw message received.
    pub to_raw: Vec<f64>,
    /// Raw message received → its enriched message received.
    pub raw_to_enriched: Vec<f64>,
}

/// The latencies of the enriched ticks and chains of any product whose event
/// time falls in the `window` after a warm-up, split at the raw message's
/// arrival ([`Split`]).
///
/// # Errors
/// When subscribing fails.
pub async fn collect_enriched(
    client: &async_nats::Client,
    window: Duration,
) -> anyhow::Result<Split> {
    let sub_ticks = client.subscribe("md.enriched.*.underlying").await?;
    let sub_chains = client.subscribe("md.enriched.*.chain.*").await?;
    let sub_raw = client.subscribe(ds_schemas::subjects::ALL_RAW).await?;
    let from_ns = ds_processors::time::now_unix_ns() + LIVE_WARMUP.as_nanos() as i64;
    let range = (from_ns, from_ns + window.as_nanos() as i64);
    let closes = Instant::now() + LIVE_WARMUP + window;
    let mut split = collect(sub_ticks, sub_chains, Some(sub_raw), range, closes).await;
    for v in [
        &mut split.total,
        &mut split.to_raw,
        &mut split.raw_to_enriched,
    ] {
        v.sort_by(f64::total_cmp);
    }
    Ok(split)
}

/// The event time of an enriched tick or chain, by its subject.
fn enriched_time(subject: &str, payload: bytes::Bytes) -> Option<i64> {
    if subject.ends_with(".underlying") {
        ds_schemas::EnrichedUnderlying::decode(payload)
            .map(|u| u.ts_unix_ns)
            .ok()
    } else {
        ds_schemas::EnrichedChain::decode(payload)
            .map(|c| c.ts_unix_ns)
            .ok()
    }
}

/// The latencies (ms) of the enriched ticks and chains whose event time is in
/// `window`, received until a little after `closes`; with `raw`, split at the
/// raw message's arrival.
async fn collect(
    mut sub_ticks: async_nats::Subscriber,
    mut sub_chains: async_nats::Subscriber,
    mut raw: Option<async_nats::Subscriber>,
    window: (i64, i64),
    closes: Instant,
) -> Split {
    let mut split = Split::default();
    // When each raw message was seen, by its subject's tail and event time.
    let mut seen: std::collections::HashMap<(String, i64), i64> = Default::default();
    // Enriched messages of the window's last events arrive after it.
    let deadline = tokio::time::Instant::from_std(closes) + Duration::from_secs(5);
    loop {
        let (m, is_raw) = tokio::select! {
            // A raw message and its enriched one both waiting: the raw one
            // first, or the pair is not matched.
            biased;
            Some(m) = async { raw.as_mut()?.next().await } => (Some(m), true),
            m = sub_ticks.next() => (m, false),
            m = sub_chains.next() => (m, false),
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(m) = m else { break };
        let now = ds_processors::time::now_unix_ns();
        let subject = m.subject.as_str();
        let ts = if is_raw {
            ds_processors::replay::source::event_time(subject, &m.payload)
        } else {
            enriched_time(subject, m.payload)
        };
        let Some(ts) = ts.filter(|ts| (window.0..window.1).contains(ts)) else {
            continue;
        };
        let ms = |ns: i64| ns as f64 / 1e6;
        let tail = subject
            .strip_prefix(if is_raw { "md.raw." } else { "md.enriched." })
            .unwrap_or(subject)
            .to_owned();
        if is_raw {
            split.to_raw.push(ms(now - ts));
            seen.insert((tail, ts), now);
        } else {
            split.total.push(ms(now - ts));
            if let Some(at) = seen.remove(&(tail, ts)) {
                split.raw_to_enriched.push(ms(now - at));
            }
        }
    }
    split
}

/// Publishes live feed events (stamped with their publish time) at `rate` msgs/s
/// until `end`.
///
/// # Errors
/// When publishing fails.
pub async fn publish_paced(
    cfg: &Config,
    js: &Context,
    rate: u64,
    end: Instant,
) -> anyhow::Result<()> {
    let resumes = ds_processors::feed::resume_points(js, &cfg.products).await?;
    let mut feeds: Vec<ProductFeed> = cfg
        .products
        .iter()
        .zip(&resumes)
        .map(|(p, r)| ProductFeed::new(p, &cfg.feed, 7, r))
        .collect();
    let mut publisher = ds_runtime::publish::Publisher::new(js.clone(), 256);
    let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut queue: std::collections::VecDeque<FeedEvent> = Default::default();
    let mut next_product = 0;
    let mut events = Vec::new();
    while Instant::now() < end {
        every.tick().await;
        if queue.is_empty() {
            let n = feeds.len();
            let f = &mut feeds[next_product % n];
            next_product += 1;
            f.step(ds_processors::time::now_unix_ns(), &mut events);
            queue.extend(events.drain(..));
        }
        if let Some(mut e) = queue.pop_front() {
            // Stamp with the publish time: latency is measured from here.
            let now = ds_processors::time::now_unix_ns();
            let (subject, id) = (e.subject(), e.msg_id());
            match &mut e {
                FeedEvent::Tick(t) => {
                    t.ts_unix_ns = now;
                    publisher.publish(subject, &id, t).await?;
                }
                FeedEvent::Chain(c) => {
                    c.ts_unix_ns = now;
                    publisher.publish(subject, &id, c).await?;
                }
            }
        }
    }
    publisher.flush().await?;
    Ok(())
}
