//! Trading days, session bounds and time to expiry, all from event time.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};

use super::calendar::is_trading_day;
use super::Exchange;
use crate::NANOS_PER_SECOND;

/// Nanoseconds in the 365-day year used for time to expiry (SPEC §4).
pub const NANOS_PER_YEAR: f64 = 365.0 * 86_400.0 * 1e9;

/// UTC nanoseconds of a local wall-clock time on `date` in the exchange's zone.
///
/// Session and expiry times never fall in a DST gap or overlap in any
/// exchange's zone (India and UTC have no DST; New York's changes at 02:00);
/// should a future exchange's time do so, the earliest valid instant is used
/// (and for a gap, the wall time read as UTC offset-free is shifted by the
/// zone's offset just before the gap).
fn local_unix_ns(date: NaiveDate, time: NaiveTime, exchange: Exchange) -> i64 {
    let tz = exchange.timezone();
    let naive = date.and_time(time);
    let utc = match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => dt.with_timezone(&Utc),
        LocalResult::None => {
            let offset = tz.offset_from_utc_datetime(&naive);
            (naive - chrono::Offset::fix(&offset)).and_utc()
        }
    };
    datetime_unix_ns(utc)
}

fn datetime_unix_ns(dt: DateTime<Utc>) -> i64 {
    dt.timestamp()
        .saturating_mul(NANOS_PER_SECOND)
        .saturating_add(i64::from(dt.timestamp_subsec_nanos()))
}

/// UTC nanoseconds of the expiry close (15:30 IST for NSE, 16:00 New York for
/// US, 08:00 UTC for the crypto exchange).
#[must_use]
pub fn expiry_close_unix_ns(expiry: NaiveDate, exchange: Exchange) -> i64 {
    local_unix_ns(expiry, exchange.expiry_close(), exchange)
}

/// Time to expiry in years of 365 days: (expiry close − event time) / 365 days.
///
/// Negative or zero at and after the expiry close; callers treat `T ≤ 0` as expired.
#[must_use]
pub fn time_to_expiry_years(expiry: NaiveDate, exchange: Exchange, ts_unix_ns: i64) -> f64 {
    // i128 so that extreme timestamps cannot overflow the difference.
    let diff = i128::from(expiry_close_unix_ns(expiry, exchange)) - i128::from(ts_unix_ns);
    diff as f64 / NANOS_PER_YEAR
}

/// The trading day of an event: its calendar date in the exchange's time zone
/// (the UTC date on the 24/7 crypto exchange). Whether that date has a session
/// is [`is_trading_day`]'s answer.
#[must_use]
pub fn trading_day(ts_unix_ns: i64, exchange: Exchange) -> NaiveDate {
    DateTime::from_timestamp_nanos(ts_unix_ns)
        .with_timezone(&exchange.timezone())
        .date_naive()
}

/// Session open and close of `date` as UTC nanoseconds, both inclusive (on the
/// 24/7 exchange: the whole UTC day). Computed for any date; whether `date` has
/// a session at all is [`is_trading_day`]'s answer.
#[must_use]
pub fn session_bounds(date: NaiveDate, exchange: Exchange) -> (i64, i64) {
    (
        local_unix_ns(date, exchange.session_open(), exchange),
        local_unix_ns(date, exchange.session_close(), exchange),
    )
}

/// Whether an event falls inside a session: on a trading day (weekends and
/// holidays have none), between the open and the close, both ends included.
/// Always true on the 24/7 exchange.
#[must_use]
pub fn is_in_session(ts_unix_ns: i64, exchange: Exchange) -> bool {
    let day = trading_day(ts_unix_ns, exchange);
    if !is_trading_day(day, exchange) {
        return false;
    }
    let (open, close) = session_bounds(day, exchange);
    (open..=close).contains(&ts_unix_ns)
}
