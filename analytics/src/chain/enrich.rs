//! Full enrichment of one chain: IV and Greeks per quote, chain analytics and
//! OI build-up against the previous snapshot.

use serde::{Deserialize, Serialize};

use super::{chain_analytics, validate_chain, ChainAnalytics, ChainInput, Quote};
use crate::oi::{compare, ChainSnapshot, OiChange};
use crate::{greeks, implied_vol, AnalyticsError, Greeks, OptionKind};

/// The implied volatility of a quote and the Greeks at it: set or unset together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Implied {
    /// Implied volatility (annualised, e.g. 0.13).
    pub iv: f64,
    /// Greeks at `iv`.
    pub greeks: Greeks,
}

/// One quote with its analytics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnrichedQuote {
    /// Strike of the quote.
    pub strike: f64,
    /// The quote as received.
    pub quote: Quote,
    /// IV and Greeks; `None` when no volatility reproduces the price
    /// (see [`crate::implied_vol`]) or there is no usable price. Solved for
    /// illiquid quotes too: their delta is still what a risk system wants.
    pub implied: Option<Implied>,
    /// OI change and build-up against the previous snapshot.
    pub oi: OiChange,
    /// The quote is illiquid ([`Quote::is_illiquid`]): its IV stays out of the
    /// smile, the surface and `atm_iv` ([`EnrichedQuote::smile_iv`]).
    pub illiquid: bool,
}

impl EnrichedQuote {
    /// The implied volatility, if solved.
    #[must_use]
    pub fn iv(&self) -> Option<f64> {
        self.implied.map(|i| i.iv)
    }

    /// The IV as a point of the smile: [`EnrichedQuote::iv`] for a liquid
    /// quote, `None` for an illiquid one (a min-tick price implies a vol that
    /// only reflects the tick).
    #[must_use]
    pub fn smile_iv(&self) -> Option<f64> {
        if self.illiquid {
            None
        } else {
            self.iv()
        }
    }
}

/// The smile IVs of one side of a chain ([`EnrichedQuote::smile_iv`] per
/// strike), e.g. for [`crate::surface::SurfaceChain`].
#[must_use]
pub fn smile_ivs(side: &[EnrichedQuote]) -> Vec<Option<f64>> {
    side.iter().map(EnrichedQuote::smile_iv).collect()
}

/// Everything computed for one chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedChainOut {
    /// Calls in strike order.
    pub calls: Vec<EnrichedQuote>,
    /// Puts in strike order.
    pub puts: Vec<EnrichedQuote>,
    /// Chain-level figures.
    pub analytics: ChainAnalytics,
    /// This chain as the `previous` of the next one (store it per product+expiry).
    pub snapshot: ChainSnapshot,
}

/// IV (from [`Quote::reference_price`]) and Greeks of one quote.
#[must_use]
pub fn enrich_quote(
    kind: OptionKind,
    quote: &Quote,
    strike: f64,
    input: &ChainInput<'_>,
) -> Option<Implied> {
    let t = input.time_to_expiry_years;
    let price = quote.reference_price()?;
    let iv = implied_vol(
        kind,
        price,
        input.spot,
        strike,
        t,
        input.rate,
        input.dividend_yield,
    )?;
    let greeks = greeks(
        kind,
        input.spot,
        strike,
        t,
        input.rate,
        input.dividend_yield,
        iv,
    )?;
    Some(Implied { iv, greeks })
}

fn enrich_side(
    kind: OptionKind,
    quotes: &[Quote],
    oi: Vec<OiChange>,
    input: &ChainInput<'_>,
) -> Vec<EnrichedQuote> {
    input
        .strikes
        .iter()
        .zip(quotes)
        .zip(oi)
        .map(|((&strike, quote), oi)| EnrichedQuote {
            strike,
            quote: *quote,
            implied: enrich_quote(kind, quote, strike, input),
            oi,
            illiquid: quote.is_illiquid(input.min_tick),
        })
        .collect()
}

/// Validates and enriches a chain: IV + Greeks and the illiquid flag for every
/// quote, every chain analytic of SPEC §4 (`atm_iv` from liquid quotes only;
/// OI and volume sums over every quote), and OI change / build-up against `previous` (the
/// [`EnrichedChainOut::snapshot`] of the same product and expiry's previous
/// chain, `None` for the first one).
///
/// # Errors
/// The validation errors of [`validate_chain`]; nothing is computed then.
pub fn enrich_chain(
    input: &ChainInput<'_>,
    previous: Option<&ChainSnapshot>,
) -> Result<EnrichedChainOut, AnalyticsError> {
    validate_chain(input)?;
    let (call_oi, put_oi) = compare(previous, input.strikes, input.calls, input.puts);
    let calls = enrich_side(OptionKind::Call, input.calls, call_oi, input);
    let puts = enrich_side(OptionKind::Put, input.puts, put_oi, input);
    // Illiquid quotes stay out of atm_iv; their OI and volume are real and count.
    let call_ivs = smile_ivs(&calls);
    let put_ivs = smile_ivs(&puts);
    let analytics = chain_analytics(
        input.spot,
        input.strikes,
        input.calls,
        input.puts,
        &call_ivs,
        &put_ivs,
    );
    Ok(EnrichedChainOut {
        calls,
        puts,
        analytics,
        snapshot: ChainSnapshot::from_chain(input.strikes, input.calls, input.puts),
    })
}
