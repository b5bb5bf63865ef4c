//! The exchanges DeltaStream knows: time zone, session hours and expiry rules.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// Builds a `NaiveTime` at compile time; an invalid constant fails the build,
/// never a running program.
const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("invalid constant time"),
    }
}

/// An exchange a product trades on (SPEC §2). Serialized as `"NSE"` / `"US"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Exchange {
    /// National Stock Exchange of India: Asia/Kolkata, 09:15–15:30, weekly
    /// Thursday expiries, monthly on the last Thursday.
    #[serde(rename = "NSE")]
    Nse,
    /// US option exchanges: America/New_York, 09:30–16:00, weekly Friday
    /// expiries, monthly on the third Friday.
    #[serde(rename = "US")]
    Us,
}

impl Exchange {
    /// Every exchange, in a fixed order.
    pub const ALL: [Self; 2] = [Self::Nse, Self::Us];

    /// The token used in configuration and JSON (`NSE`, `US`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nse => "NSE",
            Self::Us => "US",
        }
    }

    /// The exchange's time zone; sessions and trading days are local to it.
    #[must_use]
    pub const fn timezone(self) -> Tz {
        match self {
            Self::Nse => Tz::Asia__Kolkata,
            Self::Us => Tz::America__New_York,
        }
    }

    /// Local time the continuous session opens (inclusive).
    #[must_use]
    pub const fn session_open(self) -> NaiveTime {
        match self {
            Self::Nse => hm(9, 15),
            Self::Us => hm(9, 30),
        }
    }

    /// Local time the continuous session closes (inclusive).
    #[must_use]
    pub const fn session_close(self) -> NaiveTime {
        match self {
            Self::Nse => hm(15, 30),
            Self::Us => hm(16, 0),
        }
    }

    /// Local time options expire on their expiry date (SPEC §4).
    #[must_use]
    pub const fn expiry_close(self) -> NaiveTime {
        self.session_close()
    }

    /// Default risk-free rate for products of this exchange (SPEC §2).
    #[must_use]
    pub const fn default_rate(self) -> f64 {
        match self {
            Self::Nse => 0.065,
            Self::Us => 0.045,
        }
    }

    /// Default dividend yield for products of this exchange (SPEC §2).
    #[must_use]
    pub const fn default_dividend_yield(self) -> f64 {
        0.0
    }

    /// Weekday of the weekly expiry (before holiday adjustment).
    #[must_use]
    pub const fn weekly_expiry_weekday(self) -> Weekday {
        match self {
            Self::Nse => Weekday::Thu,
            Self::Us => Weekday::Fri,
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Exchange {
    type Err = AnalyticsError;

    /// Parses `NSE` or `US`.
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownExchange`] for any other token.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NSE" => Ok(Self::Nse),
            "US" => Ok(Self::Us),
            other => Err(AnalyticsError::UnknownExchange(other.to_owned())),
        }
    }
}
