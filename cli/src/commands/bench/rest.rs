//! Section 5: REST under concurrent load, from this process to a
//! `deltastream gateway` process, against the framework's own floor.

use super::env::Env;
use super::load;
use std::time::{Duration, Instant};

/// Starts the gateway (left running for the WebSocket section) and loads it.
///
/// # Errors
/// When the gateway cannot start or never becomes ready.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    let addr = env.gateway_addr().await?;
    let secs = if env.quick { 3.0 } else { 10.0 };
    env.progress.line(&format!(
        "rest: {secs} s per endpoint, 32 keep-alive connections"
    ));
    let floor = load::http(&addr, "/health/live", 32, secs).await;
    let latest = load::http(&addr, "/api/v1/chain/NIFTY/latest", 32, secs).await;
    let history = load::http(&addr, "/api/v1/underlying/NIFTY/ticks?limit=1000", 4, secs).await;
    let r = &mut env.report;
    r.info(
        "rest",
        "framework floor: GET /health/live",
        floor.rps,
        "req/s",
    );
    r.at_least_ratio(
        "rest",
        "GET /api/v1/chain/NIFTY/latest",
        latest.rps,
        "req/s",
        floor.rps,
        0.5,
    );
    r.info("rest", "latest chain p50", latest.p50, "ms");
    r.at_most("rest", "latest chain p99", latest.p99, "ms", 10.0);
    r.at_most("rest", "history (1,000 ticks) p99", history.p99, "ms", 50.0);
    r.info(
        "rest",
        "history (1,000 ticks) throughput",
        history.rps,
        "req/s",
    );
    r.info(
        "rest",
        "non-200 responses",
        (floor.errors + latest.errors + history.errors) as f64,
        "count",
    );
    Ok(())
}

/// Waits until `GET path` answers 200.
pub(super) async fn wait_http(addr: &str, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let load = load::http(addr, path, 1, 0.05).await;
        if load.rps > 0.0 && load.errors == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the gateway on {addr} did not become ready")
}
