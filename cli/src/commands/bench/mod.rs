//! `deltastream bench`: measures, in one run against private servers, the
//! machine's JetStream ceiling and DeltaStream's throughput, latency and memory,
//! and reports each figure with its ceiling ratio, target and verdict.

mod beside;
mod ceiling;
mod drain;
mod env;
mod latency;
mod live;
mod load;
mod pipeline;
mod procstat;
mod replay;
mod report;
mod rest;
mod stages;
mod websocket;

use anyhow::Context as _;
use clap::Args;
use ds_runtime::config::Config;
use env::Env;
use report::{Machine, Report};
use std::io::IsTerminal;
use std::process::Command;
use std::time::Instant;

/// The benchmark day (a Wednesday: weekly NSE expiry the next day).
const DAY: &str = "2025-01-15";
/// The day measured stage by stage.
const DAY2: &str = "2025-01-16";

/// `bench` options.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
    /// A shorter run.
    #[arg(long)]
    pub quick: bool,
}

/// Progress lines on stderr.
pub struct Progress {
    started: Instant,
    tty: bool,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Prints a progress line with the elapsed time.
    pub fn line(&self, what: &str) {
        let t = self.started.elapsed().as_secs_f64();
        if self.tty {
            eprintln!("\x1b[2m[{t:7.1}s]\x1b[0m {what}");
        } else {
            eprintln!("[{t:7.1}s] {what}");
        }
    }
}

/// The sections of the report, in the order they run (later ones build on
/// the state earlier ones leave: the published day, the running processes).
#[derive(Debug, Clone, Copy)]
enum Section {
    Ceiling,
    Pipeline,
    Latency,
    Replay,
    BesideLive,
    Stages,
    Rest,
    Websocket,
}

impl Section {
    const ALL: [Section; 8] = [
        Section::Ceiling,
        Section::Pipeline,
        Section::Latency,
        Section::Replay,
        Section::BesideLive,
        Section::Stages,
        Section::Rest,
        Section::Websocket,
    ];

    async fn run(self, env: &mut Env) -> anyhow::Result<()> {
        match self {
            Section::Ceiling => ceiling::run(env).await,
            Section::Pipeline => pipeline::run(env).await,
            Section::Latency => latency::run(env).await,
            Section::Replay => replay::run(env).await,
            Section::BesideLive => beside::run(env).await,
            Section::Stages => stages::run(env).await,
            Section::Rest => rest::run(env).await,
            Section::Websocket => websocket::run(env).await,
        }
    }
}

/// The first line `binary --version` prints, empty when it cannot run.
fn version(binary: &'static str) -> String {
    ds_runtime::servers::find_binary(binary)
        .ok()
        .and_then(|p| Command::new(p).arg("--version").output().ok())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Runs the benchmark and prints the report.
///
/// # Errors
/// When a server cannot start or a measurement fails.
pub async fn run(cfg: Config, args: BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let mut env = Env::start(cfg, dir.path(), args.quick, Progress::new()).await?;
    let machine = Machine::read(version("nats-server"), version("mongod"));
    if !machine.release_build {
        env.progress.line(
            "warning: this is a debug build; run `cargo run --release -p deltastream -- bench`",
        );
    }
    for section in Section::ALL {
        section.run(&mut env).await?;
    }
    let rows = env.finish().await;
    let report = Report { machine, rows };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.table());
    }
    Ok(())
}
