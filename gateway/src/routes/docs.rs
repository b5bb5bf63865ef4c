//! The OpenAPI document (`/api/v1/openapi.json`, alias `/api/docs`) and the
//! browsable docs page (`/docs`, Swagger UI embedded in the binary: no internet needed).

use crate::error::responses::{Always, Unavailable};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

const INDEX_HTML: &str = include_str!("../../assets/docs/index.html");
const INIT_JS: &str = include_str!("../../assets/docs/init.js");
const BUNDLE_JS: &[u8] = include_bytes!("../../assets/docs/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/docs/swagger-ui.css");
const LICENSE: &str = include_str!("../../assets/docs/LICENSE");

/// The OpenAPI document, rendered once when the router is built (`None` if it
/// could not be: a bug, logged, answered 503).
#[derive(Debug, Clone)]
pub struct Document(Option<bytes::Bytes>);

impl Document {
    /// `doc` as JSON.
    pub fn render(doc: &utoipa::openapi::OpenApi) -> Self {
        match doc.to_json() {
            Ok(s) => Self(Some(bytes::Bytes::from(s))),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the OpenAPI document");
                Self(None)
            }
        }
    }
}

fn openapi_response(doc: &Document) -> Response {
    match &doc.0 {
        Some(body) => crate::views::json_body(body.clone()),
        None => crate::error::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the OpenAPI document could not be rendered",
        ),
    }
}

/// The OpenAPI 3.1 document of this API, generated from the code.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 503, response = Unavailable), Always,
    ))]
pub async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    openapi_response(&doc)
}

/// Alias of `/api/v1/openapi.json` (older design).
#[utoipa::path(operation_id = "legacy_openapi_json", get, path = "/api/docs", tag = "legacy",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 503, response = Unavailable), Always,
    ))]
#[deprecated = "use /api/v1/openapi.json"]
pub async fn legacy_openapi_json(Extension(doc): Extension<Document>) -> Response {
    openapi_response(&doc)
}

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
                ),
            ),
        ],
        body,
    )
        .into_response()
}

/// The docs page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The docs page's assets.
pub async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match name.as_str() {
        "init.js" => asset("text/javascript; charset=utf-8", INIT_JS),
        "swagger-ui-bundle.js" => asset("text/javascript; charset=utf-8", BUNDLE_JS),
        "swagger-ui.css" => asset("text/css; charset=utf-8", CSS),
        "LICENSE" => asset("text/plain; charset=utf-8", LICENSE),
        "index.html" => page().await,
        _ => crate::error::problem(StatusCode::NOT_FOUND, "no such docs asset"),
    }
}
