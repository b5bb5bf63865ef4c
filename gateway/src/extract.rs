//! Request extractors whose rejections are problem+json [`AppError`]s with a
//! precise `detail`, instead of axum's plain-text defaults.

use crate::error::AppError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON request body (`application/json`), deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_rejection(&r)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> AppError {
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(
            "request body too large: the gateway accepts at most 64 KiB (DS_HTTP_BODY_LIMIT)"
                .into(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(
            "expected a JSON body with `Content-Type: application/json`".into(),
        ),
        _ => AppError::BadRequest(format!("malformed JSON body: {}", r.body_text())),
    }
}

/// An extractor of request parts: axum's `$axum` with its rejection as a 400
/// whose `detail` starts with `$what`.
macro_rules! parts_extractor {
    ($(#[$doc:meta])* $name:ident, $axum:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<T>(pub T);

        impl<T, S> FromRequestParts<S> for $name<T>
        where
            T: DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                match axum::extract::$axum::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::$axum(v)) => Ok(Self(v)),
                    Err(r) => Err(AppError::BadRequest(format!(
                        concat!($what, ": {}"),
                        r.body_text()
                    ))),
                }
            }
        }
    };
}

parts_extractor!(
    /// Query-string parameters, deserialized into `T`.
    Query,
    Query,
    "invalid query string"
);
parts_extractor!(
    /// Path parameters, deserialized into `T`.
    Path,
    Path,
    "invalid path parameter"
);
