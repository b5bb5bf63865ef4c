//! Trading-day calendar and option expiry schedule per exchange.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::session::expiry_close_unix_ns;
use super::Exchange;

/// Whether `date` is a trading day on `exchange`.
///
/// Today only weekends are closed. This is the single place a holiday
/// calendar plugs in: every session, expiry and bar computation asks it.
#[must_use]
pub fn is_trading_day(date: NaiveDate, exchange: Exchange) -> bool {
    let _ = exchange; // holidays would be looked up per exchange here
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Whether an expiry is a weekly or a monthly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryKind {
    /// A weekly expiry that is not the month's monthly one.
    Weekly,
    /// The monthly expiry (NSE: last Thursday; US: third Friday).
    Monthly,
}

/// Moves a nominal expiry back to the closest trading day on or before it
/// (exchanges expire early when the expiry day is a holiday).
fn adjust_back(mut date: NaiveDate, exchange: Exchange) -> NaiveDate {
    for _ in 0..10 {
        if is_trading_day(date, exchange) {
            return date;
        }
        match date.pred_opt() {
            Some(prev) => date = prev,
            None => return date,
        }
    }
    date
}

/// The nominal (unadjusted) monthly expiry of a month.
fn nominal_monthly(year: i32, month: u32, exchange: Exchange) -> Option<NaiveDate> {
    let weekday = exchange.weekly_expiry_weekday();
    match exchange {
        // Last Thursday: the 5th occurrence if it exists, else the 4th.
        Exchange::Nse => NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, 4)),
        Exchange::Us => NaiveDate::from_weekday_of_month_opt(year, month, weekday, 3),
    }
}

/// The monthly expiry of the month containing `date`, holiday-adjusted.
fn monthly_expiry_of(date: NaiveDate, exchange: Exchange) -> Option<NaiveDate> {
    nominal_monthly(date.year(), date.month(), exchange).map(|d| adjust_back(d, exchange))
}

/// Classifies `date` as an expiry of `exchange`, or `None` if nothing expires then.
#[must_use]
pub fn expiry_kind(exchange: Exchange, date: NaiveDate) -> Option<ExpiryKind> {
    if monthly_expiry_of(date, exchange) == Some(date) {
        return Some(ExpiryKind::Monthly);
    }
    // The weekly expiry of the week containing `date` (Monday-based weeks).
    let monday = date.week(Weekday::Mon).first_day();
    let offset = u64::from(exchange.weekly_expiry_weekday().num_days_from_monday());
    let nominal = monday.checked_add_days(Days::new(offset))?;
    (adjust_back(nominal, exchange) == date).then_some(ExpiryKind::Weekly)
}

/// The next `n` expiry dates of `exchange` on or after `from_date`, ascending:
/// every weekly expiry (NSE Thursday, US Friday) plus the monthly ones (NSE last
/// Thursday, US third Friday), each moved back to a trading day if needed.
///
/// `from_date` itself is included when it is an expiry; use
/// [`next_expiries_at`] to exclude an expiry whose close has passed.
#[must_use]
pub fn next_expiries(exchange: Exchange, from_date: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(n.min(64));
    let mut date = from_date;
    while out.len() < n {
        if expiry_kind(exchange, date).is_some() {
            out.push(date);
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
}

/// The next `n` expiries still alive at event time `ts_unix_ns`: like
/// [`next_expiries`] from the event's trading day, skipping an expiry whose
/// close is at or before the event.
#[must_use]
pub fn next_expiries_at(exchange: Exchange, ts_unix_ns: i64, n: usize) -> Vec<NaiveDate> {
    let today = super::trading_day(ts_unix_ns, exchange);
    let mut out = next_expiries(exchange, today, n.saturating_add(1));
    out.retain(|&d| expiry_close_unix_ns(d, exchange) > ts_unix_ns);
    out.truncate(n);
    out
}
