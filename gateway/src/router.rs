//! The application: every route (registered once, for both the router and the
//! generated OpenAPI document) and the layers (identity + rate limit, CORS,
//! compression, timeout, body limit). The one module that depends on the routes.

use crate::access::identify_and_limit;
use crate::error::responses;
use crate::routes::{admin, analytics, auth, chain, docs, health, legacy, products, underlying};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::routing::get;
use axum::{middleware, Extension, Router};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/auth/login (15 min)."))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "API key from POST /api/v1/auth/api-keys.",
            ))),
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "DeltaStream API",
        description = "REST over DeltaStream's MongoDB projections: underlying ticks and bars, enriched option chains and their analytics. \
Times are RFC 3339 strings next to `*_unix_ns` integers; `from`/`to` take RFC 3339 or unix milliseconds and mean [from, to). \
Lists are `{\"items\": [...], \"next_cursor\": <string|null>}`; histories are newest first unless `order=asc`. \
Errors are RFC 7807 `application/problem+json`; every operation lists the statuses it can return. \
\n\nSecurity: an operation with a `security` requirement takes a bearer JWT (`Authorization: Bearer`, from `POST /api/v1/auth/login`, 15 min) \
or an API key (`X-Api-Key`, from `POST /api/v1/auth/api-keys`); `/api/v1/admin/*` also needs role `admin` (else 403). \
Register, login, refresh, logout, health, metrics and this document need none. \
In development mode only (`--dev` / `DS_DEV=1`, as `deltastream up` runs), the data operations (products, underlying, chain, analytics and their legacy aliases) \
also answer anonymous callers; outside it they answer 401 without valid credentials. \
Every operation behind credentials is rate limited per user, key or IP (429 with `Retry-After`).",
        license(name = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(crate::error::Problem),
        responses(
            responses::BadRequest, responses::Unauthorized, responses::Forbidden,
            responses::NotFound, responses::Conflict, responses::PayloadTooLarge,
            responses::UnsupportedMediaType, responses::RequestTimeout,
            responses::TooManyRequests, responses::InternalError, responses::Unavailable,
        ),
    ),
    tags(
        (name = "reference", description = "Products and expiries"),
        (name = "underlying", description = "Underlying ticks and bars"),
        (name = "chain", description = "Enriched option chains"),
        (name = "analytics", description = "Chain analytics"),
        (name = "auth", description = "Users, tokens and API keys"),
        (name = "admin", description = "Administration (role admin)"),
        (name = "legacy", description = "The older design's paths (aliases)"),
        (name = "meta", description = "Health, metrics and this document"),
    ),
)]
struct ApiDoc;

/// The API's routes that need the identity and rate-limit layer.
#[allow(deprecated)] // the legacy aliases are deprecated on purpose
fn protected() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(products::list))
        .routes(routes!(products::expiries))
        .routes(routes!(underlying::latest))
        .routes(routes!(underlying::ticks))
        .routes(routes!(underlying::bars))
        .routes(routes!(chain::latest))
        .routes(routes!(chain::history))
        .routes(routes!(analytics::pcr))
        .routes(routes!(analytics::max_pain))
        .routes(routes!(analytics::iv_surface))
        .routes(routes!(analytics::oi_buildup))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh_session))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::create_key, auth::list_keys))
        .routes(routes!(auth::delete_key))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::delete_user))
        .routes(routes!(admin::list_dlq))
        .routes(routes!(admin::retry_dlq))
        .routes(routes!(legacy::products))
        .routes(routes!(legacy::underlying))
        .routes(routes!(legacy::chain))
        .routes(routes!(legacy::pcr))
        .routes(routes!(legacy::volatility_surface))
        .routes(routes!(legacy::register))
        .routes(routes!(legacy::login))
        .routes(routes!(legacy::verify))
}

/// The API's public routes (no credentials, no rate limit).
#[allow(deprecated)]
fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::legacy_openapi_json))
}

/// The document this gateway serves: [`openapi`] with the `{product}`
/// parameters narrowed to the configured products (what the handlers accept;
/// any other is 404).
pub fn served_openapi(state: &AppState) -> OpenApi {
    let mut doc = openapi();
    let names: Vec<&str> = state.cfg.products.iter().map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        return doc;
    }
    let product = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            for param in op.parameters.iter_mut().flatten() {
                if param.name == "product" {
                    param.schema = Some(product.clone().into());
                }
            }
        }
    }
    doc
}

/// The OpenAPI document of every API route.
pub fn openapi() -> OpenApi {
    let (_, protected) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(protected())
        .split_for_parts();
    let (_, public) = public().split_for_parts();
    let mut doc = protected;
    doc.merge(public);
    doc
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The application over `state`: REST, the docs page, the WebSocket bridge and
/// the dashboard, with the common HTTP layers.
pub fn app(state: AppState) -> Router {
    let rest = rest(&state);
    let router = Router::new()
        .merge(crate::ws::router())
        .merge(crate::assets::router())
        .with_state(state)
        .merge(rest);
    crate::http::common_layers(router)
}

/// The REST API over `state` with its layers.
fn rest(state: &AppState) -> Router {
    let settings = &state.settings;
    let (protected_router, _) = protected().split_for_parts();
    let (public_router, _) = public().split_for_parts();
    let protected_router = protected_router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identify_and_limit,
        ))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(RequestBodyLimitLayer::new(settings.body_limit));
    let docs_router = Router::new()
        .route("/docs", get(docs::page))
        .route("/docs/", get(docs::page))
        .route("/docs/{file}", get(docs::file));
    let mut api = protected_router
        .merge(public_router)
        .merge(docs_router)
        .with_state(state.clone())
        .layer(Extension(docs::Document::render(&served_openapi(state))))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ));
    if let Some(c) = cors(&settings.cors_origins) {
        api = api.layer(c);
    }
    api
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use std::collections::HashSet;

    #[test]
    fn operations_have_unique_ids_and_declare_their_errors() {
        let doc = serde_json::to_value(super::openapi()).expect("document");
        let responses = doc["components"]["responses"]
            .as_object()
            .expect("shared responses");
        let mut ids = HashSet::new();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("operations") {
                let id = op["operationId"].as_str().expect("operation id");
                assert!(ids.insert(id.to_owned()), "{id} is used twice");
                let statuses = op["responses"].as_object().expect("responses");
                for s in ["408", "500"] {
                    assert!(statuses.contains_key(s), "{method} {path} lacks {s}");
                }
                if op.get("security").is_some() {
                    for s in ["401", "429", "503"] {
                        assert!(statuses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
                if op.get("requestBody").is_some() {
                    for s in ["400", "413", "415"] {
                        assert!(statuses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
                for r in statuses.values() {
                    if let Some(Value::String(to)) = r.get("$ref") {
                        let name = to.trim_start_matches("#/components/responses/");
                        assert!(responses.contains_key(name), "{to} is declared");
                    }
                }
            }
        }
        assert!(ids.len() >= 30, "{} operations", ids.len());
    }
}
