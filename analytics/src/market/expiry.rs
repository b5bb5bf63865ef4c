//! Option expiry schedules: which dates a product's options expire on.
//!
//! A product's [`ExpiryRule`] says which series it lists (monthly only; weekly
//! and monthly; or daily, weekly and monthly), and its exchange says on which
//! weekday each expires ([`Exchange::expiry_weekday`]: NSE Thursday until
//! 2025-08-31, Tuesday from 2025-09-01; US and crypto Friday) and how the
//! monthly one is chosen (NSE and crypto: the month's last such weekday; US:
//! the third Friday). An expiry that falls on a holiday moves back to the
//! previous trading day. Quarterly crypto expiries are the March, June,
//! September and December monthlies.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::calendar::{is_trading_day, trading_day_on_or_before};
use super::session::{expiry_close_unix_ns, trading_day};
use super::Exchange;

/// Which expiry series a product lists (configuration token in snake case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryRule {
    /// Monthly expiries only (NSE stock options; NSE indices other than NIFTY
    /// since their weeklies ended in November 2024).
    Monthly,
    /// Weekly expiries plus the monthly ones (NIFTY; US equity options).
    Weekly,
    /// An expiry every trading day plus the weekly and monthly ones (Deribit).
    Daily,
}

/// Whether an expiry is a daily, a weekly or a monthly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryKind {
    /// A daily expiry that is neither the week's nor the month's.
    Daily,
    /// A weekly expiry that is not the month's monthly one.
    Weekly,
    /// The monthly expiry (NSE: last Thursday, from 2025-09 last Tuesday;
    /// US: third Friday; crypto: last Friday).
    Monthly,
}

/// A product's expiry calendar: its exchange and its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExpirySchedule {
    /// Exchange whose calendar, weekdays and expiry time apply.
    pub exchange: Exchange,
    /// Which series are listed.
    pub rule: ExpiryRule,
}

impl ExpirySchedule {
    /// The schedule of `rule` on `exchange`.
    #[must_use]
    pub const fn new(exchange: Exchange, rule: ExpiryRule) -> Self {
        Self { exchange, rule }
    }

    /// The schedule of a product that names no rule ([`Exchange::default_expiry_rule`]).
    #[must_use]
    pub const fn standard(exchange: Exchange) -> Self {
        Self::new(exchange, exchange.default_expiry_rule())
    }

    /// The nominal (unadjusted) monthly expiry of a month.
    fn nominal_monthly(self, year: i32, month: u32) -> Option<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let weekday = self.exchange.expiry_weekday(first);
        match self.exchange {
            Exchange::Us => NaiveDate::from_weekday_of_month_opt(year, month, weekday, 3),
            // The last such weekday: the 5th if the month has one, else the 4th.
            Exchange::Nse | Exchange::Crypto => {
                NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
                    .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, 4))
            }
        }
    }

    /// The holiday-adjusted monthly expiry of a month.
    fn monthly(self, year: i32, month: u32) -> Option<NaiveDate> {
        self.nominal_monthly(year, month)
            .and_then(|d| trading_day_on_or_before(d, self.exchange))
    }

    /// The holiday-adjusted weekly expiry of the (Monday-based) week starting `monday`.
    fn weekly(self, monday: NaiveDate) -> Option<NaiveDate> {
        let weekday = self.exchange.expiry_weekday(monday);
        let nominal =
            monday.checked_add_days(Days::new(u64::from(weekday.num_days_from_monday())))?;
        trading_day_on_or_before(nominal, self.exchange)
    }

    /// Classifies `date`, or `None` if nothing of this schedule expires then.
    #[must_use]
    pub fn kind(self, date: NaiveDate) -> Option<ExpiryKind> {
        if self.monthly(date.year(), date.month()) == Some(date) {
            return Some(ExpiryKind::Monthly);
        }
        if matches!(self.rule, ExpiryRule::Weekly | ExpiryRule::Daily) {
            // A holiday can push a week's expiry back into the previous week,
            // so the following week's expiry may fall on `date` too.
            let monday = date.week(Weekday::Mon).first_day();
            let weeks = [Some(monday), monday.checked_add_days(Days::new(7))];
            if weeks
                .into_iter()
                .flatten()
                .any(|m| self.weekly(m) == Some(date))
            {
                return Some(ExpiryKind::Weekly);
            }
        }
        (self.rule == ExpiryRule::Daily && is_trading_day(date, self.exchange))
            .then_some(ExpiryKind::Daily)
    }

    /// The next `n` expiry dates on or after `from_date`, ascending.
    ///
    /// `from_date` itself is included when it is an expiry; use
    /// [`ExpirySchedule::next_at`] to exclude an expiry whose close has passed.
    #[must_use]
    pub fn next(self, from_date: NaiveDate, n: usize) -> Vec<NaiveDate> {
        from_date
            .iter_days()
            .filter(|&date| self.kind(date).is_some())
            .take(n)
            .collect()
    }

    /// The next `n` expiries still alive at event time `ts_unix_ns`: like
    /// [`ExpirySchedule::next`] from the event's trading day, skipping an expiry
    /// whose close is at or before the event.
    #[must_use]
    pub fn next_at(self, ts_unix_ns: i64, n: usize) -> Vec<NaiveDate> {
        let today = trading_day(ts_unix_ns, self.exchange);
        let mut out = self.next(today, n.saturating_add(1));
        out.retain(|&d| expiry_close_unix_ns(d, self.exchange) > ts_unix_ns);
        out.truncate(n);
        out
    }

    /// The expiries listed at `ts_unix_ns` the way an exchange lists them: the
    /// next `per_kind` alive expiries of each kind the rule has (e.g. Deribit:
    /// a few dailies, weeklies and monthlies; NSE: the next weeklies and
    /// monthlies), merged, ascending and distinct.
    #[must_use]
    pub fn listed_at(self, ts_unix_ns: i64, per_kind: usize) -> Vec<NaiveDate> {
        let today = trading_day(ts_unix_ns, self.exchange);
        let kinds: &[ExpiryKind] = match self.rule {
            ExpiryRule::Monthly => &[ExpiryKind::Monthly],
            ExpiryRule::Weekly => &[ExpiryKind::Weekly, ExpiryKind::Monthly],
            ExpiryRule::Daily => &[ExpiryKind::Daily, ExpiryKind::Weekly, ExpiryKind::Monthly],
        };
        let mut counts = [0_usize; 3];
        let mut out = Vec::new();
        // Bounded: `per_kind` monthlies lie within `per_kind` + 1 months.
        let horizon = today.checked_add_days(Days::new(31 * (per_kind as u64 + 1)));
        for date in today.iter_days() {
            if !(kinds.iter().any(|k| counts[*k as usize] < per_kind) && Some(date) <= horizon) {
                break;
            }
            if expiry_close_unix_ns(date, self.exchange) > ts_unix_ns {
                if let Some(kind) = self.kind(date) {
                    // A date counts for its own kind and for the finer ones
                    // (a monthly is also that week's weekly and that day's daily).
                    let mut listed = false;
                    for k in kinds.iter().filter(|k| **k <= kind) {
                        if counts[*k as usize] < per_kind {
                            counts[*k as usize] += 1;
                            listed = true;
                        }
                    }
                    if listed {
                        out.push(date);
                    }
                }
            }
        }
        out
    }
}

/// Classifies `date` as an expiry of `exchange`'s standard schedule
/// ([`ExpirySchedule::standard`]), or `None` if nothing expires then.
#[must_use]
pub fn expiry_kind(exchange: Exchange, date: NaiveDate) -> Option<ExpiryKind> {
    ExpirySchedule::standard(exchange).kind(date)
}

/// The next `n` expiry dates of `exchange`'s standard schedule on or after
/// `from_date`, ascending (see [`ExpirySchedule::next`]). A product with its own
/// rule uses [`super::ProductSpec::expiry_schedule`].
#[must_use]
pub fn next_expiries(exchange: Exchange, from_date: NaiveDate, n: usize) -> Vec<NaiveDate> {
    ExpirySchedule::standard(exchange).next(from_date, n)
}

/// The next `n` expiries of `exchange`'s standard schedule still alive at
/// `ts_unix_ns` (see [`ExpirySchedule::next_at`]).
#[must_use]
pub fn next_expiries_at(exchange: Exchange, ts_unix_ns: i64, n: usize) -> Vec<NaiveDate> {
    ExpirySchedule::standard(exchange).next_at(ts_unix_ns, n)
}
