//! `/health/live`, `/health/ready` and `/metrics`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "meta",
    responses((status = 200, description = "Up", body = Object, example = json!({"status": "ok"}))))]
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// NATS and MongoDB are reachable; 503 naming what is down otherwise.
#[utoipa::path(get, path = "/health/ready", tag = "meta",
    responses(
        (status = 200, description = "Ready", body = Object, example = json!({"status": "ready", "nats": "up", "mongodb": "up"})),
        (status = 503, description = "Not ready; says which dependency is down", body = Object, example = json!({"status": "not ready", "nats": "up", "mongodb": "down"})),
    ))]
pub async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    let nats_ok = matches!(
        s.nats.connection_state(),
        async_nats::connection::State::Connected
    );
    let mongo_ok = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        s.db.run_command(mongodb::bson::doc! {"ping": 1}),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let status = if nats_ok && mongo_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    (
        status,
        Json(json!({
            "status": if nats_ok && mongo_ok { "ready" } else { "not ready" },
            "nats": word(nats_ok),
            "mongodb": word(mongo_ok),
        })),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ds_runtime::metrics::metrics().render(),
    )
}
