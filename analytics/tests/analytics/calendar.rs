//! Holiday calendars, sessions on every exchange, market status and expiry rules.

use crate::{date, utc_ns};
use chrono::DateTime;
use ds_analytics::market::{
    calendar_covers, expiry_close_unix_ns, expiry_kind, is_holiday, is_in_session, is_trading_day,
    market_status, nearest_trading_days, next_expiries, session_bounds, time_to_expiry_years,
    trading_day, Exchange, ExpiryKind, ExpiryRule, ExpirySchedule, MarketStatus, NANOS_PER_YEAR,
};
use proptest::prelude::*;

const NSE: Exchange = Exchange::Nse;
const US: Exchange = Exchange::Us;
const CRYPTO: Exchange = Exchange::Crypto;

#[test]
fn trading_day_table() {
    // (date, exchange, trading?, why)
    let cases = [
        (date(2025, 2, 26), NSE, false, "Mahashivratri"),
        (date(2025, 2, 27), NSE, true, "the day after"),
        (
            date(2025, 1, 26),
            NSE,
            false,
            "Republic Day 2025 is a Sunday",
        ),
        (date(2025, 1, 27), NSE, true, "Monday after"),
        (date(2024, 1, 22), NSE, false, "special holiday 2024"),
        (date(2024, 5, 20), NSE, false, "Mumbai election day"),
        (date(2025, 10, 21), NSE, false, "Diwali Laxmi Pujan"),
        (date(2025, 10, 22), NSE, false, "Diwali Balipratipada"),
        (
            date(2026, 1, 15),
            NSE,
            false,
            "Maharashtra municipal elections",
        ),
        (date(2026, 3, 3), NSE, false, "Holi 2026"),
        (date(2025, 4, 18), NSE, false, "Good Friday on NSE too"),
        (date(2025, 12, 24), NSE, true, "Christmas Eve trades"),
        // A year NSE has not published: weekends only (documented decision).
        (date(2027, 1, 26), NSE, true, "uncovered year"),
        (date(2027, 1, 30), NSE, false, "uncovered year, Saturday"),
        (date(2025, 4, 18), US, false, "Good Friday"),
        (date(2025, 4, 17), US, true, "Maundy Thursday trades"),
        (date(2025, 11, 27), US, false, "Thanksgiving"),
        (
            date(2025, 11, 28),
            US,
            true,
            "Black Friday trades (early close not modelled)",
        ),
        (date(2025, 6, 19), US, false, "Juneteenth"),
        (
            date(2027, 6, 18),
            US,
            false,
            "Juneteenth 2027 (Saturday) observed Friday",
        ),
        (
            date(2022, 6, 20),
            US,
            false,
            "Juneteenth 2022 (Sunday) observed Monday",
        ),
        (
            date(2026, 7, 3),
            US,
            false,
            "Independence Day 2026 (Saturday) observed Friday",
        ),
        (date(2025, 1, 9), US, false, "national day of mourning"),
        (date(2025, 1, 20), US, false, "MLK day"),
        (date(2025, 12, 25), US, false, "Christmas"),
        (
            date(2027, 12, 31),
            US,
            true,
            "New Year 2028 (Saturday) not observed",
        ),
        (date(2025, 1, 26), CRYPTO, true, "Sunday"),
        (date(2025, 12, 25), CRYPTO, true, "Christmas"),
    ];
    for (d, ex, want, why) in cases {
        assert_eq!(is_trading_day(d, ex), want, "{d} {ex}: {why}");
    }
    assert!(is_holiday(NSE, date(2025, 2, 26)));
    assert!(!is_holiday(NSE, date(2025, 1, 26)));
    assert!(!calendar_covers(NSE, 2027) && calendar_covers(NSE, 2025));
}

#[test]
fn nearest_trading_days_table() {
    let cases = [
        (date(2025, 1, 26), NSE, date(2025, 1, 24), date(2025, 1, 27)),
        (date(2025, 2, 26), NSE, date(2025, 2, 25), date(2025, 2, 27)),
        (
            date(2025, 10, 21),
            NSE,
            date(2025, 10, 20),
            date(2025, 10, 23),
        ),
        // A trading day's neighbours are the adjacent trading days.
        (date(2025, 1, 15), NSE, date(2025, 1, 14), date(2025, 1, 16)),
        (date(2025, 4, 18), US, date(2025, 4, 17), date(2025, 4, 21)),
        (
            date(2025, 11, 27),
            US,
            date(2025, 11, 26),
            date(2025, 11, 28),
        ),
        (
            date(2025, 1, 26),
            CRYPTO,
            date(2025, 1, 25),
            date(2025, 1, 27),
        ),
    ];
    for (d, ex, prev, next) in cases {
        assert_eq!(
            nearest_trading_days(d, ex),
            (Some(prev), Some(next)),
            "{d} {ex}"
        );
    }
}

#[test]
fn sessions_on_holidays_and_around_the_clock() {
    // NSE on Mahashivratri: bounds exist, but nothing is in session.
    let (open, close) = session_bounds(date(2025, 2, 26), NSE);
    assert!(!is_in_session(open, NSE) && !is_in_session((open + close) / 2, NSE));
    // Crypto: the whole UTC day, both ends included.
    assert_eq!(
        session_bounds(date(2025, 1, 26), CRYPTO),
        (
            utc_ns(2025, 1, 26, 0, 0, 0),
            utc_ns(2025, 1, 27, 0, 0, 0) - 1
        )
    );
    let midnight = utc_ns(2025, 1, 27, 0, 0, 0);
    assert_eq!(trading_day(midnight - 1, CRYPTO), date(2025, 1, 26));
    assert_eq!(trading_day(midnight, CRYPTO), date(2025, 1, 27));
    // Every minute of a week (weekend included) is in session.
    let start = utc_ns(2025, 1, 24, 0, 0, 0);
    assert!((0..7 * 24 * 60).all(|m| is_in_session(start + m * 60_000_000_000, CRYPTO)));
}

#[test]
fn crypto_expiry_at_08_utc() {
    let hour = 3600e9 / NANOS_PER_YEAR;
    assert_eq!(
        expiry_close_unix_ns(date(2025, 1, 31), CRYPTO),
        utc_ns(2025, 1, 31, 8, 0, 0)
    );
    let t = time_to_expiry_years(date(2025, 1, 31), CRYPTO, utc_ns(2025, 1, 31, 7, 0, 0));
    assert!((t - hour).abs() < 1e-15);
}

#[test]
fn market_status_table() {
    let session = |d| session_bounds(d, NSE);
    let closed = |(open, close): (i64, i64)| MarketStatus {
        open: false,
        next_open_unix_ns: Some(open),
        next_close_unix_ns: Some(close),
    };
    // Open mid-session: closes at today's close.
    let (_, close) = session(date(2025, 1, 15));
    assert_eq!(
        market_status(NSE, utc_ns(2025, 1, 15, 4, 30, 0)),
        MarketStatus {
            open: true,
            next_open_unix_ns: None,
            next_close_unix_ns: Some(close),
        }
    );
    // 00:14 IST on Thursday 16th (the example): opens at 09:15 that day.
    assert_eq!(
        market_status(NSE, utc_ns(2025, 1, 15, 18, 44, 0)),
        closed(session(date(2025, 1, 16)))
    );
    // Friday after the close: Monday.
    assert_eq!(
        market_status(NSE, utc_ns(2025, 1, 24, 10, 30, 0)),
        closed(session(date(2025, 1, 27)))
    );
    // Tuesday after the close, Wednesday a holiday: Thursday.
    assert_eq!(
        market_status(NSE, utc_ns(2025, 2, 25, 12, 0, 0)),
        closed(session(date(2025, 2, 27)))
    );
    // On Thanksgiving: Friday's session.
    assert_eq!(
        market_status(US, utc_ns(2025, 11, 27, 17, 0, 0)),
        closed(session_bounds(date(2025, 11, 28), US))
    );
    assert_eq!(
        market_status(CRYPTO, utc_ns(2025, 1, 26, 3, 0, 0)),
        MarketStatus {
            open: true,
            next_open_unix_ns: None,
            next_close_unix_ns: None,
        }
    );
}

#[test]
fn expiry_rules_table() {
    let nifty = ExpirySchedule::new(NSE, ExpiryRule::Weekly);
    let stock = ExpirySchedule::new(NSE, ExpiryRule::Monthly);
    let us = ExpirySchedule::new(US, ExpiryRule::Weekly);
    let btc = ExpirySchedule::new(CRYPTO, ExpiryRule::Daily);
    // (schedule, from, expected next dates)
    let cases = [
        // NIFTY weekly: Thursday until August 2025, Tuesday from 2025-09-01.
        (
            nifty,
            date(2025, 8, 20),
            vec![
                date(2025, 8, 21),
                date(2025, 8, 28),
                date(2025, 9, 2),
                date(2025, 9, 9),
            ],
        ),
        // A Thursday holiday moves the weekly back: Mahavir Jayanti 2025-04-10.
        (
            nifty,
            date(2025, 4, 7),
            vec![date(2025, 4, 9), date(2025, 4, 17)],
        ),
        // A Tuesday holiday after the change: Holi 2026-03-03 → Monday.
        (
            nifty,
            date(2026, 2, 26),
            vec![date(2026, 3, 2), date(2026, 3, 10)],
        ),
        // The March 2026 monthly (last Tuesday, 31st, Mahavir Jayanti) → Monday 30th.
        (stock, date(2026, 3, 1), vec![date(2026, 3, 30)]),
        // Stock monthlies of 2025: last Thursday, then last Tuesday from September.
        (
            stock,
            date(2025, 7, 1),
            vec![
                date(2025, 7, 31),
                date(2025, 8, 28),
                date(2025, 9, 30),
                date(2025, 10, 28),
                date(2025, 11, 25),
                date(2025, 12, 30),
            ],
        ),
        // Good Friday 2025: weekly and monthly (third Friday) both on Thursday.
        (
            us,
            date(2025, 4, 14),
            vec![date(2025, 4, 17), date(2025, 4, 25)],
        ),
        // Crypto: every day, weekend included.
        (
            btc,
            date(2025, 1, 24),
            (24..=31).map(|d| date(2025, 1, d)).collect(),
        ),
    ];
    for (i, (schedule, from, want)) in cases.into_iter().enumerate() {
        assert_eq!(schedule.next(from, want.len()), want, "case {i}");
    }
    // Kinds.
    let kinds = [
        (nifty, date(2025, 8, 28), Some(ExpiryKind::Monthly)),
        (nifty, date(2025, 9, 30), Some(ExpiryKind::Monthly)),
        (nifty, date(2025, 9, 23), Some(ExpiryKind::Weekly)),
        (nifty, date(2025, 9, 25), None),
        (stock, date(2025, 9, 23), None),
        (us, date(2025, 4, 17), Some(ExpiryKind::Monthly)),
        (us, date(2025, 4, 18), None),
        (btc, date(2025, 1, 31), Some(ExpiryKind::Monthly)),
        (btc, date(2025, 3, 28), Some(ExpiryKind::Monthly)), // quarterly
        (btc, date(2025, 1, 24), Some(ExpiryKind::Weekly)),
        (btc, date(2025, 1, 26), Some(ExpiryKind::Daily)),
    ];
    for (schedule, d, want) in kinds {
        assert_eq!(schedule.kind(d), want, "{d} {:?}", schedule.rule);
    }
    // The old per-exchange functions are the exchange's standard schedule.
    assert_eq!(
        expiry_kind(CRYPTO, date(2025, 1, 26)),
        Some(ExpiryKind::Daily)
    );
    assert_eq!(
        next_expiries(NSE, date(2025, 8, 29), 1),
        vec![date(2025, 9, 2)]
    );
}

#[test]
fn crypto_expiries_alive_and_listed() {
    let btc = ExpirySchedule::standard(CRYPTO);
    let at_8 = utc_ns(2025, 1, 27, 8, 0, 0);
    assert_eq!(btc.next_at(at_8 - 1, 1), vec![date(2025, 1, 27)]);
    assert_eq!(btc.next_at(at_8, 1), vec![date(2025, 1, 28)]);
    // Deribit-style listing: 3 dailies, 3 weeklies, 3 monthlies (the monthly is
    // also a weekly; quarterlies are monthlies).
    assert_eq!(
        btc.listed_at(utc_ns(2025, 1, 26, 9, 0, 0), 3),
        vec![
            date(2025, 1, 27),
            date(2025, 1, 28),
            date(2025, 1, 29),
            date(2025, 1, 31),
            date(2025, 2, 7),
            date(2025, 2, 14),
            date(2025, 2, 28),
            date(2025, 3, 28),
        ]
    );
    let nifty = ExpirySchedule::standard(NSE);
    assert_eq!(
        nifty.listed_at(utc_ns(2025, 1, 15, 3, 45, 0), 2),
        vec![
            date(2025, 1, 16),
            date(2025, 1, 23),
            date(2025, 1, 30),
            date(2025, 2, 27)
        ]
    );
}

fn arb_ts() -> impl Strategy<Value = i64> {
    // 2024-01-01 .. 2027-01-01.
    utc_ns(2024, 1, 1, 0, 0, 0)..utc_ns(2027, 1, 1, 0, 0, 0)
}

fn arb_exchange() -> impl Strategy<Value = Exchange> {
    prop::sample::select(Exchange::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The status agrees with `is_in_session`; a closed market's next open is a
    /// session's first instant after now, and its next close that session's last.
    #[test]
    fn status_agrees_with_sessions(ts in arb_ts(), ex in arb_exchange()) {
        let s = market_status(ex, ts);
        prop_assert_eq!(s.open, is_in_session(ts, ex));
        if ex.is_always_open() {
            prop_assert_eq!((s.next_open_unix_ns, s.next_close_unix_ns), (None, None));
        } else if s.open {
            let close = s.next_close_unix_ns.unwrap();
            prop_assert!(close >= ts && is_in_session(close, ex) && !is_in_session(close + 1, ex));
            prop_assert!(s.next_open_unix_ns.is_none());
        } else {
            let (open, close) = (s.next_open_unix_ns.unwrap(), s.next_close_unix_ns.unwrap());
            prop_assert!(open > ts && open < close);
            prop_assert!(is_in_session(open, ex) && !is_in_session(open - 1, ex));
            prop_assert!(is_in_session(close, ex) && !is_in_session(close + 1, ex));
            // No trading day lies strictly between now's day and the next open's.
            let (from, to) = (trading_day(ts, ex), trading_day(open, ex));
            let mut d = from.succ_opt().unwrap();
            while d < to {
                prop_assert!(!is_trading_day(d, ex), "{} skipped", d);
                d = d.succ_opt().unwrap();
            }
        }
    }

    /// On the 24/7 exchange every instant is in session and the trading day is the UTC date.
    #[test]
    fn crypto_is_always_in_session(ts in arb_ts()) {
        prop_assert!(is_in_session(ts, CRYPTO));
        prop_assert_eq!(
            trading_day(ts, CRYPTO),
            DateTime::from_timestamp_nanos(ts).date_naive()
        );
    }

    /// Every expiry is a trading day, alive expiries close after the event, and
    /// an expiry falls on the exchange's weekday unless a holiday moved it back.
    #[test]
    fn expiries_fall_on_trading_days(
        ts in arb_ts(),
        ex in arb_exchange(),
        rule in prop::sample::select(vec![ExpiryRule::Monthly, ExpiryRule::Weekly, ExpiryRule::Daily]),
    ) {
        let schedule = ExpirySchedule::new(ex, rule);
        let next = schedule.next_at(ts, 6);
        prop_assert_eq!(next.len(), 6);
        prop_assert!(next.windows(2).all(|w| w[0] < w[1]));
        for d in next {
            prop_assert!(is_trading_day(d, ex), "{} {}", d, ex);
            prop_assert!(expiry_close_unix_ns(d, ex) > ts);
            let kind = schedule.kind(d);
            prop_assert!(kind.is_some());
            if kind != Some(ExpiryKind::Daily) {
                let weekday = ex.expiry_weekday(d);
                let moved = chrono::Datelike::weekday(&d) != weekday;
                if moved {
                    // The nominal day (1..=4 days later, same week) is a holiday.
                    let mut n = d.succ_opt().unwrap();
                    while chrono::Datelike::weekday(&n) != weekday {
                        n = n.succ_opt().unwrap();
                    }
                    prop_assert!(!is_trading_day(n, ex), "{} moved from a trading day {}", d, n);
                }
            }
        }
    }
}
