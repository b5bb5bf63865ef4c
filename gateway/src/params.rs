//! Query parameters shared by the read endpoints, parsed by hand from strings so
//! every mistake gets a precise 400 (and no value can reach MongoDB as anything
//! but a plain scalar).

use crate::error::{ApiResult, AppError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate};
use serde::Deserialize;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 1000;
/// The bar intervals that exist.
pub const INTERVALS: [&str; 3] = ["1m", "5m", "15m"];
/// The largest `from`/`to` in unix milliseconds (times are i64 nanoseconds).
pub const MAX_UNIX_MS: i64 = i64::MAX / 1_000_000;
/// The longest cursor accepted.
pub const MAX_CURSOR_LEN: usize = 512;

/// `limit`: 1..=1000, default 100.
///
/// # Errors
/// 400 when not an integer in range.
pub fn limit(raw: Option<&str>) -> ApiResult<i64> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Ok(n) => Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {n}"
        ))),
        Err(_) => Err(AppError::BadRequest(format!(
            "limit must be an integer between 1 and {MAX_LIMIT}, got {raw:?}"
        ))),
    }
}

/// A time parameter (`from`, `to`): RFC 3339 or unix milliseconds, as unix ns.
///
/// # Errors
/// 400 naming the parameter when it is neither.
pub fn time(name: &str, raw: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    let bad = || {
        AppError::BadRequest(format!(
            "invalid `{name}`: expected RFC 3339 (e.g. 2025-01-15T09:15:00Z) or unix milliseconds, got {raw:?}"
        ))
    };
    if !raw.is_empty()
        && raw
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        let ms: i64 = raw.parse().map_err(|_| bad())?;
        return ms.checked_mul(1_000_000).map(Some).ok_or_else(|| {
            AppError::BadRequest(format!("invalid `{name}`: {ms} ms is out of range"))
        });
    }
    let t = DateTime::parse_from_rfc3339(raw).map_err(|_| bad())?;
    // Event times are i64 nanoseconds (1677..2262): a bound outside that range
    // selects the same events as the range's end, so it is taken as that end.
    Ok(Some(t.timestamp_nanos_opt().unwrap_or(
        if t.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        },
    )))
}

/// A half-open time range `[from, to)` in unix ns; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// Inclusive start.
    pub from: Option<i64>,
    /// Exclusive end.
    pub to: Option<i64>,
}

impl Range {
    /// Parses `from` and `to`.
    ///
    /// # Errors
    /// 400 when either is malformed or `from` is after `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> ApiResult<Self> {
        let r = Self {
            from: time("from", from)?,
            to: time("to", to)?,
        };
        if let (Some(f), Some(t)) = (r.from, r.to) {
            if f > t {
                return Err(AppError::BadRequest(format!(
                    "`from` ({}) is after `to` ({})",
                    from.unwrap_or_default(),
                    to.unwrap_or_default()
                )));
            }
        }
        Ok(r)
    }
}

/// Sort order of a history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the default).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

impl Order {
    /// `order`: `asc` or `desc` (default).
    ///
    /// # Errors
    /// 400 for anything else.
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        match raw.map(str::trim) {
            None | Some("desc") => Ok(Order::Desc),
            Some("asc") => Ok(Order::Asc),
            Some(o) => Err(AppError::BadRequest(format!(
                "order must be `asc` or `desc`, got {o:?}"
            ))),
        }
    }

    fn code(self) -> &'static str {
        match self {
            Order::Desc => "d",
            Order::Asc => "a",
        }
    }

    /// MongoDB sort direction.
    pub fn dir(self) -> i32 {
        match self {
            Order::Desc => -1,
            Order::Asc => 1,
        }
    }
}

/// `interval`: `1m`, `5m` or `15m` (default `1m`).
///
/// # Errors
/// 400 for anything else.
pub fn interval(raw: Option<&str>) -> ApiResult<&'static str> {
    let Some(raw) = raw else {
        return Ok("1m");
    };
    INTERVALS
        .iter()
        .find(|i| **i == raw)
        .copied()
        .ok_or_else(|| {
            AppError::BadRequest(format!("interval must be one of 1m, 5m, 15m, got {raw:?}"))
        })
}

/// `expiry`: an ISO date `YYYY-MM-DD`, returned in canonical form.
///
/// # Errors
/// 400 when it is not a valid date.
pub fn expiry(raw: &str) -> ApiResult<String> {
    let ok = raw.len() == 10 && NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(AppError::BadRequest(format!(
            "expiry must be an ISO date YYYY-MM-DD, got {raw:?}"
        )))
    }
}

/// Where the next page of a history starts: the last item's time and `_id`,
/// and the order it was issued for. Opaque to clients (base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Sort order the cursor continues.
    pub order: Order,
    /// Time (`ts_unix_ns` or `start_unix_ns`) of the last item returned.
    pub ts: i64,
    /// `_id` of the last item returned.
    pub id: String,
}

impl Cursor {
    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1|{}|{}|{}", self.order.code(), self.ts, self.id))
    }

    /// Parses `cursor` for a request sorted by `order`.
    ///
    /// # Errors
    /// 400 when it is not a cursor this API issued, or was issued for the other order.
    pub fn decode(raw: &str, order: Order) -> ApiResult<Self> {
        let bad = || {
            AppError::BadRequest(
                "invalid cursor: pass back `next_cursor` exactly as returned".into(),
            )
        };
        if raw.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(4, '|');
        let (Some("v1"), Some(o), Some(ts), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let ts: i64 = ts.parse().map_err(|_| bad())?;
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(bad());
        }
        if o != order.code() {
            return Err(AppError::BadRequest(format!(
                "invalid cursor: it continues order={}, but this request asks for order={}",
                if o == "a" { "asc" } else { "desc" },
                if order == Order::Asc { "asc" } else { "desc" }
            )));
        }
        Ok(Self {
            order,
            ts,
            id: id.to_owned(),
        })
    }
}

/// The OpenAPI forms of the parameters, stating what the parsers above accept.
pub mod schema {
    use serde::Deserialize;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::ToSchema;

    /// `from`/`to`: an RFC 3339 date-time, or unix milliseconds within the range
    /// of i64 nanoseconds ([`crate::params::MAX_UNIX_MS`]).
    pub struct TimeBound;

    impl utoipa::PartialSchema for TimeBound {
        fn schema() -> RefOr<Schema> {
            let ms = crate::params::MAX_UNIX_MS as f64;
            OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
                )
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(-ms))
                        .maximum(Some(ms)),
                )
                .into()
        }
    }

    impl ToSchema for TimeBound {}

    /// `order`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Order {
        /// Newest first.
        Desc,
        /// Oldest first.
        Asc,
    }

    /// `interval`: the tokens of [`ds_analytics::Interval`].
    pub struct Interval;

    impl utoipa::PartialSchema for Interval {
        fn schema() -> RefOr<Schema> {
            let tokens = ds_analytics::Interval::ALL.map(ds_analytics::Interval::as_str);
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("`interval`."))
                .enum_values(Some(tokens))
                .into()
        }
    }

    impl ToSchema for Interval {}
}

/// Query parameters of a history: `[from, to)`, `limit`, `cursor`, `order`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Start (inclusive): RFC 3339 or unix milliseconds; not after `to`.
    #[param(value_type = Option<schema::TimeBound>, inline)]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339 or unix milliseconds.
    #[param(value_type = Option<schema::TimeBound>, inline)]
    pub to: Option<String>,
    /// Items per page, 1..=1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, exactly as returned (for the same `order`).
    #[param(min_length = 1, max_length = 512)]
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    #[param(value_type = Option<schema::Order>, inline)]
    pub order: Option<String>,
}

/// [`HistoryParams`] parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// `[from, to)`.
    pub range: Range,
    /// Sort order.
    pub order: Order,
    /// Page size.
    pub limit: i64,
    /// Where to resume.
    pub cursor: Option<Cursor>,
}

impl HistoryParams {
    /// Parses the parameters.
    ///
    /// # Errors
    /// 400 naming the bad parameter.
    pub fn parse(&self) -> ApiResult<History> {
        let range = Range::parse(self.from.as_deref(), self.to.as_deref())?;
        let order = Order::parse(self.order.as_deref())?;
        let limit = limit(self.limit.as_deref())?;
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, order))
            .transpose()?;
        Ok(History {
            range,
            order,
            limit,
            cursor,
        })
    }
}

/// `{product}` of the product routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductPath {
    /// Product token, e.g. NIFTY (404 for one the gateway does not have)
    #[param(pattern = "^[A-Z0-9_]+$")]
    pub product: String,
}

/// `{id}` of a user or an API key.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// Id (24 hex digits; anything else is no such id)
    #[param(pattern = "^[0-9a-f]{24}$")]
    pub id: String,
}

/// `expiry` of a latest-chain endpoint.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiryParam {
    /// Expiry (YYYY-MM-DD); default: the nearest one not yet expired.
    #[param(format = Date)]
    pub expiry: Option<String>,
}

/// `expiry` of a history endpoint.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiryFilter {
    /// Expiry (YYYY-MM-DD); every expiry when omitted (each item names its expiry).
    #[param(format = Date)]
    pub expiry: Option<String>,
}

/// `interval` of the bars endpoint.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IntervalParam {
    /// `1m` (default), `5m` or `15m`.
    #[param(value_type = Option<schema::Interval>, inline)]
    pub interval: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_unix_ms() {
        assert_eq!(
            time("to", Some("9999-12-31T23:59:59Z")).ok(),
            Some(Some(i64::MAX))
        );
        assert_eq!(
            time("from", Some("0001-01-01T00:00:00Z")).ok(),
            Some(Some(i64::MIN))
        );
        assert_eq!(
            time("from", Some("1736932500000")).ok(),
            Some(Some(1_736_932_500_000_000_000))
        );
        assert_eq!(
            time("from", Some("2025-01-15T09:15:00Z")).ok(),
            Some(Some(1_736_932_500_000_000_000))
        );
        assert!(time("from", Some("yesterday")).is_err());
        assert!(time("from", Some("99999999999999999")).is_err());
        assert!(Range::parse(Some("2000"), Some("1000")).is_err());
        assert!(Range::parse(Some("1000"), Some("1000")).is_ok());
    }

    #[test]
    fn limits_and_intervals() {
        assert_eq!(limit(None).ok(), Some(100));
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("1001")).is_err());
        assert!(limit(Some("ten")).is_err());
        assert_eq!(interval(Some("15m")).ok(), Some("15m"));
        assert!(interval(Some("2m")).is_err());
        assert!(expiry("2025-01-30").is_ok());
        assert!(expiry("2025-1-30").is_err());
        assert!(expiry("{\"$gt\":\"\"}").is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            order: Order::Desc,
            ts: 42,
            id: "NIFTY:7".into(),
        };
        assert_eq!(
            Cursor::decode(&c.encode(), Order::Desc).ok(),
            Some(c.clone())
        );
        assert!(Cursor::decode(&c.encode(), Order::Asc).is_err());
        assert!(Cursor::decode("not a cursor", Order::Desc).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1|d|x|y"), Order::Desc).is_err());
    }
}
