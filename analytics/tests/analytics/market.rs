//! Exchanges, sessions, time to expiry, expiry calendar and product config.

use crate::{date, utc_ns};
use ds_analytics::market::{expiry_kind, next_expiries_at, ExpiryKind, NANOS_PER_YEAR};
use ds_analytics::{
    default_products, is_in_session, is_trading_day, next_expiries, session_bounds,
    time_to_expiry_years, trading_day, Exchange, ProductSpec,
};

#[test]
fn time_to_expiry_table() {
    let hour = 3600e9 / NANOS_PER_YEAR;
    // (expiry, exchange, event time, expected years)
    let cases = [
        // NSE: 15:30 IST = 10:00 UTC; event 09:15 IST = 03:45 UTC.
        (
            date(2025, 1, 30),
            Exchange::Nse,
            utc_ns(2025, 1, 30, 3, 45, 0),
            6.25 * hour,
        ),
        // US winter: 16:00 EST = 21:00 UTC.
        (
            date(2025, 1, 17),
            Exchange::Us,
            utc_ns(2025, 1, 17, 20, 0, 0),
            hour,
        ),
        // US summer: 16:00 EDT = 20:00 UTC.
        (
            date(2025, 7, 18),
            Exchange::Us,
            utc_ns(2025, 7, 18, 19, 0, 0),
            hour,
        ),
        // Exactly at the close: zero; after it: negative.
        (
            date(2025, 1, 30),
            Exchange::Nse,
            utc_ns(2025, 1, 30, 10, 0, 0),
            0.0,
        ),
        (
            date(2025, 1, 30),
            Exchange::Nse,
            utc_ns(2025, 1, 30, 11, 0, 0),
            -hour,
        ),
        // One 365-day year before.
        (
            date(2026, 1, 30),
            Exchange::Nse,
            utc_ns(2025, 1, 30, 10, 0, 0),
            1.0,
        ),
    ];
    for (i, (expiry, ex, ts, want)) in cases.into_iter().enumerate() {
        let got = time_to_expiry_years(expiry, ex, ts);
        assert!((got - want).abs() < 1e-15, "case {i}: {got} vs {want}");
    }
}

#[test]
fn trading_day_and_session() {
    // 20:00 UTC on the 15th is 01:30 IST on the 16th but 15:00 in New York on the 15th.
    let ts = utc_ns(2025, 1, 15, 20, 0, 0);
    assert_eq!(trading_day(ts, Exchange::Nse), date(2025, 1, 16));
    assert_eq!(trading_day(ts, Exchange::Us), date(2025, 1, 15));
    assert_eq!(
        session_bounds(date(2025, 1, 15), Exchange::Nse),
        (utc_ns(2025, 1, 15, 3, 45, 0), utc_ns(2025, 1, 15, 10, 0, 0))
    );
    assert_eq!(
        session_bounds(date(2025, 7, 15), Exchange::Us),
        (
            utc_ns(2025, 7, 15, 13, 30, 0),
            utc_ns(2025, 7, 15, 20, 0, 0)
        )
    );
    let (open, close) = session_bounds(date(2025, 1, 15), Exchange::Nse);
    assert!(is_in_session(open, Exchange::Nse));
    assert!(is_in_session(close, Exchange::Nse));
    assert!(!is_in_session(open - 1, Exchange::Nse));
    assert!(!is_in_session(close + 1, Exchange::Nse));
    // Saturday.
    let (sat_open, _) = session_bounds(date(2025, 1, 18), Exchange::Nse);
    assert!(!is_in_session(sat_open + 1, Exchange::Nse));
    assert!(!is_trading_day(date(2025, 1, 19), Exchange::Us));
    assert!(is_trading_day(date(2025, 1, 17), Exchange::Us));
}

#[test]
fn expiry_calendar() {
    let nse = next_expiries(Exchange::Nse, date(2025, 1, 15), 4);
    assert_eq!(
        nse,
        vec![
            date(2025, 1, 16),
            date(2025, 1, 23),
            date(2025, 1, 30),
            date(2025, 2, 6)
        ]
    );
    let us = next_expiries(Exchange::Us, date(2025, 1, 15), 3);
    assert_eq!(
        us,
        vec![date(2025, 1, 17), date(2025, 1, 24), date(2025, 1, 31)]
    );
    let (monthly, weekly) = (Some(ExpiryKind::Monthly), Some(ExpiryKind::Weekly));
    let kinds = [
        (Exchange::Nse, date(2025, 1, 30), monthly),
        (Exchange::Nse, date(2025, 1, 23), weekly),
        (Exchange::Nse, date(2025, 1, 24), None),
        // Last Thursday when the month has five: 2025-05-29.
        (Exchange::Nse, date(2025, 5, 29), monthly),
        (Exchange::Nse, date(2025, 5, 22), weekly),
        (Exchange::Us, date(2025, 1, 17), monthly),
        (Exchange::Us, date(2025, 1, 24), weekly),
    ];
    for (exchange, day, kind) in kinds {
        assert_eq!(expiry_kind(exchange, day), kind, "{exchange:?} {day}");
    }
    // From an expiry day itself: included by date, excluded once its close has passed.
    assert_eq!(
        next_expiries(Exchange::Us, date(2025, 1, 17), 1),
        vec![date(2025, 1, 17)]
    );
    let after_close = utc_ns(2025, 1, 17, 21, 0, 0);
    assert_eq!(
        next_expiries_at(Exchange::Us, after_close, 1),
        vec![date(2025, 1, 24)]
    );
    assert_eq!(
        next_expiries_at(Exchange::Us, after_close - 1, 1),
        vec![date(2025, 1, 17)]
    );
    assert!(next_expiries(Exchange::Nse, date(2025, 1, 15), 0).is_empty());
}

#[test]
fn products_from_config() {
    let defaults = default_products();
    let names: Vec<&str> = defaults.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["NIFTY", "BANKNIFTY", "AAPL", "TSLA"]);
    assert!(defaults.iter().all(|p| p.validate().is_ok()));
    let nifty = &defaults[0];
    assert_eq!(
        (nifty.spot, nifty.strike_step, nifty.exchange, nifty.rate),
        (21_500.0, 50.0, Exchange::Nse, 0.065)
    );
    assert_eq!(defaults[2].rate, 0.045);

    // Round trip, defaults for rate and dividend yield, unknown fields rejected.
    let json = serde_json::to_string(&defaults).unwrap();
    let back: Vec<ProductSpec> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, defaults);
    let minimal = r#"{"name":"MSFT","exchange":"US","spot":400,"strike_step":5,"annual_vol":0.22}"#;
    let msft: ProductSpec = serde_json::from_str(minimal).unwrap();
    assert_eq!((msft.rate, msft.dividend_yield), (0.045, 0.0));
    let unknown = r#"{"name":"MSFT","exchange":"US","spot":400,"strike_step":5,"annual_vol":0.22,"colour":1}"#;
    assert!(serde_json::from_str::<ProductSpec>(unknown).is_err());
    let bad_name =
        r#"{"name":"msft","exchange":"US","spot":400,"strike_step":5,"annual_vol":0.22}"#;
    assert!(serde_json::from_str::<ProductSpec>(bad_name).is_err());
    let bad_exchange =
        r#"{"name":"X","exchange":"LSE","spot":400,"strike_step":5,"annual_vol":0.22}"#;
    assert!(serde_json::from_str::<ProductSpec>(bad_exchange).is_err());
    assert!(ProductSpec::new("X", Exchange::Us, -1.0, 1.0, 0.2).is_err());
    assert_eq!(nifty.nearest_strike(21_524.0), 21_500.0);
    assert_eq!(nifty.nearest_strike(21_525.0), 21_500.0);
    assert_eq!(nifty.nearest_strike(21_526.0), 21_550.0);
    assert_eq!("NSE".parse::<Exchange>().unwrap(), Exchange::Nse);
}
