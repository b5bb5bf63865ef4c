//! Section 3: latency at a paced 1,000 msgs/s, raw publish → enriched publish
//! and raw publish → projection written.

use super::env::Env;
use super::live::paced_latency;
use super::report::percentile;
use std::time::Duration;

/// Measures a window of paced live traffic.
///
/// # Errors
/// When publishing, subscribing or MongoDB fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    let secs = if env.quick { 5 } else { 20 };
    env.settle().await;
    env.progress.line(&format!(
        "latency: {secs} s of live data paced at 1,000 msgs/s"
    ));
    let lat = paced_latency(env, secs).await?;
    let r = &mut env.report;
    r.at_most(
        "latency",
        "raw publish → enriched publish, p50",
        lat.p50,
        "ms",
        10.0,
    );
    r.at_most(
        "latency",
        "raw publish → enriched publish, p99",
        lat.p99,
        "ms",
        10.0,
    );
    r.info(
        "latency",
        "raw publish → enriched publish, max",
        lat.max,
        "ms",
    );
    let (p50, p99) = projection_latency(&env.db, lat.window).await?;
    let r = &mut env.report;
    r.info(
        "latency",
        "raw publish → projection written, p50 (ms resolution)",
        p50,
        "ms",
    );
    r.info(
        "latency",
        "raw publish → projection written, p99 (ms resolution)",
        p99,
        "ms",
    );
    Ok(())
}

/// p50/p99 of `written_at − ts` of the ticks projected in `window` (ms resolution).
async fn projection_latency(
    db: &mongodb::Database,
    window: (i64, i64),
) -> anyhow::Result<(f64, f64)> {
    use futures::TryStreamExt;
    // Give the projector a moment to finish the last batch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs: Vec<mongodb::bson::Document> = db
        .collection::<mongodb::bson::Document>(ds_runtime::collections::UNDERLYING_TICKS)
        .find(mongodb::bson::doc! {"ts_unix_ns": {"$gte": window.0, "$lt": window.1}})
        .await?
        .try_collect()
        .await?;
    let mut lat: Vec<f64> = docs
        .iter()
        .filter_map(|d| {
            let w = d.get_datetime("written_at").ok()?.timestamp_millis() as f64;
            let ts = d.get_i64("ts_unix_ns").ok()? as f64 / 1e6;
            Some((w - ts).max(0.0))
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    Ok((percentile(&lat, 50.0), percentile(&lat, 99.0)))
}
