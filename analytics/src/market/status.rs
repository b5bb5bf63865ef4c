//! Whether a market is open at an instant, and when it next opens and closes.

use serde::{Deserialize, Serialize};

use super::calendar::{is_trading_day, trading_day_on_or_after, MAX_CLOSED_RUN_DAYS};
use super::session::{session_bounds, trading_day};
use super::Exchange;

/// A product's market status at an instant (for REST and the dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketStatus {
    /// Whether the instant is inside a session (both ends included).
    pub open: bool,
    /// Start of the next session after the instant when closed; `None` while
    /// open and on a 24/7 exchange.
    pub next_open_unix_ns: Option<i64>,
    /// End of the current session when open, of the next one when closed
    /// (inclusive: the last instant of the session); `None` on a 24/7 exchange.
    pub next_close_unix_ns: Option<i64>,
}

/// The status of `exchange` at `now_unix_ns` (event or wall-clock time: the
/// caller decides; this function never reads a clock).
///
/// A closed market whose next session lies more than a year ahead (never the
/// case for a listed calendar) reports `None` for both times.
#[must_use]
pub fn market_status(exchange: Exchange, now_unix_ns: i64) -> MarketStatus {
    if exchange.is_always_open() {
        return MarketStatus {
            open: true,
            next_open_unix_ns: None,
            next_close_unix_ns: None,
        };
    }
    let today = trading_day(now_unix_ns, exchange);
    let (open, close) = session_bounds(today, exchange);
    if is_trading_day(today, exchange) {
        if (open..=close).contains(&now_unix_ns) {
            return MarketStatus {
                open: true,
                next_open_unix_ns: None,
                next_close_unix_ns: Some(close),
            };
        }
        if now_unix_ns < open {
            return closed_until(Some((open, close)));
        }
    }
    let next = today
        .succ_opt()
        .and_then(|d| trading_day_on_or_after(d, exchange))
        .map(|d| session_bounds(d, exchange));
    closed_until(next)
}

fn closed_until(session: Option<(i64, i64)>) -> MarketStatus {
    MarketStatus {
        open: false,
        next_open_unix_ns: session.map(|s| s.0),
        next_close_unix_ns: session.map(|s| s.1),
    }
}

// The search in `trading_day_on_or_after` is bounded by this; keep the doc true.
const _: () = assert!(MAX_CLOSED_RUN_DAYS >= 365);
