//! Open-interest change and build-up classification against the previous
//! snapshot of the same product and expiry (SPEC §4), as a small state machine.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::Quote;

/// OI build-up class of one quote (SPEC §3 enum `Buildup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Buildup {
    /// No previous quote, or price or OI unchanged.
    #[default]
    Neutral,
    /// Price up, OI up.
    LongBuildup,
    /// Price down, OI up.
    ShortBuildup,
    /// Price up, OI down.
    ShortCovering,
    /// Price down, OI down.
    LongUnwinding,
}

impl Buildup {
    /// The protobuf / JSON name, e.g. `LONG_BUILDUP`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Neutral => "NEUTRAL",
            Self::LongBuildup => "LONG_BUILDUP",
            Self::ShortBuildup => "SHORT_BUILDUP",
            Self::ShortCovering => "SHORT_COVERING",
            Self::LongUnwinding => "LONG_UNWINDING",
        }
    }

    /// Classifies a price move (`last` now vs before) and an OI change.
    #[must_use]
    pub fn classify(price_change: f64, oi_change: i64) -> Self {
        let up = price_change > 0.0;
        let down = price_change < 0.0;
        match (up, down, oi_change.signum()) {
            (true, _, 1) => Self::LongBuildup,
            (_, true, 1) => Self::ShortBuildup,
            (true, _, -1) => Self::ShortCovering,
            (_, true, -1) => Self::LongUnwinding,
            _ => Self::Neutral,
        }
    }
}

impl fmt::Display for Buildup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OI change and build-up of one quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OiChange {
    /// OI now − OI in the previous snapshot (0 when there is none).
    pub oi_change: i64,
    /// Build-up class.
    pub buildup: Buildup,
}

/// What the next snapshot is compared with: one side of one strike.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SideState {
    /// `last` price.
    pub last: f64,
    /// Open interest.
    pub open_interest: u64,
}

impl From<&Quote> for SideState {
    fn from(q: &Quote) -> Self {
        Self {
            last: q.last,
            open_interest: q.open_interest,
        }
    }
}

/// The part of a chain snapshot OI build-up needs (strikes strictly increasing).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// Strikes, strictly increasing.
    pub strikes: Vec<f64>,
    /// Call side per strike.
    pub calls: Vec<SideState>,
    /// Put side per strike.
    pub puts: Vec<SideState>,
}

impl ChainSnapshot {
    /// Captures a (validated) chain.
    #[must_use]
    pub fn from_chain(strikes: &[f64], calls: &[Quote], puts: &[Quote]) -> Self {
        Self {
            strikes: strikes.to_vec(),
            calls: calls.iter().map(SideState::from).collect(),
            puts: puts.iter().map(SideState::from).collect(),
        }
    }
}

fn change(prev: &SideState, now: &Quote) -> OiChange {
    let oi_change = i128::from(now.open_interest) - i128::from(prev.open_interest);
    let oi_change =
        i64::try_from(oi_change).unwrap_or(if oi_change > 0 { i64::MAX } else { i64::MIN });
    OiChange {
        oi_change,
        buildup: Buildup::classify(now.last - prev.last, oi_change),
    }
}

/// OI change and build-up of every call and put of a chain against `previous`.
///
/// Strikes are matched exactly by a merge walk over both (increasing) strike
/// lists, O(n + m); a strike absent from `previous`, or no `previous` at all,
/// gives 0 / [`Buildup::Neutral`].
#[must_use]
pub fn compare(
    previous: Option<&ChainSnapshot>,
    strikes: &[f64],
    calls: &[Quote],
    puts: &[Quote],
) -> (Vec<OiChange>, Vec<OiChange>) {
    let n = strikes.len().min(calls.len()).min(puts.len());
    let mut call_out = vec![OiChange::default(); n];
    let mut put_out = vec![OiChange::default(); n];
    let Some(prev) = previous else {
        return (call_out, put_out);
    };
    let m = prev
        .strikes
        .len()
        .min(prev.calls.len())
        .min(prev.puts.len());
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        let (k, pk) = (strikes[i], prev.strikes[j]);
        if k < pk {
            i += 1;
        } else if pk < k {
            j += 1;
        } else {
            call_out[i] = change(&prev.calls[j], &calls[i]);
            put_out[i] = change(&prev.puts[j], &puts[i]);
            i += 1;
            j += 1;
        }
    }
    (call_out, put_out)
}

/// OI build-up state of one product and expiry: remembers the previous
/// snapshot. Serialize it to checkpoint; deserialize to resume.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OiTracker {
    previous: Option<ChainSnapshot>,
}

/// Per-quote results of one [`OiTracker::update`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OiUpdate {
    /// One entry per call, in strike order.
    pub calls: Vec<OiChange>,
    /// One entry per put, in strike order.
    pub puts: Vec<OiChange>,
}

impl OiTracker {
    /// A tracker that has seen nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker resuming from a previously taken snapshot.
    #[must_use]
    pub fn from_snapshot(previous: ChainSnapshot) -> Self {
        Self {
            previous: Some(previous),
        }
    }

    /// Compares a (validated) chain with the previous one, then remembers it.
    pub fn update(&mut self, strikes: &[f64], calls: &[Quote], puts: &[Quote]) -> OiUpdate {
        let (c, p) = compare(self.previous.as_ref(), strikes, calls, puts);
        self.previous = Some(ChainSnapshot::from_chain(strikes, calls, puts));
        OiUpdate { calls: c, puts: p }
    }

    /// The snapshot the next update will be compared with.
    #[must_use]
    pub fn snapshot(&self) -> Option<&ChainSnapshot> {
        self.previous.as_ref()
    }

    /// Forgets the previous snapshot (the next update is a first snapshot).
    pub fn reset(&mut self) {
        self.previous = None;
    }
}
