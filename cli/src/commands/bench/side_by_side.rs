//! Two nats-servers measured side by side in one run (`--nats-server` given
//! twice, or one server open and with users, `--auth both`): each side gets its own private nats-server and mongod and its own
//! processes, and every section runs against A and against B in turn, so a
//! comparison is never made across hours on a noisy host. The order
//! alternates (A then B, then B then A) so neither side always runs right
//! after the other's burst.

use super::compare::{Comparison, Server};
use super::env::Env;
use super::{machine, nats_binary, version, BenchArgs, Progress, Section, DEBUG_WARNING};
use anyhow::Context as _;
use ds_runtime::config::Config;
use std::path::{Path, PathBuf};

/// One side: its label, its `nats-server` (the one found when `None`) and
/// whether that server has DeltaStream's users.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `A` or `B`.
    pub label: &'static str,
    /// The binary.
    pub binary: Option<PathBuf>,
    /// DeltaStream's users and permissions (else an open server).
    pub users: bool,
}

/// Starts one side's servers and processes under `dir`.
async fn start(
    cfg: Config,
    dir: &Path,
    args: &BenchArgs,
    progress: &Progress,
    side: Setup,
) -> anyhow::Result<Env> {
    let label = progress.labelled(side.label);
    let products = args.server_products(&cfg)?;
    let mut env = Env::start(
        cfg,
        dir,
        args.quick,
        label,
        side.binary,
        side.users,
        products,
    )
    .await?;
    env.ws_clients = args.ws_clients.clone();
    Ok(env)
}

/// Runs every section against both sides and prints the comparison.
///
/// # Errors
/// When a URL is configured, a server cannot start or a measurement fails.
pub async fn run(
    cfg: Config,
    args: &BenchArgs,
    sides: [Setup; 2],
    progress: Progress,
) -> anyhow::Result<()> {
    if cfg.mongo_url.is_some() || cfg.nats_url.is_some() {
        anyhow::bail!(
            "side by side, each side gets its own private nats-server and mongod; do not also give a URL"
        );
    }
    let dir = tempfile::tempdir().context("temp dir")?;
    let servers = sides.clone().map(|s| {
        let path = nats_binary(s.binary.as_deref());
        Server {
            label: s.label,
            path: path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            version: version(path.as_deref()),
            auth: if s.users { "users" } else { "open" },
        }
    });
    let [a, b] = sides;
    let mut envs = [
        start(cfg.clone(), &dir.path().join("a"), args, &progress, a).await?,
        start(cfg, &dir.path().join("b"), args, &progress, b).await?,
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
