//! The market feed: synthetic underlying ticks and option-chain snapshots for the
//! configured products, published on `MD_RAW` (SPEC §2) with `Ds-Schema` and
//! deterministic `Nats-Msg-Id`s through a bounded window of outstanding acks.
//!
//! Every product is simulated from its own specification (the universe's:
//! spot, volatility and smile, strike step and listed strikes, expiry rule,
//! r, q, option tick). Live mode steps each product once per interval at the
//! clock's time and sends its events at once, and publishes a product only
//! while its exchange is in session ([`hours`]); historical mode (`--date`) generates a whole session of
//! that trading day with that day's timestamps, as fast as possible or paced by
//! a speed factor, and refuses a day none of the products trades.

pub mod chains;
pub mod hours;
pub mod model;
pub mod rng;
pub mod underlying;

use crate::time::{now_unix_ns, Clock};
use anyhow::Context as _;
use async_nats::jetstream::Context;
use bytes::Bytes;
use chrono::NaiveDate;
use ds_analytics::market::{session_bounds, ProductSpec};
use ds_runtime::backoff::Backoff;
use ds_runtime::config::Config;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_runtime::telemetry;
use ds_schemas::subjects;
use ds_schemas::{OptionChain, Schema, UnderlyingTick};
use futures::StreamExt;
use hours::{Hours, SessionLog};
use model::{FeedEvent, ProductFeed, Resume};
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// How long a live round waits for its acks before it is sent again.
pub const LIVE_ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a live round is sent again before the feed gives up.
pub const LIVE_RETRY_FOR: Duration = Duration::from_secs(60);

/// The pause between two sendings of an unacknowledged live round. While a
/// stream elects a new leader (a cluster node died), the server answers "no
/// responders" at once, so the cap bounds how late the feed notices the new
/// leader: `bench`'s node-loss section measures it (with a 2 s cap the feed
/// noticed a new leader up to ~1.5 s late; with 250 ms, at once). A re-sent
/// live round is small, so re-sending it four times a second costs nothing.
pub fn live_retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(250))
}

/// How fast a historical day is published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as JetStream acknowledges.
    Max,
    /// This many times the original pace (1.0 = real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches(['x', 'X']).parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "speed must be `max` or a positive factor, got {s:?}"
            )),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// A historical trading day instead of live data.
    pub date: Option<NaiveDate>,
    /// Pacing of a historical day.
    pub speed: Speed,
    /// Fixes every random choice; a random seed when `None`.
    pub seed: Option<u64>,
    /// Only these products (all configured ones when empty).
    pub products: Vec<String>,
    /// Live: when a product is published (by default only in its session).
    pub hours: Hours,
    /// Live: where the time comes from (the system clock by default).
    pub clock: Clock,
}

impl Default for FeedOptions {
    /// Live, every configured product, exchange hours, a random seed.
    fn default() -> Self {
        Self {
            date: None,
            speed: Speed::Max,
            seed: None,
            products: Vec::new(),
            hours: Hours::Exchange,
            clock: Clock::system(),
        }
    }
}

/// What a feed run published.
#[derive(Debug, Clone, Default)]
pub struct FeedReport {
    /// Underlying ticks.
    pub ticks: u64,
    /// Chain snapshots.
    pub chains: u64,
    /// Publishes JetStream reported as duplicates.
    pub duplicates: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Reads what each product's feed published last, from `MD_RAW`.
///
/// # Errors
/// When `MD_RAW` is missing or a stored message does not decode.
pub async fn resume_points(js: &Context, products: &[ProductSpec]) -> anyhow::Result<Vec<Resume>> {
    let stream = js
        .get_stream(subjects::STREAM_RAW)
        .await
        .context("MD_RAW is missing; run `deltastream topology apply`")?;
    let mut out = Vec::with_capacity(products.len());
    for p in products {
        let mut resume = Resume::default();
        if let Ok(m) = stream
            .get_last_raw_message_by_subject(&subjects::raw_underlying(&p.name))
            .await
        {
            let t: UnderlyingTick = ds_runtime::headers::decode(Some(&m.headers), &m.payload)
                .with_context(|| format!("last tick of {} in MD_RAW", p.name))?;
            resume.last_tick = Some((t.seq, t.price));
        }
        let mut listing = stream
            .info_builder()
            .subjects(format!("md.raw.{}.chain.*", p.name))
            .fetch()
            .await
            .context("listing chain subjects")?;
        let mut chain_subjects = Vec::new();
        while let Some(item) = listing.next().await {
            chain_subjects.push(item.context("listing chain subjects")?.0);
        }
        for subject in &chain_subjects {
            if let Ok(m) = stream.get_last_raw_message_by_subject(subject).await {
                if let Ok(c) =
                    ds_runtime::headers::decode::<OptionChain>(Some(&m.headers), &m.payload)
                {
                    resume.chain_seqs.insert(c.expiry, c.seq);
                }
            }
        }
        out.push(resume);
    }
    Ok(out)
}

/// The products a run generates: those of `opts.products` (all configured when
/// empty) and, for a historical day, only those whose exchange trades that
/// day; also the exchanges left out, with why.
///
/// # Errors
/// An unknown product, or [`hours::ClosedDay`] when none of them trades that day.
pub fn products_for(cfg: &Config, opts: &FeedOptions) -> anyhow::Result<hours::Trading> {
    let products = cfg
        .products_named(&opts.products)
        .map_err(anyhow::Error::msg)?;
    match opts.date {
        Some(date) => Ok(hours::trading_on(&products, date)?),
        None => Ok(hours::Trading {
            products,
            closed: Vec::new(),
        }),
    }
}

/// Runs the feed until done (historical) or until `shutdown` (live).
///
/// # Errors
/// When JetStream refuses publishes or `MD_RAW` is missing.
pub async fn run(
    cfg: &Config,
    js: Context,
    opts: FeedOptions,
    shutdown: Shutdown,
) -> anyhow::Result<FeedReport> {
    let hours::Trading { products, closed } = products_for(cfg, &opts)?;
    for (exchange, why) in closed {
        tracing::warn!(
            exchange = exchange.as_str(),
            why,
            "no session that day: its products are left out"
        );
    }
    let resumes = resume_points(&js, &products).await?;
    let seed = opts.seed.unwrap_or_else(|| now_unix_ns() as u64);
    let feeds: Vec<ProductFeed> = products
        .iter()
        .zip(&resumes)
        .map(|(p, r)| ProductFeed::new(p, &cfg.feed, seed, r))
        .collect();
    match opts.date {
        Some(date) => {
            let publisher = Publisher::new(js, cfg.feed.publish_window);
            historical(cfg, &products, feeds, publisher, date, opts.speed, shutdown).await
        }
        None => live(cfg, feeds, js, (opts.hours, opts.clock), shutdown).await,
    }
}

async fn publish_all(
    publisher: &mut Publisher,
    events: &mut Vec<FeedEvent>,
    report: &mut FeedReport,
) -> anyhow::Result<()> {
    publish_events(publisher, events, report).await?;
    events.clear();
    Ok(())
}

async fn publish_events(
    publisher: &mut Publisher,
    events: &[FeedEvent],
    report: &mut FeedReport,
) -> anyhow::Result<()> {
    for e in events {
        let subject = e.subject();
        let id = e.msg_id();
        match e {
            FeedEvent::Tick(t) => {
                publish_one(publisher, subject, &id, t).await?;
                report.ticks += 1;
            }
            FeedEvent::Chain(c) => {
                publish_one(publisher, subject, &id, c).await?;
                report.chains += 1;
            }
        }
    }
    Ok(())
}

/// Publishes one raw message; with trace export on, it starts a trace (span
/// `feed.publish`) whose context travels in the `traceparent` header.
async fn publish_one<T: Schema>(
    publisher: &mut Publisher,
    subject: String,
    id: &str,
    msg: &T,
) -> ds_runtime::Result<()> {
    if !telemetry::enabled() {
        return publisher.publish(subject, id, msg).await;
    }
    let span = tracing::info_span!(
        parent: None,
        "feed.publish",
        product = subject.split('.').nth(2).unwrap_or("_"),
        subject = %subject,
        msg_id = id,
    );
    let mut h = ds_runtime::headers::for_message::<T>(id);
    telemetry::inject(&span, &mut h);
    publisher
        .publish_raw(subject, h, Bytes::from(msg.encode_to_vec()))
        .instrument(span)
        .await
}

/// Waits for a live round's acks (its first sending happened while it was
/// generated: `first`). While the servers cannot acknowledge (a cluster node
/// died and its streams elect a new leader), the whole round is sent again with
/// the same ids, so JetStream keeps each message once and in order; it gives up
/// after [`LIVE_RETRY_FOR`].
async fn publish_round(
    js: &Context,
    window: usize,
    publisher: &mut Publisher,
    events: &mut Vec<FeedEvent>,
    report: &mut FeedReport,
    shutdown: &mut Shutdown,
    first: anyhow::Result<FeedReport>,
) -> anyhow::Result<()> {
    let give_up = Instant::now() + LIVE_RETRY_FOR;
    let mut backoff = live_retry_backoff();
    let mut attempt = first;
    loop {
        let sent = match attempt {
            Ok(round) => publisher
                .flush()
                .await
                .map(|()| round)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match sent {
            Ok(round) => {
                report.ticks += round.ticks;
                report.chains += round.chains;
                events.clear();
                return Ok(());
            }
            // A publish denied by the feed's permissions is not retried.
            Err(e) if Instant::now() < give_up && !shutdown.is_triggered() && !denied(&e) => {
                tracing::warn!(error = %format!("{e:#}"), backoff = ?backoff.current(), "live round not acknowledged; sending it again");
                report.duplicates += publisher.counts().1;
                // Forget the acks still awaited: the round is sent again in full.
                *publisher = Publisher::new(js.clone(), window);
                if !backoff.wait(shutdown).await {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        let mut round = FeedReport::default();
        attempt = publish_events(publisher, events, &mut round)
            .await
            .map(|()| round);
    }
}

fn denied(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<ds_runtime::Error>(),
        Some(ds_runtime::Error::PermissionDenied(_))
    )
}

/// Whether product `i` is among the `m` slices from slice `k` on, of `n`
/// (product `i` is in slice `i mod n`; the slices wrap around).
fn in_turn(i: usize, (k, m, n): (usize, usize, usize)) -> bool {
    (i % n + n - k) % n < m
}

/// Generates one live round, product by product: each product whose turn it is
/// (`(k, m, n)`: those whose index modulo `n` is one of the `m` slices from `k`
/// on) that `hours` publishes is stepped at the clock's time and its events are sent at once, so its event
/// time is not held back by the other products' generation (a universe has
/// hundreds). Notes each exchange's status. What was sent, once acknowledged
/// ([`publish_round`] waits), counts as published.
async fn live_round(
    feeds: &mut [ProductFeed],
    (k, m, n): (usize, usize, usize),
    (hours, clock): (Hours, &Clock),
    sessions: &mut SessionLog,
    publisher: &mut Publisher,
    events: &mut Vec<FeedEvent>,
) -> anyhow::Result<FeedReport> {
    let mut round = FeedReport::default();
    let mut sent = Ok(());
    let mut exchanges = Vec::new();
    for (i, f) in feeds.iter_mut().enumerate() {
        let ts = clock.now_unix_ns();
        if in_turn(i, (k, m, n)) && hours.publishes(f.spec(), ts) {
            let from = events.len();
            f.step(ts, events);
            // After a failure the rest is generated, and the round sent again in full.
            if sent.is_ok() {
                sent = publish_events(publisher, &events[from..], &mut round).await;
            }
        }
        match exchanges.iter_mut().find(|(e, _)| *e == f.spec().exchange) {
            Some((_, n)) => *n += 1,
            None => exchanges.push((f.spec().exchange, 1)),
        }
    }
    if hours == Hours::Exchange {
        let now = clock.now_unix_ns();
        for (e, n) in exchanges {
            sessions.observe(e, &ds_analytics::market::market_status(e, now), n);
        }
    }
    sent.map(|()| round)
}

async fn live(
    cfg: &Config,
    feeds: Vec<ProductFeed>,
    mut js: Context,
    (hours, clock): (Hours, Clock),
    mut shutdown: Shutdown,
) -> anyhow::Result<FeedReport> {
    // A live round is small: an ack that takes longer than this means the
    // servers are away, and the round is sent again (see `publish_round`).
    js.set_timeout(LIVE_ACK_TIMEOUT);
    let window = cfg.feed.publish_window;
    let mut publisher = Publisher::new(js.clone(), window);
    let started = Instant::now();
    let mut report = FeedReport::default();
    // A product's chains come on every `chain_every_ticks`-th tick of its own;
    // the products' phases differ, so each tick carries the chains of a
    // `chain_every_ticks`-th of them.
    let chain_every = u64::from(cfg.feed.chain_every_ticks.max(1));
    let mut feeds: Vec<ProductFeed> = feeds
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.with_chain_phase(i as u64 % chain_every))
        .collect();
    // The products take turns through the interval (product `i` in slice
    // `i mod slices`, slices at least 1 ms apart), so a universe's ticks and chains arrive
    // spread over it as a market's do, not as a burst of hundreds of messages
    // at its start.
    let interval = Duration::from_millis(cfg.feed.tick_interval_ms.max(1));
    let slices = u32::try_from(feeds.len().max(1))
        .unwrap_or(u32::MAX)
        .min(u32::try_from(interval.as_millis()).unwrap_or(u32::MAX));
    let step = interval / slices;
    let slices = slices as usize;
    // The next slice and when it is due. A loop that falls behind (a slow
    // round) takes the slices due since at once, so every product keeps its
    // rate; more than a whole interval behind (the servers were away), the
    // missed turns are dropped rather than sent in a burst.
    let (mut slice, mut due) = (0, tokio::time::Instant::now());
    let mut events = Vec::new();
    let mut sessions = SessionLog::default();
    tracing::info!(products = feeds.len(), ?hours, "feed live");
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = tokio::time::Instant::now();
        if now.duration_since(due) > interval {
            due = now;
        }
        let first_slice = slice;
        let mut turns = 0;
        while due <= now && turns < slices {
            (slice, due, turns) = ((slice + 1) % slices, due + step, turns + 1);
        }
        let first = live_round(
            &mut feeds,
            (first_slice, turns, slices),
            (hours, &clock),
            &mut sessions,
            &mut publisher,
            &mut events,
        )
        .await;
        if events.is_empty() {
            continue;
        }
        // Live data should be visible at once: wait for this round's acks.
        publish_round(
            &js,
            window,
            &mut publisher,
            &mut events,
            &mut report,
            &mut shutdown,
            first,
        )
        .await?;
    }
    publisher.flush().await?;
    report.duplicates += publisher.counts().1;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Every event time of `date`'s session for `spec`, `interval_ms` apart, both ends inside.
pub fn session_times(spec: &ProductSpec, date: NaiveDate, interval_ms: u64) -> Vec<i64> {
    let (open, close) = session_bounds(date, spec.exchange);
    let step = (interval_ms.max(1) as i64) * 1_000_000;
    (0..)
        .map(|i| open + i * step)
        .take_while(|t| *t <= close)
        .collect()
}

async fn historical(
    cfg: &Config,
    products: &[ProductSpec],
    mut feeds: Vec<ProductFeed>,
    mut publisher: Publisher,
    date: NaiveDate,
    speed: Speed,
    mut shutdown: Shutdown,
) -> anyhow::Result<FeedReport> {
    let started = Instant::now();
    let mut report = FeedReport::default();
    // The day's events of all products, merged in event-time order (ties in product order).
    let mut schedule: Vec<(i64, usize)> = products
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            session_times(p, date, cfg.feed.tick_interval_ms)
                .into_iter()
                .map(move |t| (t, i))
        })
        .collect();
    schedule.sort_unstable();
    let first_ts = schedule.first().map(|(t, _)| *t).unwrap_or(0);
    tracing::info!(%date, events = schedule.len(), "feed historical day");
    let mut events = Vec::new();
    for (ts, i) in schedule {
        if shutdown.is_triggered() {
            break;
        }
        if let Speed::Factor(f) = speed {
            let due = Duration::from_secs_f64(((ts - first_ts) as f64 / 1e9) / f);
            let now = started.elapsed();
            if due > now {
                publisher.flush().await?;
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(due - now) => {}
                }
            }
        }
        feeds[i].step(ts, &mut events);
        publish_all(&mut publisher, &mut events, &mut report).await?;
    }
    publisher.flush().await?;
    report.duplicates = publisher.counts().1;
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests;
