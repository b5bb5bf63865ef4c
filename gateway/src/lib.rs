//! DeltaStream's gateway: REST over the MongoDB projections (SPEC §7) and the
//! WebSocket bridge (SPEC §8), in one axum application.

pub mod error;
pub mod json;
pub mod routes;
pub mod state;

use axum::routing::get;
use axum::Router;
pub use state::AppState;

/// The application: every route over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(routes::health::live))
        .route("/health/ready", get(routes::health::ready))
        .route("/metrics", get(routes::health::metrics))
        .route(
            "/api/v1/underlying/{product}/latest",
            get(routes::underlying::latest),
        )
        .with_state(state)
}

/// Serves the gateway on `cfg.http_addr` until `shutdown`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(state: AppState, mut shutdown: ds_runtime::shutdown::Shutdown) -> anyhow::Result<()> {
    let addr = state.cfg.http_addr.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "gateway listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await?;
    Ok(())
}
