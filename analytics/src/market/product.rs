//! Product specifications: what the feed simulates and the enrichers price.

use serde::{Deserialize, Serialize};

use super::Exchange;
use crate::AnalyticsError;

/// A tradable product and its pricing defaults. Loaded from configuration
/// (unknown fields are rejected; `rate` and `dividend_yield` default to the
/// exchange's values) and validated on deserialization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProductSpecConfig")]
pub struct ProductSpec {
    /// Product token, upper-case `[A-Z0-9_]+` (e.g. `NIFTY`).
    pub name: String,
    /// Exchange the product and its options trade on.
    pub exchange: Exchange,
    /// Reference spot price the feed starts from (> 0).
    pub spot: f64,
    /// Distance between listed strikes (> 0).
    pub strike_step: f64,
    /// Continuously compounded risk-free rate used for pricing.
    pub rate: f64,
    /// Continuous dividend yield used for pricing.
    pub dividend_yield: f64,
    /// Annualised volatility the feed simulates (> 0).
    pub annual_vol: f64,
}

/// The configuration shape of [`ProductSpec`] (optional fields, no validation yet).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductSpecConfig {
    name: String,
    exchange: Exchange,
    spot: f64,
    strike_step: f64,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    dividend_yield: Option<f64>,
    annual_vol: f64,
}

impl TryFrom<ProductSpecConfig> for ProductSpec {
    type Error = AnalyticsError;

    fn try_from(c: ProductSpecConfig) -> Result<Self, Self::Error> {
        let spec = Self {
            rate: c.rate.unwrap_or(c.exchange.default_rate()),
            dividend_yield: c
                .dividend_yield
                .unwrap_or(c.exchange.default_dividend_yield()),
            name: c.name,
            exchange: c.exchange,
            spot: c.spot,
            strike_step: c.strike_step,
            annual_vol: c.annual_vol,
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl ProductSpec {
    /// A product with the exchange's default rate and dividend yield.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidProduct`] when [`ProductSpec::validate`] fails.
    pub fn new(
        name: &str,
        exchange: Exchange,
        spot: f64,
        strike_step: f64,
        annual_vol: f64,
    ) -> Result<Self, AnalyticsError> {
        let spec = Self {
            name: name.to_owned(),
            exchange,
            spot,
            strike_step,
            rate: exchange.default_rate(),
            dividend_yield: exchange.default_dividend_yield(),
            annual_vol,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the token and that every number is finite and in range.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidProduct`] naming the first problem found.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let fail = |reason| {
            Err(AnalyticsError::InvalidProduct {
                name: self.name.clone(),
                reason,
            })
        };
        let token_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !token_ok {
            return fail("name must match [A-Z0-9_]+");
        }
        if !(self.spot.is_finite() && self.spot > 0.0) {
            return fail("spot must be finite and > 0");
        }
        if !(self.strike_step.is_finite() && self.strike_step > 0.0) {
            return fail("strike_step must be finite and > 0");
        }
        if !(self.annual_vol.is_finite() && self.annual_vol > 0.0) {
            return fail("annual_vol must be finite and > 0");
        }
        if !self.rate.is_finite() || !self.dividend_yield.is_finite() {
            return fail("rate and dividend_yield must be finite");
        }
        Ok(())
    }

    /// The strike nearest `price`, on this product's strike grid (ties: lower).
    #[must_use]
    pub fn nearest_strike(&self, price: f64) -> f64 {
        let steps = price / self.strike_step;
        let lower = steps.floor();
        let pick = if steps - lower > 0.5 {
            lower + 1.0
        } else {
            lower
        };
        pick * self.strike_step
    }
}

/// The four default products of SPEC §2 / issue 3.
#[must_use]
pub fn default_products() -> Vec<ProductSpec> {
    let make = |name: &str, exchange: Exchange, spot, strike_step, annual_vol| ProductSpec {
        name: name.to_owned(),
        exchange,
        spot,
        strike_step,
        rate: exchange.default_rate(),
        dividend_yield: exchange.default_dividend_yield(),
        annual_vol,
    };
    vec![
        make("NIFTY", Exchange::Nse, 21_500.0, 50.0, 0.13),
        make("BANKNIFTY", Exchange::Nse, 45_000.0, 100.0, 0.16),
        make("AAPL", Exchange::Us, 185.0, 2.5, 0.25),
        make("TSLA", Exchange::Us, 245.0, 5.0, 0.50),
    ]
}
