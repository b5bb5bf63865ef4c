//! Implied volatility: edge-case table, grid recovery and round-trip properties.

use ds_analytics::bs::{greeks, price};
use ds_analytics::{implied_vol, OptionKind};
use proptest::prelude::*;

const TOL: f64 = 1e-8;
const HOUR: f64 = 1.0 / (365.0 * 24.0);

/// Whether `vol` is identifiable from the double-precision price at all.
///
/// A price carries a relative rounding error of a few ulps, and the solver
/// must strip the intrinsic part, so the vol is only determined to about
/// `κ = ε · price / (∂price/∂σ)`: the vol error caused by one relative ulp of
/// price (ε = `f64::EPSILON`). We require `κ ≤ 1e-10`, i.e. 100× below the
/// 1e-8 tolerance, leaving room for ~100 ulps of error in price, forward and
/// discounting; and a price above 1e-290 (not underflowed). On the grid the
/// skipped cases are deep in-the-money options whose time value is below
/// ~1e-12 of the price (the price *is* intrinsic value in double precision)
/// and far out-of-the-money ones whose price underflows to 0.
pub fn identifiable(kind: OptionKind, s: f64, k: f64, t: f64, r: f64, q: f64, vol: f64) -> bool {
    let Some(p) = price(kind, s, k, t, r, q, vol) else {
        return false;
    };
    let Some(g) = greeks(kind, s, k, t, r, q, vol) else {
        return false;
    };
    let vega = g.vega * 100.0;
    p > 1e-290 && vega > 0.0 && f64::EPSILON * p / vega <= 1e-10
}

#[test]
fn edge_case_table() {
    let c = OptionKind::Call;
    let p = OptionKind::Put;
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    // (kind, price, spot, strike, t, r, q)
    let cases: &[(OptionKind, f64, f64, f64, f64, f64, f64)] = &[
        (c, nan, 100.0, 100.0, 1.0, 0.05, 0.0),
        (c, 10.0, nan, 100.0, 1.0, 0.05, 0.0),
        (c, 10.0, 100.0, nan, 1.0, 0.05, 0.0),
        (c, 10.0, 100.0, 100.0, nan, 0.05, 0.0),
        (c, 10.0, 100.0, 100.0, 1.0, nan, 0.0),
        (c, 10.0, 100.0, 100.0, 1.0, 0.05, nan),
        (c, inf, 100.0, 100.0, 1.0, 0.05, 0.0),
        (c, 10.0, 100.0, 100.0, 0.0, 0.05, 0.0), // zero time to expiry
        (c, 10.0, 100.0, 100.0, -0.01, 0.05, 0.0), // expired
        (c, 0.0, 100.0, 100.0, 1.0, 0.05, 0.0),  // zero price
        (c, -1.0, 100.0, 100.0, 1.0, 0.05, 0.0),
        (c, 10.0, 0.0, 100.0, 1.0, 0.05, 0.0),
        (c, 10.0, 100.0, 0.0, 1.0, 0.05, 0.0),
        (c, 100.0, 100.0, 100.0, 1.0, 0.0, 0.0), // at the upper bound (spot)
        (c, 150.0, 100.0, 100.0, 1.0, 0.0, 0.0), // above it
        (p, 100.0, 100.0, 100.0, 1.0, 0.0, 0.0), // put at the upper bound (strike)
        (c, 20.0, 120.0, 100.0, 1.0, 0.0, 0.0),  // exactly intrinsic (r = q = 0)
        (c, 19.0, 120.0, 100.0, 1.0, 0.0, 0.0),  // below intrinsic
        (p, 20.0, 80.0, 100.0, 1.0, 0.0, 0.0),   // put exactly intrinsic
    ];
    for (i, &(kind, pr, s, k, t, r, q)) in cases.iter().enumerate() {
        assert_eq!(implied_vol(kind, pr, s, k, t, r, q), None, "case {i}");
    }
    // Exactly the discounted forward intrinsic value with r > 0.
    let (s, k, t, r) = (120.0_f64, 100.0_f64, 0.5_f64, 0.05_f64);
    let intrinsic = s - k * (-r * t).exp();
    assert_eq!(
        implied_vol(c, intrinsic * (1.0 - 1e-15), s, k, t, r, 0.0),
        None
    );
}

#[test]
fn known_value() {
    let v = implied_vol(
        OptionKind::Call,
        10.450_583_572_185_565,
        100.0,
        100.0,
        1.0,
        0.05,
        0.0,
    );
    assert!((v.unwrap() - 0.2).abs() < 1e-12, "{v:?}");
}

/// Deterministic sweep of the whole grid (corners included): moneyness
/// 0.5–2, 1 hour–2 years, 1 %–300 %, both kinds, with and without carry.
#[test]
fn grid_recovery() {
    let moneyness = [
        0.5, 0.6, 0.75, 0.9, 0.97, 1.0, 1.03, 1.1, 1.25, 1.5, 1.75, 2.0,
    ];
    let expiries = [
        HOUR,
        4.0 * HOUR,
        1.0 / 365.0,
        7.0 / 365.0,
        30.0 / 365.0,
        0.25,
        0.5,
        1.0,
        2.0,
    ];
    let vols = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 3.0,
    ];
    let carries = [(0.0, 0.0), (0.065, 0.0), (0.045, 0.02)];
    let mut checked = 0;
    let mut worst = 0.0_f64;
    for kind in [OptionKind::Call, OptionKind::Put] {
        for &m in &moneyness {
            for &t in &expiries {
                for &vol in &vols {
                    for &(r, q) in &carries {
                        let (s, k) = (100.0, 100.0 * m);
                        if !identifiable(kind, s, k, t, r, q, vol) {
                            continue;
                        }
                        let p = price(kind, s, k, t, r, q, vol).unwrap();
                        let got = implied_vol(kind, p, s, k, t, r, q);
                        let err = (got.unwrap_or(f64::NAN) - vol).abs();
                        assert!(
                            err <= TOL,
                            "{kind} m={m} t={t} vol={vol} r={r} q={q}: {got:?}"
                        );
                        worst = worst.max(err);
                        checked += 1;
                    }
                }
            }
        }
    }
    eprintln!("grid: {checked} cases, worst vol error {worst:e}");
    assert!(checked > 3000, "too few identifiable cases: {checked}");
}

fn kind_strategy() -> impl Strategy<Value = OptionKind> {
    prop_oneof![Just(OptionKind::Call), Just(OptionKind::Put)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 100_000, ..ProptestConfig::default() })]

    /// price → IV → price round trip and IV recovery to 1e-8 over the whole grid.
    #[test]
    fn round_trip(
        kind in kind_strategy(),
        ln_m in (0.5_f64).ln()..=(2.0_f64).ln(),
        ln_t in HOUR.ln()..=(2.0_f64).ln(),
        ln_vol in (0.01_f64).ln()..=(3.0_f64).ln(),
        r in -0.01_f64..0.10,
        q in 0.0_f64..0.05,
    ) {
        let (s, k, t, vol) = (250.0, 250.0 * ln_m.exp(), ln_t.exp(), ln_vol.exp());
        prop_assume!(identifiable(kind, s, k, t, r, q, vol));
        let p = price(kind, s, k, t, r, q, vol).unwrap();
        let iv = implied_vol(kind, p, s, k, t, r, q);
        prop_assert!(iv.is_some(), "no iv for price {}", p);
        let iv = iv.unwrap();
        prop_assert!((iv - vol).abs() <= TOL, "vol {} got {}", vol, iv);
        let back = price(kind, s, k, t, r, q, iv).unwrap();
        prop_assert!((back - p).abs() <= 1e-12 * p.max(1e-300) + 64.0 * f64::EPSILON * s,
            "price {} back {}", p, back);
    }

    /// Prices outside the no-arbitrage bounds never give an IV.
    #[test]
    fn outside_bounds_is_none(
        kind in kind_strategy(),
        m in 0.5_f64..2.0,
        t in HOUR..2.0,
        below in 0.0_f64..1.0,
    ) {
        let (s, k, r) = (100.0, 100.0 * m, 0.05);
        let lower = match kind {
            OptionKind::Call => (s - k * (-r * t).exp()).max(0.0),
            OptionKind::Put => (k * (-r * t).exp() - s).max(0.0),
        };
        prop_assert_eq!(implied_vol(kind, lower * below, s, k, t, r, 0.0), None);
        let upper = match kind { OptionKind::Call => s, OptionKind::Put => k * (-r * t).exp() };
        prop_assert_eq!(implied_vol(kind, upper * (1.0 + below), s, k, t, r, 0.0), None);
    }
}
