//! `deltastream bench`: measures, in one run against private servers, the
//! machine's JetStream ceiling and DeltaStream's throughput, latency and memory,
//! and reports each figure with its ceiling ratio, target and verdict.

mod bare;
mod beside;
mod ceiling;
mod compare;
mod drain;
mod env;
mod footprint;
mod latency;
mod live;
mod load;
mod node_loss;
mod pipeline;
mod procstat;
mod replay;
mod report;
mod rest;
mod side_by_side;
mod stages;
mod universe;
mod websocket;
mod wsload;

pub use bare::{main as bare_main, BareArgs};
pub use wsload::{main as ws_load_main, WsLoadArgs};

use anyhow::Context as _;
use clap::Args;
use ds_runtime::config::Config;
use env::Env;
use report::{Machine, Report};
use side_by_side::Setup;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
    /// The nats-server binary to measure (default: the one in .tools/bin,
    /// $DS_TOOLS_DIR/bin or PATH). Given twice (A, then B), every section runs
    /// against each, side by side in one run, and the report shows A, B and B/A.
    #[arg(long = "nats-server", value_name = "PATH")]
    pub nats_server: Vec<PathBuf>,
    /// Run only these sections (repeatable), with the earlier ones they build
    /// on: `ceiling`, `node-loss` and `universe` stand alone, the others need
    /// the sections before them. All but `universe` when not given: it is
    /// opt-in (long: the nse-fo universe's whole day, then its live rate, on its
    /// own streams and database).
    #[arg(long = "section", value_enum, value_name = "NAME")]
    pub sections: Vec<Section>,
    /// Who may connect to the private nats-server: `open` (anyone, the
    /// default), `users` (DeltaStream's users and permissions, each process
    /// under its own identity, as `up` runs), or `both`: every section against
    /// an open server (A) and one with the users (B), side by side in one run.
    #[arg(long, value_enum, default_value_t = AuthMode::Open)]
    pub auth: AuthMode,
    /// WebSocket fan-out client counts, comma-separated (default 1000,10000;
    /// 1000 with --quick).
    #[arg(long = "ws-clients", value_delimiter = ',', value_name = "N")]
    pub ws_clients: Vec<usize>,
}

/// Who may connect to the bench's private nats-server (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Anyone, with every permission.
    Open,
    /// DeltaStream's users, each process under its own identity.
    Users,
    /// Open (A) and with users (B), side by side.
    Both,
}

/// Progress lines on stderr.
pub struct Progress {
    started: Instant,
    tty: bool,
    /// `[A] ` or `[B] ` side by side, else empty.
    label: String,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            label: String::new(),
        }
    }

    /// The same clock, its lines marked with `label`.
    fn labelled(&self, label: &str) -> Self {
        Self {
            started: self.started,
            tty: self.tty,
            label: format!("[{label}] "),
        }
    }

    /// Prints a progress line with the elapsed time.
    pub fn line(&self, what: &str) {
        let t = self.started.elapsed().as_secs_f64();
        let label = &self.label;
        if self.tty {
            eprintln!("\x1b[2m[{t:7.1}s]\x1b[0m {label}{what}");
        } else {
            eprintln!("[{t:7.1}s] {label}{what}");
        }
    }
}

impl BenchArgs {
    /// The most products the bench's nats-server carries at once (its memory
    /// limit grows with them): the universe section's when it runs.
    fn server_products(&self, cfg: &Config) -> anyhow::Result<usize> {
        let mut products = cfg.products.len();
        if Section::plan(&self.sections).contains(&Section::Universe) {
            products = products.max(universe::products()?.len());
        }
        Ok(products)
    }
}

/// The sections of the report, in the order they run (later ones build on
/// the state earlier ones leave: the published day, the running processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Section {
    Ceiling,
    Pipeline,
    Bytes,
    Latency,
    Replay,
    BesideLive,
    Stages,
    Rest,
    Websocket,
    NodeLoss,
    Universe,
}

impl Section {
    const ALL: [Section; 11] = [
        Section::Ceiling,
        Section::Pipeline,
        Section::Bytes,
        Section::Latency,
        Section::Replay,
        Section::BesideLive,
        Section::Stages,
        Section::Rest,
        Section::Websocket,
        Section::NodeLoss,
        Section::Universe,
    ];

    /// Whether it measures on its own, without what earlier sections leave
    /// (the WebSocket section starts the topology, enricher and gateway it
    /// needs when no earlier section did).
    fn stands_alone(self) -> bool {
        matches!(
            self,
            Section::Ceiling | Section::Websocket | Section::NodeLoss | Section::Universe
        )
    }

    /// Whether later sections build on what it leaves.
    fn is_prerequisite(self) -> bool {
        !matches!(self, Section::NodeLoss | Section::Bytes | Section::Universe)
    }

    /// The sections to run for the `chosen` ones (all when none), in order.
    fn plan(chosen: &[Section]) -> Vec<Section> {
        if chosen.is_empty() {
            // `universe` is opt-in.
            return Section::ALL
                .into_iter()
                .filter(|s| *s != Section::Universe)
                .collect();
        }
        Section::ALL
            .into_iter()
            .filter(|s| {
                chosen.contains(s)
                    || (s.is_prerequisite() && chosen.iter().any(|c| !c.stands_alone() && s < c))
            })
            .collect()
    }

    async fn run(self, env: &mut Env) -> anyhow::Result<()> {
        match self {
            Section::Ceiling => ceiling::run(env).await,
            Section::Pipeline => pipeline::run(env).await,
            Section::Bytes => footprint::run(env).await,
            Section::Latency => latency::run(env).await,
            Section::Replay => replay::run(env).await,
            Section::BesideLive => beside::run(env).await,
            Section::Stages => stages::run(env).await,
            Section::Rest => rest::run(env).await,
            Section::Websocket => websocket::run(env).await,
            Section::NodeLoss => node_loss::run(env).await,
            Section::Universe => universe::run(env).await,
        }
    }
}

/// The first line `program --version` prints, empty when it cannot run.
fn version(program: Option<&Path>) -> String {
    program
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

/// The `nats-server` the bench runs: `chosen`, or the one found.
fn nats_binary(chosen: Option<&Path>) -> Option<PathBuf> {
    chosen
        .map(Path::to_path_buf)
        .or_else(|| ds_runtime::servers::find_binary("nats-server").ok())
}

/// The facts of the machine, with `nats-server` version `nats`.
fn machine(nats: String) -> Machine {
    let mongod = ds_runtime::servers::find_binary("mongod").ok();
    Machine::read(nats, version(mongod.as_deref()))
}

/// Runs the benchmark and prints the report: against one nats-server, or
/// two side by side (`--nats-server` given twice, or `--auth both`).
///
/// # Errors
/// When the options conflict, a server cannot start or a measurement fails.
pub async fn run(cfg: Config, args: BenchArgs) -> anyhow::Result<()> {
    if !args.nats_server.is_empty() && cfg.nats_url.is_some() {
        anyhow::bail!("--nats-server starts a private nats-server; do not also give a NATS URL");
    }
    let users = args.auth == AuthMode::Users;
    let setup = |label, binary: Option<&PathBuf>, users| Setup {
        label,
        binary: binary.cloned(),
        users,
    };
    let sides = match (args.nats_server.as_slice(), args.auth) {
        ([], AuthMode::Both) => [setup("A", None, false), setup("B", None, true)],
        ([one], AuthMode::Both) => [setup("A", Some(one), false), setup("B", Some(one), true)],
        ([], _) => return one_server(cfg, &args, None, users).await,
        ([one], _) => return one_server(cfg, &args, Some(one), users).await,
        ([_, _], AuthMode::Both) => anyhow::bail!(
            "--auth both compares one nats-server open and with users; give --nats-server at most once"
        ),
        ([a, b], _) => [setup("A", Some(a), users), setup("B", Some(b), users)],
        _ => anyhow::bail!(
            "--nats-server: give one binary, or two (A and B) to compare them side by side"
        ),
    };
    side_by_side::run(cfg, &args, sides, Progress::new()).await
}

/// Runs every section against one nats-server (`binary`, or the one found).
async fn one_server(
    cfg: Config,
    args: &BenchArgs,
    binary: Option<&Path>,
    users: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let binary = binary.map(Path::to_path_buf);
    let progress = Progress::new();
    let products = args.server_products(&cfg)?;
    let mut env = Env::start(
        cfg,
        dir.path(),
        args.quick,
        progress,
        binary.clone(),
        users,
        products,
    )
    .await?;
    env.ws_clients = args.ws_clients.clone();
    let machine = machine(version(nats_binary(binary.as_deref()).as_deref()));
    if !machine.release_build {
        env.progress.line(DEBUG_WARNING);
    }
    for section in Section::plan(&args.sections) {
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

/// Said on stderr when the figures come from a debug build.
const DEBUG_WARNING: &str =
    "warning: this is a debug build; run `cargo run --release -p deltastream -- bench`";

#[cfg(test)]
mod tests {
    use super::Section::{self, *};

    #[test]
    fn a_chosen_section_runs_with_the_sections_it_builds_on() {
        assert_eq!(Section::plan(&[]), Section::ALL[..10].to_vec());
        assert_eq!(Section::plan(&[Universe]), vec![Universe]);
        assert_eq!(Section::plan(&[NodeLoss]), vec![NodeLoss]);
        assert_eq!(Section::plan(&[Ceiling]), vec![Ceiling]);
        assert_eq!(Section::plan(&[Websocket]), vec![Websocket]);
        assert_eq!(Section::plan(&[Latency]), vec![Ceiling, Pipeline, Latency]);
        assert_eq!(Section::plan(&[Bytes]), vec![Ceiling, Pipeline, Bytes]);
        assert_eq!(
            Section::plan(&[Pipeline, NodeLoss]),
            vec![Ceiling, Pipeline, NodeLoss]
        );
    }
}
