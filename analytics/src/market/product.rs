//! Product specifications: what the feed simulates and the enrichers price.

use serde::{Deserialize, Serialize};

use super::{market_status, Exchange, ExpiryRule, ExpirySchedule, MarketStatus};
use crate::AnalyticsError;

/// Most strikes a product may list per expiry (keeps a typo from generating
/// a million-strike chain).
pub const MAX_LISTED_STRIKES: u32 = 1_001;

/// A volatility smile around the ATM volatility, in standardised
/// log-moneyness `x = ln(K/F) / (σ_atm·√T)` (T at least one day):
/// `σ(K) = σ_atm · (1 + skew·x + curvature·x²)`, the factor kept within
/// [0.2, 5]. Equity indices have a negative skew (puts richer), crypto a small
/// skew and a larger curvature (both wings richer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smile {
    /// Relative change of vol per standard deviation of moneyness (−1..=1).
    pub skew: f64,
    /// Relative change of vol per squared standard deviation (0..=1).
    pub curvature: f64,
}

impl Smile {
    /// A flat smile (σ(K) = σ_atm).
    pub const FLAT: Self = Self {
        skew: 0.0,
        curvature: 0.0,
    };

    /// The volatility at `strike` for an expiry `t` years away, forward `forward`
    /// and ATM volatility `atm_vol`. Non-positive inputs give `atm_vol`.
    #[must_use]
    pub fn vol(&self, atm_vol: f64, forward: f64, strike: f64, t: f64) -> f64 {
        if !(forward > 0.0 && strike > 0.0 && atm_vol > 0.0) {
            return atm_vol;
        }
        let x = (strike / forward).ln() / (atm_vol * t.max(1.0 / 365.0).sqrt());
        let factor = 1.0 + self.skew * x + self.curvature * x * x;
        atm_vol * factor.clamp(0.2, 5.0)
    }

    fn check(&self) -> Option<&'static str> {
        if !(self.skew.is_finite() && (-1.0..=1.0).contains(&self.skew)) {
            return Some("smile.skew must be finite and within -1..=1");
        }
        if !(self.curvature.is_finite() && (0.0..=1.0).contains(&self.curvature)) {
            return Some("smile.curvature must be finite and within 0..=1");
        }
        None
    }
}

/// A tradable product and its pricing and listing parameters. Loaded from
/// configuration (unknown fields are rejected; every optional field defaults
/// from the exchange, see [`ProductSpecConfig`]) and validated on
/// deserialization, so a value of this type is always valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProductSpecConfig")]
pub struct ProductSpec {
    /// Product token, upper-case `[A-Z0-9_]+` (e.g. `NIFTY`).
    pub name: String,
    /// Exchange the product and its options trade on.
    pub exchange: Exchange,
    /// Reference spot price the feed starts from (> 0).
    pub spot: f64,
    /// Distance between listed strikes (> 0, at least `min_tick`).
    pub strike_step: f64,
    /// Continuously compounded risk-free rate used for pricing.
    pub rate: f64,
    /// Continuous dividend yield used for pricing.
    pub dividend_yield: f64,
    /// Annualised ATM volatility the feed simulates (> 0).
    pub annual_vol: f64,
    /// Smile around `annual_vol`; `None` lets the feed choose its own shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smile: Option<Smile>,
    /// Strikes listed per expiry, centred on the money; `None` uses the feed's
    /// setting (`feed.strikes_each_side`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_strikes: Option<u32>,
    /// Which expiry series the product lists.
    pub expiry: ExpiryRule,
    /// Units of the underlying per contract (≥ 1).
    pub lot_size: u32,
    /// Minimum price increment of the options (> 0); a quote at it is illiquid.
    pub min_tick: f64,
}

/// The configuration shape of [`ProductSpec`]: the optional fields and their
/// defaults, all in one place ([`ProductSpecConfig::resolve`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpecConfig {
    /// See [`ProductSpec::name`].
    pub name: String,
    /// See [`ProductSpec::exchange`].
    pub exchange: Exchange,
    /// See [`ProductSpec::spot`].
    pub spot: f64,
    /// See [`ProductSpec::strike_step`].
    pub strike_step: f64,
    /// Default: [`Exchange::default_rate`].
    #[serde(default)]
    pub rate: Option<f64>,
    /// Default: [`Exchange::default_dividend_yield`].
    #[serde(default)]
    pub dividend_yield: Option<f64>,
    /// See [`ProductSpec::annual_vol`].
    pub annual_vol: f64,
    /// Default: none (the feed's own shape).
    #[serde(default)]
    pub smile: Option<Smile>,
    /// Default: none (the feed's setting).
    #[serde(default)]
    pub listed_strikes: Option<u32>,
    /// Default: [`Exchange::default_expiry_rule`].
    #[serde(default)]
    pub expiry: Option<ExpiryRule>,
    /// Default: [`Exchange::default_lot_size`].
    #[serde(default)]
    pub lot_size: Option<u32>,
    /// Default: [`Exchange::default_min_tick`].
    #[serde(default)]
    pub min_tick: Option<f64>,
}

impl ProductSpecConfig {
    /// Fills the defaults and validates.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidProduct`] when [`ProductSpec::validate`] fails.
    pub fn resolve(self) -> Result<ProductSpec, AnalyticsError> {
        let ex = self.exchange;
        let spec = ProductSpec {
            rate: self.rate.unwrap_or(ex.default_rate()),
            dividend_yield: self.dividend_yield.unwrap_or(ex.default_dividend_yield()),
            expiry: self.expiry.unwrap_or(ex.default_expiry_rule()),
            lot_size: self.lot_size.unwrap_or(ex.default_lot_size()),
            min_tick: self.min_tick.unwrap_or(ex.default_min_tick()),
            name: self.name,
            exchange: ex,
            spot: self.spot,
            strike_step: self.strike_step,
            annual_vol: self.annual_vol,
            smile: self.smile,
            listed_strikes: self.listed_strikes,
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl TryFrom<ProductSpecConfig> for ProductSpec {
    type Error = AnalyticsError;

    fn try_from(c: ProductSpecConfig) -> Result<Self, Self::Error> {
        c.resolve()
    }
}

impl ProductSpec {
    /// A product with every optional field at the exchange's default.
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
        ProductSpecConfig {
            name: name.to_owned(),
            exchange,
            spot,
            strike_step,
            rate: None,
            dividend_yield: None,
            annual_vol,
            smile: None,
            listed_strikes: None,
            expiry: None,
            lot_size: None,
            min_tick: None,
        }
        .resolve()
    }

    /// Checks the token and that every number is finite and in range.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidProduct`] naming the first problem found.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        match self.problem() {
            Some(reason) => Err(AnalyticsError::InvalidProduct {
                name: self.name.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn problem(&self) -> Option<&'static str> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let token_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !token_ok {
            return Some("name must match [A-Z0-9_]+");
        }
        if !positive(self.spot) {
            return Some("spot must be finite and > 0");
        }
        if !positive(self.strike_step) {
            return Some("strike_step must be finite and > 0");
        }
        if !positive(self.annual_vol) {
            return Some("annual_vol must be finite and > 0");
        }
        if !self.rate.is_finite() || !self.dividend_yield.is_finite() {
            return Some("rate and dividend_yield must be finite");
        }
        if !positive(self.min_tick) {
            return Some("min_tick must be finite and > 0");
        }
        if self.strike_step < self.min_tick {
            return Some("strike_step must be at least min_tick");
        }
        if self.lot_size == 0 {
            return Some("lot_size must be at least 1");
        }
        if self
            .listed_strikes
            .is_some_and(|n| !(1..=MAX_LISTED_STRIKES).contains(&n))
        {
            return Some("listed_strikes must be within 1..=1001");
        }
        self.smile.as_ref().and_then(Smile::check)
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

    /// The strikes listed around `spot`: `listed_strikes` (or
    /// `default_count` when unset) consecutive strikes of the grid centred on
    /// the one nearest `spot` (one more above than below for an even count),
    /// ascending; strikes ≤ 0 are left out, so near zero there are fewer.
    #[must_use]
    pub fn strike_ladder(&self, spot: f64, default_count: u32) -> Vec<f64> {
        let n = i64::from(self.listed_strikes.unwrap_or(default_count));
        if n == 0 || !spot.is_finite() {
            return Vec::new();
        }
        // Integer grid indices, so strikes carry no accumulated rounding.
        let atm = (self.nearest_strike(spot) / self.strike_step).round() as i64;
        let below = (n - 1) / 2;
        (atm - below..atm - below + n)
            .map(|i| i as f64 * self.strike_step)
            .filter(|&k| k > 0.0)
            .collect()
    }

    /// The product's expiry calendar (exchange and rule).
    #[must_use]
    pub const fn expiry_schedule(&self) -> ExpirySchedule {
        ExpirySchedule::new(self.exchange, self.expiry)
    }

    /// The next `n` expiries of this product alive at `ts_unix_ns`.
    #[must_use]
    pub fn next_expiries_at(&self, ts_unix_ns: i64, n: usize) -> Vec<chrono::NaiveDate> {
        self.expiry_schedule().next_at(ts_unix_ns, n)
    }

    /// Whether this product's market is open at `now_unix_ns`, and when it next
    /// opens and closes.
    #[must_use]
    pub fn market_status(&self, now_unix_ns: i64) -> MarketStatus {
        market_status(self.exchange, now_unix_ns)
    }
}

/// The four default products of SPEC §2 / issue 3, with the parameters every
/// golden output was generated with (the `default` universe; see
/// [`super::Universe`]).
#[must_use]
pub fn default_products() -> Vec<ProductSpec> {
    let make =
        |name: &str, exchange: Exchange, spot, strike_step, annual_vol, lot_size| ProductSpec {
            name: name.to_owned(),
            exchange,
            spot,
            strike_step,
            rate: exchange.default_rate(),
            dividend_yield: exchange.default_dividend_yield(),
            annual_vol,
            smile: None,
            listed_strikes: None,
            expiry: ExpiryRule::Weekly,
            lot_size,
            min_tick: exchange.default_min_tick(),
        };
    vec![
        make("NIFTY", Exchange::Nse, 21_500.0, 50.0, 0.13, 75),
        make("BANKNIFTY", Exchange::Nse, 45_000.0, 100.0, 0.16, 35),
        make("AAPL", Exchange::Us, 185.0, 2.5, 0.25, 100),
        make("TSLA", Exchange::Us, 245.0, 5.0, 0.50, 100),
    ]
}
