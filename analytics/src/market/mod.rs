//! Exchanges, holiday calendars, sessions, market status, expiry schedules,
//! products and universes.

mod calendar;
mod exchange;
mod expiry;
mod holidays;
mod product;
mod session;
mod status;
mod universe;

pub use calendar::{
    is_trading_day, nearest_trading_days, trading_day_on_or_after, trading_day_on_or_before,
};
pub use exchange::{Exchange, NSE_TUESDAY_EXPIRY_FROM};
pub use expiry::{
    expiry_kind, next_expiries, next_expiries_at, ExpiryKind, ExpiryRule, ExpirySchedule,
};
pub use holidays::{
    calendar_covers, easter_sunday, holidays, is_holiday, nse_holiday_reasons, us_holidays,
};
pub use product::{default_products, ProductSpec, ProductSpecConfig, Smile, MAX_LISTED_STRIKES};
pub use session::{
    expiry_close_unix_ns, is_in_session, session_bounds, time_to_expiry_years, trading_day,
    NANOS_PER_YEAR,
};
pub use status::{market_status, MarketStatus};
pub use universe::{Universe, BUILT_IN_UNIVERSES};
