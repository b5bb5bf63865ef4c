//! Bar intervals and their UTC alignment.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AnalyticsError, NANOS_PER_SECOND};

/// A bar interval. Serialized as its token (`"1m"`, `"5m"`, `"15m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Interval {
    /// One minute.
    #[serde(rename = "1m")]
    M1,
    /// Five minutes.
    #[serde(rename = "5m")]
    M5,
    /// Fifteen minutes.
    #[serde(rename = "15m")]
    M15,
}

impl Interval {
    /// Every interval, shortest first (the order closed bars are reported in).
    pub const ALL: [Self; 3] = [Self::M1, Self::M5, Self::M15];

    /// The subject / JSON token: `1m`, `5m`, `15m`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
        }
    }

    /// Length in nanoseconds.
    #[must_use]
    pub const fn nanos(self) -> i64 {
        let minutes = match self {
            Self::M1 => 1,
            Self::M5 => 5,
            Self::M15 => 15,
        };
        minutes * 60 * NANOS_PER_SECOND
    }

    /// Start of the bar containing `ts_unix_ns`: floor(ts / interval) × interval
    /// (UTC, also correct for timestamps before 1970).
    #[must_use]
    pub const fn bar_start(self, ts_unix_ns: i64) -> i64 {
        ts_unix_ns.div_euclid(self.nanos()) * self.nanos()
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = AnalyticsError;

    /// Parses `1m`, `5m` or `15m`.
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownInterval`] for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1m" => Ok(Self::M1),
            "5m" => Ok(Self::M5),
            "15m" => Ok(Self::M15),
            other => Err(AnalyticsError::UnknownInterval(other.to_owned())),
        }
    }
}
