//! `/api/v1/products` and `/api/v1/products/{product}/expiries`.

use crate::access::Reader;
use crate::error::responses::{Guarded, NotFound, Unauthorized};
use crate::error::ApiResult;
use crate::extract::Path;
use crate::state::AppState;
use crate::views::Page;
use axum::extract::State;
use axum::Json;
use ds_runtime::collections::CHAIN_LATEST;
use mongodb::bson::{doc, Bson, Document};
use serde::Serialize;
use utoipa::ToSchema;

/// A configured product.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Product {
    /// Token, e.g. `NIFTY`.
    pub name: String,
    /// The exchange, e.g. `NSE`, `US`.
    pub exchange: String,
    /// IANA time zone of the exchange.
    pub timezone: String,
    /// Risk-free rate used for pricing.
    pub rate: f64,
    /// Dividend yield used for pricing.
    pub dividend_yield: f64,
    /// Distance between listed strikes.
    pub strike_step: f64,
}

/// The configured products.
pub fn product_list(state: &AppState) -> Page<Product> {
    Page {
        items: state
            .cfg
            .products
            .iter()
            .map(|p| Product {
                name: p.name.clone(),
                exchange: p.exchange.as_str().to_owned(),
                timezone: p.exchange.timezone().name().to_owned(),
                rate: p.rate,
                dividend_yield: p.dividend_yield,
                strike_step: p.strike_step,
            })
            .collect(),
        next_cursor: None,
    }
}

/// The configured products.
#[utoipa::path(get, path = "/api/v1/products", tag = "reference",
    responses(
        (status = 200, description = "Configured products", body = Page<Product>),
        (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list(State(state): State<AppState>, _r: Reader) -> Json<Page<Product>> {
    Json(product_list(&state))
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
    params(("product" = String, Path, description = "Product token, e.g. NIFTY (404 for one the gateway does not have)", pattern = "^[A-Z0-9_]+$")),
    responses(
        (status = 200, description = "Expiries, ascending", body = Page<String>),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn expiries(
    State(state): State<AppState>,
    _r: Reader,
    Path(product): Path<String>,
) -> ApiResult<Json<Page<String>>> {
    state.product(&product)?;
    Ok(Json(Page::all(expiries_of(&state, &product).await?)))
}
