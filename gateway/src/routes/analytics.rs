//! `/api/v1/analytics/{product}/…`: PCR series, max pain, IV surface, OI build-up.

use super::chain::{latest_chain, latest_chains, resolve_expiry, ExpiryParam};
use super::{known_product, HistoryParams};
use crate::api::Ctx;
use crate::auth::Reader;
use crate::error::ApiResult;
use crate::extract::{Path, Query};
use crate::model::{IvSurface, MaxPain, OiBuildup, PainPoint, PcrPage, Problem};
use crate::page::History;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use ds_analytics::surface::{build_surface, SurfaceChain};
use ds_runtime::collections::OPTION_CHAINS;
use mongodb::bson::doc;
use serde::Deserialize;
use serde_json::{json, Value};

fn f64_at(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn f64s(v: &Value, k: &str) -> Vec<f64> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
        .unwrap_or_default()
}

fn quotes<'a>(v: &'a Value, side: &str) -> &'a [Value] {
    v.get(side)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Query parameters of `pcr`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PcrParams {
    /// Expiry (YYYY-MM-DD); every expiry when omitted (each point names its expiry).
    pub expiry: Option<String>,
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

/// The PCR series of `product`.
///
/// # Errors
/// 400/404 for bad input; 503 when MongoDB is down.
pub async fn pcr_page(ctx: &Ctx, product: &str, q: PcrParams) -> ApiResult<crate::page::Page> {
    known_product(ctx, product)?;
    let mut filter = doc! {"product": product};
    if let Some(e) = q.expiry.as_deref() {
        filter.insert("expiry", crate::params::expiry(e)?);
    }
    let (range, order, limit, cursor) = HistoryParams {
        from: q.from,
        to: q.to,
        limit: q.limit,
        cursor: q.cursor,
        order: q.order,
    }
    .parse()?;
    History {
        collection: OPTION_CHAINS,
        filter,
        time_field: "ts_unix_ns",
        ties: true,
        range,
        order,
        limit,
        cursor,
        projection: Some(doc! {
            "product": 1, "expiry": 1, "ts": 1, "seq": 1, "spot": 1, "pcr_oi": 1,
            "pcr_volume": 1, "total_call_oi": 1, "total_put_oi": 1,
        }),
    }
    .run(&ctx.app.db)
    .await
}

/// Put-call ratio series (by OI and volume) per expiry, from the chain snapshots.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/pcr", tag = "analytics",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY"), PcrParams),
    responses(
        (status = 200, description = "A page of PCR points, ordered by ts_unix_ns descending (order=asc: ascending)", body = PcrPage),
        (status = 400, description = "Bad expiry, time, limit, order or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn pcr(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
    Query(q): Query<PcrParams>,
) -> ApiResult<Json<crate::page::Page>> {
    Ok(Json(pcr_page(&ctx, &product, q).await?))
}

/// Writers' payout at each strike of `strikes` (settlement there), from OI.
fn pain_curve(strikes: &[f64], call_oi: &[f64], put_oi: &[f64]) -> Vec<PainPoint> {
    strikes
        .iter()
        .map(|&s| {
            let call_pain: f64 = strikes
                .iter()
                .zip(call_oi)
                .map(|(&k, &oi)| oi * (s - k).max(0.0))
                .sum();
            let put_pain: f64 = strikes
                .iter()
                .zip(put_oi)
                .map(|(&k, &oi)| oi * (k - s).max(0.0))
                .sum();
            PainPoint {
                strike: s,
                call_pain,
                put_pain,
                total_pain: call_pain + put_pain,
            }
        })
        .collect()
}

fn oi_of(v: &Value, side: &str) -> Vec<f64> {
    quotes(v, side)
        .iter()
        .map(|q| {
            q.get("open_interest")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
        })
        .collect()
}

/// Max pain of the latest chain of an expiry, with the pain curve.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/max-pain", tag = "analytics",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY"), ExpiryParam),
    responses(
        (status = 200, description = "Max pain and the pain curve", body = MaxPain),
        (status = 400, description = "Malformed expiry", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product, or no chain", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn max_pain(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
    Query(q): Query<ExpiryParam>,
) -> ApiResult<Json<MaxPain>> {
    let spec = known_product(&ctx, &product)?;
    let expiry = resolve_expiry(&ctx, spec, q.expiry.as_deref()).await?;
    let c = latest_chain(&ctx, &product, &expiry).await?;
    let strikes = f64s(&c, "strikes");
    Ok(Json(MaxPain {
        pain: pain_curve(&strikes, &oi_of(&c, "calls"), &oi_of(&c, "puts")),
        product,
        expiry,
        ts_unix_ns: c
            .get("ts_unix_ns")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        ts: c
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        spot: f64_at(&c, "spot").unwrap_or_default(),
        max_pain_strike: f64_at(&c, "max_pain_strike").unwrap_or_default(),
    }))
}

/// The IV surface of `product` from the latest chain of every quoted expiry.
///
/// # Errors
/// 404 for an unknown product; 503 when MongoDB is down.
pub async fn surface_of(ctx: &Ctx, product: &str) -> ApiResult<IvSurface> {
    known_product(ctx, product)?;
    let chains = latest_chains(ctx, product).await?;
    struct Owned {
        expiry: NaiveDate,
        spot: f64,
        strikes: Vec<f64>,
        calls: Vec<Option<f64>>,
        puts: Vec<Option<f64>>,
    }
    let ivs = |v: &Value, side: &str| -> Vec<Option<f64>> {
        quotes(v, side)
            .iter()
            .map(|q| q.get("iv").and_then(Value::as_f64))
            .collect()
    };
    let owned: Vec<Owned> = chains
        .iter()
        .filter_map(|c| {
            Some(Owned {
                expiry: NaiveDate::parse_from_str(&c.expiry, "%Y-%m-%d").ok()?,
                spot: f64_at(&c.json, "spot")?,
                strikes: f64s(&c.json, "strikes"),
                calls: ivs(&c.json, "calls"),
                puts: ivs(&c.json, "puts"),
            })
        })
        .collect();
    let input: Vec<SurfaceChain<'_>> = owned
        .iter()
        .map(|o| SurfaceChain {
            expiry: o.expiry,
            spot: o.spot,
            strikes: &o.strikes,
            call_ivs: &o.calls,
            put_ivs: &o.puts,
        })
        .collect();
    let s = build_surface(&input);
    let newest = chains.iter().max_by_key(|c| c.ts_unix_ns);
    Ok(IvSurface {
        product: product.to_owned(),
        expiries: s
            .expiries
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect(),
        strikes: s.strikes,
        ivs: s.ivs,
        spot: newest.and_then(|c| f64_at(&c.json, "spot")),
        ts_unix_ns: newest.map(|c| c.ts_unix_ns),
        ts: newest.and_then(|c| c.json.get("ts").and_then(Value::as_str).map(str::to_owned)),
    })
}

/// Implied-volatility surface (expiry × strike, out-of-the-money side).
#[utoipa::path(get, path = "/api/v1/analytics/{product}/iv-surface", tag = "analytics",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY")),
    responses(
        (status = 200, description = "The IV surface (empty grids before any chain)", body = IvSurface),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn iv_surface(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
) -> ApiResult<Json<IvSurface>> {
    Ok(Json(surface_of(&ctx, &product).await?))
}

/// The build-up classes, in the order of the proto enum.
const CLASSES: [&str; 5] = [
    "NEUTRAL",
    "LONG_BUILDUP",
    "SHORT_BUILDUP",
    "SHORT_COVERING",
    "LONG_UNWINDING",
];

/// OI change and build-up class per strike and side of the latest chain, with
/// counts per class.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/oi-buildup", tag = "analytics",
    params(("product" = String, Path, description = "Product token, e.g. NIFTY"), ExpiryParam),
    responses(
        (status = 200, description = "OI build-up", body = OiBuildup),
        (status = 400, description = "Malformed expiry", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product, or no chain", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn oi_buildup(
    State(ctx): State<Ctx>,
    _r: Reader,
    Path(product): Path<String>,
    Query(q): Query<ExpiryParam>,
) -> ApiResult<Json<Value>> {
    let spec = known_product(&ctx, &product)?;
    let expiry = resolve_expiry(&ctx, spec, q.expiry.as_deref()).await?;
    let c = latest_chain(&ctx, &product, &expiry).await?;
    let mut counts = serde_json::Map::new();
    for class in CLASSES {
        counts.insert(class.to_owned(), json!(0));
    }
    let mut items = Vec::new();
    for side in ["calls", "puts"] {
        for q in quotes(&c, side) {
            let buildup = q
                .get("buildup")
                .and_then(Value::as_str)
                .unwrap_or("NEUTRAL")
                .to_owned();
            if let Some(n) = counts.get_mut(&buildup) {
                *n = json!(n.as_u64().unwrap_or(0) + 1);
            }
            items.push(json!({
                "strike": q.get("strike"),
                "side": if side == "calls" { "call" } else { "put" },
                "open_interest": q.get("open_interest"),
                "oi_change": q.get("oi_change"),
                "last": q.get("last"),
                "buildup": buildup,
            }));
        }
    }
    items.sort_by(|a, b| {
        let k = |v: &Value| v.get("strike").and_then(Value::as_f64).unwrap_or(f64::NAN);
        k(a).total_cmp(&k(b))
            .then_with(|| a["side"].as_str().cmp(&b["side"].as_str()))
    });
    Ok(Json(json!({
        "product": product,
        "expiry": expiry,
        "ts_unix_ns": c.get("ts_unix_ns"),
        "ts": c.get("ts"),
        "items": items,
        "counts": counts,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pain_is_minimal_at_the_max_pain_strike() {
        let strikes = [90.0, 100.0, 110.0];
        let p = pain_curve(&strikes, &[10.0, 50.0, 10.0], &[10.0, 50.0, 10.0]);
        assert_eq!(p[1].total_pain, 10.0 * 10.0 + 10.0 * 10.0);
        assert!(p[1].total_pain < p[0].total_pain && p[1].total_pain < p[2].total_pain);
    }
}
