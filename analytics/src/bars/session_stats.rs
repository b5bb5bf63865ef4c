//! Session open/high/low and change of the underlying within its trading day.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::market::{trading_day, Exchange};
use crate::AnalyticsError;

/// Session figures after a tick (fields of `EnrichedUnderlying`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// Trading day (date in the exchange's time zone).
    pub trading_day: NaiveDate,
    /// Price of the day's first tick in the stream.
    pub session_open: f64,
    /// Highest price of the day so far.
    pub session_high: f64,
    /// Lowest price of the day so far.
    pub session_low: f64,
    /// Latest price.
    pub price: f64,
    /// (price − session_open) / session_open × 100.
    pub change_pct: f64,
}

/// Session statistics state machine of one product; resets when the trading
/// day changes. Serializable for checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    exchange: Exchange,
    current: Option<SessionSnapshot>,
}

impl SessionStats {
    /// Empty statistics for a product trading on `exchange`.
    #[must_use]
    pub const fn new(exchange: Exchange) -> Self {
        Self {
            exchange,
            current: None,
        }
    }

    /// Applies a tick and returns the updated figures.
    ///
    /// # Errors
    /// [`AnalyticsError::NonFinite`] / [`AnalyticsError::OutOfRange`] for a
    /// price that is not finite and > 0; [`AnalyticsError::LateTick`] for a
    /// tick of an earlier trading day than the current one. State is
    /// unchanged on error.
    pub fn update(
        &mut self,
        ts_unix_ns: i64,
        price: f64,
    ) -> Result<SessionSnapshot, AnalyticsError> {
        if !price.is_finite() {
            return Err(AnalyticsError::NonFinite {
                field: "price",
                index: None,
            });
        }
        if price <= 0.0 {
            return Err(AnalyticsError::OutOfRange {
                field: "price",
                index: None,
            });
        }
        let day = trading_day(ts_unix_ns, self.exchange);
        let next = match self.current {
            Some(cur) if cur.trading_day == day => SessionSnapshot {
                session_high: cur.session_high.max(price),
                session_low: cur.session_low.min(price),
                price,
                change_pct: (price - cur.session_open) / cur.session_open * 100.0,
                ..cur
            },
            Some(cur) if cur.trading_day > day => {
                return Err(AnalyticsError::LateTick {
                    ts_unix_ns,
                    interval: "session",
                });
            }
            _ => SessionSnapshot {
                trading_day: day,
                session_open: price,
                session_high: price,
                session_low: price,
                price,
                change_pct: 0.0,
            },
        };
        self.current = Some(next);
        Ok(next)
    }

    /// The latest figures, if any tick was applied.
    #[must_use]
    pub const fn snapshot(&self) -> Option<SessionSnapshot> {
        self.current
    }

    /// Forgets the current session.
    pub fn reset(&mut self) {
        self.current = None;
    }
}
