//! `/api/v1/analytics/{product}/…`: PCR series, max pain, IV surface, OI
//! build-up, computed from the typed chains (never from JSON by key: a value
//! that is not there is an error or `null`, never 0).

use super::chain::{chain_of, latest_chain, latest_chains, resolve_expiry, snapshots};
use crate::access::ProductRead;
use crate::error::responses::{BadRequest, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::Query;
use crate::params::{ExpiryFilter, ExpiryParam, HistoryParams, ProductPath};
use crate::views::{rfc3339, Page};
use axum::Json;
use chrono::NaiveDate;
use ds_analytics::surface::{build_surface, SurfaceChain};
use ds_schemas::{Buildup, EnrichedChain, EnrichedQuote};
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One point of the put-call ratio series (a chain snapshot's ratios).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PcrPoint {
    /// Product.
    pub product: String,
    /// Expiry, ISO date.
    pub expiry: String,
    /// Event time, UTC ns.
    pub ts_unix_ns: i64,
    /// Event time, RFC 3339.
    #[serde(skip_deserializing)]
    pub ts: String,
    /// Chain sequence.
    pub seq: u64,
    /// Spot.
    pub spot: f64,
    /// PCR by open interest (0 when there is no call OI, SPEC §4).
    pub pcr_oi: f64,
    /// PCR by volume (0 when there is no call volume, SPEC §4).
    pub pcr_volume: f64,
    /// Σ call OI.
    pub total_call_oi: u64,
    /// Σ put OI.
    pub total_put_oi: u64,
}

/// Put-call ratio series (by OI and volume) per expiry, from the chain snapshots.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/pcr", tag = "analytics",
    params(ProductPath, ExpiryFilter, HistoryParams),
    responses(
        (status = 200, description = "A page of PCR points, ordered by ts_unix_ns descending (order=asc: ascending)", body = Page<PcrPoint>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn pcr(
    ProductRead { state, product }: ProductRead,
    Query(e): Query<ExpiryFilter>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<Page<PcrPoint>>> {
    let mut query = snapshots(&state, &product, &e, &q)?;
    query.projection = Some(doc! {
        "product": 1, "expiry": 1, "seq": 1, "spot": 1, "pcr_oi": 1,
        "pcr_volume": 1, "total_call_oi": 1, "total_put_oi": 1,
    });
    let page = query.run::<PcrPoint>(&state.db).await?;
    Ok(Json(page.map(|mut p| {
        p.ts = rfc3339(p.ts_unix_ns);
        p
    })))
}

/// Writers' payout at one settlement strike.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PainPoint {
    /// Settlement strike.
    pub strike: f64,
    /// Σ call OI × max(0, strike − K).
    pub call_pain: f64,
    /// Σ put OI × max(0, K − strike).
    pub put_pain: f64,
    /// call_pain + put_pain.
    pub total_pain: f64,
}

/// Max pain of the latest chain of an expiry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MaxPain {
    /// Product.
    pub product: String,
    /// Expiry.
    pub expiry: String,
    /// Snapshot time, UTC ns.
    pub ts_unix_ns: i64,
    /// Snapshot time, RFC 3339.
    pub ts: String,
    /// Spot.
    pub spot: f64,
    /// The strike minimising total pain (ties: the lower), as the enricher computed it.
    pub max_pain_strike: f64,
    /// The pain curve, by strike.
    pub pain: Vec<PainPoint>,
}

/// Writers' payout at each strike of `c` (settlement there), from OI.
fn pain_curve(c: &EnrichedChain) -> Vec<PainPoint> {
    let oi = |q: &EnrichedQuote| q.open_interest as f64;
    c.strikes
        .iter()
        .map(|&s| {
            let call_pain: f64 = c
                .strikes
                .iter()
                .zip(&c.calls)
                .map(|(&k, q)| oi(q) * (s - k).max(0.0))
                .sum();
            let put_pain: f64 = c
                .strikes
                .iter()
                .zip(&c.puts)
                .map(|(&k, q)| oi(q) * (k - s).max(0.0))
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

/// Max pain of the latest chain of an expiry, with the pain curve.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/max-pain", tag = "analytics",
    params(ProductPath, ExpiryParam),
    responses(
        (status = 200, description = "Max pain and the pain curve", body = MaxPain),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn max_pain(
    ProductRead { state, product }: ProductRead,
    Query(q): Query<ExpiryParam>,
) -> ApiResult<Json<MaxPain>> {
    let spec = state.product(&product)?;
    let expiry = resolve_expiry(&state, spec, q.expiry.as_deref()).await?;
    let m = latest_chain(&state, &product, &expiry).await?;
    let c = chain_of(&m)?;
    Ok(Json(MaxPain {
        pain: pain_curve(c),
        product,
        expiry,
        ts_unix_ns: c.ts_unix_ns,
        ts: rfc3339(c.ts_unix_ns),
        spot: c.spot,
        max_pain_strike: c.max_pain_strike,
    }))
}

/// The implied-volatility surface from the latest chain of every expiry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IvSurface {
    /// Product.
    pub product: String,
    /// Expiries (rows), ascending.
    pub expiries: Vec<String>,
    /// Strikes (columns), ascending.
    pub strikes: Vec<f64>,
    /// `ivs[e][k]`: out-of-the-money IV at `expiries[e]`, `strikes[k]`, or null.
    pub ivs: Vec<Vec<Option<f64>>>,
    /// Spot of the newest chain used; null before any chain.
    pub spot: Option<f64>,
    /// Newest snapshot used, UTC ns; null before any chain.
    pub ts_unix_ns: Option<i64>,
    /// Newest snapshot used, RFC 3339; null before any chain.
    pub ts: Option<String>,
}

/// One chain's IVs, owned for [`SurfaceChain`].
struct SmileInput<'a> {
    expiry: NaiveDate,
    chain: &'a EnrichedChain,
    calls: Vec<Option<f64>>,
    puts: Vec<Option<f64>>,
}

impl<'a> SmileInput<'a> {
    /// `None` (logged) for a chain whose expiry is not a date.
    fn new(chain: &'a EnrichedChain) -> Option<Self> {
        let Ok(expiry) = NaiveDate::parse_from_str(&chain.expiry, "%Y-%m-%d") else {
            tracing::warn!(product = %chain.product, expiry = %chain.expiry, "chain left out of the IV surface: expiry is not a date");
            return None;
        };
        // The smile skips illiquid quotes (a min-tick price only reflects the tick).
        let ivs = |qs: &[EnrichedQuote]| qs.iter().map(|q| q.iv.filter(|_| !q.illiquid)).collect();
        Some(Self {
            expiry,
            chain,
            calls: ivs(&chain.calls),
            puts: ivs(&chain.puts),
        })
    }

    fn surface_chain(&self) -> SurfaceChain<'_> {
        SurfaceChain {
            expiry: self.expiry,
            spot: self.chain.spot,
            strikes: &self.chain.strikes,
            call_ivs: &self.calls,
            put_ivs: &self.puts,
        }
    }
}

/// Implied-volatility surface (expiry × strike, out-of-the-money side).
#[utoipa::path(get, path = "/api/v1/analytics/{product}/iv-surface", tag = "analytics",
    params(ProductPath),
    responses(
        (status = 200, description = "The IV surface (empty grids before any chain)", body = IvSurface),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn iv_surface(ProductRead { state, product }: ProductRead) -> ApiResult<Json<IvSurface>> {
    state.product(&product)?;
    let latest = latest_chains(&state, &product).await?;
    let chains = latest
        .iter()
        .map(|m| chain_of(m))
        .collect::<ApiResult<Vec<&EnrichedChain>>>()?;
    let inputs: Vec<SmileInput<'_>> = chains.iter().filter_map(|c| SmileInput::new(c)).collect();
    let s = build_surface(
        &inputs
            .iter()
            .map(SmileInput::surface_chain)
            .collect::<Vec<_>>(),
    );
    let newest = chains.iter().max_by_key(|c| c.ts_unix_ns);
    Ok(Json(IvSurface {
        product,
        expiries: s
            .expiries
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect(),
        strikes: s.strikes,
        ivs: s.ivs,
        spot: newest.map(|c| c.spot),
        ts_unix_ns: newest.map(|c| c.ts_unix_ns),
        ts: newest.map(|c| rfc3339(c.ts_unix_ns)),
    }))
}

/// The side of a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A call.
    Call,
    /// A put.
    Put,
}

/// OI change and build-up of one strike and side.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OiRow {
    /// Strike.
    pub strike: f64,
    /// `call` or `put`.
    pub side: Side,
    /// Open interest.
    pub open_interest: u64,
    /// OI change against the previous snapshot.
    pub oi_change: i64,
    /// Last price.
    pub last: f64,
    /// Build-up class.
    pub buildup: Buildup,
}

/// Rows per build-up class (every class present, possibly 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(clippy::struct_field_names)]
pub struct BuildupCounts {
    /// No clear signal.
    pub neutral: u64,
    /// Price up, OI up.
    pub long_buildup: u64,
    /// Price down, OI up.
    pub short_buildup: u64,
    /// Price up, OI down.
    pub short_covering: u64,
    /// Price down, OI down.
    pub long_unwinding: u64,
}

impl BuildupCounts {
    fn add(&mut self, b: Buildup) {
        let n = match b {
            Buildup::Neutral => &mut self.neutral,
            Buildup::LongBuildup => &mut self.long_buildup,
            Buildup::ShortBuildup => &mut self.short_buildup,
            Buildup::ShortCovering => &mut self.short_covering,
            Buildup::LongUnwinding => &mut self.long_unwinding,
        };
        *n += 1;
    }
}

/// OI build-up of the latest chain of an expiry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OiBuildup {
    /// Product.
    pub product: String,
    /// Expiry.
    pub expiry: String,
    /// Snapshot time, UTC ns.
    pub ts_unix_ns: i64,
    /// Snapshot time, RFC 3339.
    pub ts: String,
    /// Per strike and side, by strike, calls first.
    pub items: Vec<OiRow>,
    /// Rows per build-up class.
    pub counts: BuildupCounts,
}

/// The rows of `c`, by strike then side, and their counts per class.
///
/// # Errors
/// 500 for a quote whose class is not a `Buildup` (never counted as another).
fn oi_rows(c: &EnrichedChain) -> ApiResult<(Vec<OiRow>, BuildupCounts)> {
    let mut counts = BuildupCounts::default();
    let mut items = Vec::with_capacity(c.calls.len() + c.puts.len());
    for (side, quotes) in [(Side::Call, &c.calls), (Side::Put, &c.puts)] {
        for q in quotes {
            let buildup = Buildup::try_from(q.buildup).map_err(|_| {
                AppError::Internal(anyhow::anyhow!(
                    "chain {} {} has buildup {} at strike {}",
                    c.product,
                    c.expiry,
                    q.buildup,
                    q.strike
                ))
            })?;
            counts.add(buildup);
            items.push(OiRow {
                strike: q.strike,
                side,
                open_interest: q.open_interest,
                oi_change: q.oi_change,
                last: q.last,
                buildup,
            });
        }
    }
    items.sort_by(|a, b| a.strike.total_cmp(&b.strike).then(a.side.cmp(&b.side)));
    Ok((items, counts))
}

/// OI change and build-up class per strike and side of the latest chain, with
/// counts per class.
#[utoipa::path(get, path = "/api/v1/analytics/{product}/oi-buildup", tag = "analytics",
    params(ProductPath, ExpiryParam),
    responses(
        (status = 200, description = "OI build-up", body = OiBuildup),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn oi_buildup(
    ProductRead { state, product }: ProductRead,
    Query(q): Query<ExpiryParam>,
) -> ApiResult<Json<OiBuildup>> {
    let spec = state.product(&product)?;
    let expiry = resolve_expiry(&state, spec, q.expiry.as_deref()).await?;
    let m = latest_chain(&state, &product, &expiry).await?;
    let c = chain_of(&m)?;
    let (items, counts) = oi_rows(c)?;
    Ok(Json(OiBuildup {
        product,
        expiry,
        ts_unix_ns: c.ts_unix_ns,
        ts: rfc3339(c.ts_unix_ns),
        items,
        counts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(strike: f64, oi: u64, buildup: Buildup) -> EnrichedQuote {
        EnrichedQuote {
            strike,
            open_interest: oi,
            buildup: buildup as i32,
            ..Default::default()
        }
    }

    #[test]
    fn pain_is_minimal_at_the_max_pain_strike() {
        let strikes = vec![90.0, 100.0, 110.0];
        let q = |oi: &[u64]| -> Vec<EnrichedQuote> {
            strikes
                .iter()
                .zip(oi)
                .map(|(&k, &oi)| quote(k, oi, Buildup::Neutral))
                .collect()
        };
        let c = EnrichedChain {
            calls: q(&[10, 50, 10]),
            puts: q(&[10, 50, 10]),
            strikes: strikes.clone(),
            ..Default::default()
        };
        let p = pain_curve(&c);
        assert_eq!(p[1].total_pain, 10.0 * 10.0 + 10.0 * 10.0);
        assert!(p[1].total_pain < p[0].total_pain && p[1].total_pain < p[2].total_pain);
    }

    #[test]
    fn oi_rows_count_every_class_and_refuse_unknown_ones() {
        let mut c = EnrichedChain {
            strikes: vec![100.0, 90.0],
            calls: vec![
                quote(100.0, 1, Buildup::LongBuildup),
                quote(90.0, 1, Buildup::Neutral),
            ],
            puts: vec![
                quote(100.0, 1, Buildup::LongBuildup),
                quote(90.0, 1, Buildup::ShortCovering),
            ],
            ..Default::default()
        };
        let (rows, counts) = oi_rows(&c).expect("rows");
        assert_eq!(
            rows.iter().map(|r| (r.strike, r.side)).collect::<Vec<_>>(),
            vec![
                (90.0, Side::Call),
                (90.0, Side::Put),
                (100.0, Side::Call),
                (100.0, Side::Put)
            ]
        );
        assert_eq!(counts.long_buildup, 2);
        let v = serde_json::to_value(&counts).expect("json");
        assert_eq!(v["SHORT_COVERING"], 1);
        assert_eq!(v["LONG_UNWINDING"], 0);
        c.puts[0].buildup = 42;
        assert!(oi_rows(&c).is_err());
    }
}
