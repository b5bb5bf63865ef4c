//! `deltastream gateway`: the REST and WebSocket gateway.

use crate::setup::{connect_mongo, connect_nats};
use clap::Args;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;
use std::sync::Arc;

/// `gateway` options.
#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// Development mode: generated JWT secret, anonymous reads.
    #[arg(long)]
    pub dev: bool,
    /// Listen address (host:port).
    #[arg(long, env = "DS_HTTP_ADDR")]
    pub http_addr: Option<String>,
}

/// `deltastream gateway`: serves until SIGINT/SIGTERM.
///
/// # Errors
/// When MongoDB or NATS is unreachable, the configuration is refused, or the
/// address cannot be bound.
pub async fn run(mut cfg: Config, a: GatewayArgs) -> anyhow::Result<()> {
    if a.dev {
        cfg.dev = true;
    }
    if let Some(addr) = a.http_addr {
        cfg.http_addr = addr;
    }
    let db = connect_mongo(&cfg, true).await?;
    let client = connect_nats(&cfg, Component::Gateway, true).await?;
    let (_trigger, shutdown) = on_signal();
    let state = ds_gateway::AppState::new(Arc::new(cfg), db, client).await?;
    ds_gateway::serve(state, shutdown).await
}
