//! How fast a replay reads `MD_RAW`: one rate shared by every product task
//! ([`Throttle`]), capped by `--max-rate`, and — beside live traffic — held to
//! what live processing can spare ([`Controller`]).
//!
//! A replay is background work; the live pipeline is not. The replay watches the
//! live enrichers' own end-to-end delay (event time → enriched message seen on
//! `md.enriched.<P>.underlying`, one product per exchange) and compares it with
//! what the same live traffic shows while the replay does nothing: every
//! [`PROBE_EVERY`] of reading it pauses for [`PROBE`] (and it starts with such
//! a pause), and the 90th percentile of the live delay in that pause is the
//! baseline. While it reads, each [`JUDGE`] interval whose 90th percentile is
//! more than [`TOLERANCE`] (plus [`SLACK_MS`]) above the baseline halves the
//! rate; a quiet one adds [`STEP`] msgs/s (additive increase, multiplicative
//! decrease, the scheme TCP's background transports use against their own
//! queueing delay). Both are measured above the delay's floor (its smallest
//! value of the last minute: transport and clock offset, no queueing). A fixed
//! allowance in milliseconds could not tell a slow hour of the host from the
//! replay's own cost; a baseline re-measured every few seconds can. With no live
//! traffic there is nothing to protect and the replay runs at its cap.

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

/// How much slower (relative) live processing may get while the replay reads
/// than during its last pauses, at the 90th percentile of the delay above its floor.
pub const TOLERANCE: f64 = 0.25;
/// An absolute allowance on top of [`TOLERANCE`] (ms): below it, a difference
/// is the resolution of the measurement, not a cost.
pub const SLACK_MS: f64 = 0.25;
/// The excess over the floor tolerated while no pause has measured a baseline
/// (live messages too sparse to measure one).
const FALLBACK_EXCESS_MS: f64 = 3.0;
/// How often the rate is revised (the throttle is steered this often).
pub const TICK: Duration = Duration::from_millis(100);
/// A judged interval while reading.
pub const JUDGE: Duration = Duration::from_secs(1);
/// A pause to measure live traffic without the replay.
pub const PROBE: Duration = Duration::from_millis(1_000);
/// The start of a pause that is not measured (the replay's last writes drain).
const PROBE_SETTLE: Duration = Duration::from_millis(250);
/// Reading time between pauses.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);
/// Pauses whose baselines are kept (the baseline is their median).
const BASELINES: usize = 3;
/// Rate a replay reads at after its first pause (msgs/s).
const START_RATE: f64 = 200.0;
/// The reading rate never goes below this (a replay always progresses).
const FLOOR_RATE: f64 = 50.0;
/// Added per quiet interval (msgs/s).
const STEP: f64 = 100.0;
/// Factor applied when live processing slowed.
const BACKOFF: f64 = 0.5;
/// Above this, a rate with no cap counts as unlimited again.
const UNLIMITED_ABOVE: f64 = 100_000.0;
/// Samples an interval needs before it is judged (else it is extended, to 3×).
const MIN_SAMPLES: usize = 20;
/// No live sample for this long: no live traffic.
const IDLE_NS: i64 = 2_000_000_000;
/// A replay starts paused, as a first probe; with no live sample within this
/// long there is no live traffic and it runs at its cap.
const WARMUP_NS: i64 = 500_000_000;
/// How long the floor of the live delay is remembered (per-second minima).
const FLOOR_MEMORY_SECS: usize = 60;
/// A delay larger than this is not live traffic (a back-fill, a clock far off).
const LIVE_DELAY_MAX_MS: f64 = 10_000.0;
/// Reads a product task may make at once when behind (absorbs timer granularity).
const BURST: Duration = Duration::from_millis(5);
/// How often a paused reader looks at the rate again.
const PAUSE_POLL: Duration = Duration::from_millis(10);

const fn ns(d: Duration) -> i64 {
    d.as_nanos() as i64
}

/// The read rate every product task of a replay shares (a token bucket; a rate
/// of zero pauses reading).
pub struct Throttle {
    rate_bits: AtomicU64,
    next: Mutex<Option<Instant>>,
    stats: Mutex<YieldStats>,
}

/// When a read may happen.
#[derive(Debug, PartialEq)]
enum Slot {
    Now,
    At(Instant),
    Paused,
}

impl Throttle {
    /// A throttle at `rate` msgs/s (`f64::INFINITY`: unlimited; 0: paused).
    pub fn new(rate: f64) -> Self {
        Self {
            rate_bits: AtomicU64::new(rate.to_bits()),
            next: Mutex::new(None),
            stats: Mutex::new(YieldStats::default()),
        }
    }

    /// The current rate (msgs/s, infinite when unlimited, 0 when paused).
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

    /// When the next read may happen, reserving its slot.
    fn reserve(&self, now: Instant) -> Slot {
        let rate = self.rate();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if rate.is_nan() || rate <= 0.0 {
            // Paused: reading resumes from scratch, not with a backlog of slots.
            *next = None;
            return Slot::Paused;
        }
        if rate.is_infinite() {
            *next = None;
            return Slot::Now;
        }
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let at = next.map_or(now, |n| n.max(earliest));
        *next = Some(at + Duration::from_secs_f64(1.0 / rate));
        if at > now {
            Slot::At(at)
        } else {
            Slot::Now
        }
    }

    /// Waits for the next read's turn (while paused, until reading resumes).
    /// Cancel-safe (a cancelled wait only skips its slot).
    pub async fn admit(&self) {
        loop {
            match self.reserve(Instant::now()) {
                Slot::Now => return,
                Slot::At(at) => return tokio::time::sleep_until(at).await,
                Slot::Paused => tokio::time::sleep(PAUSE_POLL).await,
            }
        }
    }
}

/// What the controller did, for the replay's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct YieldStats {
    /// Live messages observed.
    pub live_samples: u64,
    /// Pauses made to measure live traffic without the replay.
    pub probes: u64,
    /// Times the rate was lowered because live processing slowed.
    pub backoffs: u64,
    /// The lowest reading rate set (msgs/s), if it was ever limited for live traffic.
    pub min_rate: Option<f64>,
}

/// What the replay is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No live traffic: reading at the cap.
    Idle,
    /// Paused since `since` to measure live traffic alone; reading resumes at `resume`.
    Probe { since: i64, resume: f64 },
    /// Reading at `rate` since `since` (the start of the current stretch between pauses).
    Run { since: i64, rate: f64 },
}

/// The rate controller (pure: times are passed in, in Unix nanoseconds).
#[derive(Debug, Clone)]
pub struct Controller {
    cap: f64,
    phase: Phase,
    /// Live delays (ms) of the current interval, with their times.
    samples: Vec<(i64, f64)>,
    interval_started: i64,
    last_sample: Option<i64>,
    /// The first tick.
    born: Option<i64>,
    /// Minimum delay of each of the last seconds: (second, ms).
    floor: VecDeque<(i64, f64)>,
    /// The 90th-percentile excess over the floor of the last pauses (ms).
    baselines: VecDeque<f64>,
    stats: YieldStats,
}

/// The 90th percentile of `v` (reordered).
fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

impl Controller {
    /// A controller for a replay capped at `cap` msgs/s (`f64::INFINITY`: none).
    /// It starts paused (a first probe): see [`WARMUP_NS`].
    pub fn new(cap: f64) -> Self {
        Self {
            cap,
            phase: Phase::Probe {
                since: i64::MIN,
                resume: START_RATE.min(cap),
            },
            samples: Vec::new(),
            interval_started: 0,
            last_sample: None,
            born: None,
            floor: VecDeque::new(),
            baselines: VecDeque::new(),
            stats: YieldStats::default(),
        }
    }

    /// The rate now (msgs/s; 0: paused).
    pub fn rate(&self) -> f64 {
        match self.phase {
            Phase::Idle => self.cap,
            Phase::Probe { .. } => 0.0,
            Phase::Run { rate, .. } => rate,
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> YieldStats {
        self.stats
    }

    /// The live delay's floor (ms): the smallest of the last minute.
    fn floor(&self) -> f64 {
        self.floor
            .iter()
            .map(|(_, m)| *m)
            .fold(f64::INFINITY, f64::min)
    }

    /// The excess over the floor live traffic shows without the replay: the
    /// median of the last pauses' (ms).
    fn baseline(&self) -> Option<f64> {
        let mut b: Vec<f64> = self.baselines.iter().copied().collect();
        b.sort_by(f64::total_cmp);
        match b.len() {
            0 => None,
            n if n % 2 == 1 => Some(b[n / 2]),
            n => Some((b[n / 2 - 1] + b[n / 2]) / 2.0),
        }
    }

    /// Records a live message seen `delay_ms` after its event time.
    pub fn observe(&mut self, now_ns: i64, delay_ms: f64) {
        if !(0.0..LIVE_DELAY_MAX_MS).contains(&delay_ms) {
            return;
        }
        self.stats.live_samples += 1;
        self.last_sample = Some(now_ns);
        self.samples.push((now_ns, delay_ms));
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

    fn start_probe(&mut self, now_ns: i64, resume: f64) {
        self.phase = Phase::Probe {
            since: now_ns,
            resume,
        };
        self.samples.clear();
    }

    fn start_run(&mut self, now_ns: i64, rate: f64) {
        self.phase = Phase::Run {
            since: now_ns,
            rate,
        };
        self.samples.clear();
        self.interval_started = now_ns;
    }

    /// Revises the rate (every [`TICK`]) and returns it.
    pub fn tick(&mut self, now_ns: i64) -> f64 {
        let born = *self.born.get_or_insert(now_ns);
        if let Phase::Probe { since, resume } = self.phase {
            if since == i64::MIN {
                // The first probe starts with the controller.
                self.phase = Phase::Probe {
                    since: born,
                    resume,
                };
            }
        }
        let live = self.last_sample.is_some_and(|t| now_ns - t < IDLE_NS);
        if !live {
            if self.last_sample.is_some() || now_ns - born >= WARMUP_NS {
                self.phase = Phase::Idle;
                self.samples.clear();
            }
            return self.rate();
        }
        match self.phase {
            Phase::Idle => self.start_probe(now_ns, START_RATE.min(self.cap)),
            Phase::Probe { since, resume } => self.probe(now_ns, since, resume),
            Phase::Run { since, rate } => self.run(now_ns, since, rate),
        }
        self.rate()
    }

    /// Ends a probe once it measured enough (or at 3× its length).
    fn probe(&mut self, now_ns: i64, since: i64, resume: f64) {
        if now_ns - since < ns(PROBE) {
            return;
        }
        let from = since + ns(PROBE_SETTLE);
        let mut measured: Vec<f64> = self
            .samples
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, d)| *d)
            .collect();
        if measured.len() < MIN_SAMPLES && now_ns - since < 3 * ns(PROBE) {
            return;
        }
        self.stats.probes += 1;
        if measured.len() >= MIN_SAMPLES {
            let excess = p90(&mut measured) - self.floor();
            self.baselines.push_back(excess.max(0.0));
            if self.baselines.len() > BASELINES {
                self.baselines.pop_front();
            }
        }
        self.start_run(now_ns, resume);
    }

    /// Judges each interval against the baseline; pauses again when a probe is due.
    fn run(&mut self, now_ns: i64, since: i64, mut rate: f64) {
        let age = now_ns - self.interval_started;
        let judged = age >= ns(JUDGE)
            && (self.samples.len() >= MIN_SAMPLES
                || (age >= 3 * ns(JUDGE) && !self.samples.is_empty()));
        if judged {
            let mut delays: Vec<f64> = self.samples.iter().map(|(_, d)| *d).collect();
            let excess = p90(&mut delays) - self.floor();
            let allowed = self
                .baseline()
                .map_or(FALLBACK_EXCESS_MS, |b| b * (1.0 + TOLERANCE) + SLACK_MS);
            rate = self.adjust(rate, excess > allowed);
            self.samples.clear();
            self.interval_started = now_ns;
        }
        if now_ns - since >= ns(PROBE_EVERY) {
            self.start_probe(now_ns, rate);
        } else {
            self.phase = Phase::Run { since, rate };
        }
    }

    /// Additive increase, multiplicative decrease.
    fn adjust(&mut self, rate: f64, slowed: bool) -> f64 {
        let next = match (slowed, rate.is_finite()) {
            // Unlimited and live is fine: stay so.
            (false, false) => rate,
            (false, true) => {
                let up = rate + STEP;
                if up >= self.cap || (!self.cap.is_finite() && up > UNLIMITED_ABOVE) {
                    self.cap
                } else {
                    up
                }
            }
            (true, finite) => {
                self.stats.backoffs += 1;
                let current = if finite { rate } else { START_RATE };
                (current * BACKOFF).max(FLOOR_RATE).min(self.cap)
            }
        };
        if next.is_finite() && next < self.cap {
            self.stats.min_rate = Some(self.stats.min_rate.map_or(next, |m| m.min(next)));
        }
        next
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

    /// Ticks for `ticks` × [`TICK`], feeding `per_tick` live samples spread over
    /// each tick, the `i`-th of a tick `delay(i)` ms; returns the last rate.
    fn live(
        c: &mut Controller,
        t: &mut i64,
        ticks: usize,
        per_tick: usize,
        delay: impl Fn(usize) -> f64,
    ) -> f64 {
        let step = ns(TICK);
        for _ in 0..ticks {
            for i in 0..per_tick {
                c.observe(*t + i as i64 * step / per_tick as i64, delay(i));
            }
            *t += step;
            c.tick(*t);
        }
        c.rate()
    }

    /// Ticks per judged interval, per probe and between probes.
    const JUDGE_TICKS: usize = (ns(JUDGE) / ns(TICK)) as usize;
    const PROBE_TICKS: usize = (ns(PROBE) / ns(TICK)) as usize;
    const RUN_TICKS: usize = (ns(PROBE_EVERY) / ns(TICK)) as usize;

    /// Delays with a floor of `lo` ms and a 90th percentile of `hi` ms (ten
    /// samples a tick, the last one slow).
    fn dist(lo: f64, hi: f64) -> impl Fn(usize) -> f64 {
        move |i| if i == 9 { hi } else { lo }
    }

    #[test]
    fn without_live_traffic_the_cap_holds() {
        // Paused while it looks for live traffic, then at the cap.
        let mut c = Controller::new(f64::INFINITY);
        assert_eq!(c.tick(0), 0.0);
        assert_eq!(c.tick(WARMUP_NS - 1), 0.0);
        assert!(c.tick(WARMUP_NS).is_infinite());
        let mut c = Controller::new(500.0);
        assert_eq!(c.tick(0), 0.0);
        assert_eq!(c.tick(WARMUP_NS), 500.0);
        assert_eq!(c.stats(), YieldStats::default());
        // Live traffic that stops: back to the cap after IDLE.
        let mut t = WARMUP_NS;
        live(&mut c, &mut t, PROBE_TICKS + 1, 10, dist(1.0, 1.0));
        assert_eq!(c.rate(), START_RATE);
        assert_eq!(c.tick(t + IDLE_NS + 1), 500.0);
    }

    #[test]
    fn a_pause_measures_live_traffic_before_any_reading() {
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        // Paused for the whole probe while live traffic flows…
        assert_eq!(
            live(&mut c, &mut t, PROBE_TICKS - 1, 10, dist(1.0, 3.0)),
            0.0
        );
        // …then reading starts, against a baseline of 2 ms above the floor.
        assert_eq!(live(&mut c, &mut t, 1, 10, dist(1.0, 3.0)), START_RATE);
        assert_eq!(c.baseline(), Some(2.0));
        assert_eq!(c.stats().probes, 1);
        // Too few live messages: the probe is extended, then gives up on a baseline.
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        // One live message every five ticks.
        let sparse = |c: &mut Controller, t: &mut i64, ticks: usize| {
            for _ in 0..ticks / 5 {
                live(c, t, 1, 1, |_| 1.0);
                live(c, t, 4, 0, |_| 1.0);
            }
            c.rate()
        };
        assert_eq!(sparse(&mut c, &mut t, PROBE_TICKS), 0.0);
        assert_eq!(sparse(&mut c, &mut t, PROBE_TICKS), 0.0);
        assert_eq!(sparse(&mut c, &mut t, PROBE_TICKS), START_RATE);
        assert_eq!(c.baseline(), None);
        assert_eq!(c.stats().probes, 1);
    }

    #[test]
    fn reading_slower_than_the_baseline_halves_the_rate_and_quiet_adds_to_it() {
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        // Baseline: 90th percentile 2 ms above a 1 ms floor; allowed 2.75 ms.
        live(&mut c, &mut t, PROBE_TICKS, 10, dist(1.0, 3.0));
        assert_eq!(c.rate(), START_RATE);
        // Within the allowance: one step up per judged interval…
        let quiet = live(&mut c, &mut t, JUDGE_TICKS, 10, dist(1.0, 3.7));
        assert_eq!(quiet, START_RATE + STEP);
        // …over it: halved…
        let slowed = live(&mut c, &mut t, JUDGE_TICKS, 10, dist(1.0, 3.8));
        assert_eq!(slowed, quiet * BACKOFF);
        assert_eq!(c.stats().backoffs, 1);
        // …never below the floor rate.
        live(&mut c, &mut t, 5 * JUDGE_TICKS, 10, dist(1.0, 40.0));
        assert_eq!(c.rate(), FLOOR_RATE);
        assert_eq!(c.stats().min_rate, Some(FLOOR_RATE));
    }

    #[test]
    fn pauses_recur_and_reading_resumes_at_its_rate() {
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        live(&mut c, &mut t, PROBE_TICKS, 10, dist(1.0, 2.0));
        let before = live(&mut c, &mut t, RUN_TICKS - 1, 10, dist(1.0, 2.0));
        assert!(before > START_RATE);
        // A probe is due: paused for its length, then back at the same rate.
        assert_eq!(live(&mut c, &mut t, 1, 10, dist(1.0, 2.0)), 0.0);
        assert_eq!(c.stats().probes, 1);
        assert_eq!(
            live(&mut c, &mut t, PROBE_TICKS - 1, 10, dist(1.0, 2.0)),
            0.0
        );
        assert!(live(&mut c, &mut t, 1, 10, dist(1.0, 2.0)) >= before);
        assert_eq!(c.stats().probes, 2);
    }

    #[test]
    fn the_baseline_follows_the_host() {
        // The same delays while reading: too slow after a quiet probe, fine
        // after a probe in a slow hour (the host, not the replay, is slow).
        let after = |probe_hi: f64| {
            let mut c = Controller::new(f64::INFINITY);
            let mut t = 0;
            c.tick(t);
            live(&mut c, &mut t, PROBE_TICKS, 10, dist(1.0, probe_hi));
            live(&mut c, &mut t, JUDGE_TICKS, 10, dist(1.0, 6.0))
        };
        assert_eq!(after(2.0), START_RATE * BACKOFF);
        assert_eq!(after(6.0), START_RATE + STEP);
    }

    #[test]
    fn the_floor_is_the_smallest_recent_delay_and_ages_out() {
        // A clock offset of 200 ms is not queueing: only the excess over the floor counts.
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        live(&mut c, &mut t, PROBE_TICKS, 10, dist(200.0, 201.0));
        assert_eq!(c.baseline(), Some(1.0));
        assert_eq!(
            live(&mut c, &mut t, JUDGE_TICKS, 10, dist(200.0, 201.4)),
            START_RATE + STEP
        );
        // Back-fills (hours old) and clocks ahead are not live traffic.
        let seen = c.stats().live_samples;
        c.observe(t, 3_600_000.0);
        c.observe(t, -5.0);
        assert_eq!(c.stats().live_samples, seen);
        // A floor from over a minute ago is forgotten.
        let mut c = Controller::new(f64::INFINITY);
        let mut t = 0;
        c.tick(t);
        c.observe(t, 0.5);
        t += (FLOOR_MEMORY_SECS as i64 + 1) * 1_000 * MS;
        live(&mut c, &mut t, 1, 10, dist(1.0, 1.0));
        assert_eq!(c.floor(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_throttle_spaces_reads_at_its_rate_and_pauses_at_zero() {
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
        // Paused: a read waits until the rate is set again.
        let throttle = Arc::new(Throttle::new(0.0));
        let resume = {
            let throttle = throttle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                throttle.set_rate(f64::INFINITY);
            })
        };
        let start = Instant::now();
        throttle.admit().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(300)
                && waited <= Duration::from_millis(300) + PAUSE_POLL,
            "{waited:?}"
        );
        resume.await.expect("resumed");
    }
}
