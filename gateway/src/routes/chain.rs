//! `/api/v1/chain/{product}/…`: the latest enriched chain of an expiry (from
//! memory, MongoDB on a miss; expiry defaults to the nearest one not expired)
//! and chain history.

use crate::access::ProductRead;
use crate::error::responses::{BadRequest, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::Query;
use crate::page::{read_chain, History};
use crate::params::{ExpiryFilter, ExpiryParam, HistoryParams, ProductPath};
use crate::state::AppState;
use crate::views::{json_body, ChainView, Page};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use ds_analytics::market::{expiry_close_unix_ns, ProductSpec};
use ds_runtime::collections::{CHAIN_LATEST, OPTION_CHAINS};
use ds_schemas::enriched::Enriched;
use ds_schemas::EnrichedChain;
use futures::TryStreamExt as _;
use mongodb::bson::{doc, Document, RawDocumentBuf};
use std::sync::Arc;

/// A chain older than the product's newest by more than this is no longer quoted.
const QUOTED_WITHIN_NS: i64 = 86_400 * 1_000_000_000;

/// The latest chain of an expiry, shared with the live cache when it comes from
/// there (an [`Enriched::Chain`] by construction; see [`chain_of`]).
pub type LatestChain = Arc<Enriched>;

/// The chain in `m`.
///
/// # Errors
/// 500 when `m` is another message (a bug in the live cache, never hidden).
pub fn chain_of(m: &Enriched) -> ApiResult<&EnrichedChain> {
    match m {
        Enriched::Chain(c) => Ok(c),
        other => Err(AppError::Internal(anyhow::anyhow!(
            "expected a chain, the live cache holds a {}",
            other.schema()
        ))),
    }
}

/// The stored latest chains matching `filter`, by expiry.
async fn stored_chains(state: &AppState, filter: Document) -> ApiResult<Vec<LatestChain>> {
    let docs: Vec<RawDocumentBuf> = state
        .db
        .collection::<RawDocumentBuf>(CHAIN_LATEST)
        .find(filter)
        .sort(doc! {"expiry": 1})
        .await?
        .try_collect()
        .await?;
    docs.iter()
        .map(|d| Ok(Arc::new(Enriched::Chain(read_chain(CHAIN_LATEST, d)?))))
        .collect()
}

/// The latest chain of every expiry of `product` still quoted (its latest chain
/// at most a day older than the product's newest), by expiry.
///
/// # Errors
/// 503 when MongoDB is down.
pub async fn latest_chains(state: &AppState, product: &str) -> ApiResult<Vec<LatestChain>> {
    let live = state.live.latest_chains(product);
    if !live.is_empty() {
        return Ok(live.into_iter().map(|(_, v)| v.msg).collect());
    }
    let mut out = stored_chains(state, doc! {"product": product}).await?;
    let newest = out.iter().map(|c| c.ts_unix_ns()).max().unwrap_or_default();
    out.retain(|c| c.ts_unix_ns() >= newest.saturating_sub(QUOTED_WITHIN_NS));
    Ok(out)
}

/// The nearest expiry not yet expired, as of the product's newest chain (or
/// now, whichever is earlier, so a replayed day resolves like the live one);
/// the last one when all have expired.
fn nearest(spec: &ProductSpec, expiries: &[(String, i64)]) -> Option<String> {
    let newest = expiries.iter().map(|(_, ts)| *ts).max()?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let reference = newest.min(now);
    let mut sorted: Vec<&String> = expiries.iter().map(|(e, _)| e).collect();
    sorted.sort();
    sorted.dedup();
    sorted
        .iter()
        .find(|e| {
            NaiveDate::parse_from_str(e, "%Y-%m-%d")
                .is_ok_and(|d| expiry_close_unix_ns(d, spec.exchange) > reference)
        })
        .or(sorted.last())
        .map(|e| (*e).clone())
}

/// The expiry asked for (validated), or the nearest one not expired.
///
/// # Errors
/// 400 for a malformed expiry; 404 when the product has no chain yet.
pub async fn resolve_expiry(
    state: &AppState,
    spec: &ProductSpec,
    raw: Option<&str>,
) -> ApiResult<String> {
    if let Some(raw) = raw {
        return crate::params::expiry(raw);
    }
    let live = state.live.latest_chains(&spec.name);
    let known: Vec<(String, i64)> = if live.is_empty() {
        let docs: Vec<Document> = state
            .db
            .collection::<Document>(CHAIN_LATEST)
            .find(doc! {"product": &spec.name})
            .projection(doc! {"expiry": 1, "ts_unix_ns": 1})
            .await?
            .try_collect()
            .await?;
        docs.iter()
            .filter_map(|d| {
                Some((
                    d.get_str("expiry").ok()?.to_owned(),
                    d.get_i64("ts_unix_ns").ok()?,
                ))
            })
            .collect()
    } else {
        live.into_iter().map(|(e, v)| (e, v.ts_unix_ns)).collect()
    };
    nearest(spec, &known)
        .ok_or_else(|| AppError::NotFound(format!("no chain of {} yet", spec.name)))
}

/// The latest chain of `product` and `expiry`.
///
/// # Errors
/// 404 when there is none; 503 when MongoDB is down.
pub async fn latest_chain(state: &AppState, product: &str, expiry: &str) -> ApiResult<LatestChain> {
    if let Some(v) = state.live.latest_chain(product, expiry) {
        return Ok(v.msg);
    }
    stored_chains(state, doc! {"_id": format!("{product}:{expiry}")})
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("no chain of {product} for expiry {expiry}")))
}

/// The query of `product`'s chain snapshots in `option_chains` (of one expiry
/// when `e` names one), by time.
///
/// # Errors
/// 400 for a bad parameter; 404 for an unknown product.
pub fn snapshots(
    state: &AppState,
    product: &str,
    e: &ExpiryFilter,
    q: &HistoryParams,
) -> ApiResult<History> {
    state.product(product)?;
    let mut filter = doc! {"product": product};
    if let Some(e) = e.expiry.as_deref() {
        filter.insert("expiry", crate::params::expiry(e)?);
    }
    History::new(OPTION_CHAINS, filter, "ts_unix_ns", q)
}

/// The latest enriched chain of an expiry.
#[utoipa::path(operation_id = "chain_latest", get, path = "/api/v1/chain/{product}/latest", tag = "chain",
    params(ProductPath, ExpiryParam),
    responses(
        (status = 200, description = "The latest chain", body = ChainView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn latest(
    ProductRead { state, product }: ProductRead,
    Query(q): Query<ExpiryParam>,
) -> ApiResult<Response> {
    let spec = state.product(&product)?;
    let expiry = resolve_expiry(&state, spec, q.expiry.as_deref()).await?;
    if let Some(v) = state.live.latest_chain(&product, &expiry) {
        return Ok(json_body(v.body));
    }
    let c = latest_chain(&state, &product, &expiry).await?;
    Ok(Json(ChainView::borrowed(chain_of(&c)?)).into_response())
}

/// Enriched chain snapshots, newest first unless `order=asc`.
#[utoipa::path(operation_id = "chain_history", get, path = "/api/v1/chain/{product}/history", tag = "chain",
    params(ProductPath, ExpiryFilter, HistoryParams),
    responses(
        (status = 200, description = "A page of snapshots, ordered by ts_unix_ns descending (order=asc: ascending), ties by id", body = Page<ChainView>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn history(
    ProductRead { state, product }: ProductRead,
    Query(e): Query<ExpiryFilter>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<Page<ChainView<'static>>>> {
    let page = snapshots(&state, &product, &e, &q)?
        .run_with(&state.db, read_chain)
        .await?;
    Ok(Json(page.map(ChainView::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_expiry_is_relative_to_the_data() {
        let spec = ds_analytics::market::default_products()
            .into_iter()
            .find(|p| p.name == "NIFTY")
            .expect("NIFTY");
        // 2025-01-15 10:00 UTC = 15:30 IST.
        let ts = 1_736_935_200_000_000_000;
        let e = vec![
            ("2025-01-30".to_owned(), ts),
            ("2025-01-16".to_owned(), ts),
            ("2025-01-23".to_owned(), ts),
        ];
        assert_eq!(nearest(&spec, &e).as_deref(), Some("2025-01-16"));
        let e = vec![("2025-01-15".to_owned(), ts), ("2025-01-16".to_owned(), ts)];
        assert_eq!(
            nearest(&spec, &e).as_deref(),
            Some("2025-01-16"),
            "expired at 15:30 IST"
        );
        assert_eq!(nearest(&spec, &[]), None);
    }
}
