//! Implied-volatility surface (expiry × strike grid) from enriched chains.
//!
//! Each cell uses the out-of-the-money side, whose quotes are the liquid ones
//! and whose IV is the better conditioned (an ITM price is mostly intrinsic
//! value, so its IV is sensitive to tiny price errors): the put IV for strikes
//! below spot, the call IV at or above spot; when that side has no IV, the
//! other side's is used; when neither has one the cell is `None`.
//!
//! Callers pass smile IVs ([`crate::chain::smile_ivs`]): an illiquid quote
//! (zero bid or a price at the minimum tick) has none, so min-tick wings do not
//! enter the surface.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One enriched chain as the surface needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceChain<'a> {
    /// Expiry date of the chain.
    pub expiry: NaiveDate,
    /// Spot at the chain's snapshot (decides the OTM side).
    pub spot: f64,
    /// Strikes, one per IV.
    pub strikes: &'a [f64],
    /// Call smile IVs per strike (`None` for an illiquid quote).
    pub call_ivs: &'a [Option<f64>],
    /// Put smile IVs per strike (`None` for an illiquid quote).
    pub put_ivs: &'a [Option<f64>],
}

/// An IV grid: `ivs[e][k]` is the IV at `expiries[e]` and `strikes[k]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IvSurface {
    /// Expiries, ascending and distinct.
    pub expiries: Vec<NaiveDate>,
    /// Union of every chain's strikes, ascending and distinct.
    pub strikes: Vec<f64>,
    /// One row per expiry, one cell per strike; `None` where no chain quotes it.
    pub ivs: Vec<Vec<Option<f64>>>,
}

/// The IV of the out-of-the-money side at `strike` (see the module docs).
#[must_use]
pub fn otm_iv(strike: f64, spot: f64, call_iv: Option<f64>, put_iv: Option<f64>) -> Option<f64> {
    if strike < spot {
        put_iv.or(call_iv)
    } else {
        call_iv.or(put_iv)
    }
}

/// Assembles the surface. Chains may come in any order; when several share an
/// expiry, the last one with an IV at a strike wins that cell. Non-finite
/// strikes are ignored.
#[must_use]
pub fn build_surface(chains: &[SurfaceChain<'_>]) -> IvSurface {
    let mut expiries: Vec<NaiveDate> = chains.iter().map(|c| c.expiry).collect();
    expiries.sort_unstable();
    expiries.dedup();
    let mut strikes: Vec<f64> = chains
        .iter()
        .flat_map(|c| c.strikes.iter().copied())
        .filter(|k| k.is_finite())
        .collect();
    strikes.sort_unstable_by(f64::total_cmp);
    strikes.dedup();
    let mut ivs = vec![vec![None; strikes.len()]; expiries.len()];
    for chain in chains {
        let Ok(row) = expiries.binary_search(&chain.expiry) else {
            continue;
        };
        for (i, &k) in chain.strikes.iter().enumerate() {
            let Ok(col) = strikes.binary_search_by(|s| s.total_cmp(&k)) else {
                continue;
            };
            let call = chain.call_ivs.get(i).copied().flatten();
            let put = chain.put_ivs.get(i).copied().flatten();
            if let Some(iv) = otm_iv(k, chain.spot, call, put) {
                ivs[row][col] = Some(iv);
            }
        }
    }
    IvSurface {
        expiries,
        strikes,
        ivs,
    }
}
