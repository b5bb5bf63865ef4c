//! `/api/v1/underlying/{product}/…`: the latest tick (from memory, MongoDB on a
//! miss), tick history and bars.

use super::{body_response, json_response, known_product, HistoryParams};
use crate::api::Ctx;
use crate::auth::Reader;
use crate::error::{ApiResult, AppError};
use crate::extract::{Path, Query};
use crate::json::document_json;
use crate::model::{BarPage, Problem, Tick, TickPage};
use crate::page::History;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use ds_runtime::collections::{BARS, UNDERLYING_LATEST, UNDERLYING_TICKS};
use mongodb::bson::{doc, Document};
use serde::Deserialize;

/// The latest tick of `product` as JSON.
///
/// # Errors
/// 404 for an unknown product or none yet; 503 when MongoDB is down.
pub async fn latest_of(ctx: &Ctx, product: &str) -> ApiResult<Response> {
    known_product(ctx, product)?;
    if let Some(v) = ctx.app.live.latest_underlying(product) {
        return Ok(body_response(v.body));
    }
    let d = ctx
        .app
        .db
        .collection::<Document>(UNDERLYING_LATEST)
        .find_one(doc! {"_id": product})
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tick of {product} yet")))?;
    Ok(json_response(&document_json(d)))
}

/// The latest enriched tick of a product.
#[utoipa::path(get, path = "/api/v1/underlying/{product}/latest", tag = "underlying",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY")),
    responses(
        (status = 200, description = "The latest tick", body = Tick),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product, or no tick yet", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn latest(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
) -> ApiResult<Response> {
    latest_of(&ctx, &product).await
}

/// Tick history, newest first unless `order=asc`, paginated with `cursor`.
#[utoipa::path(get, path = "/api/v1/underlying/{product}/ticks", tag = "underlying",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY"), HistoryParams),
    responses(
        (status = 200, description = "A page of ticks, ordered by ts_unix_ns descending (order=asc: ascending), ties by id", body = TickPage),
        (status = 400, description = "Bad time, limit, order or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn ticks(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<crate::page::Page>> {
    known_product(&ctx, &product)?;
    let (range, order, limit, cursor) = q.parse()?;
    let page = History {
        collection: UNDERLYING_TICKS,
        filter: doc! {"product": &product},
        time_field: "ts_unix_ns",
        ties: true,
        range,
        order,
        limit,
        cursor,
        projection: None,
    }
    .run(&ctx.app.db)
    .await?;
    Ok(Json(page))
}

/// Query parameters of `bars`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BarsParams {
    /// `1m` (default), `5m` or `15m`.
    pub interval: Option<String>,
    /// Start (inclusive) on the bar start: RFC 3339 or unix milliseconds.
    pub from: Option<String>,
    /// End (exclusive) on the bar start: RFC 3339 or unix milliseconds.
    pub to: Option<String>,
    /// Items per page, 1..=1000 (default 100).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<String>,
}

/// Closed OHLC bars with indicators, newest first unless `order=asc`.
#[utoipa::path(get, path = "/api/v1/underlying/{product}/bars", tag = "underlying",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY"), BarsParams),
    responses(
        (status = 200, description = "A page of bars, ordered by start_unix_ns descending (order=asc: ascending)", body = BarPage),
        (status = 400, description = "Bad interval, time, limit, order or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn bars(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
    Query(q): Query<BarsParams>,
) -> ApiResult<Json<crate::page::Page>> {
    known_product(&ctx, &product)?;
    let interval = crate::params::interval(q.interval.as_deref())?;
    let (range, order, limit, cursor) = HistoryParams {
        from: q.from,
        to: q.to,
        limit: q.limit,
        cursor: q.cursor,
        order: q.order,
    }
    .parse()?;
    let page = History {
        collection: BARS,
        filter: doc! {"product": &product, "interval": interval},
        time_field: "start_unix_ns",
        // One bar per product, interval and start: no ties.
        ties: false,
        range,
        order,
        limit,
        cursor,
        projection: None,
    }
    .run(&ctx.app.db)
    .await?;
    Ok(Json(page))
}
