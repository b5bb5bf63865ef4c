//! Two nats-servers measured side by side in one run (`--nats-server` given
//! twice): each side gets its own private nats-server and mongod and its own
//! processes, and every section runs against A and against B in turn, so a
//! comparison is never made across hours on a noisy host. The order
//! alternates (A then B, then B then A) so neither side always runs right
//! after the other's burst.

use super::compare::{Comparison, Server};
use super::env::Env;
use super::{machine, version, BenchArgs, Progress, Section, DEBUG_WARNING};
use anyhow::Context as _;
use ds_runtime::config::Config;
use std::path::Path;

/// Runs every section against `binaries` (A, B) and prints the comparison.
///
/// # Errors
/// When a URL is configured, a server cannot start or a measurement fails.
pub async fn run(
    cfg: Config,
    args: &BenchArgs,
    binaries: [&Path; 2],
    progress: Progress,
) -> anyhow::Result<()> {
    if cfg.mongo_url.is_some() {
        anyhow::bail!(
            "side by side, each nats-server gets its own private mongod; do not also give a MongoDB URL"
        );
    }
    let dir = tempfile::tempdir().context("temp dir")?;
    let servers = [("A", binaries[0]), ("B", binaries[1])].map(|(label, p)| Server {
        label,
        path: p.display().to_string(),
        version: version(Some(p)),
    });
    let [a, b] = binaries.map(Path::to_path_buf);
    let mut envs = [
        Env::start(
            cfg.clone(),
            &dir.path().join("a"),
            args.quick,
            progress.labelled("A"),
            Some(a),
        )
        .await?,
        Env::start(
            cfg,
            &dir.path().join("b"),
            args.quick,
            progress.labelled("B"),
            Some(b),
        )
        .await?,
    ];
    // Before a latency window, both sides' servers must be idle.
    let all: Vec<u32> = envs
        .iter()
        .flat_map(Env::servers)
        .map(|(_, pid)| pid)
        .collect();
    for env in &mut envs {
        env.settle_pids.clone_from(&all);
    }
    let machine = machine(String::new());
    if !machine.release_build {
        progress.line(DEBUG_WARNING);
    }
    for (i, section) in Section::plan(&args.sections).into_iter().enumerate() {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            section.run(&mut envs[side]).await?;
        }
    }
    let [env_a, env_b] = envs;
    let (rows_a, rows_b) = (env_a.finish().await, env_b.finish().await);
    let report = Comparison::new(machine, servers, &rows_a, &rows_b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.table());
    }
    Ok(())
}
