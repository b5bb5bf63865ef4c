//! The gateway's one state, built once and shared by every handler (REST and
//! WebSocket): configuration, MongoDB, NATS, the live view of `MD_ENRICHED`,
//! the WebSocket hub, the token keys with the user/key caches, the rate
//! limiter and the HTTP settings.

use crate::auth::identity::Auth;
use crate::auth::jwt::JwtKeys;
use crate::error::{ApiResult, AppError};
use crate::http::ratelimit::RateLimiter;
use crate::live::Live;
use crate::settings::Settings;
use crate::ws::hub::Hub;
use crate::ws::options::WsOptions;
use ds_analytics::market::ProductSpec;
use ds_runtime::config::Config;
use std::sync::Arc;
use std::time::Duration;

/// How long start-up waits for the live values to be seeded.
const SEED_WAIT: Duration = Duration::from_secs(5);

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
    pub live: Live,
    /// The WebSocket hub (see [`crate::ws`]).
    pub ws: Hub,
    /// JWT keys and the user/key caches, shared by REST and WebSocket (a key
    /// revoked over REST is refused on a socket at once).
    pub auth: Arc<Auth>,
    /// Per-client rate limiter.
    pub limiter: Arc<RateLimiter>,
    /// HTTP settings.
    pub settings: Arc<Settings>,
}

impl AppState {
    /// The state of a gateway on `cfg`, `db` and `nats`, with HTTP settings
    /// and WebSocket limits from the environment.
    ///
    /// # Errors
    /// See [`AppState::build`].
    pub async fn new(
        cfg: Arc<Config>,
        db: mongodb::Database,
        nats: async_nats::Client,
    ) -> anyhow::Result<Self> {
        let settings = Settings::from_env();
        let ws = settings.ws_options();
        Self::build(cfg, db, nats, settings, ws).await
    }

    /// The state with explicit `settings` and WebSocket options: starts the
    /// live feed of `MD_ENRICHED` and waits (at most 5 s) for its latest values.
    ///
    /// The JWT keys come from `cfg`. [`crate::serve`] refuses to start when its
    /// secret is unacceptable ([`crate::check_config`]); should this state be
    /// served some other way, it signs with a random secret (nothing it did
    /// not issue itself is accepted).
    ///
    /// # Errors
    /// None yet; the signature leaves room for parts that can fail to build.
    pub async fn build(
        cfg: Arc<Config>,
        db: mongodb::Database,
        nats: async_nats::Client,
        settings: Settings,
        ws: WsOptions,
    ) -> anyhow::Result<Self> {
        let keys = JwtKeys::from_config(&cfg).unwrap_or_else(|e| {
            tracing::error!("{e}; signing with a random secret");
            JwtKeys::random()
        });
        let live = Live::start(ds_runtime::nats::jetstream(nats.clone()));
        if !live.wait_ready(SEED_WAIT).await {
            tracing::warn!("live values not seeded yet; serving what arrives");
        }
        Ok(Self {
            ws: Hub::new(live.clone(), ws),
            live,
            auth: Arc::new(Auth::new(keys)),
            limiter: Arc::new(RateLimiter::new(
                settings.rate_limit_rps,
                settings.rate_limit_burst,
            )),
            settings: Arc::new(settings),
            cfg,
            db,
            nats,
        })
    }

    /// The configured product called `name`.
    ///
    /// # Errors
    /// 404 naming the configured products.
    pub fn product(&self, name: &str) -> ApiResult<&ProductSpec> {
        if let Some(p) = self.cfg.product(name) {
            return Ok(p);
        }
        // A universe has hundreds: name a few, and where the rest are.
        const NAMED: usize = 12;
        let names: Vec<&str> = self
            .cfg
            .products
            .iter()
            .take(NAMED)
            .map(|p| p.name.as_str())
            .collect();
        let more = match self.cfg.products.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more (GET /api/v1/products)"),
        };
        let shown: String = name.chars().take(40).collect();
        Err(AppError::NotFound(format!(
            "unknown product {shown:?}; known products: {}{more}",
            names.join(", ")
        )))
    }
}
