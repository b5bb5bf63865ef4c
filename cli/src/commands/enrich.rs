//! `deltastream enrich`: one enricher instance (MD_RAW → MD_ENRICHED).

use crate::setup::{connect_js, spawn_metrics};
use crate::Global;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;
use std::sync::Arc;

/// `deltastream enrich`: runs until SIGINT/SIGTERM.
///
/// # Errors
/// When NATS is unreachable or the enricher fails.
pub async fn run(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, Component::Enrich, true).await?;
    // The DLQ re-drive responder, beside the enricher under its own identity.
    let redrive = ds_processors::redrive::connect(&cfg).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    let responder =
        redrive.map(|c| tokio::spawn(ds_processors::redrive::serve(c, shutdown.clone())));
    let result = ds_processors::enrich::run(Arc::new(cfg), js, shutdown).await;
    if let Some(r) = responder {
        if result.is_err() {
            r.abort();
        }
        let _ = r.await;
    }
    result
}
