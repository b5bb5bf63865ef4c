//! What every subcommand does first: the configuration, telemetry, and its
//! connections to NATS and MongoDB.

use crate::Global;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::connect::{self, Patience};
use ds_runtime::shutdown::Shutdown;

/// Builds the configuration: file, then `DS_*` environment, then flags; then
/// the products traded (`default_universe` when none is configured).
///
/// # Errors
/// When the file is unreadable or invalid, or the universe unknown.
pub fn load_config(g: &Global, default_universe: &str) -> anyhow::Result<Config> {
    let mut cfg = Config::load(g.config.as_deref())?;
    if let Some(u) = &g.nats_url {
        cfg.nats_url = Some(u.clone());
    }
    if let Some(u) = &g.mongo_url {
        cfg.mongo_url = Some(u.clone());
    }
    if let Some(d) = &g.mongo_db {
        cfg.mongo_db = d.clone();
    }
    if g.log_json {
        cfg.log_json = true;
    }
    if let Some(u) = &g.universe {
        cfg.universe = Some(u.clone());
    }
    cfg.resolve_products(default_universe)?;
    Ok(cfg)
}

/// Logs to stderr, human-readable or JSON (`RUST_LOG` overrides the levels), and
/// exports traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, as
/// `OTEL_SERVICE_NAME` (default `deltastream-<subcommand>`). Call it inside the
/// Tokio runtime; drop the returned guard after the runtime's work is done (it
/// flushes the spans still buffered).
///
/// # Errors
/// A bad `OTEL_*` setting, or an exporter that cannot be built.
pub fn init_telemetry(
    json: bool,
    subcommand: &str,
) -> anyhow::Result<ds_runtime::telemetry::Telemetry> {
    use ds_runtime::telemetry::{self, LogFormat, TelemetryConfig};
    let log = if json {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let cfg = TelemetryConfig::from_env(&format!("deltastream-{subcommand}"), log)?;
    Ok(telemetry::init(cfg)?)
}

/// The configured NATS, as `component` with the configured credential
/// (`DS_NATS_CREDS`, or `DS_NATS_USER`/`DS_NATS_PASSWORD`; see README,
/// "Permissions on the bus"), waiting for it as long as a long-running
/// component (or, for a one-shot command, the configured deadline) allows.
///
/// # Errors
/// When NATS is not reachable within that patience, the URL is invalid, or the
/// server refuses the credential.
pub async fn connect_nats(
    cfg: &Config,
    component: Component,
    long_running: bool,
) -> anyhow::Result<async_nats::Client> {
    Ok(connect::nats(cfg, component, Patience::of(cfg, long_running)).await?)
}

/// A JetStream context on the configured NATS (see [`connect_nats`]).
///
/// # Errors
/// As [`connect_nats`].
pub async fn connect_js(
    cfg: &Config,
    component: Component,
    long_running: bool,
) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = connect_nats(cfg, component, long_running).await?;
    Ok(ds_runtime::nats::jetstream(client))
}

/// The configured MongoDB database, waiting for it like [`connect_nats`].
///
/// # Errors
/// When MongoDB is not reachable within that patience, or the URL is invalid.
pub async fn connect_mongo(cfg: &Config, long_running: bool) -> anyhow::Result<mongodb::Database> {
    Ok(connect::mongo(cfg, Patience::of(cfg, long_running)).await?)
}

/// Serves the processor's `/metrics` when `--metrics-addr` is given.
pub fn spawn_metrics(g: &Global, shutdown: &Shutdown) {
    if let Some(addr) = g.metrics_addr.clone() {
        let s = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = ds_runtime::metrics::serve(&addr, s).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
    }
}
