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
}
