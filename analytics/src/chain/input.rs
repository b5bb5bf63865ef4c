//! The chain as the enrichers receive it, and its validation.

use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// One option quote; its strike is implied by its index in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Quote {
    /// Best bid (0 when there is none).
    pub bid: f64,
    /// Best ask (0 when there is none).
    pub ask: f64,
    /// Last traded price.
    pub last: f64,
    /// Contracts traded.
    pub volume: u64,
    /// Open interest.
    pub open_interest: u64,
}

impl Quote {
    /// The price IV is solved from (SPEC §4): the mid `(bid + ask) / 2` when
    /// both are > 0, else `last` when it is > 0, else `None`.
    #[must_use]
    pub fn reference_price(&self) -> Option<f64> {
        if self.bid > 0.0 && self.ask > 0.0 {
            Some(0.5 * (self.bid + self.ask))
        } else if self.last > 0.0 {
            Some(self.last)
        } else {
            None
        }
    }

    /// Whether the quote is *illiquid* (SPEC §4): its bid is 0, or its bid or
    /// the price IV is solved from ([`Quote::reference_price`]) is at (or
    /// below) the minimum tick `min_tick`, so the price says little about
    /// volatility. A bid at the tick is a price nobody can undercut: the
    /// typical far-wing quote of 0.05 / 0.10. With `min_tick` 0 only the
    /// zero-bid rule applies.
    #[must_use]
    pub fn is_illiquid(&self, min_tick: f64) -> bool {
        // Prices arrive as decimals converted to f64; a relative tolerance keeps
        // 0.05 read from the wire "at" a 0.05 tick read from configuration.
        let at_tick = |p: f64| p <= min_tick * (1.0 + 1e-9);
        self.bid <= 0.0 || at_tick(self.bid) || self.reference_price().is_none_or(at_tick)
    }
}

/// A chain to enrich. `calls[i]` and `puts[i]` are the quotes at `strikes[i]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainInput<'a> {
    /// Underlying price at the snapshot.
    pub spot: f64,
    /// Strikes, strictly increasing.
    pub strikes: &'a [f64],
    /// Call quotes, one per strike.
    pub calls: &'a [Quote],
    /// Put quotes, one per strike.
    pub puts: &'a [Quote],
    /// Time to expiry in years (may be ≤ 0: then no IV or Greeks).
    pub time_to_expiry_years: f64,
    /// Continuously compounded risk-free rate.
    pub rate: f64,
    /// Continuous dividend yield.
    pub dividend_yield: f64,
    /// The options' minimum price increment (≥ 0; 0 when unknown): decides
    /// which quotes are illiquid ([`Quote::is_illiquid`]).
    pub min_tick: f64,
}

fn check_price(
    field: &'static str,
    value: f64,
    index: Option<usize>,
) -> Result<(), AnalyticsError> {
    if !value.is_finite() {
        return Err(AnalyticsError::NonFinite { field, index });
    }
    if value < 0.0 {
        return Err(AnalyticsError::OutOfRange { field, index });
    }
    Ok(())
}

fn check_finite(field: &'static str, value: f64) -> Result<(), AnalyticsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(AnalyticsError::NonFinite { field, index: None })
    }
}

fn check_quote(side: [&'static str; 3], q: &Quote, i: usize) -> Result<(), AnalyticsError> {
    check_price(side[0], q.bid, Some(i))?;
    check_price(side[1], q.ask, Some(i))?;
    check_price(side[2], q.last, Some(i))
}

/// Validates a chain: equal lengths; spot, strikes and every price finite and
/// non-negative; strikes strictly increasing; rate, dividend yield and time to
/// expiry finite; minimum tick finite and non-negative. An empty chain is valid.
///
/// # Errors
/// The first problem found, as [`AnalyticsError::LengthMismatch`],
/// [`AnalyticsError::NonFinite`], [`AnalyticsError::OutOfRange`] or
/// [`AnalyticsError::StrikesNotIncreasing`]. Retrying cannot help.
pub fn validate_chain(input: &ChainInput<'_>) -> Result<(), AnalyticsError> {
    let n = input.strikes.len();
    if input.calls.len() != n || input.puts.len() != n {
        return Err(AnalyticsError::LengthMismatch {
            strikes: n,
            calls: input.calls.len(),
            puts: input.puts.len(),
        });
    }
    check_price("spot", input.spot, None)?;
    check_finite("time_to_expiry_years", input.time_to_expiry_years)?;
    check_finite("rate", input.rate)?;
    check_finite("dividend_yield", input.dividend_yield)?;
    check_price("min_tick", input.min_tick, None)?;
    for (i, &k) in input.strikes.iter().enumerate() {
        check_price("strikes", k, Some(i))?;
        if i > 0 && k <= input.strikes[i - 1] {
            return Err(AnalyticsError::StrikesNotIncreasing { index: i });
        }
    }
    for (i, (c, p)) in input.calls.iter().zip(input.puts).enumerate() {
        check_quote(["calls.bid", "calls.ask", "calls.last"], c, i)?;
        check_quote(["puts.bid", "puts.ask", "puts.last"], p, i)?;
    }
    Ok(())
}

impl ChainInput<'_> {
    /// See [`validate_chain`].
    ///
    /// # Errors
    /// As [`validate_chain`].
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        validate_chain(self)
    }
}
