//! What every handler shares.

use ds_runtime::config::Config;
use std::sync::Arc;

/// The gateway's shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub cfg: Arc<Config>,
    /// The projections' database.
    pub db: mongodb::Database,
    /// NATS, for readiness and live data.
    pub nats: async_nats::Client,
    /// The latest enriched values and the live feed of `MD_ENRICHED` (see [`crate::live`]).
    pub live: crate::live::Live,
    /// The WebSocket hub (see [`crate::ws`]).
    pub ws: crate::ws::Hub,
}

impl AppState {
    /// The state of a gateway on `cfg`, `db` and `nats`: starts the live feed of
    /// `MD_ENRICHED` and waits (at most 5 s) for its latest values to be seeded.
    ///
    /// # Errors
    /// None yet; the signature leaves room for parts that can fail to build.
    pub async fn new(
        cfg: Arc<Config>,
        db: mongodb::Database,
        nats: async_nats::Client,
    ) -> anyhow::Result<Self> {
        let live = crate::live::Live::start(ds_runtime::nats::jetstream(nats.clone()));
        if !live.wait_ready(std::time::Duration::from_secs(5)).await {
            tracing::warn!("live values not seeded yet; serving what arrives");
        }
        let ws = crate::ws::build(&cfg, &db, &live, crate::ws::WsOptions::default());
        Ok(Self {
            cfg,
            db,
            nats,
            live,
            ws,
        })
    }
}
