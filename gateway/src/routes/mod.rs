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
