//! Black–Scholes prices and Greeks: textbook values, parity, finite differences.

use ds_analytics::bs::{greeks, norm_cdf, price};
use ds_analytics::OptionKind::{self, Call, Put};
use proptest::prelude::*;

/// (kind, S, K, T, r, q, vol, expected price, tolerance).
type PriceCase = (OptionKind, f64, f64, f64, f64, f64, f64, f64, f64);

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn textbook_values() {
    let reference = |kind, want| (kind, 100.0, 100.0, 1.0, 0.05, 0.0, 0.2, want, 1e-11);
    // (kind, S, K, T, r, q, vol, expected, tolerance)
    let cases: &[PriceCase] = &[
        // Hull, Options Futures and Other Derivatives, Example 15.6: 4.76 / 0.81.
        (Call, 42.0, 40.0, 0.5, 0.10, 0.0, 0.2, 4.76, 0.005),
        (Put, 42.0, 40.0, 0.5, 0.10, 0.0, 0.2, 0.81, 0.005),
        // Hull Table 19.x (delta-hedging example): call 2.40 (= $240,000 / 100,000).
        (Call, 49.0, 50.0, 0.3846, 0.05, 0.0, 0.2, 2.40, 0.005),
        // Standard reference values to full precision: S=K=100, T=1, r=5 %, q=0, σ=20 %.
        reference(Call, 10.450_583_572_185_565),
        reference(Put, 5.573_526_022_256_971),
        // Haug, The Complete Guide to Option Pricing Formulas (generalised BS,
        // Merton with dividend yield): S=100, K=95, T=0.5, r=0.10, q=0.05, σ=0.20 → put 2.4648.
        (Put, 100.0, 95.0, 0.5, 0.10, 0.05, 0.2, 2.4648, 5e-5),
    ];
    for (i, &(kind, s, k, t, r, q, vol, want, tol)) in cases.iter().enumerate() {
        let got = price(kind, s, k, t, r, q, vol).unwrap();
        assert!(close(got, want, tol), "case {i}: got {got}, want {want}");
    }
}

#[test]
fn hull_greeks_example() {
    // Hull's running example: S=49, K=50, r=5 %, σ=20 %, T=20 weeks (0.3846):
    // Δ=0.522, Γ=0.066, vega=12.1 (per 1.00 of σ), Θ=−4.31 per year, ρ=8.91 (per 1.00 of r).
    let g = greeks(Call, 49.0, 50.0, 0.3846, 0.05, 0.0, 0.2).unwrap();
    assert!(close(g.delta, 0.522, 5e-4), "{g:?}");
    assert!(close(g.gamma, 0.066, 5e-4), "{g:?}");
    assert!(close(g.vega, 0.121, 5e-4), "{g:?}"); // per vol point
    assert!(close(g.theta, -4.31 / 365.0, 1e-4), "{g:?}"); // per calendar day
    assert!(close(g.rho, 0.0891, 5e-4), "{g:?}"); // per rate point
}

#[test]
fn edge_cases() {
    assert_eq!(price(Call, f64::NAN, 100.0, 1.0, 0.05, 0.0, 0.2), None);
    assert_eq!(
        price(Call, 100.0, 100.0, 1.0, 0.05, 0.0, f64::INFINITY),
        None
    );
    assert_eq!(price(Call, -1.0, 100.0, 1.0, 0.05, 0.0, 0.2), None);
    // Zero time to expiry: the payoff.
    assert_eq!(price(Call, 110.0, 100.0, 0.0, 0.05, 0.0, 0.2), Some(10.0));
    assert_eq!(price(Put, 110.0, 100.0, 0.0, 0.05, 0.0, 0.2), Some(0.0));
    // Zero vol: discounted forward intrinsic.
    let p = price(Call, 110.0, 100.0, 1.0, 0.05, 0.0, 0.0).unwrap();
    assert!(close(p, 110.0 - 100.0 * (-0.05_f64).exp(), 1e-12));
    // Greeks undefined at expiry, zero vol or NaN.
    assert_eq!(greeks(Call, 100.0, 100.0, 0.0, 0.05, 0.0, 0.2), None);
    assert_eq!(greeks(Call, 100.0, 100.0, 1.0, 0.05, 0.0, 0.0), None);
    assert_eq!(greeks(Put, f64::NAN, 100.0, 1.0, 0.05, 0.0, 0.2), None);
}

#[test]
fn normal_cdf_values() {
    assert_eq!(norm_cdf(0.0), 0.5);
    assert!(close(norm_cdf(1.96), 0.975_002_104_851_780, 1e-15));
    // Deep tail keeps relative precision: Φ(−10) = 7.619853024160527e−24.
    assert!((norm_cdf(-10.0) / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-14);
}

fn kind() -> impl Strategy<Value = OptionKind> {
    prop_oneof![Just(Call), Just(Put)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// C − P = S·e^{−qT} − K·e^{−rT}.
    #[test]
    fn put_call_parity(
        s in 1.0_f64..1000.0,
        m in 0.5_f64..2.0,
        t in 1e-4_f64..2.0,
        r in -0.01_f64..0.10,
        q in 0.0_f64..0.05,
        vol in 0.01_f64..3.0,
    ) {
        let k = s * m;
        let c = price(Call, s, k, t, r, q, vol).unwrap();
        let p = price(Put, s, k, t, r, q, vol).unwrap();
        let parity = s * (-q * t).exp() - k * (-r * t).exp();
        prop_assert!(close(c - p, parity, 1e-12 * (s + k)), "c {} p {} parity {}", c, p, parity);
    }

    /// Closed-form Greeks agree with central finite differences of the price.
    #[test]
    fn greeks_match_finite_differences(
        kind in kind(),
        m in 0.7_f64..1.4,
        t in 0.02_f64..2.0,
        r in 0.0_f64..0.10,
        q in 0.0_f64..0.05,
        vol in 0.05_f64..1.5,
    ) {
        let s = 100.0;
        let k = s * m;
        let pr = |s: f64, t: f64, r: f64, v: f64| price(kind, s, k, t, r, q, v).unwrap();
        let g = greeks(kind, s, k, t, r, q, vol).unwrap();
        // The step scales with the distribution's width (σ√T): a fixed step is
        // too coarse near the money at short expiry and low vol, where the
        // price curves sharply (central-difference error ∝ h²·|∂³V/∂S³|).
        let h = s * (1e-3 * vol * t.sqrt()).min(1e-4);
        let delta = (pr(s + h, t, r, vol) - pr(s - h, t, r, vol)) / (2.0 * h);
        let gamma = (pr(s + h, t, r, vol) - 2.0 * pr(s, t, r, vol) + pr(s - h, t, r, vol)) / (h * h);
        let dv = 1e-5;
        let vega = (pr(s, t, r, vol + dv) - pr(s, t, r, vol - dv)) / (2.0 * dv) * 0.01;
        let dt = 1e-5;
        let theta = -(pr(s, t + dt, r, vol) - pr(s, t - dt, r, vol)) / (2.0 * dt) / 365.0;
        let dr = 1e-5;
        let rho = (pr(s, t, r + dr, vol) - pr(s, t, r - dr, vol)) / (2.0 * dr) * 0.01;
        prop_assert!(close(g.delta, delta, 1e-6), "delta {} fd {}", g.delta, delta);
        prop_assert!(close(g.gamma, gamma, 1e-5 + 1e-4 * gamma.abs()), "gamma {} fd {}", g.gamma, gamma);
        prop_assert!(close(g.vega, vega, 1e-7 + 1e-6 * vega.abs()), "vega {} fd {}", g.vega, vega);
        prop_assert!(close(g.theta, theta, 1e-7 + 1e-5 * theta.abs()), "theta {} fd {}", g.theta, theta);
        prop_assert!(close(g.rho, rho, 1e-7 + 1e-6 * rho.abs()), "rho {} fd {}", g.rho, rho);
    }
}
