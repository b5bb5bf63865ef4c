//! `/api/v1/underlying/{product}/…`: the latest tick (from memory, MongoDB on a
//! miss), tick history and bars.

use crate::access::ProductRead;
use crate::error::responses::{BadRequest, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::Query;
use crate::page::{read, History};
use crate::params::{HistoryParams, IntervalParam, ProductPath};
use crate::views::{json_body, BarView, Page, UnderlyingView};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ds_runtime::collections::{BARS, UNDERLYING_LATEST, UNDERLYING_TICKS};
use ds_schemas::{Bar, EnrichedUnderlying};
use mongodb::bson::{doc, RawDocumentBuf};

/// The latest enriched tick of a product.
#[utoipa::path(operation_id = "underlying_latest", get, path = "/api/v1/underlying/{product}/latest", tag = "underlying",
    params(ProductPath),
    responses(
        (status = 200, description = "The latest tick", body = UnderlyingView),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn latest(ProductRead { state, product }: ProductRead) -> ApiResult<Response> {
    state.product(&product)?;
    if let Some(v) = state.live.latest_underlying(&product) {
        return Ok(json_body(v.body));
    }
    let d = state
        .db
        .collection::<RawDocumentBuf>(UNDERLYING_LATEST)
        .find_one(doc! {"_id": &product})
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tick of {product} yet")))?;
    let tick: EnrichedUnderlying = read(UNDERLYING_LATEST, &d)?;
    Ok(Json(UnderlyingView::from(tick)).into_response())
}

/// Tick history, newest first unless `order=asc`, paginated with `cursor`.
#[utoipa::path(get, path = "/api/v1/underlying/{product}/ticks", tag = "underlying",
    params(ProductPath, HistoryParams),
    responses(
        (status = 200, description = "A page of ticks, ordered by ts_unix_ns descending (order=asc: ascending), ties by id", body = Page<UnderlyingView>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn ticks(
    ProductRead { state, product }: ProductRead,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<Page<UnderlyingView<'static>>>> {
    state.product(&product)?;
    let page = History::new(
        UNDERLYING_TICKS,
        doc! {"product": &product},
        "ts_unix_ns",
        &q,
    )?
    .run::<EnrichedUnderlying>(&state.db)
    .await?;
    Ok(Json(page.map(UnderlyingView::from)))
}

/// Closed OHLC bars with indicators, newest first unless `order=asc`.
#[utoipa::path(get, path = "/api/v1/underlying/{product}/bars", tag = "underlying",
    params(ProductPath, IntervalParam, HistoryParams),
    responses(
        (status = 200, description = "A page of bars, ordered by start_unix_ns descending (order=asc: ascending)", body = Page<BarView>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn bars(
    ProductRead { state, product }: ProductRead,
    Query(i): Query<IntervalParam>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<Page<BarView<'static>>>> {
    state.product(&product)?;
    let interval = crate::params::interval(i.interval.as_deref())?;
    let filter = doc! {"product": &product, "interval": interval};
    let mut query = History::new(BARS, filter, "start_unix_ns", &q)?;
    // One bar per product, interval and start: no ties.
    query.ties = false;
    let page = query.run::<Bar>(&state.db).await?;
    Ok(Json(page.map(BarView::from)))
}
