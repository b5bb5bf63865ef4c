//! Chain-level analytics of SPEC §4: PCR, ATM strike/straddle/IV, max pain, totals.

use serde::{Deserialize, Serialize};

use super::Quote;

/// Chain-level figures. The strike-valued fields are `None` only for an
/// empty chain.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ChainAnalytics {
    /// Σ put OI / Σ call OI (0 when Σ call OI is 0).
    pub pcr_oi: f64,
    /// Σ put volume / Σ call volume (0 when Σ call volume is 0).
    pub pcr_volume: f64,
    /// Index of the ATM strike in the chain.
    pub atm_index: Option<usize>,
    /// Strike nearest spot (ties: the lower).
    pub atm_strike: Option<f64>,
    /// ATM call `last` + ATM put `last`.
    pub atm_straddle: Option<f64>,
    /// Mean of the ATM call and put IVs that are set and liquid; unset if neither is.
    pub atm_iv: Option<f64>,
    /// Strike minimising the option writers' payout (ties: the lower).
    pub max_pain_strike: Option<f64>,
    /// Σ call open interest.
    pub total_call_oi: u64,
    /// Σ put open interest.
    pub total_put_oi: u64,
    /// Σ call volume.
    pub total_call_volume: u64,
    /// Σ put volume.
    pub total_put_volume: u64,
}

/// `puts / calls`, or 0 when `calls` is 0 (SPEC §4).
#[must_use]
pub fn pcr(puts: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        puts as f64 / calls as f64
    }
}

/// Index of the strike nearest `spot` in strictly increasing `strikes`
/// (ties: the lower strike); `None` for an empty chain or non-finite spot.
/// O(log n).
#[must_use]
pub fn atm_index(spot: f64, strikes: &[f64]) -> Option<usize> {
    if strikes.is_empty() || !spot.is_finite() {
        return None;
    }
    let above = strikes.partition_point(|&k| k < spot);
    if above == 0 {
        return Some(0);
    }
    if above == strikes.len() {
        return Some(strikes.len() - 1);
    }
    let below = above - 1;
    if spot - strikes[below] <= strikes[above] - spot {
        Some(below)
    } else {
        Some(above)
    }
}

/// Index of the max-pain strike: the strike `S` minimising
/// `Σ call_oi·max(0, S − K) + Σ put_oi·max(0, K − S)` over the chain's own
/// strikes (ties: the lower). `strikes` must be increasing; O(n).
///
/// With `call_oi_below`/`call_ok_below` the sums of call OI and OI·K over
/// strikes below `S_j`, and `put_oi_above`/`put_ok_above` the put analogues
/// above it, the payout at `S_j` is
/// `S_j·call_oi_below − call_ok_below + put_ok_above − S_j·put_oi_above`, so one
/// pass with running sums suffices. Sums are in `f64`: they are exact — and the
/// result equals the brute-force double loop, ties included — whenever every
/// partial sum is exactly representable (strikes on a binary grid such as 0.5
/// or 2.5 steps, with Σ OI·strike below 2^53 in units of that grid); otherwise
/// the payouts agree with the double loop to rounding.
#[must_use]
pub fn max_pain_index(strikes: &[f64], calls: &[Quote], puts: &[Quote]) -> Option<usize> {
    let n = strikes.len().min(calls.len()).min(puts.len());
    if n == 0 {
        return None;
    }
    let (mut put_oi_above, mut put_ok_above) = (0.0_f64, 0.0_f64);
    for j in 0..n {
        let oi = puts[j].open_interest as f64;
        put_oi_above += oi;
        put_ok_above += oi * strikes[j];
    }
    let (mut call_oi_below, mut call_ok_below) = (0.0_f64, 0.0_f64);
    let mut best: Option<(usize, f64)> = None;
    for j in 0..n {
        let s = strikes[j];
        // Strike j itself contributes 0 to both sides, so remove its put OI
        // from "above" before evaluating (calls below were added last step).
        let put_oi = puts[j].open_interest as f64;
        put_oi_above -= put_oi;
        put_ok_above -= put_oi * s;
        let pain = (s * call_oi_below - call_ok_below) + (put_ok_above - s * put_oi_above);
        if best.is_none_or(|(_, b)| pain < b) {
            best = Some((j, pain));
        }
        let call_oi = calls[j].open_interest as f64;
        call_oi_below += call_oi;
        call_ok_below += call_oi * s;
    }
    best.map(|(j, _)| j)
}

/// Computes every chain-level figure. `call_ivs[i]`/`put_ivs[i]` are the
/// smile IVs at `strikes[i]`, used for `atm_iv`: the solved IVs with illiquid
/// quotes' left out ([`super::smile_ivs`]). OI and volume sums, PCR and max
/// pain use every quote, illiquid or not: its open interest is real. Inputs
/// are assumed validated ([`super::validate_chain`]).
#[must_use]
pub fn chain_analytics(
    spot: f64,
    strikes: &[f64],
    calls: &[Quote],
    puts: &[Quote],
    call_ivs: &[Option<f64>],
    put_ivs: &[Option<f64>],
) -> ChainAnalytics {
    let sum = |quotes: &[Quote], f: fn(&Quote) -> u64| {
        quotes.iter().fold(0_u64, |acc, q| acc.saturating_add(f(q)))
    };
    let total_call_oi = sum(calls, |q| q.open_interest);
    let total_put_oi = sum(puts, |q| q.open_interest);
    let total_call_volume = sum(calls, |q| q.volume);
    let total_put_volume = sum(puts, |q| q.volume);
    let atm = atm_index(spot, strikes).filter(|&i| i < calls.len() && i < puts.len());
    let atm_iv = atm.and_then(|i| {
        let c = call_ivs.get(i).copied().flatten();
        let p = put_ivs.get(i).copied().flatten();
        match (c, p) {
            (Some(c), Some(p)) => Some(0.5 * (c + p)),
            (one, other) => one.or(other),
        }
    });
    ChainAnalytics {
        pcr_oi: pcr(total_put_oi, total_call_oi),
        pcr_volume: pcr(total_put_volume, total_call_volume),
        atm_index: atm,
        atm_strike: atm.map(|i| strikes[i]),
        atm_straddle: atm.map(|i| calls[i].last + puts[i].last),
        atm_iv,
        max_pain_strike: max_pain_index(strikes, calls, puts).map(|i| strikes[i]),
        total_call_oi,
        total_put_oi,
        total_call_volume,
        total_put_volume,
    }
}
