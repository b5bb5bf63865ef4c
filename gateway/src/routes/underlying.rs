//! `/api/v1/underlying/{product}/…`.

use crate::error::{ApiResult, AppError};
use crate::json::document_json;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ds_runtime::collections::UNDERLYING_LATEST;
use mongodb::bson::{doc, Document};

/// Checks `product` is configured (404 otherwise, naming the configured ones).
pub fn known_product(s: &AppState, product: &str) -> ApiResult<()> {
    if s.cfg.product(product).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = s.cfg.products.iter().map(|p| p.name.as_str()).collect();
    Err(AppError::NotFound(format!(
        "unknown product {product:?}; known products: {}",
        names.join(", ")
    )))
}

/// The latest enriched tick of a product.
pub async fn latest(State(s): State<AppState>, Path(product): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    known_product(&s, &product)?;
    let d = s
        .db
        .collection::<Document>(UNDERLYING_LATEST)
        .find_one(doc! {"_id": &product})
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tick of {product} yet")))?;
    Ok(Json(document_json(d)))
}
