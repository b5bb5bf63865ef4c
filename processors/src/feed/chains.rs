//! Synthetic option chains from the product's specification: the next expiries
//! of its expiry rule on its exchange's calendar, its listed strikes centred on
//! the money (`listed_strikes`, else ATM ± `feed.strikes_each_side` steps of its
//! `strike_step`), priced with Black–Scholes at its `rate` and `dividend_yield`
//! from its smile (or the feed's own per-product shape) and a term structure,
//! with bid/ask spreads on its `min_tick`, and volume and open interest that
//! evolve plausibly (OI never negative; every build-up class occurs over a session).
//!
//! Quotes are the model price ± a half-spread, *not* rounded to the option tick,
//! so the quote mid is exactly the model price and enrichment recovers the model's
//! volatility (to 1e-8); `last` is the model price on the tick grid, as trades are.

use super::model::FeedEvent;
use super::rng::Rng;
use super::underlying::round_to;
use ds_analytics::market::{time_to_expiry_years, trading_day, ProductSpec};
use ds_analytics::{price, OptionKind};
use ds_runtime::config::FeedConfig;
use ds_schemas::{OptionChain, OptionQuote};
use std::collections::{BTreeMap, HashMap};

/// Per-quote state that evolves between snapshots.
#[derive(Debug, Clone, Copy)]
struct QuoteState {
    open_interest: u64,
    day_volume: u64,
}

/// The chain side of one product's feed.
#[derive(Debug, Clone)]
pub struct ChainModel {
    expiries: usize,
    /// Strikes listed when the product does not say (`2 × strikes_each_side + 1`).
    default_strikes: u32,
    seqs: BTreeMap<String, u64>,
    quotes: HashMap<(String, i64, bool), QuoteState>,
    day: Option<chrono::NaiveDate>,
    /// The feed's own smile shape when the product names none: skew and
    /// curvature in log-moneyness.
    skew: f64,
    curvature: f64,
}

impl ChainModel {
    /// A chain model continuing the chain sequences in `seqs` (expiry → last seq).
    pub fn new(
        spec: &ProductSpec,
        cfg: &FeedConfig,
        seqs: &BTreeMap<String, u64>,
        rng: &mut Rng,
    ) -> Self {
        let _ = spec;
        let each_side = u32::try_from(cfg.strikes_each_side).unwrap_or(u32::MAX / 2);
        Self {
            expiries: cfg.expiries,
            default_strikes: (2 * each_side.min(u32::MAX / 2 - 1)) + 1,
            seqs: seqs.clone(),
            quotes: HashMap::new(),
            day: None,
            skew: -0.25 - 0.1 * rng.uniform(),
            curvature: 0.6 + 0.4 * rng.uniform(),
        }
    }

    /// The model volatility at `strike` for an expiry `t` years away with forward
    /// `fwd`: the product's smile when it names one, else the feed's own shape.
    pub fn model_vol(&self, spec: &ProductSpec, fwd: f64, strike: f64, t: f64) -> f64 {
        // Term structure: short expiries a little richer, flattening out.
        let atm = spec.annual_vol * (1.0 + 0.15 * (-t * 26.0).exp());
        let vol = match &spec.smile {
            Some(smile) => smile.vol(atm, fwd, strike, t),
            None => {
                let m = (strike / fwd).ln() / t.max(1.0 / 365.0).sqrt();
                atm * (1.0 + self.skew * m * 0.1 + self.curvature * (m * 0.1).powi(2))
            }
        };
        vol.clamp(0.03, 3.0)
    }

    /// Appends one snapshot per live expiry at event time `ts_unix_ns`, spot `spot`.
    pub fn snapshots(
        &mut self,
        spec: &ProductSpec,
        spot: f64,
        ts_unix_ns: i64,
        rng: &mut Rng,
        out: &mut Vec<FeedEvent>,
    ) {
        let today = trading_day(ts_unix_ns, spec.exchange);
        if self.day != Some(today) {
            // A new trading day: traded volume restarts, OI carries over, and
            // the quotes of expired series are forgotten (a live feed runs for weeks).
            let alive = today.format("%Y-%m-%d").to_string();
            self.quotes.retain(|(expiry, _, _), _| *expiry >= alive);
            for q in self.quotes.values_mut() {
                q.day_volume = 0;
            }
            self.day = Some(today);
        }
        let tick = spec.min_tick;
        let strikes: Vec<f64> = spec
            .strike_ladder(spot, self.default_strikes)
            .into_iter()
            .map(|k| round_to(k, 1e-6))
            .collect();
        // A common OI flow per snapshot (positions opened or closed market-wide),
        // so that OI moves together and all build-up classes occur.
        let flow = rng.normal();
        for expiry in spec.next_expiries_at(ts_unix_ns, self.expiries) {
            let t = time_to_expiry_years(expiry, spec.exchange, ts_unix_ns);
            if t <= 0.0 {
                continue;
            }
            let expiry_s = expiry.format("%Y-%m-%d").to_string();
            let fwd = spot * ((spec.rate - spec.dividend_yield) * t).exp();
            let mut calls = Vec::with_capacity(strikes.len());
            let mut puts = Vec::with_capacity(strikes.len());
            for &k in &strikes {
                let vol = self.model_vol(spec, fwd, k, t);
                for (is_call, side) in [(true, &mut calls), (false, &mut puts)] {
                    let kind = if is_call {
                        OptionKind::Call
                    } else {
                        OptionKind::Put
                    };
                    let theo =
                        price(kind, spot, k, t, spec.rate, spec.dividend_yield, vol).unwrap_or(0.0);
                    let moneyness = ((k / spot).ln() / (vol * t.sqrt())).abs();
                    let key = (expiry_s.clone(), (k * 1000.0).round() as i64, is_call);
                    let state = self.quotes.entry(key).or_insert_with(|| QuoteState {
                        open_interest: (20_000.0 * (-moneyness).exp() * (0.5 + rng.uniform()))
                            .round() as u64
                            + 100,
                        day_volume: 0,
                    });
                    let d_oi = ((flow * 0.6 + rng.normal()) * 0.01 * state.open_interest as f64
                        + 20.0 * rng.normal())
                    .round() as i64;
                    state.open_interest = (state.open_interest as i64 + d_oi).max(0) as u64;
                    state.day_volume += d_oi.unsigned_abs() + rng.range(0, 50);
                    side.push(quote(k, theo, tick, state));
                }
            }
            let seq = self.seqs.entry(expiry_s.clone()).or_insert(0);
            *seq += 1;
            out.push(FeedEvent::Chain(OptionChain {
                product: spec.name.clone(),
                expiry: expiry_s,
                spot,
                ts_unix_ns,
                seq: *seq,
                strikes: strikes.clone(),
                calls,
                puts,
            }));
        }
    }
}

fn quote(strike: f64, theo: f64, tick: f64, s: &QuoteState) -> OptionQuote {
    if theo < tick {
        // Worthless on the tick grid: no bid, offered at one tick.
        return OptionQuote {
            strike,
            bid: 0.0,
            ask: tick,
            last: tick,
            volume: s.day_volume,
            open_interest: s.open_interest,
        };
    }
    let half = (0.004 * theo + tick).min(0.4 * theo);
    OptionQuote {
        strike,
        bid: theo - half,
        ask: theo + half,
        last: round_to(theo, tick).max(tick),
        volume: s.day_volume,
        open_interest: s.open_interest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::state::enrich_wire_chain;
    use crate::feed::model::FeedEvent;
    use ds_analytics::market::default_products;
    use ds_analytics::oi::ChainSnapshot;

    /// A chain priced by the feed and enriched by the library gives back the
    /// feed's own volatilities (where the quote has a bid, i.e. the mid is the model price).
    #[test]
    fn enrichment_recovers_the_model_volatilities() {
        let cfg = FeedConfig::default();
        let ts = 1_736_912_700_000_000_000; // 2025-01-15 09:15 IST
        for spec in default_products() {
            let mut rng = Rng::new(9);
            let mut model = ChainModel::new(&spec, &cfg, &BTreeMap::new(), &mut rng);
            let mut out = Vec::new();
            model.snapshots(&spec, spec.spot, ts, &mut rng, &mut out);
            assert_eq!(out.len(), cfg.expiries, "{}", spec.name);
            let mut checked = 0;
            for e in out {
                let FeedEvent::Chain(c) = e else {
                    panic!("chains only")
                };
                let expiry =
                    chrono::NaiveDate::parse_from_str(&c.expiry, "%Y-%m-%d").expect("date");
                let t = time_to_expiry_years(expiry, spec.exchange, c.ts_unix_ns);
                let enriched = enrich_wire_chain(&c, &spec, t, spec.dividend_yield, None)
                    .expect("valid chain");
                let fwd = c.spot * ((spec.rate - spec.dividend_yield) * t).exp();
                for (i, k) in c.strikes.iter().enumerate() {
                    let want = model.model_vol(&spec, fwd, *k, t);
                    for (side, raw) in [
                        (&enriched.calls[i], &c.calls[i]),
                        (&enriched.puts[i], &c.puts[i]),
                    ] {
                        if raw.bid > 0.0 {
                            let got = side.iv().expect("iv solved");
                            assert!(
                                (got - want).abs() < 1e-8,
                                "{} {} K={k}: iv {got} vs model {want}",
                                spec.name,
                                c.expiry
                            );
                            checked += 1;
                        }
                    }
                }
                assert!(c.calls.iter().all(|q| q.ask >= q.bid && q.bid >= 0.0));
            }
            assert!(
                checked >= 100,
                "{}: only {checked} quotes checked",
                spec.name
            );
        }
    }

    #[test]
    fn open_interest_never_negative_and_every_buildup_occurs() {
        use ds_analytics::oi::Buildup;
        let spec = default_products()[0].clone();
        let cfg = FeedConfig::default();
        let mut feed = crate::feed::model::ProductFeed::new(&spec, &cfg, 5, &Default::default());
        let mut seen = std::collections::BTreeSet::new();
        let mut prev: BTreeMap<String, ChainSnapshot> = BTreeMap::new();
        let open = 1_736_912_700_000_000_000i64;
        let mut out = Vec::new();
        for i in 0..2000 {
            feed.step(open + i * 1_000_000_000, &mut out);
            for e in out.drain(..) {
                let FeedEvent::Chain(c) = e else { continue };
                let enriched =
                    enrich_wire_chain(&c, &spec, 0.05, 0.0, prev.get(&c.expiry)).expect("valid");
                for qq in enriched.calls.iter().chain(&enriched.puts) {
                    seen.insert(format!("{:?}", qq.oi.buildup));
                }
                prev.insert(c.expiry.clone(), enriched.snapshot);
            }
        }
        for b in [
            Buildup::LongBuildup,
            Buildup::ShortBuildup,
            Buildup::ShortCovering,
            Buildup::LongUnwinding,
        ] {
            assert!(
                seen.contains(&format!("{b:?}")),
                "{b:?} never occurred: {seen:?}"
            );
        }
    }
}
