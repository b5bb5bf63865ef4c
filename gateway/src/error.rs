//! One error type for every handler, mapped to a status and an RFC 7807
//! `application/problem+json` body with a precise `detail`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 7807 problem (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[schema(example = "about:blank")]
    pub r#type: String,
    /// The status's reason phrase.
    #[schema(example = "Bad Request")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 400)]
    pub status: u16,
    /// What exactly is wrong.
    #[schema(example = "interval must be one of 1m, 5m, 15m, got \"2m\"")]
    pub detail: String,
}

impl Problem {
    /// The problem of `status` with `detail`.
    pub fn new(status: StatusCode, detail: &str) -> Self {
        Self {
            r#type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed (bad parameter, bad body).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (unknown product, no data yet).
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with existing state (e.g. e-mail taken).
    #[error("{0}")]
    Conflict(String),
    /// 413: the request body is larger than the gateway accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the request body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many requests; retry after this many seconds.
    #[error("rate limit exceeded; retry after {0} s")]
    TooManyRequests(u64),
    /// 503: a backing service is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure (details are logged, not returned).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<mongodb::error::Error> for AppError {
    fn from(e: mongodb::error::Error) -> Self {
        if ds_runtime::mongo::is_transient(&e) {
            AppError::Unavailable(format!("MongoDB is unavailable: {e}"))
        } else {
            AppError::Internal(e.into())
        }
    }
}

/// An RFC 7807 `application/problem+json` response.
pub fn problem(status: StatusCode, detail: &str) -> Response {
    problem_with(status, detail, serde_json::Map::new())
}

/// An RFC 7807 response with extension members (`extra`) next to the standard ones.
pub fn problem_with(
    status: StatusCode,
    detail: &str,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = serde_json::to_value(Problem::new(status, detail))
        .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()));
    if let Some(obj) = body.as_object_mut() {
        for (k, v) in extra {
            obj.entry(k).or_insert(v);
        }
    }
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
        let mut resp = problem(status, &self.to_string());
        match self {
            AppError::TooManyRequests(secs) => {
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            AppError::Unauthorized(_) => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"deltastream\""),
                );
            }
            _ => {}
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, AppError>;

/// The error responses of the API, declared once (`components/responses` of the
/// OpenAPI document) and referenced by every route that can return them.
pub mod responses {
    use crate::error::Problem;
    use utoipa::{IntoResponses, ToResponse};

    macro_rules! problem_response {
        ($($(#[$doc:meta])* $name:ident;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, ToResponse)]
            #[response(content_type = "application/problem+json")]
            pub struct $name(pub Problem);
        )*};
    }

    problem_response! {
        /// Malformed request: a bad parameter or body (`detail` names it).
        BadRequest;
        /// Missing or invalid credentials (`WWW-Authenticate: Bearer`).
        Unauthorized;
        /// Authenticated, but the role does not allow it.
        Forbidden;
        /// No such resource (unknown product, no data yet, unknown id).
        NotFound;
        /// Conflicts with existing state (e-mail taken).
        Conflict;
        /// The request body is larger than the gateway accepts (`DS_HTTP_BODY_LIMIT`).
        PayloadTooLarge;
        /// The request body is not `application/json`.
        UnsupportedMediaType;
        /// The request took longer than the gateway allows (`DS_HTTP_TIMEOUT_MS`).
        RequestTimeout;
        /// A bug or an unexpected failure (details are logged, not returned).
        InternalError;
        /// A backing service (MongoDB, NATS) is unavailable; retry later.
        Unavailable;
    }

    /// Too many requests from this user, key or IP.
    #[derive(Debug, ToResponse)]
    #[response(
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds until a request is accepted again"))
    )]
    pub struct TooManyRequests(pub Problem);

    /// A set of the responses above, one variant per status.
    macro_rules! response_set {
        ($($(#[$doc:meta])* $name:ident { $($status:tt $variant:ident($response:ident),)* })*) => {$(
            $(#[$doc])*
            #[derive(Debug, IntoResponses)]
            pub enum $name {
                $(
                    #[response(status = $status)]
                    $variant(#[ref_response] $response),
                )*
            }
        )*};
    }

    response_set! {
        /// What any route can answer: it timed out, or failed unexpectedly.
        Always {
            408 Timeout(RequestTimeout),
            500 Internal(InternalError),
        }
        /// What every route behind the identity and rate-limit layer can answer:
        /// [`Always`], rate limited, or a credential that could not be checked.
        Guarded {
            408 Timeout(RequestTimeout),
            429 Limited(TooManyRequests),
            500 Internal(InternalError),
            503 Unavailable(Unavailable),
        }
        /// What a route with a JSON body can answer about it.
        BodyErrors {
            400 Malformed(BadRequest),
            413 TooLarge(PayloadTooLarge),
            415 NotJson(UnsupportedMediaType),
        }
    }
}
