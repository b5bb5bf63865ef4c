//! The per-product bar state machine: 1m, 5m and 15m bars plus their indicators.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Bar, ClosedBar, IndicatorSet, Interval, Tick};
use crate::market::{session_bounds, trading_day, Exchange};
use crate::AnalyticsError;

/// One interval's open bar and indicator state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Series {
    interval: Interval,
    open: Option<Bar>,
    last_closed_start: Option<i64>,
    indicators: IndicatorSet,
}

impl Series {
    fn new(interval: Interval) -> Self {
        Self {
            interval,
            open: None,
            last_closed_start: None,
            indicators: IndicatorSet::new(),
        }
    }

    /// Whether a tick starting bar `start` would land in an already-closed bar.
    fn is_late(&self, start: i64) -> bool {
        self.open.is_some_and(|b| start < b.start_unix_ns)
            || self.last_closed_start.is_some_and(|s| start <= s)
    }

    fn close(&mut self, out: &mut Vec<ClosedBar>) {
        if let Some(bar) = self.open.take() {
            self.last_closed_start = Some(bar.start_unix_ns);
            out.push(ClosedBar {
                interval: self.interval,
                bar,
                indicators: self.indicators.update(bar.close),
            });
        }
    }
}

/// Bars of one product for every [`Interval`], closed on event time only.
///
/// Rules (SPEC §4): a tick joins the bar starting at
/// floor(ts / interval) × interval; a bar closes when the first tick at or
/// past its end arrives, or when a tick at or after the session close of its
/// trading day is applied (that tick is included, then every open bar closes).
/// After that, further ticks of the same trading day at or after the close are
/// rejected ([`AnalyticsError::AfterSessionClose`]) so no bar start is emitted
/// twice. A tick whose `seq` was already applied is rejected as
/// [`AnalyticsError::DuplicateTick`], one whose time falls in an already
/// closed bar as [`AnalyticsError::LateTick`]; a rejected tick changes nothing.
///
/// Serialize the aggregator to checkpoint it (indicator state included, via
/// `ta`'s `serde` feature) and deserialize it to resume exactly; use a float
/// format that round-trips `f64` exactly (e.g. `serde_json` with its
/// `float_roundtrip` feature, or a binary format).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BarAggregator {
    exchange: Exchange,
    last_seq: Option<u64>,
    closed_session: Option<NaiveDate>,
    series: [Series; 3],
}

fn new_series() -> [Series; 3] {
    Interval::ALL.map(Series::new)
}

impl BarAggregator {
    /// An empty aggregator for a product trading on `exchange`.
    #[must_use]
    pub fn new(exchange: Exchange) -> Self {
        Self {
            exchange,
            last_seq: None,
            closed_session: None,
            series: new_series(),
        }
    }

    /// The exchange whose sessions close bars.
    #[must_use]
    pub const fn exchange(&self) -> Exchange {
        self.exchange
    }

    /// Sequence of the last applied tick.
    #[must_use]
    pub const fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Applies a tick and returns the bars it closed, in the order they closed
    /// (shortest interval first among bars closed together).
    ///
    /// # Errors
    /// [`AnalyticsError::NonFinite`] / [`AnalyticsError::OutOfRange`] for a
    /// price that is not finite and > 0; [`AnalyticsError::DuplicateTick`],
    /// [`AnalyticsError::LateTick`] and [`AnalyticsError::AfterSessionClose`]
    /// as described on [`BarAggregator`]. On error the state is unchanged.
    pub fn update(&mut self, tick: &Tick) -> Result<Vec<ClosedBar>, AnalyticsError> {
        if !tick.price.is_finite() {
            return Err(AnalyticsError::NonFinite {
                field: "price",
                index: None,
            });
        }
        if tick.price <= 0.0 {
            return Err(AnalyticsError::OutOfRange {
                field: "price",
                index: None,
            });
        }
        if let Some(last_seq) = self.last_seq.filter(|&s| tick.seq <= s) {
            return Err(AnalyticsError::DuplicateTick {
                seq: tick.seq,
                last_seq,
            });
        }
        let ts = tick.ts_unix_ns;
        let day = trading_day(ts, self.exchange);
        let (_, session_close) = session_bounds(day, self.exchange);
        if ts >= session_close && self.closed_session == Some(day) {
            return Err(AnalyticsError::AfterSessionClose { ts_unix_ns: ts });
        }
        if let Some(s) = self
            .series
            .iter()
            .find(|s| s.is_late(s.interval.bar_start(ts)))
        {
            return Err(AnalyticsError::LateTick {
                ts_unix_ns: ts,
                interval: s.interval.as_str(),
            });
        }

        let mut out = Vec::new();
        for s in &mut self.series {
            let start = s.interval.bar_start(ts);
            match &mut s.open {
                Some(bar) if bar.start_unix_ns == start => bar.push(tick),
                _ => {
                    s.close(&mut out);
                    s.open = Some(Bar::open_with(start, tick));
                }
            }
        }
        self.last_seq = Some(tick.seq);
        if ts >= session_close {
            self.series.iter_mut().for_each(|s| s.close(&mut out));
            self.closed_session = Some(day);
        }
        Ok(out)
    }

    /// Advances event time without a tick (e.g. to the time of another message
    /// of the same product): closes every open bar whose end is at or before
    /// `ts_unix_ns`, and every open bar when `ts_unix_ns` is at or after the
    /// session close of the bar's trading day. Never reads the wall clock.
    pub fn advance_to(&mut self, ts_unix_ns: i64) -> Vec<ClosedBar> {
        let mut out = Vec::new();
        for s in &mut self.series {
            let Some(bar) = s.open else { continue };
            let day = trading_day(bar.start_unix_ns, self.exchange);
            let (_, session_close) = session_bounds(day, self.exchange);
            let end = bar.start_unix_ns.saturating_add(s.interval.nanos());
            if ts_unix_ns >= end || ts_unix_ns >= session_close {
                s.close(&mut out);
            }
        }
        let day = trading_day(ts_unix_ns, self.exchange);
        if ts_unix_ns >= session_bounds(day, self.exchange).1 {
            self.closed_session = Some(day);
        }
        out
    }

    /// The bars currently open (partial), shortest interval first.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(Interval, Bar)> {
        self.series
            .iter()
            .filter_map(|s| s.open.map(|b| (s.interval, b)))
            .collect()
    }

    /// Forgets every bar and indicator (keeps the exchange).
    pub fn reset(&mut self) {
        *self = Self::new(self.exchange);
    }
}
