//! `deltastream project`: one projector instance (MD_ENRICHED → MongoDB).

use crate::setup::{connect_js, connect_mongo, spawn_metrics};
use crate::Global;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;

/// `deltastream project`: runs until SIGINT/SIGTERM.
///
/// # Errors
/// When NATS or MongoDB is unreachable or the projector fails.
pub async fn run(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, Component::Project, true).await?;
    let db = connect_mongo(&cfg, true).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    ds_processors::project::run(js, db, shutdown).await
}
