//! `deltastream enrich`: one enricher instance (MD_RAW → MD_ENRICHED).

use crate::setup::{connect_js, spawn_metrics};
use crate::Global;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;
use std::sync::Arc;

/// `deltastream enrich`: runs until SIGINT/SIGTERM.
///
/// # Errors
/// When NATS is unreachable or the enricher fails.
pub async fn run(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-enrich", true).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    ds_processors::enrich::run(Arc::new(cfg), js, shutdown).await
}
