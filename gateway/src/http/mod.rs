//! HTTP plumbing around the routes: metrics per route template, problem+json
//! for every error (also axum's and tower-http's own), request ids, tracing,
//! and the per-client rate limiter.

pub mod ratelimit;

use crate::error::problem;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::time::Instant;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// The request-id header, generated when the client sends none.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Records `deltastream_http_requests_total{route,status}` and
/// `deltastream_http_request_seconds{route}` with the matched route template
/// (`unmatched` for no route), so label values stay bounded.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &ds_runtime::metrics::metrics().gateway;
    m.http_requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    m.http_seconds
        .with_label_values(&[route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// Turns error responses that are not already JSON (axum's 404/405, the
/// timeout's 408, the body limit's 413 …) into problem+json, keeping their headers.
pub async fn problems(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        return resp;
    }
    let detail = match status.as_u16() {
        404 => "no such route; see /api/v1/openapi.json",
        405 => "method not allowed on this route (see the Allow header)",
        408 => "the request took too long and was cancelled",
        413 => "request body too large: the gateway accepts at most 64 KiB (DS_HTTP_BODY_LIMIT)",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let mut out = problem(status, detail);
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE
            && k != header::CONTENT_LENGTH
            && k != header::TRANSFER_ENCODING
        {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// The layers every route gets: metrics, problem+json errors, tracing with the
/// request id, and the `x-request-id` header (propagated or generated).
pub fn common_layers(router: Router) -> Router {
    router
        .layer(middleware::from_fn(problems))
        .layer(middleware::from_fn(track))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|r| r.header_value().to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
