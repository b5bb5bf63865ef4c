//! Ticks in, OHLCV bars out.

use serde::{Deserialize, Serialize};

use super::{Indicators, Interval};

/// One underlying trade/tick as the bar aggregator consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Event time, UTC nanoseconds.
    pub ts_unix_ns: i64,
    /// Price (finite, > 0).
    pub price: f64,
    /// Quantity traded in this tick (not cumulative).
    pub volume: u64,
    /// Source sequence (feed `seq` or stream sequence) for lineage and de-duplication.
    pub seq: u64,
}

/// An OHLCV bar, independent of product and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// floor(first tick time / interval) × interval, UTC nanoseconds.
    pub start_unix_ns: i64,
    /// First tick's price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last tick's price.
    pub close: f64,
    /// Sum of tick volumes.
    pub volume: u64,
    /// Number of ticks.
    pub ticks: u64,
    /// `seq` of the first tick.
    pub first_seq: u64,
    /// `seq` of the last tick.
    pub last_seq: u64,
}

impl Bar {
    /// A bar holding just `tick`, starting at `start_unix_ns`.
    #[must_use]
    pub const fn open_with(start_unix_ns: i64, tick: &Tick) -> Self {
        Self {
            start_unix_ns,
            open: tick.price,
            high: tick.price,
            low: tick.price,
            close: tick.price,
            volume: tick.volume,
            ticks: 1,
            first_seq: tick.seq,
            last_seq: tick.seq,
        }
    }

    /// Adds a tick of the same bar.
    pub fn push(&mut self, tick: &Tick) {
        self.high = self.high.max(tick.price);
        self.low = self.low.min(tick.price);
        self.close = tick.price;
        self.volume = self.volume.saturating_add(tick.volume);
        self.ticks += 1;
        self.last_seq = tick.seq;
    }
}

/// A bar that has closed, with the indicators after feeding its close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClosedBar {
    /// Its interval.
    pub interval: Interval,
    /// The bar.
    pub bar: Bar,
    /// Indicators of this interval's close series, up to and including this bar.
    pub indicators: Indicators,
}
