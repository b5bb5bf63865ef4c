//! Black–Scholes prices and Greeks for European options with rate and dividend yield.

use std::fmt;
use std::str::FromStr;

use implied_vol::{DefaultSpecialFn, PriceBlackScholes, SpecialFn};
use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    /// Right to buy at the strike.
    Call,
    /// Right to sell at the strike.
    Put,
}

impl OptionKind {
    /// `"call"` or `"put"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Put => "put",
        }
    }

    /// `true` for a call.
    #[must_use]
    pub const fn is_call(self) -> bool {
        matches!(self, Self::Call)
    }
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OptionKind {
    type Err = AnalyticsError;

    /// Parses `call`/`CALL`/`C` or `put`/`PUT`/`P`.
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownOptionKind`] for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "call" | "CALL" | "C" => Ok(Self::Call),
            "put" | "PUT" | "P" => Ok(Self::Put),
            other => Err(AnalyticsError::UnknownOptionKind(other.to_owned())),
        }
    }
}

/// Standard normal cumulative distribution, to full double precision
/// (W. J. Cody's erfc via `implied-vol`, the same one its solver prices with).
#[must_use]
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    DefaultSpecialFn::norm_cdf(x)
}

/// Standard normal density.
#[must_use]
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Sensitivities of one option. Units follow SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Greeks {
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// Per one vol point: ∂V/∂σ × 0.01.
    pub vega: f64,
    /// Per calendar day: −∂V/∂T / 365 (usually negative for a long option).
    pub theta: f64,
    /// Per one rate point: ∂V/∂r × 0.01.
    pub rho: f64,
}

fn inputs_finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// Black–Scholes price of a European option.
///
/// `t` is the time to expiry in years, `rate` and `dividend_yield` are
/// continuously compounded, `vol` annualised. Out-of-the-money prices keep
/// full relative precision (Jäckel's normalised Black formula from
/// `implied-vol`), which the implied-volatility round trip relies on.
///
/// Returns the payoff `max(±(S − K), 0)` when `t ≤ 0` and the discounted
/// forward intrinsic value when `vol == 0`; `None` when an input is not
/// finite, or `spot`, `strike` or `vol` is negative.
#[must_use]
pub fn price(
    kind: OptionKind,
    spot: f64,
    strike: f64,
    t: f64,
    rate: f64,
    dividend_yield: f64,
    vol: f64,
) -> Option<f64> {
    if !inputs_finite(&[spot, strike, t, rate, dividend_yield, vol])
        || spot < 0.0
        || strike < 0.0
        || vol < 0.0
    {
        return None;
    }
    let sign = if kind.is_call() { 1.0 } else { -1.0 };
    if t <= 0.0 {
        return Some((sign * (spot - strike)).max(0.0));
    }
    let discount = (-rate * t).exp();
    let carry = (-dividend_yield * t).exp();
    let value = if vol == 0.0 || spot == 0.0 || strike == 0.0 {
        (sign * (spot * carry - strike * discount)).max(0.0)
    } else {
        let forward = spot * ((rate - dividend_yield) * t).exp();
        let undiscounted = PriceBlackScholes::builder()
            .forward(forward)
            .strike(strike)
            .volatility(vol)
            .expiry(t)
            .is_call(kind.is_call())
            .build_unchecked()
            .calculate::<DefaultSpecialFn>();
        discount * undiscounted
    };
    value.is_finite().then_some(value)
}

/// Black–Scholes Greeks (closed form) at volatility `vol`.
///
/// `None` unless every input is finite and `spot`, `strike`, `t` and `vol`
/// are strictly positive (Greeks are undefined at and after expiry).
#[must_use]
pub fn greeks(
    kind: OptionKind,
    spot: f64,
    strike: f64,
    t: f64,
    rate: f64,
    dividend_yield: f64,
    vol: f64,
) -> Option<Greeks> {
    if !inputs_finite(&[spot, strike, t, rate, dividend_yield, vol])
        || spot <= 0.0
        || strike <= 0.0
        || t <= 0.0
        || vol <= 0.0
    {
        return None;
    }
    let sqrt_t = t.sqrt();
    let sig_sqrt_t = vol * sqrt_t;
    let d1 = ((spot / strike).ln() + (rate - dividend_yield) * t) / sig_sqrt_t + 0.5 * sig_sqrt_t;
    let d2 = d1 - sig_sqrt_t;
    let discount = (-rate * t).exp();
    let carry = (-dividend_yield * t).exp();
    let pdf_d1 = norm_pdf(d1);
    let s_carry = spot * carry;
    let k_disc = strike * discount;

    let gamma = carry * pdf_d1 / (spot * sig_sqrt_t);
    let vega = s_carry * pdf_d1 * sqrt_t;
    let decay = -s_carry * pdf_d1 * vol / (2.0 * sqrt_t);
    let (delta, theta_year, rho_unit) = match kind {
        OptionKind::Call => {
            let nd1 = norm_cdf(d1);
            let nd2 = norm_cdf(d2);
            (
                carry * nd1,
                decay - rate * k_disc * nd2 + dividend_yield * s_carry * nd1,
                k_disc * t * nd2,
            )
        }
        OptionKind::Put => {
            let nmd1 = norm_cdf(-d1);
            let nmd2 = norm_cdf(-d2);
            (
                -carry * nmd1,
                decay + rate * k_disc * nmd2 - dividend_yield * s_carry * nmd1,
                -k_disc * t * nmd2,
            )
        }
    };
    let g = Greeks {
        delta,
        gamma,
        vega: vega * 0.01,
        theta: theta_year / 365.0,
        rho: rho_unit * 0.01,
    };
    inputs_finite(&[g.delta, g.gamma, g.vega, g.theta, g.rho]).then_some(g)
}
