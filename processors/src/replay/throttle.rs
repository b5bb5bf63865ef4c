//! How fast a replay reads `MD_RAW`: one token bucket every product task shares.
//!
//! A replay is background work. While live enrichers are active (`MD_ENRICHED`
//! grew within the last [`LIVE_IDLE`]) it reads at most [`BESIDE_LIVE`] messages
//! a second: below that rate its cost to live latency was measured to stay inside
//! this host's own variation (docs/replay.md). With no live enricher active there
//! is nothing to protect, and it reads at full speed. `--max-rate` sets one cap
//! for both cases; `--no-yield` ignores live traffic.

use async_nats::jetstream::Context;
use ds_schemas::subjects;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The read rate while live enrichers are active (msgs/s).
pub const BESIDE_LIVE: f64 = 500.0;
/// `MD_ENRICHED` unchanged for this long: no live enricher is active.
pub const LIVE_IDLE: Duration = Duration::from_secs(2);
/// How often `MD_ENRICHED` is looked at.
const POLL: Duration = Duration::from_millis(250);
/// Reads a product task may make at once when behind (absorbs timer granularity).
const BURST: Duration = Duration::from_millis(5);

/// The read rate every product task of a replay shares.
pub struct Throttle {
    /// With no live enricher active (msgs/s; infinite: unlimited).
    alone: f64,
    /// While live enrichers are active.
    beside_live: f64,
    live: AtomicBool,
    next: Mutex<Option<Instant>>,
    read_beside_live: AtomicU64,
}

/// How the replay shared the machine with live traffic, for its summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct YieldStats {
    /// Messages read while live enrichers were active.
    pub read_beside_live: u64,
    /// The read rate while they were (msgs/s), if it was capped.
    pub live_cap: Option<f64>,
}

impl Throttle {
    /// Reads at `alone` msgs/s, and at `beside_live` while live enrichers are
    /// active (`f64::INFINITY`: unlimited).
    pub fn new(alone: f64, beside_live: f64) -> Self {
        Self {
            alone,
            beside_live,
            live: AtomicBool::new(false),
            next: Mutex::new(None),
            read_beside_live: AtomicU64::new(0),
        }
    }

    /// Whether live traffic changes the rate (so it must be watched).
    pub fn watches_live(&self) -> bool {
        self.beside_live != self.alone
    }

    /// Whether live enrichers are active.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// Says whether live enrichers are active.
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Relaxed);
    }

    /// The rate now (msgs/s, infinite when unlimited).
    pub fn rate(&self) -> f64 {
        if self.is_live() {
            self.beside_live
        } else {
            self.alone
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> YieldStats {
        let read = self.read_beside_live.load(Ordering::Relaxed);
        YieldStats {
            read_beside_live: read,
            live_cap: (read > 0 && self.beside_live.is_finite()).then_some(self.beside_live),
        }
    }

    /// When the next read may happen (reserving its slot); `None`: now.
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
        if self.is_live() {
            self.read_beside_live.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(at) = self.reserve(Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// Watches `MD_ENRICHED` until dropped.
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tells `throttle` whether live enrichers are active, until the returned
/// [`Watcher`] is dropped: at first by the age of `MD_ENRICHED`'s last message,
/// then by whether its last sequence grew within [`LIVE_IDLE`].
///
/// # Errors
/// When `MD_ENRICHED` cannot be read.
pub async fn watch_live(
    js: &Context,
    throttle: Arc<Throttle>,
) -> Result<Watcher, async_nats::Error> {
    let mut stream = js.get_stream(subjects::STREAM_ENRICHED).await?;
    let state = stream.info().await?.state.clone();
    let age_ns =
        i128::from(crate::time::now_unix_ns()) - state.last_timestamp.unix_timestamp_nanos();
    let mut last_seq = state.last_sequence;
    let mut grew = Instant::now()
        .checked_sub(Duration::from_nanos(u64::try_from(age_ns).unwrap_or(0)))
        .filter(|_| state.messages > 0 && age_ns < LIVE_IDLE.as_nanos() as i128);
    let active = |grew: Option<Instant>| grew.is_some_and(|t| t.elapsed() < LIVE_IDLE);
    throttle.set_live(active(grew));
    Ok(Watcher(tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            // A failed look changes nothing: the last answer stands.
            if let Ok(info) = stream.info().await {
                if info.state.last_sequence > last_seq {
                    last_seq = info.state.last_sequence;
                    grew = Some(Instant::now());
                }
            }
            throttle.set_live(active(grew));
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_applies_only_while_live_enrichers_are_active() {
        let t = Throttle::new(f64::INFINITY, 100.0);
        let now = Instant::now();
        assert_eq!(t.reserve(now), None, "no live traffic: no cap");
        t.set_live(true);
        let slots: Vec<Option<Instant>> = (0..3).map(|_| t.reserve(now)).collect();
        let ms = Duration::from_millis;
        assert_eq!(slots, [None, Some(now + ms(10)), Some(now + ms(20))]);
        t.set_live(false);
        assert_eq!(t.reserve(now), None);
    }

    #[tokio::test]
    async fn reads_beside_live_traffic_are_counted() {
        let t = Throttle::new(f64::INFINITY, 1e9);
        t.admit().await;
        assert_eq!(t.stats(), YieldStats::default());
        t.set_live(true);
        t.admit().await;
        t.admit().await;
        assert_eq!(
            t.stats(),
            YieldStats {
                read_beside_live: 2,
                live_cap: Some(1e9)
            }
        );
    }
}
