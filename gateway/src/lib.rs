//! DeltaStream's gateway: REST over the MongoDB projections (SPEC §7) and the
//! WebSocket bridge (SPEC §8), in one axum application.

pub mod access;
pub mod assets;
pub mod auth;
pub mod error;
pub mod extract;
pub mod http;
pub mod live;
pub mod page;
pub mod params;
pub mod router;
pub mod routes;
pub mod settings;
pub mod state;
pub mod views;
pub mod ws;

use axum::serve::ListenerExt;
use axum::Router;
pub use settings::Settings;
pub use state::AppState;

/// The application: every route over `state` (see [`router::app`]).
pub fn app(state: AppState) -> Router {
    router::app(state)
}

/// Refuses configurations the gateway must not run with (a missing or weak
/// JWT secret outside development mode).
///
/// # Errors
/// Saying what to fix.
pub fn check_config(cfg: &ds_runtime::config::Config) -> anyhow::Result<()> {
    auth::jwt::JwtKeys::from_config(cfg)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Serves the gateway on `cfg.http_addr` until `shutdown`.
///
/// # Errors
/// When the configuration is refused ([`check_config`]) or the address cannot be bound.
pub async fn serve(
    state: AppState,
    mut shutdown: ds_runtime::shutdown::Shutdown,
) -> anyhow::Result<()> {
    check_config(&state.cfg)?;
    // Users need their unique e-mail index before anyone registers.
    if let Err(e) = ds_runtime::collections::ensure_indexes(&state.db).await {
        tracing::warn!(error = %e, "cannot create the MongoDB indexes yet");
    }
    let addr = state.cfg.http_addr.clone();
    // One descriptor per WebSocket client.
    let fds = ds_runtime::limits::raise_fd_limit();
    tracing::debug!(fds, "open-file limit");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?
        .tap_io(|s| ws::tune_socket(s));
    tracing::info!(%addr, "gateway listening");
    let hub = state.ws.clone();
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.wait().await;
            // Upgraded sockets outlive the HTTP server: close them (1001) first.
            hub.shutdown(std::time::Duration::from_secs(3)).await;
        })
        .await?;
    Ok(())
}
