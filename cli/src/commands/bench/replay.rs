//! Section 4: replay of the benchmark day into a new database, against the
//! time the pipeline first took for it.

use super::env::Env;
use super::DAY;
use ds_processors::replay::{ReplayOptions, Target};
use ds_runtime::shutdown::Shutdown;

/// Replays the day in this process and reports its duration.
///
/// # Errors
/// When the replay fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    env.progress.line(&format!(
        "replay: {DAY} of every product into a new database"
    ));
    let opts = ReplayOptions {
        target: Target::Database("deltastream_bench_replay".into()),
        concurrency: 2,
        ..ReplayOptions::new(DAY.parse()?)
    };
    let (_trigger, no_stop) = Shutdown::new();
    let replay = ds_processors::replay::run(
        &env.day_cfg,
        &env.js,
        Some(env.db.client()),
        opts,
        &|_| {},
        no_stop,
    )
    .await
    .map_err(|e| anyhow::anyhow!("replay: {e}"))?;
    let replay_secs = replay.elapsed.as_secs_f64();
    env.report.at_most(
        "replay",
        format!(
            "replay one day ({} msgs) into a new database",
            replay.messages()
        ),
        replay_secs,
        "s",
        60.0,
    );
    env.report.at_most(
        "replay",
        "replay time ÷ first processing time",
        replay_secs / env.found.t_projected,
        "×",
        1.0,
    );
    Ok(())
}
