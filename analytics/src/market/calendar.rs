//! Trading days: weekends and exchange holidays, and the nearest open days.

use chrono::{Datelike, NaiveDate, Weekday};

use super::holidays::is_holiday;
use super::Exchange;

/// How far [`nearest_trading_days`] and the session search look (a year: no
/// exchange closes longer).
pub(crate) const MAX_CLOSED_RUN_DAYS: u32 = 366;

/// Whether `date` is a trading day on `exchange`: not a weekend and not a
/// listed holiday (every day on the 24/7 crypto exchange).
///
/// This is the single place the calendar plugs in: every session, expiry and
/// bar computation asks it. Years an exchange's list does not cover count only
/// weekends ([`super::calendar_covers`]).
#[must_use]
pub fn is_trading_day(date: NaiveDate, exchange: Exchange) -> bool {
    if exchange.is_always_open() {
        return true;
    }
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_holiday(exchange, date)
}

/// The closest trading days strictly before and strictly after `date`, for an
/// error message such as "2025-01-26 is not an NSE trading day; try 2025-01-24
/// or 2025-01-27". `None` on a side with no trading day within a year (or at
/// the end of the representable dates).
#[must_use]
pub fn nearest_trading_days(
    date: NaiveDate,
    exchange: Exchange,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let search = |step: fn(&NaiveDate) -> Option<NaiveDate>| {
        let mut d = date;
        for _ in 0..MAX_CLOSED_RUN_DAYS {
            d = step(&d)?;
            if is_trading_day(d, exchange) {
                return Some(d);
            }
        }
        None
    };
    (search(NaiveDate::pred_opt), search(NaiveDate::succ_opt))
}

/// `date` on both sides when it is a trading day, else [`nearest_trading_days`].
fn trading_days_around(
    date: NaiveDate,
    exchange: Exchange,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    if is_trading_day(date, exchange) {
        (Some(date), Some(date))
    } else {
        nearest_trading_days(date, exchange)
    }
}

/// The first trading day on or after `date` (within a year).
#[must_use]
pub fn trading_day_on_or_after(date: NaiveDate, exchange: Exchange) -> Option<NaiveDate> {
    trading_days_around(date, exchange).1
}

/// The last trading day on or before `date` (within a year): where an expiry
/// falling on a holiday moves to.
#[must_use]
pub fn trading_day_on_or_before(date: NaiveDate, exchange: Exchange) -> Option<NaiveDate> {
    trading_days_around(date, exchange).0
}
