//! Bars, indicators and session statistics.

use std::collections::HashSet;

use ds_analytics::bars::IndicatorSet;
use ds_analytics::market::session_bounds;
use ds_analytics::{
    trading_day, AnalyticsError, Bar, BarAggregator, ClosedBar, Exchange, Interval, SessionStats,
    Tick,
};
use proptest::prelude::*;
use ta::indicators::{
    ExponentialMovingAverage, MovingAverageConvergenceDivergence, SimpleMovingAverage,
};
use ta::Next;

use crate::{date, utc_ns};

const SEC: i64 = 1_000_000_000;

fn tick(ts: i64, price: f64, seq: u64) -> Tick {
    Tick {
        ts_unix_ns: ts,
        price,
        volume: 2,
        seq,
    }
}

#[test]
fn interval_tokens_and_alignment() {
    for i in Interval::ALL {
        assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
    }
    assert!(matches!(
        "2m".parse::<Interval>(),
        Err(AnalyticsError::UnknownInterval(_))
    ));
    let ts = utc_ns(2025, 1, 15, 3, 47, 12);
    assert_eq!(Interval::M1.bar_start(ts), utc_ns(2025, 1, 15, 3, 47, 0));
    assert_eq!(Interval::M5.bar_start(ts), utc_ns(2025, 1, 15, 3, 45, 0));
    assert_eq!(Interval::M15.bar_start(ts), utc_ns(2025, 1, 15, 3, 45, 0));
    assert_eq!(Interval::M1.bar_start(-1), -60 * SEC);
    assert_eq!(serde_json::to_string(&Interval::M15).unwrap(), "\"15m\"");
}

#[test]
fn closes_on_event_time_and_session_end() {
    let mut agg = BarAggregator::new(Exchange::Nse);
    let t0 = utc_ns(2025, 1, 15, 9, 58, 0); // 15:28 IST
    assert!(agg.update(&tick(t0, 100.0, 1)).unwrap().is_empty());
    assert!(agg
        .update(&tick(t0 + 30 * SEC, 102.0, 2))
        .unwrap()
        .is_empty());
    // First tick of the next minute closes the 1m bar only.
    let closed = agg.update(&tick(t0 + 60 * SEC, 99.0, 3)).unwrap();
    assert_eq!(closed.len(), 1);
    let b = closed[0].bar;
    assert_eq!(closed[0].interval, Interval::M1);
    assert_eq!(
        b,
        Bar {
            start_unix_ns: t0,
            open: 100.0,
            high: 102.0,
            low: 100.0,
            close: 102.0,
            volume: 4,
            ticks: 2,
            first_seq: 1,
            last_seq: 2
        }
    );
    // Errors leave the state untouched.
    assert!(matches!(
        agg.update(&tick(t0 + 61 * SEC, 1.0, 3)),
        Err(AnalyticsError::DuplicateTick { .. })
    ));
    assert!(matches!(
        agg.update(&tick(t0, 1.0, 4)),
        Err(AnalyticsError::LateTick { .. })
    ));
    assert!(matches!(
        agg.update(&tick(t0 + 61 * SEC, f64::NAN, 4)),
        Err(AnalyticsError::NonFinite { .. })
    ));
    assert!(matches!(
        agg.update(&tick(t0 + 61 * SEC, 0.0, 4)),
        Err(AnalyticsError::OutOfRange { .. })
    ));
    assert_eq!(agg.snapshot().len(), 3);
    // A tick exactly at the 15:30 close is included, then every bar closes.
    let close = utc_ns(2025, 1, 15, 10, 0, 0);
    let closed = agg.update(&tick(close, 101.0, 5)).unwrap();
    let intervals: Vec<Interval> = closed.iter().map(|c| c.interval).collect();
    // The 15:29 1m, 15:25 5m and 15:15 15m bars close on crossing their end;
    // then the 15:30 bars (holding just the close tick) close with the session.
    assert_eq!(
        intervals,
        [
            Interval::M1,
            Interval::M5,
            Interval::M15,
            Interval::M1,
            Interval::M5,
            Interval::M15
        ]
    );
    let ticks: Vec<u64> = closed.iter().map(|c| c.bar.ticks).collect();
    assert_eq!(ticks, [1, 3, 3, 1, 1, 1]);
    assert!(closed[3..]
        .iter()
        .all(|c| c.bar.start_unix_ns == close && c.bar.close == 101.0));
    assert!(agg.snapshot().is_empty());
    // The session is over: later ticks of that day are rejected.
    assert!(matches!(
        agg.update(&tick(close + SEC, 1.0, 6)),
        Err(AnalyticsError::AfterSessionClose { .. })
    ));
    // The next day's first tick starts fresh bars.
    let next_day = utc_ns(2025, 1, 16, 3, 45, 0);
    assert!(agg.update(&tick(next_day, 100.0, 7)).unwrap().is_empty());
    agg.reset();
    assert!(agg.snapshot().is_empty());
    assert_eq!(agg.last_seq(), None);
}

#[test]
fn advance_to_closes_without_ticks() {
    let mut agg = BarAggregator::new(Exchange::Us);
    let t0 = utc_ns(2025, 1, 15, 20, 58, 10); // 15:58:10 New York
    agg.update(&tick(t0, 10.0, 1)).unwrap();
    assert!(agg.advance_to(t0 + 10 * SEC).is_empty());
    assert_eq!(agg.advance_to(utc_ns(2025, 1, 15, 20, 59, 0)).len(), 1); // 1m end
    let closed = agg.advance_to(utc_ns(2025, 1, 15, 21, 0, 0)); // session close
    assert_eq!(closed.len(), 2);
    assert!(agg.snapshot().is_empty());
}

#[test]
fn indicator_warmup_and_values() {
    let mut set = IndicatorSet::new();
    let mut sma = SimpleMovingAverage::new(20).unwrap();
    let mut ema9 = ExponentialMovingAverage::new(9).unwrap();
    let mut macd = MovingAverageConvergenceDivergence::new(12, 26, 9).unwrap();
    for n in 1..=40_u64 {
        let close = 100.0 + (n as f64 * 0.7).sin() * 5.0;
        let ind = set.update(close);
        let (s, e, m) = (sma.next(close), ema9.next(close), macd.next(close));
        assert_eq!(ind.sma_20, (n >= 20).then_some(s), "n={n}");
        assert_eq!(ind.ema_9, (n >= 9).then_some(e), "n={n}");
        assert_eq!(ind.ema_21.is_some(), n >= 21);
        assert_eq!(ind.rsi_14.is_some(), n >= 15);
        assert_eq!(ind.macd, (n >= 26).then_some(m.macd), "n={n}");
        assert_eq!(ind.macd_signal, (n >= 34).then_some(m.signal), "n={n}");
        assert_eq!(ind.macd_hist.is_some(), n >= 34);
        assert_eq!(ind.bb_middle, ind.sma_20.map(|_| ind.bb_middle.unwrap()));
        if let (Some(u), Some(mid), Some(l)) = (ind.bb_upper, ind.bb_middle, ind.bb_lower) {
            assert!(u >= mid && mid >= l && (mid - s).abs() < 1e-9);
        }
    }
}

#[test]
fn session_stats() {
    let mut st = SessionStats::new(Exchange::Nse);
    let d1 = utc_ns(2025, 1, 15, 3, 45, 0);
    let s = st.update(d1, 100.0).unwrap();
    assert_eq!(
        (s.session_open, s.session_high, s.session_low, s.change_pct),
        (100.0, 100.0, 100.0, 0.0)
    );
    st.update(d1 + SEC, 110.0).unwrap();
    let s = st.update(d1 + 2 * SEC, 95.0).unwrap();
    assert_eq!(
        (s.session_open, s.session_high, s.session_low),
        (100.0, 110.0, 95.0)
    );
    assert!((s.change_pct + 5.0).abs() < 1e-12);
    assert!(st.update(d1 + 3 * SEC, f64::NAN).is_err());
    // Next trading day resets; an older day is rejected.
    let d2 = utc_ns(2025, 1, 16, 3, 45, 0);
    let s = st.update(d2, 90.0).unwrap();
    assert_eq!((s.session_open, s.trading_day), (90.0, date(2025, 1, 16)));
    assert!(matches!(
        st.update(d1, 90.0),
        Err(AnalyticsError::LateTick { .. })
    ));
    let json = serde_json::to_string(&st).unwrap();
    assert_eq!(serde_json::from_str::<SessionStats>(&json).unwrap(), st);
    st.reset();
    assert_eq!(st.snapshot(), None);
}

/// Naive recomputation: accept ticks by the documented session rule, group
/// consecutive ticks by bar start, a group being closed when another group
/// follows it or it holds a tick at/after its day's session close; then feed
/// each interval's closed bars to fresh indicators.
fn naive(exchange: Exchange, ticks: &[Tick]) -> Vec<ClosedBar> {
    let mut closed_days = HashSet::new();
    let mut accepted = Vec::new();
    for t in ticks {
        let day = trading_day(t.ts_unix_ns, exchange);
        let close = session_bounds(day, exchange).1;
        if t.ts_unix_ns >= close && !closed_days.insert(day) {
            continue;
        }
        accepted.push((*t, t.ts_unix_ns >= close));
    }
    let mut out = Vec::new();
    for interval in Interval::ALL {
        let mut groups: Vec<(Vec<Tick>, bool)> = Vec::new();
        for &(t, at_close) in &accepted {
            let start = interval.bar_start(t.ts_unix_ns);
            match groups.last_mut() {
                Some((g, _)) if interval.bar_start(g[0].ts_unix_ns) == start => g.push(t),
                _ => groups.push((vec![t], false)),
            }
            if at_close {
                groups.last_mut().unwrap().1 = true;
            }
        }
        let count = groups.len();
        let mut ind = IndicatorSet::new();
        for (i, (g, at_close)) in groups.into_iter().enumerate() {
            if i + 1 < count || at_close {
                let bar = Bar {
                    start_unix_ns: interval.bar_start(g[0].ts_unix_ns),
                    open: g[0].price,
                    high: g.iter().map(|t| t.price).fold(f64::MIN, f64::max),
                    low: g.iter().map(|t| t.price).fold(f64::MAX, f64::min),
                    close: g[g.len() - 1].price,
                    volume: g.iter().map(|t| t.volume).sum(),
                    ticks: g.len() as u64,
                    first_seq: g[0].seq,
                    last_seq: g[g.len() - 1].seq,
                };
                out.push(ClosedBar {
                    interval,
                    bar,
                    indicators: ind.update(bar.close),
                });
            }
        }
    }
    out
}

fn by_interval(bars: &[ClosedBar], i: Interval) -> Vec<ClosedBar> {
    bars.iter().filter(|b| b.interval == i).copied().collect()
}

fn tick_stream() -> impl Strategy<Value = (bool, Vec<Tick>)> {
    let step = prop_oneof![
        20 => (0_i64..=36).prop_map(|u| u * 5 * SEC),       // 0–3 min, 5 s grid
        2 => (0_i64..=12).prop_map(|u| u * 300 * SEC),      // up to an hour
        1 => Just(86_400 * SEC),                            // next day
    ];
    (
        any::<bool>(),
        -5400_i64..=30_000,
        prop::collection::vec((step, 1.0_f64..200.0, 0_u64..50), 1..400),
    )
        .prop_map(|(us, offset_s, steps)| {
            let exchange = if us { Exchange::Us } else { Exchange::Nse };
            let day = date(2025, 1, 14);
            let open = session_bounds(day, exchange).0;
            let mut ts = open + (offset_s / 5) * 5 * SEC;
            let ticks = steps
                .into_iter()
                .enumerate()
                .map(|(i, (gap, price, volume))| {
                    ts += gap;
                    Tick {
                        ts_unix_ns: ts,
                        price,
                        volume,
                        seq: 10 + i as u64,
                    }
                })
                .collect();
            (us, ticks)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The aggregator's closed bars (and indicators) equal a naive
    /// recomputation, and a checkpoint/restore in the middle changes nothing.
    #[test]
    fn bars_equal_naive_recomputation((us, ticks) in tick_stream(), split in 0.0_f64..1.0) {
        let exchange = if us { Exchange::Us } else { Exchange::Nse };
        let mut agg = BarAggregator::new(exchange);
        let mut got = Vec::new();
        let cut = (split * ticks.len() as f64) as usize;
        for (i, t) in ticks.iter().enumerate() {
            if i == cut {
                let json = serde_json::to_string(&agg).unwrap();
                agg = serde_json::from_str(&json).unwrap();
            }
            match agg.update(t) {
                Ok(bars) => got.extend(bars),
                Err(AnalyticsError::AfterSessionClose { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        let want = naive(exchange, &ticks);
        for i in Interval::ALL {
            prop_assert_eq!(by_interval(&got, i), by_interval(&want, i));
        }
        prop_assert_eq!(got.len(), want.len());
    }
}
