//! The older design's paths, kept working as aliases of the `/api/v1` ones:
//! each calls the handler it aliases (its own OpenAPI operation aside).

use super::analytics::{IvSurface, PcrPoint};
use super::auth::{Credentials, TokenResponse};
use super::products::{product_list, Product};
use crate::access::{ProductRead, Reader};
use crate::auth::identity::Identity;
use crate::error::responses::{BadRequest, BodyErrors, Conflict, Guarded, NotFound, Unauthorized};
use crate::error::{problem_with, ApiResult};
use crate::extract::{JsonBody, Query};
use crate::params::{ExpiryFilter, ExpiryParam, HistoryParams, ProductPath};
use crate::state::AppState;
use crate::views::{ChainView, Page, UnderlyingView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// `POST /api/auth/verify` (older design).
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Whether the bearer token is valid.
    pub valid: bool,
    /// Its user.
    pub user_id: Option<String>,
    /// The user's e-mail.
    pub email: Option<String>,
}

/// Alias of `GET /api/v1/products`.
#[utoipa::path(operation_id = "legacy_products", get, path = "/api/data/products", tag = "legacy",
    responses((status = 200, description = "Configured products", body = Page<Product>),
        (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
#[deprecated = "use /api/v1/products"]
pub async fn products(State(state): State<AppState>, _r: Reader) -> Json<Page<Product>> {
    Json(product_list(&state))
}

/// Alias of `GET /api/v1/underlying/{product}/latest`.
#[utoipa::path(operation_id = "legacy_underlying", get, path = "/api/data/underlying/{product}", tag = "legacy",
    params(ProductPath),
    responses((status = 200, description = "The latest tick", body = UnderlyingView),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
#[deprecated = "use /api/v1/underlying/{product}/latest"]
pub async fn underlying(read: ProductRead) -> ApiResult<Response> {
    super::underlying::latest(read).await
}

/// Alias of `GET /api/v1/chain/{product}/latest`.
#[utoipa::path(operation_id = "legacy_chain", get, path = "/api/data/chain/{product}", tag = "legacy",
    params(ProductPath, ExpiryParam),
    responses((status = 200, description = "The latest chain", body = ChainView),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
#[deprecated = "use /api/v1/chain/{product}/latest"]
pub async fn chain(read: ProductRead, expiry: Query<ExpiryParam>) -> ApiResult<Response> {
    super::chain::latest(read, expiry).await
}

/// Alias of `GET /api/v1/analytics/{product}/pcr`.
#[utoipa::path(operation_id = "legacy_pcr", get, path = "/api/analytics/pcr/{product}", tag = "legacy",
    params(ProductPath, ExpiryFilter, HistoryParams),
    responses((status = 200, description = "PCR points", body = Page<PcrPoint>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
#[deprecated = "use /api/v1/analytics/{product}/pcr"]
pub async fn pcr(
    read: ProductRead,
    expiry: Query<ExpiryFilter>,
    history: Query<HistoryParams>,
) -> ApiResult<Json<Page<PcrPoint>>> {
    super::analytics::pcr(read, expiry, history).await
}

/// Alias of `GET /api/v1/analytics/{product}/iv-surface`.
#[utoipa::path(operation_id = "legacy_volatility_surface", get, path = "/api/analytics/volatility-surface/{product}", tag = "legacy",
    params(ProductPath),
    responses((status = 200, description = "The IV surface", body = IvSurface),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
#[deprecated = "use /api/v1/analytics/{product}/iv-surface"]
pub async fn volatility_surface(read: ProductRead) -> ApiResult<Json<IvSurface>> {
    super::analytics::iv_surface(read).await
}

/// Alias of `POST /api/v1/auth/register`.
#[utoipa::path(operation_id = "legacy_register", post, path = "/api/auth/register", tag = "legacy", request_body = Credentials,
    responses((status = 201, description = "Registered", body = TokenResponse),
        (status = 409, response = Conflict), Guarded, BodyErrors,
    ))]
#[deprecated = "use /api/v1/auth/register"]
pub async fn register(
    state: State<AppState>,
    credentials: JsonBody<Credentials>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    super::auth::register(state, credentials).await
}

/// Alias of `POST /api/v1/auth/login`.
#[utoipa::path(operation_id = "legacy_login", post, path = "/api/auth/login", tag = "legacy", request_body = Credentials,
    responses((status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, response = Unauthorized), Guarded, BodyErrors,
    ))]
#[deprecated = "use /api/v1/auth/login"]
pub async fn login(
    state: State<AppState>,
    credentials: JsonBody<Credentials>,
) -> ApiResult<Json<TokenResponse>> {
    super::auth::login(state, credentials).await
}

/// Checks the bearer token of the request (older design).
#[utoipa::path(operation_id = "legacy_verify", post, path = "/api/auth/verify", tag = "legacy",
    responses((status = 200, description = "Valid", body = Verified),
        (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = [])))]
#[deprecated = "use GET /api/v1/auth/me"]
pub async fn verify(identity: Option<Extension<Identity>>) -> Response {
    let reason = match identity.map(|Extension(i)| i) {
        Some(Identity::Authenticated(p)) if p.key_id.is_none() => {
            return Json(Verified {
                valid: true,
                user_id: Some(p.user_id),
                email: Some(p.email),
            })
            .into_response();
        }
        Some(Identity::Authenticated(_)) => "an API key is not a token".to_owned(),
        Some(Identity::Invalid(r)) => r,
        _ => "missing `Authorization: Bearer <token>`".to_owned(),
    };
    let mut extra = serde_json::Map::new();
    extra.insert("valid".into(), json!(false));
    problem_with(StatusCode::UNAUTHORIZED, &reason, extra)
}
