//! Pure option-market analytics for DeltaStream: pricing, implied volatility,
//! Greeks, chain analytics, OI build-up, OHLC bars, indicators and IV surfaces,
//! and the market model they need: exchanges, holiday calendars, sessions,
//! expiry schedules, products and universes.
//!
//! The crate performs no I/O (except [`Universe::from_file`], a configuration
//! load) and never reads the wall clock: every function
//! takes event time from its arguments, so a replay of a trading day computes
//! exactly what the live run computed. Stateful analytics ([`OiTracker`],
//! [`BarAggregator`], [`SessionStats`]) are small serde-serializable state
//! machines (`update` / `snapshot` / `reset`) that processors checkpoint.
//!
//! Conventions follow SPEC §4: time in UTC nanoseconds (`ts_unix_ns`), time to
//! expiry in years of 365 days, vega per vol point, theta per calendar day, rho
//! per rate point.
//!
//! ```
//! use ds_analytics::{enrich_chain, implied_vol, price, ChainInput, OptionKind, Quote};
//!
//! // Price → implied vol round trip.
//! let p = price(OptionKind::Call, 21_500.0, 21_600.0, 7.0 / 365.0, 0.065, 0.0, 0.13).unwrap();
//! let iv = implied_vol(OptionKind::Call, p, 21_500.0, 21_600.0, 7.0 / 365.0, 0.065, 0.0).unwrap();
//! assert!((iv - 0.13).abs() < 1e-8);
//!
//! // Full enrichment of a (tiny) chain; the snapshot feeds the next chain's OI build-up.
//! let strikes = [21_450.0, 21_500.0, 21_550.0];
//! let q = |mid: f64, oi: u64| Quote { bid: mid - 0.5, ask: mid + 0.5, last: mid, volume: 10, open_interest: oi };
//! let calls = [q(160.0, 900), q(125.0, 1_200), q(95.0, 1_500)];
//! let puts = [q(95.0, 1_400), q(118.0, 1_100), q(150.0, 700)];
//! let input = ChainInput {
//!     spot: 21_510.0,
//!     strikes: &strikes,
//!     calls: &calls,
//!     puts: &puts,
//!     time_to_expiry_years: 7.0 / 365.0,
//!     rate: 0.065,
//!     dividend_yield: 0.0,
//!     min_tick: 0.05,
//! };
//! let out = enrich_chain(&input, None)?;
//! assert_eq!(out.analytics.atm_strike, Some(21_500.0));
//! assert!(out.calls[1].iv().is_some() && !out.calls[1].illiquid);
//! assert!(out.analytics.atm_iv.is_some());
//! let next = enrich_chain(&input, Some(&out.snapshot))?;
//! assert_eq!(next.calls[0].oi.oi_change, 0);
//! # Ok::<(), ds_analytics::AnalyticsError>(())
//! ```

pub mod bars;
pub mod bs;
pub mod chain;
pub mod error;
pub mod iv;
pub mod market;
pub mod oi;
pub mod surface;

pub use bars::{
    Bar, BarAggregator, ClosedBar, Indicators, Interval, SessionSnapshot, SessionStats, Tick,
};
pub use bs::{greeks, price, Greeks, OptionKind};
pub use chain::{enrich_chain, ChainAnalytics, ChainInput, EnrichedChainOut, EnrichedQuote, Quote};
pub use error::AnalyticsError;
pub use iv::implied_vol;
pub use market::{
    default_products, is_in_session, is_trading_day, market_status, next_expiries, session_bounds,
    time_to_expiry_years, trading_day, Exchange, ExpiryRule, MarketStatus, ProductSpec, Universe,
};
pub use oi::{Buildup, ChainSnapshot, OiChange, OiTracker};
pub use surface::{build_surface, IvSurface, SurfaceChain};

/// Nanoseconds per second, the unit of every `*_unix_ns` timestamp.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
