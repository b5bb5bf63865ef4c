//! Section 2: a full trading day at maximum speed through `deltastream enrich`
//! and `deltastream project` processes: sustained rates against the ceiling,
//! time to the last durable projection, where the CPU-seconds went (every
//! process, the servers and the feed included) and peak memory per process.

use super::drain::{enrich_consumers, project_consumer, wait_drained};
use super::env::Env;
use super::procstat::{self, ProcStat};
use super::DAY;
use ds_runtime::topology::{self, ApplyOptions};
use std::time::Instant;

/// The peak memory of the processes watched while the day flows.
struct Peaks {
    watched: Vec<(&'static str, u32)>,
    seen: Vec<(&'static str, ProcStat)>,
}

impl Peaks {
    fn sample(&mut self) {
        // VmHWM is itself a peak: the latest reading is the run's.
        self.seen = self
            .watched
            .iter()
            .map(|(name, pid)| (*name, procstat::read(*pid)))
            .collect();
    }
}

/// Runs the day through the pipeline and reports it.
///
/// # Errors
/// When a process cannot start or NATS fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    topology::apply(&env.js, ApplyOptions::default()).await?;
    ds_runtime::collections::ensure_indexes(&env.db).await?;
    let enrich = env.spawn("enrich")?;
    let project = env.spawn("project")?;
    let processes = [("enrich", enrich.pid()), ("project", project.pid())];
    env.enrich = Some(enrich);
    env.project = Some(project);
    env.progress.line(&format!(
        "pipeline: publishing {DAY} for {} products ({} ms ticks) at maximum speed",
        env.day_cfg.products.len(),
        env.day_cfg.feed.tick_interval_ms
    ));
    env.found.mongo_io_before_day = ds_runtime::footprint::mongo_io(&env.db).await?;
    // Every process on the machine that works on the day, this one (the feed)
    // included, from the first publish to the last projection.
    let feeder = ("feed (the bench process)", std::process::id());
    let working: Vec<(&str, u32)> = processes
        .into_iter()
        .chain(env.servers())
        .chain([feeder])
        .collect();
    let cpu_before: Vec<f64> = working
        .iter()
        .map(|(_, pid)| procstat::read(*pid).cpu_secs)
        .collect();
    let started = Instant::now();
    let feed = env.feed_day(DAY, 42).await?;
    let raw_msgs = (feed.ticks + feed.chains) as f64;
    let feed_secs = feed.elapsed.as_secs_f64();
    env.report.at_most(
        "pipeline",
        format!("feed: publish a full day ({raw_msgs} msgs)"),
        feed_secs,
        "s",
        60.0,
    );
    env.report.info(
        "pipeline",
        "feed: publish rate",
        raw_msgs / feed_secs,
        "msg/s",
    );
    let mut peaks = Peaks {
        watched: processes.into_iter().chain(env.servers()).collect(),
        seen: Vec::new(),
    };
    let (t_enriched, t_projected) = drain(env, started, &mut peaks).await?;
    let f = &env.found;
    let mix_ceiling = mixed_rate(
        feed.ticks as f64,
        f.tick_ceiling.relay,
        feed.chains as f64,
        f.chain_ceiling.relay,
    );
    env.found.mix_ceiling = mix_ceiling;
    env.found.t_projected = t_projected;
    env.found.day_chains = feed.chains;
    rates(env, raw_msgs, t_enriched, t_projected);
    cpu_budget(env, &working, &cpu_before, t_projected);
    for (name, s) in &peaks.seen {
        env.report.at_most(
            "pipeline",
            format!("peak memory, {name}"),
            s.peak_rss_mib,
            "MiB",
            300.0,
        );
    }
    Ok(())
}

/// Where the machine's CPU-seconds went from the first publish to the last
/// projection (`wall` seconds): each process's, and what was left idle.
fn cpu_budget(env: &mut Env, working: &[(&str, u32)], before: &[f64], wall: f64) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let mut used = 0.0;
    for ((name, pid), before) in working.iter().zip(before) {
        let secs = procstat::read(*pid).cpu_secs - before;
        used += secs;
        env.report
            .info("pipeline", format!("CPU seconds, {name}"), secs, "s");
    }
    env.report.info(
        "pipeline",
        format!("CPU seconds available ({cpus} CPUs × the wall time)"),
        cpus * wall,
        "s",
    );
    env.report.info(
        "pipeline",
        "CPU seconds idle or spent elsewhere",
        (cpus * wall - used).max(0.0),
        "s",
    );
}

/// Waits for the enrichers, then the projector, to drain the day; returns the
/// seconds from `started` to each.
async fn drain(env: &Env, started: Instant, peaks: &mut Peaks) -> anyhow::Result<(f64, f64)> {
    let products: Vec<String> = env
        .day_cfg
        .products
        .iter()
        .map(|p| p.name.clone())
        .collect();
    env.progress
        .line("pipeline: waiting for the enrichers to drain");
    let enriched_at = wait_drained(
        &env.js,
        "MD_RAW",
        &enrich_consumers(&products),
        &env.progress,
        || peaks.sample(),
    )
    .await?;
    let t_enriched = enriched_at.duration_since(started).as_secs_f64();
    env.progress
        .line("pipeline: waiting for the projector to drain");
    let projected_at = wait_drained(
        &env.js,
        "MD_ENRICHED",
        &project_consumer(),
        &env.progress,
        || peaks.sample(),
    )
    .await?;
    peaks.sample();
    Ok((
        t_enriched,
        projected_at.duration_since(started).as_secs_f64(),
    ))
}

/// The pipeline's sustained rates and time to the last projection.
fn rates(env: &mut Env, raw_msgs: f64, t_enriched: f64, t_projected: f64) {
    let mix_ceiling = env.found.mix_ceiling;
    env.report.at_least_ratio(
        "pipeline",
        "enrichment sustained (raw msgs/s to last enriched)",
        raw_msgs / t_enriched,
        "msg/s",
        mix_ceiling,
        0.5,
    );
    env.report.at_least_ratio(
        "pipeline",
        "whole pipeline (raw msgs/s to last projection)",
        raw_msgs / t_projected,
        "msg/s",
        mix_ceiling,
        1.0 / 3.0,
    );
    env.report.info(
        "pipeline",
        "time until the last projection is durable",
        t_projected,
        "s",
    );
}

/// Messages/s of a mix of `a` messages at rate `ra` and `b` at rate `rb`.
fn mixed_rate(a: f64, ra: f64, b: f64, rb: f64) -> f64 {
    let t = a / ra.max(1e-9) + b / rb.max(1e-9);
    (a + b) / t.max(1e-12)
}
