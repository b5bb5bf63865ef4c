//! Technical indicators over one interval's bar closes, via the `ta` crate.

use serde::{Deserialize, Serialize};
use ta::indicators::{
    BollingerBands, ExponentialMovingAverage, MovingAverageConvergenceDivergence,
    RelativeStrengthIndex, SimpleMovingAverage,
};
use ta::Next;

/// Indicator values after a bar close; each is `None` until warmed up.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Indicators {
    /// Simple moving average of 20 closes (from the 20th close).
    pub sma_20: Option<f64>,
    /// EMA of period 9 (from the 9th close).
    pub ema_9: Option<f64>,
    /// EMA of period 21 (from the 21st close).
    pub ema_21: Option<f64>,
    /// RSI of period 14 (from the 15th close: 14 price changes).
    pub rsi_14: Option<f64>,
    /// MACD line, EMA12 − EMA26 (from the 26th close).
    pub macd: Option<f64>,
    /// Signal line, EMA9 of the MACD line (from the 34th close: 9 warmed MACD values).
    pub macd_signal: Option<f64>,
    /// MACD − signal (with the signal).
    pub macd_hist: Option<f64>,
    /// Bollinger upper band, mean + 2σ of 20 closes (from the 20th close).
    pub bb_upper: Option<f64>,
    /// Bollinger middle band (the 20-close mean).
    pub bb_middle: Option<f64>,
    /// Bollinger lower band, mean − 2σ.
    pub bb_lower: Option<f64>,
}

/// Closes needed before each indicator is reported.
pub mod warmup {
    /// SMA 20 and Bollinger 20/2.
    pub const SMA_20: u64 = 20;
    /// EMA 9.
    pub const EMA_9: u64 = 9;
    /// EMA 21.
    pub const EMA_21: u64 = 21;
    /// RSI 14: the first close only seeds it, then 14 changes.
    pub const RSI_14: u64 = 15;
    /// MACD line: the slow EMA's period.
    pub const MACD: u64 = 26;
    /// MACD signal and histogram: 26 + 9 − 1, when the signal EMA has seen 9 warmed MACD values.
    pub const MACD_SIGNAL: u64 = 34;
}

/// Indicator state of one interval. Serializable through `ta`'s `serde` feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndicatorSet {
    closes: u64,
    sma_20: SimpleMovingAverage,
    ema_9: ExponentialMovingAverage,
    ema_21: ExponentialMovingAverage,
    rsi_14: RelativeStrengthIndex,
    macd: MovingAverageConvergenceDivergence,
    bb: BollingerBands,
}

/// `ta` only fails on a zero period; ours are non-zero constants, so this
/// cannot fail at run time.
fn constant_period<T>(indicator: ta::errors::Result<T>) -> T {
    match indicator {
        Ok(i) => i,
        Err(e) => panic!("constant indicator period rejected by ta: {e}"),
    }
}

impl Default for IndicatorSet {
    fn default() -> Self {
        Self {
            closes: 0,
            sma_20: constant_period(SimpleMovingAverage::new(20)),
            ema_9: constant_period(ExponentialMovingAverage::new(9)),
            ema_21: constant_period(ExponentialMovingAverage::new(21)),
            rsi_14: constant_period(RelativeStrengthIndex::new(14)),
            macd: constant_period(MovingAverageConvergenceDivergence::new(12, 26, 9)),
            bb: constant_period(BollingerBands::new(20, 2.0)),
        }
    }
}

impl IndicatorSet {
    /// Fresh indicators that have seen no close.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of closes fed so far.
    #[must_use]
    pub const fn closes(&self) -> u64 {
        self.closes
    }

    /// Feeds one bar close and returns every indicator, gated by warm-up.
    pub fn update(&mut self, close: f64) -> Indicators {
        self.closes = self.closes.saturating_add(1);
        let n = self.closes;
        let gate = |needed: u64, v: f64| (n >= needed).then_some(v);
        let sma = self.sma_20.next(close);
        let ema_9 = self.ema_9.next(close);
        let ema_21 = self.ema_21.next(close);
        let rsi = self.rsi_14.next(close);
        let macd = self.macd.next(close);
        let bb = self.bb.next(close);
        Indicators {
            sma_20: gate(warmup::SMA_20, sma),
            ema_9: gate(warmup::EMA_9, ema_9),
            ema_21: gate(warmup::EMA_21, ema_21),
            rsi_14: gate(warmup::RSI_14, rsi),
            macd: gate(warmup::MACD, macd.macd),
            macd_signal: gate(warmup::MACD_SIGNAL, macd.signal),
            macd_hist: gate(warmup::MACD_SIGNAL, macd.histogram),
            bb_upper: gate(warmup::SMA_20, bb.upper),
            bb_middle: gate(warmup::SMA_20, bb.average),
            bb_lower: gate(warmup::SMA_20, bb.lower),
        }
    }
}
