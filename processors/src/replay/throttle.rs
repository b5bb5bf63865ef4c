//! How fast a replay reads `MD_RAW`: one rate shared by every product task
//! ([`Throttle`]), capped by `--max-rate`, and — beside live traffic — lowered
//! whenever live processing slows down ([`Controller`]).
//!
//! A replay is background work; the live pipeline is not. The replay watches the
//! live enrichers' own end-to-end delay (event time → enriched message seen on
//! `md.enriched.<P>.underlying`, one product per exchange), keeps its floor
//! (the smallest delay of the last minute: transport and clock offset, no
//! queueing), and treats the excess over it as the cost it is imposing. Additive increase while the excess stays under
//! [`TARGET_EXCESS_MS`], multiplicative decrease when it goes over (the scheme
//! TCP's background transports use against their own queueing delay). With no
//! live traffic there is nothing to protect and the replay runs at its cap.

use async_nats::Client;
use ds_analytics::market::ProductSpec;
use ds_runtime::subjects;
use futures::StreamExt;
use prost::Message as _;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Live delay above its floor that the replay tolerates (90th percentile of a
/// control interval).
pub const TARGET_EXCESS_MS: f64 = 3.0;
/// How often the rate is revised.
pub const TICK: Duration = Duration::from_millis(100);
/// Rate a replay starts at when live traffic is seen (msgs/s).
const START_RATE: f64 = 1_000.0;
/// The rate never goes below this (a replay always progresses).
const FLOOR_RATE: f64 = 200.0;
/// Added per quiet interval (msgs/s): 1,000 msgs/s more every second.
const STEP: f64 = 100.0;
/// Factor applied when live processing slowed.
const BACKOFF: f64 = 0.5;
/// Above this, a rate with no cap counts as unlimited again.
const UNLIMITED_ABOVE: f64 = 100_000.0;
/// Samples an interval needs before it is judged (else it is extended, up to 1 s).
const MIN_SAMPLES: usize = 5;
/// No live sample for this long: no live traffic.
const IDLE_NS: i64 = 2_000_000_000;
/// A replay starts at [`START_RATE`] and lifts it to its cap if no live sample
/// arrives within this long (so it never bursts into live traffic at its start).
const WARMUP_NS: i64 = 500_000_000;
/// How long the floor of the live delay is remembered (per-second minima).
const FLOOR_MEMORY_SECS: usize = 60;
/// A delay larger than this is not live traffic (a back-fill, a clock far off).
const LIVE_DELAY_MAX_MS: f64 = 10_000.0;
/// Reads a product task may make at once when behind (absorbs timer granularity).
const BURST: Duration = Duration::from_millis(5);

/// The read rate every product task of a replay shares (a token bucket).
pub struct Throttle {
    rate_bits: AtomicU64,
    next: Mutex<Option<Instant>>,
    stats: Mutex<YieldStats>,
}

impl Throttle {
    /// A throttle at `rate` msgs/s (`f64::INFINITY`: unlimited).
    pub fn new(rate: f64) -> Self {
        Self {
            rate_bits: AtomicU64::new(rate.to_bits()),
            next: Mutex::new(None),
            stats: Mutex::new(YieldStats::default()),
        }
    }

    /// The current rate (msgs/s, infinite when unlimited).
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }

    /// Sets the rate.
    pub fn set_rate(&self, rate: f64) {
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// What the live-traffic controller did so far.
    pub fn stats(&self) -> YieldStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn steer(&self, controller: &Controller) {
        self.set_rate(controller.rate());
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = controller.stats();
    }

    /// When the next read may happen (`None`: now), reserving its slot.
    fn reserve(&self, now: Instant) -> Option<Instant> {
        let rate = self.rate();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if !rate.is_finite() || rate <= 0.0 {
            *next = None;
            return None;
        }
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let at = next.map_or(now, |n| n.max(earliest));
        *next = Some(at + Duration::from_secs_f64(1.0 / rate));
        (at > now).then_some(at)
    }

    /// Waits for the next read's turn. Cancel-safe (a cancelled wait only skips
    /// its slot).
    pub async fn admit(&self) {
        if let Some(at) = self.reserve(Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// What the controller did, for the replay's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct YieldStats {
    /// Live messages observed.
    pub live_samples: u64,
    /// Times the rate was lowered because live processing slowed.
    pub backoffs: u64,
    /// The lowest rate set (msgs/s), if it was ever limited for live traffic.
    pub min_rate: Option<f64>,
}

/// The rate controller (pure: times are passed in, in Unix nanoseconds).
#[derive(Debug, Clone)]
pub struct Controller {
    cap: f64,
    rate: f64,
    window: Vec<f64>,
    window_started: Option<i64>,
    last_sample: Option<i64>,
    /// The first tick.
    born: Option<i64>,
    /// Minimum delay of each of the last seconds: (second, ms).
    floor: VecDeque<(i64, f64)>,
    stats: YieldStats,
}

impl Controller {
    /// A controller for a replay capped at `cap` msgs/s (`f64::INFINITY`: none);
    /// it starts at [`START_RATE`] (or the cap when lower).
    pub fn new(cap: f64) -> Self {
        Self {
            cap,
            rate: START_RATE.min(cap),
            window: Vec::new(),
            window_started: None,
            last_sample: None,
            born: None,
            floor: VecDeque::new(),
            stats: YieldStats::default(),
        }
    }

    /// The rate now (msgs/s).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// What it did so far.
    pub fn stats(&self) -> YieldStats {
        self.stats
    }

    /// Records a live message seen `delay_ms` after its event time.
    pub fn observe(&mut self, now_ns: i64, delay_ms: f64) {
        if !(0.0..LIVE_DELAY_MAX_MS).contains(&delay_ms) {
            return;
        }
        self.stats.live_samples += 1;
        self.last_sample = Some(now_ns);
        self.window_started.get_or_insert(now_ns);
        self.window.push(delay_ms);
        let second = now_ns.div_euclid(1_000_000_000);
        match self.floor.back_mut() {
            Some((s, min)) if *s == second => *min = min.min(delay_ms),
            _ => self.floor.push_back((second, delay_ms)),
        }
        while self
            .floor
            .front()
            .is_some_and(|(s, _)| second - s >= FLOOR_MEMORY_SECS as i64)
        {
            self.floor.pop_front();
        }
    }

    /// Revises the rate (every [`TICK`]) and returns it.
    pub fn tick(&mut self, now_ns: i64) -> f64 {
        let born = *self.born.get_or_insert(now_ns);
        if self.last_sample.is_none() && now_ns - born < WARMUP_NS {
            return self.rate;
        }
        let live = self.last_sample.is_some_and(|t| now_ns - t < IDLE_NS);
        if !live {
            self.window.clear();
            self.window_started = None;
            self.rate = self.cap;
            return self.rate;
        }
        let age = self.window_started.map_or(0, |t| now_ns - t);
        if self.window.len() < MIN_SAMPLES && age < 1_000_000_000 {
            return self.rate;
        }
        let floor = self
            .floor
            .iter()
            .map(|(_, m)| *m)
            .fold(f64::INFINITY, f64::min);
        self.window.sort_by(f64::total_cmp);
        let p90 = self.window[(self.window.len() * 9 / 10).min(self.window.len() - 1)];
        self.window.clear();
        self.window_started = None;
        let slowed = p90 - floor > TARGET_EXCESS_MS;
        self.rate = match (slowed, self.rate.is_finite()) {
            // Unlimited and live is fine: stay so.
            (false, false) => self.rate,
            (false, true) => {
                let up = self.rate + STEP;
                if up >= self.cap || (!self.cap.is_finite() && up > UNLIMITED_ABOVE) {
                    self.cap
                } else {
                    up
                }
            }
            (true, finite) => {
                self.stats.backoffs += 1;
                let current = if finite { self.rate } else { START_RATE };
                (current * BACKOFF).max(FLOOR_RATE).min(self.cap)
            }
        };
        if self.rate.is_finite() && self.rate < self.cap {
            self.stats.min_rate = Some(self.stats.min_rate.map_or(self.rate, |m| m.min(self.rate)));
        }
        self.rate
    }
}

/// The task steering a throttle; stopped when dropped.
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The live subjects a replay watches: the enriched underlying of one product
/// per exchange (its first configured one). The live products share the host,
/// so one per trading session is enough signal, and it is one more subscriber
/// on a fraction of the live messages rather than on all of them.
pub fn watched_subjects(products: &[ProductSpec]) -> Vec<String> {
    let mut exchanges = Vec::new();
    let mut subjects = Vec::new();
    for p in products {
        if !exchanges.contains(&p.exchange) {
            exchanges.push(p.exchange);
            subjects.push(subjects::enriched_underlying(&p.name));
        }
    }
    subjects
}

/// The event time of an enriched underlying message (only that field decoded).
#[derive(Clone, PartialEq, prost::Message)]
struct EventTime {
    #[prost(int64, tag = "3")]
    ts_unix_ns: i64,
}

/// Watches live traffic on `subjects` (see [`watched_subjects`]) and steers
/// `throttle` (capped at `cap` msgs/s) until the returned [`Watcher`] is dropped.
///
/// # Errors
/// When a subscription cannot be made.
pub async fn watch_live(
    client: &Client,
    subjects: &[String],
    throttle: Arc<Throttle>,
    cap: f64,
) -> Result<Watcher, async_nats::SubscribeError> {
    let mut subscriptions = Vec::with_capacity(subjects.len());
    for s in subjects {
        subscriptions.push(client.subscribe(s.clone()).await?);
    }
    let mut live = futures::stream::select_all(subscriptions);
    let mut controller = Controller::new(cap);
    throttle.steer(&controller);
    Ok(Watcher(tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = live.next() => match m {
                    Some(m) => {
                        if let Ok(u) = EventTime::decode(m.payload) {
                            let now = crate::time::now_unix_ns();
                            controller.observe(now, (now - u.ts_unix_ns) as f64 / 1e6);
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let before = controller.rate();
                    let after = controller.tick(crate::time::now_unix_ns());
                    if after != before {
                        tracing::debug!(rate = after, "replay read rate for live traffic");
                    }
                    throttle.steer(&controller);
                }
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::EnrichedUnderlying;

    const MS: i64 = 1_000_000;

    #[test]
    fn one_product_per_exchange_is_watched() {
        let products = ds_analytics::market::default_products();
        assert_eq!(
            watched_subjects(&products),
            [
                "md.enriched.NIFTY.underlying",
                "md.enriched.AAPL.underlying"
            ]
        );
        assert_eq!(
            watched_subjects(&products[2..]),
            ["md.enriched.AAPL.underlying"]
        );
        let t = EnrichedUnderlying {
            ts_unix_ns: 1_736_912_700_000_000_123,
            ..Default::default()
        };
        assert_eq!(
            EventTime::decode(t.encode_to_vec().as_slice()).map(|e| e.ts_unix_ns),
            Ok(t.ts_unix_ns)
        );
    }

    /// Feeds `n` samples of `delay` ms spread over one tick, then ticks.
    fn interval(c: &mut Controller, t: &mut i64, delay: f64, n: usize) -> f64 {
        for i in 0..n {
            c.observe(*t + (i as i64) * 100 * MS / n as i64, delay);
        }
        *t += 100 * MS;
        c.tick(*t)
    }

    #[test]
    fn without_live_traffic_the_cap_holds() {
        let mut c = Controller::new(f64::INFINITY);
        assert_eq!(c.tick(0), START_RATE);
        assert_eq!(c.tick(WARMUP_NS - 1), START_RATE);
        assert!(c.tick(WARMUP_NS).is_infinite());
        let mut c = Controller::new(500.0);
        assert_eq!(c.tick(0), 500.0);
        let mut c = Controller::new(5_000.0);
        assert_eq!(c.tick(0), START_RATE);
        assert_eq!(c.tick(WARMUP_NS), 5_000.0);
        // Live traffic that stops: back to the cap after IDLE.
        let mut t = 0;
        for _ in 0..10 {
            interval(&mut c, &mut t, 1.0, 20);
        }
        interval(&mut c, &mut t, 50.0, 20);
        assert!(c.rate() < 5_000.0);
        assert_eq!(c.tick(t + IDLE_NS + 1), 5_000.0);
    }

    #[test]
    fn live_slowdowns_halve_the_rate_and_quiet_adds_to_it() {
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 1_000 * MS;
        // Quiet live traffic at a 1 ms floor: the rate climbs from the start rate…
        assert_eq!(interval(&mut c, &mut t, 1.0, 20), START_RATE + STEP);
        // …and halves when the live delay rises above its floor…
        let first = interval(&mut c, &mut t, 1.0 + TARGET_EXCESS_MS * 2.0, 20);
        assert_eq!(first, (START_RATE + STEP) * BACKOFF);
        // …climbs while the excess stays under the target…
        let quiet = interval(&mut c, &mut t, 1.0 + TARGET_EXCESS_MS * 0.9, 20);
        assert_eq!(quiet, first + STEP);
        // …and halves when it goes over, down to the floor rate.
        let slowed = interval(&mut c, &mut t, 1.0 + TARGET_EXCESS_MS * 2.0, 20);
        assert_eq!(slowed, quiet * BACKOFF);
        for _ in 0..20 {
            interval(&mut c, &mut t, 40.0, 20);
        }
        assert_eq!(c.rate(), FLOOR_RATE);
        assert_eq!(c.stats().min_rate, Some(FLOOR_RATE));
        assert!(c.stats().backoffs >= 5);
        // It recovers; with no cap, it is unlimited again once far above any need.
        for _ in 0..2_000 {
            interval(&mut c, &mut t, 1.0, 20);
        }
        assert!(c.rate().is_infinite());
    }

    #[test]
    fn a_sparse_interval_waits_for_enough_samples() {
        let mut c = Controller::new(8_000.0);
        let mut t = 0;
        interval(&mut c, &mut t, 1.0, 20);
        let r = c.rate();
        assert_eq!(r, START_RATE + STEP);
        // Two slow samples are not judged yet…
        c.observe(t, 30.0);
        c.observe(t + MS, 30.0);
        assert_eq!(c.tick(t + 100 * MS), r);
        // …but after a second they are.
        assert_eq!(c.tick(t + 1_000 * MS), r * BACKOFF);
    }

    #[test]
    fn the_floor_is_the_smallest_recent_delay_and_ages_out() {
        let mut c = Controller::new(f64::INFINITY);
        // A clock offset of 200 ms is not queueing: only the excess over the floor counts.
        let mut t = 0;
        interval(&mut c, &mut t, 200.0, 20);
        assert_eq!(interval(&mut c, &mut t, 202.0, 20), START_RATE + 2.0 * STEP);
        assert_eq!(
            interval(&mut c, &mut t, 207.0, 20),
            (START_RATE + 2.0 * STEP) * BACKOFF
        );
        // Back-fills (hours old) and clocks ahead are not live traffic.
        c.observe(t, 3_600_000.0);
        c.observe(t, -5.0);
        assert_eq!(c.stats().live_samples, 60);
        // A floor from over a minute ago is forgotten.
        let mut c = Controller::new(5_000.0);
        let mut t = 0;
        interval(&mut c, &mut t, 1.0, 20);
        let mut fresh = c.clone();
        let mut t_fresh = t;
        let r = c.rate();
        assert_eq!(interval(&mut fresh, &mut t_fresh, 12.0, 20), r * BACKOFF);
        t += (FLOOR_MEMORY_SECS as i64 + 1) * 1_000 * MS;
        assert_eq!(interval(&mut c, &mut t, 10.0, 20), r + STEP);
        assert_eq!(interval(&mut c, &mut t, 12.0, 20), r + 2.0 * STEP);
    }

    #[tokio::test(start_paused = true)]
    async fn the_throttle_spaces_reads_at_its_rate() {
        let throttle = Throttle::new(1_000.0);
        let start = Instant::now();
        for _ in 0..101 {
            throttle.admit().await;
        }
        // 100 intervals of 1 ms, less the burst allowance.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(95) && took <= Duration::from_millis(101),
            "{took:?}"
        );
        throttle.set_rate(f64::INFINITY);
        let start = Instant::now();
        for _ in 0..1_000 {
            throttle.admit().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
