//! Chain validation, analytics and full enrichment.

use ds_analytics::bs::price;
use ds_analytics::chain::{atm_index, max_pain_index, pcr, smile_ivs, validate_chain};
use ds_analytics::{
    build_surface, enrich_chain, AnalyticsError, ChainInput, OptionKind, Quote, SurfaceChain,
};
use proptest::prelude::*;

fn quote(last: f64, oi: u64) -> Quote {
    Quote {
        bid: 0.0,
        ask: 0.0,
        last,
        volume: 10,
        open_interest: oi,
    }
}

fn input<'a>(
    spot: f64,
    strikes: &'a [f64],
    calls: &'a [Quote],
    puts: &'a [Quote],
) -> ChainInput<'a> {
    ChainInput {
        spot,
        strikes,
        calls,
        puts,
        time_to_expiry_years: 0.1,
        rate: 0.065,
        dividend_yield: 0.0,
        min_tick: 0.05,
    }
}

/// The error of a value that is not finite: `field`, at `index` in its list.
fn non_finite(field: &'static str, index: Option<usize>) -> Option<AnalyticsError> {
    Some(AnalyticsError::NonFinite { field, index })
}

/// The error of a value out of its range: `field`, at `index` in its list.
fn out_of_range(field: &'static str, index: Option<usize>) -> Option<AnalyticsError> {
    Some(AnalyticsError::OutOfRange { field, index })
}

#[test]
fn validation_table() {
    let q = quote(1.0, 1);
    let nan_bid = Quote { bid: f64::NAN, ..q };
    let neg_last = Quote { last: -1.0, ..q };
    let inf_ask = Quote {
        ask: f64::INFINITY,
        ..q
    };
    let two = [100.0, 110.0];
    let (one_q, two_q) = ([q], [q, q]);
    let (c_nan, p_neg, p_inf) = ([q, nan_bid], [neg_last, q], [q, inf_ask]);
    let (s1, s_nan, s_dec, s_eq, s_neg) = (
        [100.0],
        [100.0, f64::NAN],
        [110.0, 100.0],
        [100.0, 100.0],
        [-5.0],
    );
    let cases: Vec<(ChainInput<'_>, Option<AnalyticsError>)> = vec![
        (input(100.0, &[], &[], &[]), None), // empty chain is valid
        (input(100.0, &s1, &one_q, &one_q), None),
        (
            input(100.0, &two, &one_q, &two_q),
            Some(AnalyticsError::LengthMismatch {
                strikes: 2,
                calls: 1,
                puts: 2,
            }),
        ),
        (
            input(f64::NAN, &s1, &one_q, &one_q),
            non_finite("spot", None),
        ),
        (input(-1.0, &s1, &one_q, &one_q), out_of_range("spot", None)),
        (
            input(100.0, &s_nan, &two_q, &two_q),
            non_finite("strikes", Some(1)),
        ),
        (
            input(100.0, &s_dec, &two_q, &two_q),
            Some(AnalyticsError::StrikesNotIncreasing { index: 1 }),
        ),
        (
            input(100.0, &s_eq, &two_q, &two_q),
            Some(AnalyticsError::StrikesNotIncreasing { index: 1 }),
        ),
        (
            input(100.0, &s_neg, &one_q, &one_q),
            out_of_range("strikes", Some(0)),
        ),
        (
            input(100.0, &two, &c_nan, &two_q),
            non_finite("calls.bid", Some(1)),
        ),
        (
            input(100.0, &two, &two_q, &p_neg),
            out_of_range("puts.last", Some(0)),
        ),
        (
            input(100.0, &two, &two_q, &p_inf),
            non_finite("puts.ask", Some(1)),
        ),
        (
            ChainInput {
                rate: f64::NAN,
                ..input(100.0, &[], &[], &[])
            },
            non_finite("rate", None),
        ),
    ];
    for (i, (chain, want)) in cases.iter().enumerate() {
        assert_eq!(validate_chain(chain).err(), *want, "case {i}");
        if let Some(e) = want {
            assert_eq!(
                enrich_chain(chain, None).err().as_ref(),
                Some(e),
                "case {i}"
            );
            assert!(!e.is_retryable());
        }
    }
}

#[test]
fn empty_chain() {
    let out = enrich_chain(&input(100.0, &[], &[], &[]), None).unwrap();
    assert!(out.calls.is_empty() && out.puts.is_empty());
    let a = out.analytics;
    assert_eq!((a.pcr_oi, a.pcr_volume), (0.0, 0.0));
    assert_eq!(
        (a.atm_strike, a.atm_straddle, a.atm_iv, a.max_pain_strike),
        (None, None, None, None)
    );
    assert_eq!((a.total_call_oi, a.total_put_oi), (0, 0));
}

#[test]
fn one_strike_zero_oi_zero_time() {
    let strikes = [100.0];
    let calls = [quote(5.0, 0)];
    let puts = [quote(4.0, 0)];
    let mut chain = input(101.0, &strikes, &calls, &puts);
    chain.time_to_expiry_years = 0.0;
    let out = enrich_chain(&chain, None).unwrap();
    let a = out.analytics;
    assert_eq!(a.pcr_oi, 0.0); // zero OI: denominator 0
    assert_eq!(a.pcr_volume, 1.0);
    assert_eq!(a.atm_strike, Some(100.0));
    assert_eq!(a.atm_straddle, Some(9.0));
    assert_eq!(a.max_pain_strike, Some(100.0));
    // T = 0: no IV, no Greeks, no ATM IV.
    assert!(out.calls[0].implied.is_none() && out.puts[0].implied.is_none());
    assert_eq!(a.atm_iv, None);
}

#[test]
fn quote_price_choice() {
    // (bid, ask, last, reference price): both sides, one side, nothing at all.
    let cases = [
        (1.0, 3.0, 7.0, Some(2.0)),
        (1.0, 0.0, 7.0, Some(7.0)),
        (0.0, 0.0, 0.0, None),
    ];
    for (bid, ask, last, want) in cases {
        let q = Quote {
            bid,
            ask,
            last,
            ..Quote::default()
        };
        assert_eq!(
            q.reference_price(),
            want,
            "bid {bid}, ask {ask}, last {last}"
        );
    }
}

#[test]
fn atm_and_pcr_rules() {
    let strikes = [100.0, 110.0, 120.0];
    assert_eq!(atm_index(105.0, &strikes), Some(0)); // tie: lower
    assert_eq!(atm_index(105.1, &strikes), Some(1));
    assert_eq!(atm_index(50.0, &strikes), Some(0));
    assert_eq!(atm_index(500.0, &strikes), Some(2));
    assert_eq!(atm_index(110.0, &strikes), Some(1));
    assert_eq!(atm_index(f64::NAN, &strikes), None);
    assert_eq!(atm_index(100.0, &[]), None);
    assert_eq!(pcr(5, 0), 0.0);
    assert_eq!(pcr(5, 10), 0.5);
}

#[test]
fn max_pain_ties_take_lower() {
    let strikes = [100.0, 110.0, 120.0];
    let zero = [quote(0.0, 0); 3];
    assert_eq!(max_pain_index(&strikes, &zero, &zero), Some(0));
    // Every strike pays 200 (10·20, 10·10 + 10·10, 10·20): the lowest wins.
    let calls = [quote(0.0, 10), quote(0.0, 0), quote(0.0, 0)];
    let puts = [quote(0.0, 0), quote(0.0, 0), quote(0.0, 10)];
    assert_eq!(max_pain_index(&strikes, &calls, &puts), Some(0));
}

/// Builds a chain priced at known vols, enriches it and checks the vols come back.
#[test]
fn enrichment_recovers_feed_vols() {
    let (spot, t, r, q) = (21_512.35, 9.0 / 365.0, 0.065, 0.0);
    let strikes: Vec<f64> = (0..41).map(|i| 20_500.0 + 50.0 * f64::from(i)).collect();
    let smile = |k: f64| 0.13 + 0.4 * ((k / spot).ln()).powi(2);
    let mk = |kind, k: f64| {
        let p = price(kind, spot, k, t, r, q, smile(k)).unwrap();
        Quote {
            bid: p * 0.99,
            ask: p * 1.01,
            last: p,
            volume: 5,
            open_interest: 100,
        }
    };
    let calls: Vec<Quote> = strikes.iter().map(|&k| mk(OptionKind::Call, k)).collect();
    let puts: Vec<Quote> = strikes.iter().map(|&k| mk(OptionKind::Put, k)).collect();
    let chain = ChainInput {
        time_to_expiry_years: t,
        rate: r,
        dividend_yield: q,
        ..input(spot, &strikes, &calls, &puts)
    };
    let out = enrich_chain(&chain, None).unwrap();
    let mut solved = 0;
    for side in [&out.calls, &out.puts] {
        for eq in side.iter() {
            if let Some(iv) = eq.iv() {
                assert!(
                    (iv - smile(eq.strike)).abs() < 1e-8,
                    "strike {} iv {iv}",
                    eq.strike
                );
                solved += 1;
            }
        }
    }
    assert!(solved >= 70, "{solved}");
    let a = out.analytics;
    assert_eq!(a.atm_strike, Some(21_500.0));
    assert!((a.atm_iv.unwrap() - smile(21_500.0)).abs() < 1e-8);
    assert_eq!(a.total_call_oi, 4100);
    assert_eq!(a.pcr_oi, 1.0);
}

fn brute_force_max_pain(strikes: &[f64], calls: &[Quote], puts: &[Quote]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (j, &s) in strikes.iter().enumerate() {
        let mut pain = 0.0;
        for (i, &k) in strikes.iter().enumerate() {
            pain += calls[i].open_interest as f64 * (s - k).max(0.0);
            pain += puts[i].open_interest as f64 * (k - s).max(0.0);
        }
        if best.is_none_or(|(_, b)| pain < b) {
            best = Some((j, pain));
        }
    }
    best.map(|(j, _)| j)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The O(n) prefix-sum max pain equals the O(n²) definition, ties included.
    /// Strikes on a 2.5 grid and integer OI keep every sum exact in f64.
    #[test]
    fn max_pain_equals_brute_force(
        base in 1_u32..4000,
        gaps in prop::collection::vec(1_u32..5, 0..60),
        ois in prop::collection::vec((0_u64..50_000, 0_u64..50_000), 60),
        zero_heavy in any::<bool>(),
    ) {
        let mut k = f64::from(base) * 2.5;
        let mut strikes = vec![k];
        for g in &gaps { k += f64::from(*g) * 2.5; strikes.push(k); }
        let n = strikes.len();
        let shrink = |oi: u64| if zero_heavy { oi % 3 } else { oi };
        let calls: Vec<Quote> = ois[..n].iter().map(|&(c, _)| quote(1.0, shrink(c))).collect();
        let puts: Vec<Quote> = ois[..n].iter().map(|&(_, p)| quote(1.0, shrink(p))).collect();
        prop_assert_eq!(
            max_pain_index(&strikes, &calls, &puts),
            brute_force_max_pain(&strikes, &calls, &puts)
        );
    }

    /// ATM by binary search equals a linear scan (ties lower).
    #[test]
    fn atm_equals_linear_scan(
        gaps in prop::collection::vec(1_u32..5, 1..40),
        spot in 0.0_f64..400.0,
    ) {
        let mut k = 50.0;
        let strikes: Vec<f64> = gaps.iter().map(|g| { k += f64::from(*g) * 2.5; k }).collect();
        let mut best = 0;
        for (i, &s) in strikes.iter().enumerate() {
            if (s - spot).abs() < (strikes[best] - spot).abs() { best = i; }
        }
        prop_assert_eq!(atm_index(spot, &strikes), Some(best));
    }
}

#[test]
fn illiquid_quote_table() {
    let tick = 0.05;
    let q = |bid: f64, ask: f64, last: f64| Quote {
        bid,
        ask,
        last,
        ..Quote::default()
    };
    // (quote, min tick, illiquid?)
    let cases = [
        (q(0.0, 0.05, 0.05), tick, true), // no bid: the feed's worthless wing
        (q(0.0, 0.0, 12.0), tick, true),  // no bid, a stale last
        (q(0.05, 0.10, 0.05), tick, true), // bid at the tick
        (q(0.05, 0.10, 0.05), 0.0, false), // tick unknown: only the zero-bid rule
        (q(0.10, 0.15, 0.10), tick, false),
        (q(2.0, 2.2, 2.1), tick, false),
        (q(0.050_000_000_01, 0.1, 0.05), tick, true), // at the tick, up to f64 noise
        (q(0.0, 0.0, 0.0), 0.0, true),
        (q(9.0, 10.0, 9.5), 10.0, true), // a BTC-style $10 tick
    ];
    for (i, (quote, min_tick, want)) in cases.iter().enumerate() {
        assert_eq!(quote.is_illiquid(*min_tick), *want, "case {i}: {quote:?}");
    }
}

/// The ATM call is illiquid (bid 0), the put liquid: `atm_iv` is the put's
/// alone, while both quotes keep their IV and the OI sums count both.
#[test]
fn atm_iv_skips_an_illiquid_side() {
    let (spot, t, r) = (100.0, 0.1, 0.065); // as `input` sets them
    let strikes = [100.0];
    let call_p = price(OptionKind::Call, spot, 100.0, t, r, 0.0, 0.3).unwrap();
    let put_p = price(OptionKind::Put, spot, 100.0, t, r, 0.0, 0.2).unwrap();
    let calls = [Quote {
        bid: 0.0,
        ask: call_p + 0.5,
        last: call_p,
        volume: 10,
        open_interest: 700,
    }];
    let puts = [Quote {
        bid: put_p - 0.01,
        ask: put_p + 0.01,
        last: put_p,
        volume: 10,
        open_interest: 300,
    }];
    let out = enrich_chain(&input(spot, &strikes, &calls, &puts), None).unwrap();
    assert!(out.calls[0].illiquid && !out.puts[0].illiquid);
    assert!((out.calls[0].iv().unwrap() - 0.3).abs() < 1e-8);
    assert_eq!(out.calls[0].smile_iv(), None);
    let a = out.analytics;
    assert!((a.atm_iv.unwrap() - 0.2).abs() < 1e-8);
    assert_eq!((a.total_call_oi, a.total_put_oi), (700, 300));
}

/// A chain priced at `vol` and quoted on a `tick` grid the way the feed quotes
/// it (a worthless wing: no bid, offered and last at one tick), enriched; checks
/// that every quote is flagged exactly when its bid is at most one tick, that no
/// flagged IV enters the smile, the surface or `atm_iv`, and that PCR / max pain
/// still count the flagged quotes' open interest. Returns how many were flagged.
fn check_min_tick_chain(
    spot: f64,
    vol: f64,
    days: u32,
    tick: f64,
    ois: &[(u64, u64)],
) -> Result<usize, TestCaseError> {
    let t = f64::from(days) / 365.0;
    let step = (spot / 40.0).max(tick);
    let strikes: Vec<f64> = (0..ois.len())
        .map(|i| spot + step * (i as f64 - 20.0))
        .filter(|k| *k > 0.0)
        .collect();
    let n = strikes.len();
    let quote = |kind, k: f64, oi: u64| {
        let theo = price(kind, spot, k, t, 0.05, 0.0, vol).unwrap_or(0.0);
        if theo < tick {
            Quote {
                bid: 0.0,
                ask: tick,
                last: tick,
                volume: 1,
                open_interest: oi,
            }
        } else {
            let half = (0.004 * theo + tick).min(0.4 * theo);
            Quote {
                bid: theo - half,
                ask: theo + half,
                last: theo,
                volume: 1,
                open_interest: oi,
            }
        }
    };
    let calls: Vec<Quote> = strikes
        .iter()
        .zip(ois)
        .map(|(&k, o)| quote(OptionKind::Call, k, o.0))
        .collect();
    let puts: Vec<Quote> = strikes
        .iter()
        .zip(ois)
        .map(|(&k, o)| quote(OptionKind::Put, k, o.1))
        .collect();
    let chain = ChainInput {
        time_to_expiry_years: t,
        rate: 0.05,
        min_tick: tick,
        ..input(spot, &strikes, &calls, &puts)
    };
    let out = enrich_chain(&chain, None).unwrap();
    let mut flagged = 0;
    for eq in out.calls.iter().chain(&out.puts) {
        prop_assert_eq!(eq.illiquid, eq.quote.bid <= tick * (1.0 + 1e-9));
        if eq.illiquid {
            flagged += 1;
            prop_assert_eq!(eq.smile_iv(), None);
        } else {
            prop_assert_eq!(eq.smile_iv(), eq.iv());
        }
    }
    let (call_ivs, put_ivs) = (smile_ivs(&out.calls), smile_ivs(&out.puts));
    let surface = build_surface(&[SurfaceChain {
        expiry: chrono::NaiveDate::from_ymd_opt(2025, 1, 30).unwrap(),
        spot,
        strikes: &strikes,
        call_ivs: &call_ivs,
        put_ivs: &put_ivs,
    }]);
    for (i, cell) in surface.ivs[0].iter().enumerate() {
        let (c, p) = (&out.calls[i], &out.puts[i]);
        if let Some(iv) = cell {
            let from_liquid =
                (!c.illiquid && c.iv() == Some(*iv)) || (!p.illiquid && p.iv() == Some(*iv));
            prop_assert!(
                from_liquid,
                "strike {}: cell {} from an illiquid quote",
                strikes[i],
                iv
            );
        } else {
            prop_assert!(c.smile_iv().is_none() && p.smile_iv().is_none());
        }
    }
    let a = out.analytics;
    if let Some(atm) = a.atm_index {
        let liquid = [&out.calls[atm], &out.puts[atm]]
            .iter()
            .filter_map(|q| q.smile_iv())
            .count();
        prop_assert_eq!(a.atm_iv.is_some(), liquid > 0);
    }
    let call_oi: u64 = ois[..n].iter().map(|o| o.0).sum();
    prop_assert_eq!(a.total_call_oi, call_oi);
    prop_assert_eq!(
        a.max_pain_strike,
        max_pain_index(&strikes, &calls, &puts).map(|j| strikes[j])
    );
    Ok(flagged)
}

/// The property's fixture does produce min-tick wings (so it tests something).
#[test]
fn min_tick_wings_fixture_has_wings() {
    let ois = vec![(100, 100); 41];
    let flagged = check_min_tick_chain(100.0, 0.2, 7, 0.05, &ois).unwrap();
    assert!(flagged >= 20, "{flagged}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Min-tick wings stay out of the smile ([`check_min_tick_chain`]).
    #[test]
    fn min_tick_wings_stay_out_of_the_smile(
        spot in 50.0_f64..500.0,
        vol in 0.1_f64..0.8,
        days in 1_u32..60,
        tick in prop::sample::select(vec![0.01, 0.05, 0.5]),
        ois in prop::collection::vec((0_u64..10_000, 0_u64..10_000), 41),
    ) {
        check_min_tick_chain(spot, vol, days, tick, &ois)?;
    }
}
