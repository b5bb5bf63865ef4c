//! The HTTP routes, one module per resource, and what they share.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod chain;
pub mod docs;
pub mod health;
pub mod legacy;
pub mod products;
pub mod underlying;

use crate::api::Ctx;
use crate::error::{ApiResult, AppError};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use ds_analytics::market::ProductSpec;
use serde::Deserialize;
use serde_json::Value;

/// The configured product called `product` (404 otherwise, naming the configured ones).
///
/// # Errors
/// [`AppError::NotFound`] for an unknown product.
pub fn known_product<'a>(ctx: &'a Ctx, product: &str) -> ApiResult<&'a ProductSpec> {
    if let Some(p) = ctx.app.cfg.product(product) {
        return Ok(p);
    }
    let names: Vec<&str> = ctx
        .app
        .cfg
        .products
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let shown: String = product.chars().take(40).collect();
    Err(AppError::NotFound(format!(
        "unknown product {shown:?}; known products: {}",
        names.join(", ")
    )))
}

/// A JSON value as a response, serialized straight from a shared value.
/// A JSON body serialized ahead of time (the live cache's latest values).
pub fn body_response(body: bytes::Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A JSON value as a response.
pub fn json_response(v: &Value) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => AppError::Internal(e.into()).into_response(),
    }
}

/// Query parameters of a history: `[from, to)`, `limit`, `cursor`, `order`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Start (inclusive): RFC 3339 or unix milliseconds.
    pub from: Option<String>,
    /// End (exclusive): RFC 3339 or unix milliseconds.
    pub to: Option<String>,
    /// Items per page, 1..=1000 (default 100).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<String>,
}

impl HistoryParams {
    /// Parses the common parameters.
    ///
    /// # Errors
    /// 400 naming the bad parameter.
    pub fn parse(
        &self,
    ) -> ApiResult<(
        crate::params::Range,
        crate::params::Order,
        i64,
        Option<crate::params::Cursor>,
    )> {
        let range = crate::params::Range::parse(self.from.as_deref(), self.to.as_deref())?;
        let order = crate::params::Order::parse(self.order.as_deref())?;
        let limit = crate::params::limit(self.limit.as_deref())?;
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| crate::params::Cursor::decode(c, order))
            .transpose()?;
        Ok((range, order, limit, cursor))
    }
}
