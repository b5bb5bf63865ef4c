//! The exchanges DeltaStream knows: time zone, session hours, expiry time and defaults.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ExpiryRule;
use crate::AnalyticsError;

/// Builds a `NaiveTime` at compile time; an invalid constant fails the build,
/// never a running program.
const fn hms_nano(hour: u32, minute: u32, second: u32, nano: u32) -> NaiveTime {
    match NaiveTime::from_hms_nano_opt(hour, minute, second, nano) {
        Some(t) => t,
        None => panic!("invalid constant time"),
    }
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    hms_nano(hour, minute, 0, 0)
}

/// A `NaiveDate` at compile time (same reasoning as [`hm`]).
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("invalid constant date"),
    }
}

/// The first day NSE's equity derivatives expire on Tuesdays (NSE circular of
/// June 2025, after SEBI limited expiries to Tuesday or Thursday): NIFTY weeklies
/// and every monthly contract. Before it they expired on Thursdays.
pub const NSE_TUESDAY_EXPIRY_FROM: NaiveDate = ymd(2025, 9, 1);

/// An exchange a product trades on (SPEC §2). Serialized as `"NSE"`, `"US"`
/// or `"CRYPTO"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Exchange {
    /// National Stock Exchange of India: Asia/Kolkata, 09:15–15:30, NSE
    /// holiday list; expiries on Thursdays until 2025-08-31, on Tuesdays from
    /// 2025-09-01 (weekly, and monthly on the month's last one).
    #[serde(rename = "NSE")]
    Nse,
    /// US option exchanges: America/New_York, 09:30–16:00, NYSE holidays;
    /// weekly Friday expiries, monthly on the third Friday.
    #[serde(rename = "US")]
    Us,
    /// A Deribit-style crypto options exchange: UTC, open 24/7 (no holidays,
    /// no session close); expiries at 08:00 UTC: daily, weekly on Fridays and
    /// monthly (and quarterly) on the month's last Friday.
    #[serde(rename = "CRYPTO")]
    Crypto,
}

impl Exchange {
    /// Every exchange, in a fixed order.
    pub const ALL: [Self; 3] = [Self::Nse, Self::Us, Self::Crypto];

    /// The token used in configuration and JSON (`NSE`, `US`, `CRYPTO`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nse => "NSE",
            Self::Us => "US",
            Self::Crypto => "CRYPTO",
        }
    }

    /// The exchange's time zone; sessions and trading days are local to it.
    #[must_use]
    pub const fn timezone(self) -> Tz {
        match self {
            Self::Nse => Tz::Asia__Kolkata,
            Self::Us => Tz::America__New_York,
            Self::Crypto => Tz::UTC,
        }
    }

    /// Whether the exchange trades around the clock every day (no weekends,
    /// holidays or session close).
    #[must_use]
    pub const fn is_always_open(self) -> bool {
        matches!(self, Self::Crypto)
    }

    /// Local time the continuous session opens (inclusive).
    #[must_use]
    pub const fn session_open(self) -> NaiveTime {
        match self {
            Self::Nse => hm(9, 15),
            Self::Us => hm(9, 30),
            Self::Crypto => hm(0, 0),
        }
    }

    /// Local time the continuous session closes (inclusive). A 24/7 exchange's
    /// "session" is the whole UTC day, so its close is the day's last nanosecond.
    #[must_use]
    pub const fn session_close(self) -> NaiveTime {
        match self {
            Self::Nse => hm(15, 30),
            Self::Us => hm(16, 0),
            Self::Crypto => hms_nano(23, 59, 59, 999_999_999),
        }
    }

    /// Local time options expire on their expiry date (SPEC §4): the session
    /// close for NSE and US, 08:00 UTC for the crypto exchange.
    #[must_use]
    pub const fn expiry_close(self) -> NaiveTime {
        match self {
            Self::Nse | Self::Us => self.session_close(),
            Self::Crypto => hm(8, 0),
        }
    }

    /// Default risk-free rate for products of this exchange (SPEC §2). Crypto
    /// options are priced off the coin's futures curve with no funding rate, as
    /// Deribit's own IVs are, hence 0.
    #[must_use]
    pub const fn default_rate(self) -> f64 {
        match self {
            Self::Nse => 0.065,
            Self::Us => 0.045,
            Self::Crypto => 0.0,
        }
    }

    /// Default dividend yield for products of this exchange (SPEC §2).
    #[must_use]
    pub const fn default_dividend_yield(self) -> f64 {
        0.0
    }

    /// Default minimum price increment of a product's options (and of the
    /// feed's underlying prices): ₹0.05 on NSE, $0.01 in the US and on the
    /// crypto exchange (whose products normally set their own).
    #[must_use]
    pub const fn default_min_tick(self) -> f64 {
        match self {
            Self::Nse => 0.05,
            Self::Us | Self::Crypto => 0.01,
        }
    }

    /// Default contracts per lot: 100 shares for US equity options, 1 elsewhere
    /// (NSE lot sizes differ per product and are set in the universe files).
    #[must_use]
    pub const fn default_lot_size(self) -> u32 {
        match self {
            Self::Us => 100,
            Self::Nse | Self::Crypto => 1,
        }
    }

    /// The expiry rule of a product that does not name one: weekly (with the
    /// monthlies) on NSE and US, daily (with weeklies and monthlies) on crypto.
    #[must_use]
    pub const fn default_expiry_rule(self) -> ExpiryRule {
        match self {
            Self::Nse | Self::Us => ExpiryRule::Weekly,
            Self::Crypto => ExpiryRule::Daily,
        }
    }

    /// Weekday of the weekly and monthly expiries for contracts expiring on or
    /// around `date` (before holiday adjustment). NSE moved from Thursday to
    /// Tuesday on [`NSE_TUESDAY_EXPIRY_FROM`].
    ///
    /// Not modelled: NSE's per-index weekdays before 2025 (BANKNIFTY on
    /// Wednesdays, FINNIFTY on Tuesdays, MIDCPNIFTY on Mondays, NIFTYNXT50 on
    /// Fridays until their weeklies ended in November 2024): every NSE product
    /// uses NIFTY's weekday.
    #[must_use]
    pub fn expiry_weekday(self, date: NaiveDate) -> Weekday {
        match self {
            Self::Nse if date >= NSE_TUESDAY_EXPIRY_FROM => Weekday::Tue,
            Self::Nse => Weekday::Thu,
            Self::Us | Self::Crypto => Weekday::Fri,
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

    /// Parses `NSE`, `US` or `CRYPTO`.
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownExchange`] for any other token.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| AnalyticsError::UnknownExchange(s.to_owned()))
    }
}
