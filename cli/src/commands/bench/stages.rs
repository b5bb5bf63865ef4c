//! Section 4c: each stage alone on a day's backlog, as the ceiling's relay runs
//! alone (after the latency sections, which it would disturb: nats-server
//! digests a burst for seconds): the next day is published with no consumer
//! running, then the enrichers drain it, then the projector does.

use super::drain::{enrich_consumers, pending, project_consumer, wait_drained, wait_started};
use super::env::{Component, Env};
use super::DAY2;

/// Publishes the second day, then times enrich and project alone on it.
///
/// # Errors
/// When a process cannot start, takes nothing, or NATS fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    env.enrich = None;
    env.project = None;
    env.progress.line(&format!(
        "stages: publishing {DAY2} with no consumer running, then enrich alone, then project alone"
    ));
    let feed = env.feed_day(DAY2, 43).await?;
    let raw = (feed.ticks + feed.chains) as f64;
    env.report.info(
        "stages",
        format!("feed alone: publish a full day ({raw} msgs)"),
        raw / feed.elapsed.as_secs_f64(),
        "msg/s",
    );
    let products: Vec<String> = env.cfg.products.iter().map(|p| p.name.clone()).collect();
    let (enrich, secs) = alone(env, "enrich", "MD_RAW", &enrich_consumers(&products)).await?;
    env.enrich = Some(enrich);
    env.report.at_least_ratio(
        "stages",
        "enrichment sustained, alone on the day's backlog (raw msgs/s)",
        raw / secs,
        "msg/s",
        env.found.mix_ceiling,
        0.5,
    );
    let (project, secs) = alone(env, "project", "MD_ENRICHED", &project_consumer()).await?;
    env.project = Some(project);
    env.report.info(
        "stages",
        "projection sustained, alone on the day's enriched backlog (raw msgs/s)",
        raw / secs,
        "msg/s",
    );
    Ok(())
}

/// Starts `deltastream <name>` on the backlog of its `consumers` on `stream`
/// and returns it with the seconds from its first message taken to the backlog
/// drained (a process's start-up — leases, checkpoint restore — is not
/// throughput).
async fn alone(
    env: &Env,
    name: &'static str,
    stream: &str,
    consumers: &[String],
) -> anyhow::Result<(Component, f64)> {
    let initial = pending(&env.js, stream, consumers).await?;
    let process = env.spawn(name)?;
    let started = wait_started(&env.js, stream, consumers, initial).await?;
    let drained = wait_drained(&env.js, stream, consumers, &env.progress, || {}).await?;
    Ok((process, drained.duration_since(started).as_secs_f64()))
}
