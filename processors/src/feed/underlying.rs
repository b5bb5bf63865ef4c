//! The synthetic underlying: geometric Brownian motion scaled to the tick interval,
//! prices on the exchange's tick size, and a random traded volume per tick.

use super::rng::Rng;
use ds_analytics::market::{Exchange, ProductSpec};

const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// The price process of one product.
#[derive(Debug, Clone)]
pub struct UnderlyingModel {
    price: f64,
    vol: f64,
    dt_years: f64,
    tick_size: f64,
    base_volume: f64,
}

/// The exchange's minimum price increment.
pub fn tick_size(exchange: Exchange) -> f64 {
    exchange.default_min_tick()
}

/// `x` rounded to a multiple of `step` (and cleaned of binary noise).
pub fn round_to(x: f64, step: f64) -> f64 {
    let r = (x / step).round() * step;
    (r * 1e8).round() / 1e8
}

impl UnderlyingModel {
    /// A process starting at `start_price` with ticks `tick_interval_ms` apart.
    pub fn new(spec: &ProductSpec, start_price: f64, tick_interval_ms: u64) -> Self {
        let base_volume = if spec.spot > 10_000.0 { 50.0 } else { 300.0 };
        Self {
            price: start_price,
            vol: spec.annual_vol,
            dt_years: tick_interval_ms as f64 / 1000.0 / SECONDS_PER_YEAR,
            tick_size: tick_size(spec.exchange),
            base_volume,
        }
    }

    /// The current price.
    pub fn price(&self) -> f64 {
        self.price
    }

    /// Moves one tick: returns the new price and the volume traded in the tick.
    pub fn step(&mut self, rng: &mut Rng) -> (f64, u64) {
        let z = rng.normal();
        let drift = -0.5 * self.vol * self.vol * self.dt_years;
        let next = self.price * (drift + self.vol * self.dt_years.sqrt() * z).exp();
        self.price = round_to(next, self.tick_size).max(self.tick_size);
        // Volume: log-normal around the base, larger on larger moves.
        let v = self.base_volume * (0.6 * rng.normal()).exp() * (1.0 + z.abs());
        (self.price, v.round().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_analytics::market::default_products;

    /// The model of the first default product (NIFTY) at its spot, and a
    /// generator seeded with `seed`.
    fn nifty(seed: u64) -> (ProductSpec, UnderlyingModel, Rng) {
        let spec = default_products()[0].clone();
        let m = UnderlyingModel::new(&spec, spec.spot, 1000);
        (spec, m, Rng::new(seed))
    }

    #[test]
    fn prices_stay_on_the_tick_grid_and_positive() {
        let (_, mut m, mut rng) = nifty(1);
        for _ in 0..10_000 {
            let (p, v) = m.step(&mut rng);
            assert!(p > 0.0 && v >= 1);
            let k = p / 0.05;
            assert!((k - k.round()).abs() < 1e-6, "{p} off the grid");
        }
    }

    #[test]
    fn daily_volatility_is_plausible() {
        // One NSE session of 1 s ticks moves NIFTY well under 5 % (σ≈13 %/yr).
        let (spec, mut m, mut rng) = nifty(2);
        for _ in 0..22_500 {
            m.step(&mut rng);
        }
        let moved = (m.price() / spec.spot - 1.0).abs();
        assert!(moved < 0.05, "moved {moved}");
    }
}
