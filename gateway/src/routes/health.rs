//! `/health/live`, `/health/ready` and `/metrics`.

use crate::error::responses::Always;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether a dependency answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Up {
    /// Reachable.
    Up,
    /// Not reachable.
    Down,
}

impl From<bool> for Up {
    fn from(ok: bool) -> Self {
        if ok {
            Up::Up
        } else {
            Up::Down
        }
    }
}

/// `GET /health/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// NATS.
    pub nats: Up,
    /// MongoDB.
    pub mongodb: Up,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "meta",
    responses((status = 200, description = "Up", body = Liveness),
        Always,
    ))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// NATS and MongoDB are reachable; 503 naming what is down otherwise.
#[utoipa::path(get, path = "/health/ready", tag = "meta",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; says which dependency is down", body = Readiness),
        Always,
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
    (
        status,
        Json(Readiness {
            status: if nats_ok && mongo_ok {
                "ready"
            } else {
                "not ready"
            },
            nats: nats_ok.into(),
            mongodb: mongo_ok.into(),
        }),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        Always,
    ))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ds_runtime::metrics::metrics().render(),
    )
}
