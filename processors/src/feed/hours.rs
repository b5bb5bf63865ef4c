//! Exchange hours for the feed. Live, a product is published only while its
//! exchange is in session (weekends and holidays have none), as a real exchange
//! sends nothing when it is closed; a historical day must be a trading day of
//! the products generated.

use chrono::{Datelike, NaiveDate};
use ds_analytics::market::{
    is_holiday, is_trading_day, nearest_trading_days, nse_holiday_reasons, Exchange, MarketStatus,
    ProductSpec,
};
use std::collections::BTreeMap;

/// When the live feed publishes a product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Hours {
    /// Only while its exchange is in session.
    #[default]
    Exchange,
    /// At any hour (tests and demos that need data whatever the time).
    Always,
}

impl Hours {
    /// Whether `spec` is published at `ts_unix_ns`.
    pub fn publishes(self, spec: &ProductSpec, ts_unix_ns: i64) -> bool {
        match self {
            Hours::Always => true,
            Hours::Exchange => spec.market_status(ts_unix_ns).open,
        }
    }
}

/// Remembers which exchanges are open, to say once when one opens or closes.
#[derive(Debug, Default)]
pub struct SessionLog {
    open: BTreeMap<&'static str, bool>,
}

impl SessionLog {
    /// Notes `exchange`'s status; logs a line when it changed (and the first time).
    pub fn observe(&mut self, exchange: Exchange, status: &MarketStatus, products: usize) {
        if self.open.insert(exchange.as_str(), status.open) == Some(status.open) {
            return;
        }
        if status.open {
            tracing::info!(
                exchange = exchange.as_str(),
                products,
                "market open: publishing"
            );
        } else {
            let next_open = status
                .next_open_unix_ns
                .map(|ns| chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339());
            tracing::info!(
                exchange = exchange.as_str(),
                products,
                next_open = next_open.as_deref().unwrap_or("unknown"),
                "market closed: publishing nothing for its products"
            );
        }
    }
}

/// A historical date on which none of the products trades.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{date} is not a trading day ({why}); the nearest trading days are {}", nearest(.before, .after))]
pub struct ClosedDay {
    /// The date asked for.
    pub date: NaiveDate,
    /// Why, per exchange (e.g. `Sunday on NSE and US`).
    pub why: String,
    /// The last trading day before it of any of the exchanges.
    pub before: Option<NaiveDate>,
    /// The first trading day after it of any of the exchanges.
    pub after: Option<NaiveDate>,
}

fn nearest(before: &Option<NaiveDate>, after: &Option<NaiveDate>) -> String {
    let day = |d: &NaiveDate| format!("{d} ({})", d.format("%A"));
    match (before, after) {
        (Some(b), Some(a)) => format!("{} and {}", day(b), day(a)),
        (Some(d), None) | (None, Some(d)) => day(d),
        (None, None) => "none within a year".into(),
    }
}

/// Why `exchange` has no session on `date` (`None` when it has one).
pub fn closure_reason(date: NaiveDate, exchange: Exchange) -> Option<String> {
    if is_trading_day(date, exchange) {
        return None;
    }
    if date.weekday().number_from_monday() >= 6 {
        return Some(date.format("%A").to_string());
    }
    if exchange == Exchange::Nse && is_holiday(exchange, date) {
        let reason = nse_holiday_reasons()
            .into_iter()
            .find(|(d, _)| *d == date)
            .map(|(_, why)| why);
        return Some(match reason {
            Some(why) => format!("NSE holiday: {why}"),
            None => "NSE holiday".into(),
        });
    }
    Some(format!("{exchange} market holiday"))
}

/// The products a run generates, and the exchanges left out with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Trading {
    /// The products that trade (all of them live).
    pub products: Vec<ProductSpec>,
    /// Exchanges with no session that day, and why (their products are left out).
    pub closed: Vec<(Exchange, String)>,
}

/// The products of `products` that trade on `date`, and the exchanges that do
/// not with why (their products are left out of the day).
///
/// # Errors
/// [`ClosedDay`], naming the nearest trading days, when none of them trades.
pub fn trading_on(products: &[ProductSpec], date: NaiveDate) -> Result<Trading, ClosedDay> {
    let mut exchanges: Vec<Exchange> = products.iter().map(|p| p.exchange).collect();
    exchanges.sort_by_key(|e| e.as_str());
    exchanges.dedup();
    let closed: Vec<(Exchange, String)> = exchanges
        .iter()
        .filter_map(|e| closure_reason(date, *e).map(|why| (*e, why)))
        .collect();
    let open: Vec<ProductSpec> = products
        .iter()
        .filter(|p| is_trading_day(date, p.exchange))
        .cloned()
        .collect();
    if !open.is_empty() {
        return Ok(Trading {
            products: open,
            closed,
        });
    }
    let around: Vec<_> = exchanges
        .iter()
        .map(|e| nearest_trading_days(date, *e))
        .collect();
    Err(ClosedDay {
        date,
        why: group_reasons(&closed),
        before: around.iter().filter_map(|a| a.0).max(),
        after: around.iter().filter_map(|a| a.1).min(),
    })
}

/// `Sunday on NSE and US`, or `NSE holiday: X; Sunday on US`.
fn group_reasons(closed: &[(Exchange, String)]) -> String {
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for (e, why) in closed {
        match by_reason.iter_mut().find(|(w, _)| *w == why.as_str()) {
            Some((_, es)) => es.push(e.as_str()),
            None => by_reason.push((why.as_str(), vec![e.as_str()])),
        }
    }
    by_reason
        .into_iter()
        .map(|(why, es)| {
            if why.starts_with(es[0]) && es.len() == 1 {
                why.to_owned()
            } else {
                format!("{why} on {}", es.join(" and "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_analytics::market::{default_products, Universe};

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn a_weekend_or_holiday_names_the_nearest_trading_days() {
        let products = default_products();
        let e = trading_on(&products, date("2025-01-26")).expect_err("a Sunday");
        assert_eq!(
            e.to_string(),
            "2025-01-26 is not a trading day (Sunday on NSE and US); the nearest trading days are 2025-01-24 (Friday) and 2025-01-27 (Monday)"
        );
        let nifty = &products[..1];
        let e = trading_on(nifty, date("2025-02-26")).expect_err("Mahashivratri");
        assert_eq!(
            e.to_string(),
            "2025-02-26 is not a trading day (NSE holiday: Mahashivratri); the nearest trading days are 2025-02-25 (Tuesday) and 2025-02-27 (Thursday)"
        );
        let e = trading_on(&products[2..], date("2025-07-04")).expect_err("Independence Day");
        assert!(e.to_string().contains("(US market holiday)"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn a_day_one_exchange_trades_keeps_its_products_only() {
        let products = default_products();
        let Trading {
            products: open,
            closed,
        } = trading_on(&products, date("2025-02-26")).expect("US trades");
        let names: Vec<&str> = open.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["AAPL", "TSLA"]);
        assert_eq!(
            closed,
            vec![(Exchange::Nse, "NSE holiday: Mahashivratri".to_owned())]
        );
        let demo = Universe::demo().expect("demo");
        let open = trading_on(demo.products(), date("2025-01-26")).expect("BTC trades");
        assert_eq!(open.products.len(), 1);
    }

    #[test]
    fn live_hours_follow_the_exchange() {
        let demo = Universe::demo().expect("demo");
        let sunday = 1_737_880_200_000_000_000; // 2025-01-26 08:30 UTC, 14:00 IST
        let monday = sunday + 86_400 * 1_000_000_000;
        let published = |hours: Hours, ts: i64| -> Vec<&str> {
            demo.products()
                .iter()
                .filter(|p| hours.publishes(p, ts))
                .map(|p| p.name.as_str())
                .collect()
        };
        assert_eq!(published(Hours::Exchange, sunday), ["BTC"]);
        assert_eq!(
            published(Hours::Exchange, monday),
            ["NIFTY", "BANKNIFTY", "BTC"]
        );
        assert_eq!(published(Hours::Always, sunday).len(), 5);
    }
}
