//! Exchanges, products, trading sessions, time to expiry and the expiry calendar.

mod calendar;
mod exchange;
mod product;
mod session;

pub use calendar::{expiry_kind, is_trading_day, next_expiries, next_expiries_at, ExpiryKind};
pub use exchange::Exchange;
pub use product::{default_products, ProductSpec};
pub use session::{
    expiry_close_unix_ns, is_in_session, session_bounds, time_to_expiry_years, trading_day,
    NANOS_PER_YEAR,
};
