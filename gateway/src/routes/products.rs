//! `/api/v1/products` (the universe, paged, with each product's market status
//! and last tick) and `/api/v1/products/{product}/expiries`.

use crate::access::{ProductRead, Reader};
use crate::error::responses::{BadRequest, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::Query;
use crate::params::{ProductPath, MAX_LIMIT};
use crate::state::AppState;
use crate::views::{rfc3339, Page};
use axum::extract::State;
use axum::Json;
use ds_analytics::market::{Exchange, MarketStatus, ProductSpec};
use ds_runtime::collections::CHAIN_LATEST;
use ds_schemas::enriched::Enriched;
use mongodb::bson::{doc, Bson, Document};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

/// A configured product, its market status and its last values.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Product {
    /// Token, e.g. `NIFTY`.
    pub name: String,
    /// The exchange, e.g. `NSE`, `US`, `CRYPTO`.
    pub exchange: String,
    /// IANA time zone of the exchange.
    pub timezone: String,
    /// Risk-free rate used for pricing.
    pub rate: f64,
    /// Dividend yield used for pricing.
    pub dividend_yield: f64,
    /// Distance between listed strikes.
    pub strike_step: f64,
    /// Strikes listed per expiry, centred on the money (null: the feed's setting).
    pub listed_strikes: Option<u32>,
    /// Expiry series listed: `monthly`, `weekly` (and monthly) or `daily` (and weekly and monthly).
    pub expiry_rule: String,
    /// Units of the underlying per contract.
    pub lot_size: u32,
    /// Minimum price increment of the options (a quote at it is illiquid).
    pub min_tick: f64,
    /// Whether its exchange is in session now, and when it next opens and closes.
    pub market: Market,
    /// Its latest tick, null before any.
    pub last: Option<Last>,
}

/// A product's market status at the time of the request (the gateway's clock).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Market {
    /// `open` or `closed`.
    pub status: String,
    /// Whether the exchange is in session (weekends and holidays have none).
    pub open: bool,
    /// Start of the next session when closed (null while open, and on a 24/7 exchange), UTC ns.
    pub next_open_unix_ns: Option<i64>,
    /// `next_open_unix_ns` as RFC 3339.
    pub next_open: Option<String>,
    /// End of the current session when open, of the next one when closed (null on a 24/7 exchange), UTC ns.
    pub next_close_unix_ns: Option<i64>,
    /// `next_close_unix_ns` as RFC 3339.
    pub next_close: Option<String>,
}

impl From<MarketStatus> for Market {
    fn from(s: MarketStatus) -> Self {
        Self {
            status: if s.open { "open" } else { "closed" }.into(),
            open: s.open,
            next_open_unix_ns: s.next_open_unix_ns,
            next_open: s.next_open_unix_ns.map(rfc3339),
            next_close_unix_ns: s.next_close_unix_ns,
            next_close: s.next_close_unix_ns.map(rfc3339),
        }
    }
}

/// A product's latest enriched tick, in short.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Last {
    /// Price.
    pub price: f64,
    /// Change since the session's first tick, %.
    pub change_pct: f64,
    /// Event time, UTC ns.
    pub ts_unix_ns: i64,
    /// `ts_unix_ns` as RFC 3339.
    pub ts: String,
}

/// `GET /api/v1/products` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsParams {
    /// Only products whose name contains this, case-insensitive (e.g. `bank`).
    #[param(max_length = 64)]
    pub q: Option<String>,
    /// Only products of this exchange.
    #[param(value_type = Option<ExchangeName>, inline)]
    pub exchange: Option<String>,
    /// Items per page, 1..=1000 (default 1000: a universe in one page).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, exactly as returned (same `q` and
    /// `exchange`): how many matching products came before.
    #[param(pattern = "^[0-9]{1,6}$")]
    pub cursor: Option<String>,
}

/// An exchange token: the tokens of [`Exchange::ALL`].
pub struct ExchangeName;

impl utoipa::PartialSchema for ExchangeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An exchange token."))
            .enum_values(Some(Exchange::ALL.map(Exchange::as_str)))
            .into()
    }
}

impl ToSchema for ExchangeName {}

/// The gateway's clock, UTC ns (market status is a question about now).
fn now_unix_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// A product as listed, at `now_unix_ns`.
fn product(state: &AppState, p: &ProductSpec, now_unix_ns: i64) -> Product {
    let last = state
        .live
        .latest_underlying(&p.name)
        .and_then(|v| match &*v.msg {
            Enriched::Underlying(u) => Some(Last {
                price: u.price,
                change_pct: u.change_pct,
                ts_unix_ns: u.ts_unix_ns,
                ts: rfc3339(u.ts_unix_ns),
            }),
            _ => None,
        });
    let expiry_rule = serde_json::to_value(p.expiry)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Product {
        name: p.name.clone(),
        exchange: p.exchange.as_str().to_owned(),
        timezone: p.exchange.timezone().name().to_owned(),
        rate: p.rate,
        dividend_yield: p.dividend_yield,
        strike_step: p.strike_step,
        listed_strikes: p.listed_strikes,
        expiry_rule,
        lot_size: p.lot_size,
        min_tick: p.min_tick,
        market: p.market_status(now_unix_ns).into(),
        last,
    }
}

/// Every configured product, in the universe's order (one page).
pub fn product_list(state: &AppState) -> Page<Product> {
    let now = now_unix_ns();
    Page::all(
        state
            .cfg
            .products
            .iter()
            .map(|p| product(state, p, now))
            .collect(),
    )
}

/// One page of the configured products matching `q`, in the universe's order.
///
/// # Errors
/// 400 for a bad parameter.
pub fn product_page(state: &AppState, q: &ProductsParams) -> ApiResult<Page<Product>> {
    let limit = match q.limit.as_deref() {
        None => MAX_LIMIT,
        raw => crate::params::limit(raw)?,
    };
    let limit = usize::try_from(limit).unwrap_or(1);
    let needle = q.q.as_deref().map(str::to_ascii_uppercase);
    if needle.as_ref().is_some_and(|n| n.chars().count() > 64) {
        return Err(AppError::BadRequest(
            "q is longer than 64 characters".into(),
        ));
    }
    let exchange = match q.exchange.as_deref() {
        None => None,
        Some(e) => Some(e.parse::<Exchange>().map_err(|_| {
            AppError::BadRequest(format!("exchange must be NSE, US or CRYPTO, got {e:?}"))
        })?),
    };
    let matching: Vec<&ProductSpec> = state
        .cfg
        .products
        .iter()
        .filter(|p| exchange.is_none_or(|e| p.exchange == e))
        .filter(|p| needle.as_ref().is_none_or(|n| p.name.contains(n.as_str())))
        .collect();
    // The universe is configuration, fixed while the gateway runs: a page
    // starts after the products the previous pages returned.
    let from = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|_| c.len() <= 6 && c.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "cursor must be the next_cursor of a previous page (digits), got {:?}",
                    c.chars().take(40).collect::<String>()
                ))
            })?,
    };
    let now = now_unix_ns();
    let page: Vec<&ProductSpec> = matching.iter().skip(from).take(limit).copied().collect();
    let next_cursor = (from + page.len() < matching.len()).then(|| (from + page.len()).to_string());
    Ok(Page {
        items: page.into_iter().map(|p| product(state, p, now)).collect(),
        next_cursor,
    })
}

/// The configured products (the universe), each with its market status (open
/// or closed, next open and close) and last tick, in the universe's order;
/// paged with `limit` and `cursor` (by default the whole universe in one page),
/// filtered by `q` and `exchange`.
#[utoipa::path(get, path = "/api/v1/products", tag = "reference",
    params(ProductsParams),
    responses(
        (status = 200, description = "A page of configured products", body = Page<Product>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _r: Reader,
    Query(q): Query<ProductsParams>,
) -> ApiResult<Json<Page<Product>>> {
    Ok(Json(product_page(&state, &q)?))
}

/// Distinct expiries of a product's latest chains (ISO dates).
///
/// # Errors
/// 503 when MongoDB is down.
pub async fn expiries_of(state: &AppState, product: &str) -> ApiResult<Vec<String>> {
    let vals = state
        .db
        .collection::<Document>(CHAIN_LATEST)
        .distinct("expiry", doc! {"product": product})
        .await?;
    let mut out: Vec<String> = vals
        .into_iter()
        .filter_map(|b| match b {
            Bson::String(s) => Some(s),
            _ => None,
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Expiries with a chain, ascending (ISO dates).
#[utoipa::path(get, path = "/api/v1/products/{product}/expiries", tag = "reference",
    params(ProductPath),
    responses(
        (status = 200, description = "Expiries, ascending", body = Page<String>),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn expiries(
    ProductRead { state, product }: ProductRead,
) -> ApiResult<Json<Page<String>>> {
    state.product(&product)?;
    Ok(Json(Page::all(expiries_of(&state, &product).await?)))
}
