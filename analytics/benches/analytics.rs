//! Criterion benchmarks: implied-vol solves and full chain enrichment.
//!
//! Run: `cargo bench -p ds-analytics -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ds_analytics::bs::{greeks, price};
use ds_analytics::{enrich_chain, implied_vol, ChainInput, OptionKind, Quote};
use implied_vol::{solver::Jaeckel, ImpliedBlackVolatility};

/// One IV problem: (kind, price, spot, strike, t, r, q, true vol).
type Case = (OptionKind, f64, f64, f64, f64, f64, f64, f64);

/// A named IV solver under comparison.
type Solver = (&'static str, fn(&Case) -> Option<f64>);

/// 1024 deterministic solvable cases over moneyness 0.5–2, 1 h–2 y, 1 %–300 %.
fn iv_cases() -> Vec<Case> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(1024);
    while out.len() < 1024 {
        let kind = if uniform() < 0.5 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let m = (0.5_f64.ln() + uniform() * 4.0_f64.ln()).exp();
        let t = ((1.0_f64 / 8760.0).ln() + uniform() * (2.0 * 8760.0_f64).ln()).exp();
        let vol = (0.01_f64.ln() + uniform() * 300.0_f64.ln()).exp();
        let (s, k, r, q) = (100.0, 100.0 * m, 0.05, 0.01);
        let Some(p) = price(kind, s, k, t, r, q, vol) else {
            continue;
        };
        let Some(g) = greeks(kind, s, k, t, r, q, vol) else {
            continue;
        };
        // Same identifiability criterion as the tests (κ ≤ 1e-10).
        if p > 1e-290 && f64::EPSILON * p / (g.vega * 100.0) <= 1e-10 {
            out.push((kind, p, s, k, t, r, q, vol));
        }
    }
    out
}

fn jaeckel(c: &Case) -> Option<f64> {
    let &(kind, p, s, k, t, r, q, _) = c;
    let forward = s * ((r - q) * t).exp();
    ImpliedBlackVolatility::builder()
        .option_price(p * (r * t).exp())
        .forward(forward)
        .strike(k)
        .expiry(t)
        .is_call(kind.is_call())
        .build()?
        .calculate_with::<Jaeckel>()
}

/// A conventional safeguarded Newton solver (bisection fallback, 1e-14 price
/// tolerance), as the alternative the library could have used.
fn newton(c: &Case) -> Option<f64> {
    let &(kind, p, s, k, t, r, q, _) = c;
    let (mut lo, mut hi) = (1e-6, 10.0);
    let mut vol = (2.0 * std::f64::consts::PI / t).sqrt() * p / s; // Brenner–Subrahmanyam
    vol = vol.clamp(0.05, 3.0);
    for _ in 0..100 {
        let diff = price(kind, s, k, t, r, q, vol)? - p;
        if diff.abs() <= 1e-14 * p.max(1e-300) {
            return Some(vol);
        }
        if diff > 0.0 {
            hi = vol
        } else {
            lo = vol
        }
        let vega = greeks(kind, s, k, t, r, q, vol)?.vega * 100.0;
        let next = vol - diff / vega;
        vol = if next.is_finite() && next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
        if hi - lo < 1e-15 {
            return Some(vol);
        }
    }
    Some(vol)
}

fn report_accuracy(cases: &[Case]) {
    let solvers: [Solver; 3] = [
        ("hybrid (implied_vol)", |c| {
            implied_vol(c.0, c.1, c.2, c.3, c.4, c.5, c.6)
        }),
        ("jaeckel", jaeckel),
        ("newton", newton),
    ];
    for (name, solve) in solvers {
        let (mut worst, mut misses) = (0.0_f64, 0);
        for c in cases {
            match solve(c) {
                Some(v) if (v - c.7).abs() <= 1e-8 => worst = worst.max((v - c.7).abs()),
                Some(v) => {
                    worst = worst.max((v - c.7).abs());
                    misses += 1
                }
                None => misses += 1,
            }
        }
        eprintln!(
            "accuracy {name}: worst |Δσ| {worst:e}, {misses}/{} beyond 1e-8 or unsolved",
            cases.len()
        );
    }
}

fn bench_iv(c: &mut Criterion) {
    let cases = iv_cases();
    report_accuracy(&cases);
    let mut group = c.benchmark_group("iv_solve_1024");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("hybrid", |b| {
        b.iter(|| {
            for c in &cases {
                black_box(implied_vol(c.0, black_box(c.1), c.2, c.3, c.4, c.5, c.6));
            }
        });
    });
    group.bench_function("jaeckel", |b| {
        b.iter(|| {
            for c in &cases {
                black_box(jaeckel(black_box(c)));
            }
        });
    });
    group.bench_function("newton", |b| {
        b.iter(|| {
            for c in &cases {
                black_box(newton(black_box(c)));
            }
        });
    });
    group.finish();

    // One typical solve: a near-ATM weekly NIFTY call.
    let (s, k, t, r) = (21_512.35, 21_550.0, 5.0 / 365.0, 0.065);
    let p = price(OptionKind::Call, s, k, t, r, 0.0, 0.13).unwrap_or(100.0);
    c.bench_function("iv_solve_single/nifty_weekly_atm_call", |b| {
        b.iter(|| implied_vol(OptionKind::Call, black_box(p), s, k, t, r, 0.0));
    });
}

/// A NIFTY-like chain of `n` strikes around spot, priced off a smile.
fn chain(n: usize, bump: u64) -> (f64, Vec<f64>, Vec<Quote>, Vec<Quote>) {
    let spot = 21_512.35;
    let half = (n / 2) as f64;
    let strikes: Vec<f64> = (0..n)
        .map(|i| 21_500.0 + 50.0 * (i as f64 - half))
        .collect();
    let t = 9.0 / 365.0;
    let quotes = |kind| -> Vec<Quote> {
        strikes
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let vol = 0.13 + 0.4 * (k / spot).ln().powi(2);
                let p = price(kind, spot, k, t, 0.065, 0.0, vol).unwrap_or(0.0);
                Quote {
                    bid: (p - 0.05).max(0.0),
                    ask: p + 0.05,
                    last: p,
                    volume: 100 + i as u64,
                    open_interest: 10_000 + 37 * i as u64 + bump,
                }
            })
            .collect()
    };
    let calls = quotes(OptionKind::Call);
    let puts = quotes(OptionKind::Put);
    (spot, strikes, calls, puts)
}

fn bench_enrich(c: &mut Criterion) {
    let mut group = c.benchmark_group("enrich_chain");
    for n in [21, 101, 501] {
        let (spot, strikes, calls, puts) = chain(n, 0);
        let input = ChainInput {
            spot,
            strikes: &strikes,
            calls: &calls,
            puts: &puts,
            time_to_expiry_years: 9.0 / 365.0,
            rate: 0.065,
            dividend_yield: 0.0,
            min_tick: 0.05,
        };
        let (_, _, prev_calls, prev_puts) = chain(n, 5);
        let prev_input = ChainInput {
            calls: &prev_calls,
            puts: &prev_puts,
            ..input
        };
        let previous = enrich_chain(&prev_input, None).map(|o| o.snapshot).ok();
        group.throughput(Throughput::Elements(2 * n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| black_box(enrich_chain(black_box(input), previous.as_ref())));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_iv, bench_enrich);
criterion_main!(benches);
