//! OHLC bars (1m/5m/15m) closed on event time, their indicators, and the
//! session statistics of the underlying.

mod aggregator;
mod bar;
mod indicators;
mod interval;
mod session_stats;

pub use aggregator::BarAggregator;
pub use bar::{Bar, ClosedBar, Tick};
pub use indicators::{IndicatorSet, Indicators};
pub use interval::Interval;
pub use session_stats::{SessionSnapshot, SessionStats};
