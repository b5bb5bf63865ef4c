//! `deltastream`: the one binary (SPEC §9). Parses the command line, builds the
//! configuration (flags > environment > config file > defaults), and runs the
//! chosen component. Errors end the process with one readable line, never a
//! panic or a backtrace.

mod commands;
mod embedded;
mod setup;

use clap::{Args, Parser, Subcommand};
use commands::{bench, dlq, feed, gateway, replay, schema, sub, topology, up, user};
use std::path::PathBuf;
use std::process::ExitCode;

/// Real-time option-market analytics on NATS JetStream.
#[derive(Parser, Debug)]
#[command(name = "deltastream", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// TOML configuration file (flags and DS_* variables override it).
    #[arg(long, global = true, env = "DS_CONFIG")]
    pub config: Option<PathBuf>,
    /// NATS server URL(s), comma-separated for a cluster.
    #[arg(long, global = true)]
    pub nats_url: Option<String>,
    /// MongoDB URL.
    #[arg(long, global = true)]
    pub mongo_url: Option<String>,
    /// MongoDB database of the projections.
    #[arg(long, global = true)]
    pub mongo_db: Option<String>,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    pub log_json: bool,
    /// The universe traded: default, nse-fo, crypto, demo (default plus the 24/7
    /// BTC), or a universe file (.toml). Every component of a deployment needs
    /// the same one. Default: demo for `up`, default otherwise.
    #[arg(long, global = true, env = "DS_UNIVERSE", value_name = "NAME|FILE")]
    pub universe: Option<String>,
    /// Serve Prometheus /metrics (and /health/*) of a processor on this address.
    #[arg(long, global = true, env = "DS_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The whole system on one machine: embedded nats-server and mongod, feed,
    /// enricher, projector and gateway, in development mode.
    Up(up::UpArgs),
    /// Publish market data: live, or a historical trading day with --date.
    Feed(feed::FeedArgs),
    /// Run an enricher instance (MD_RAW → MD_ENRICHED); run several to scale out.
    Enrich,
    /// Run a projector instance (MD_ENRICHED → MongoDB); run several to scale out.
    Project,
    /// Run the REST and WebSocket gateway.
    Gateway(gateway::GatewayArgs),
    /// Replay a trading day from MD_RAW into a new database, in place, or onto NATS.
    Replay(replay::ReplayArgs),
    /// Apply or show the JetStream topology declared in nats/.
    Topology {
        #[command(subcommand)]
        action: topology::TopologyAction,
    },
    /// Inspect and re-drive dead letters.
    Dlq {
        #[command(subcommand)]
        action: dlq::DlqAction,
    },
    /// NATS credentials: add an outside subscriber, show, rotate, render for deployments.
    Creds {
        #[command(subcommand)]
        action: commands::creds::CredsAction,
    },
    /// Manage gateway users (bootstraps the first admin).
    User {
        #[command(subcommand)]
        action: user::UserAction,
    },
    /// Measure throughput, latency and memory against this machine's own ceiling.
    Bench(bench::BenchArgs),
    /// Print the messages of NATS subjects as JSON lines, decoded by their
    /// Ds-Schema header.
    Sub(sub::SubArgs),
    /// Write the .proto files (or a descriptor set) for clients in other languages.
    Schema(schema::SchemaArgs),
    /// The bench's WebSocket load generator, run as its own process.
    #[command(name = "bench-ws-load", hide = true)]
    BenchWsLoad(bench::WsLoadArgs),
    /// The bench's bare broadcast server (the WebSocket fan-out ceiling).
    #[command(name = "bench-ws-bare", hide = true)]
    BenchWsBare(bench::BareArgs),
}

impl Command {
    /// The subcommand's name (the default `OTEL_SERVICE_NAME` is `deltastream-<name>`).
    fn name(&self) -> &'static str {
        match self {
            Command::Up(_) => "up",
            Command::Feed(_) => "feed",
            Command::Enrich => "enrich",
            Command::Project => "project",
            Command::Gateway(_) => "gateway",
            Command::Replay(_) => "replay",
            Command::Topology { .. } => "topology",
            Command::Dlq { .. } => "dlq",
            Command::User { .. } => "user",
            Command::Creds { .. } => "creds",
            Command::Bench(_) => "bench",
            Command::Sub(_) => "sub",
            Command::Schema(_) => "schema",
            Command::BenchWsLoad(_) => "bench-ws-load",
            Command::BenchWsBare(_) => "bench-ws-bare",
        }
    }

    /// The universe traded when none is configured: `up` is a demo, alive at any
    /// hour, so it adds an always-open product.
    fn default_universe(&self) -> &'static str {
        match self {
            Command::Up(_) => "demo",
            _ => "default",
        }
    }

    /// Runs the subcommand to its end.
    async fn run(self, cfg: ds_runtime::config::Config, global: &Global) -> anyhow::Result<()> {
        match self {
            Command::Up(a) => up::run(cfg, a).await,
            Command::Feed(a) => feed::run(cfg, global, a).await,
            Command::Enrich => commands::enrich::run(cfg, global).await,
            Command::Project => commands::project::run(cfg, global).await,
            Command::Gateway(a) => gateway::run(cfg, a).await,
            Command::Replay(a) => replay::run(cfg, a).await,
            Command::Topology { action } => topology::run(cfg, action).await,
            Command::Dlq { action } => dlq::run(cfg, action).await,
            Command::User { action } => user::run(cfg, action).await,
            Command::Creds { action } => commands::creds::run(cfg, action).await,
            Command::Bench(a) => bench::run(cfg, a).await,
            Command::Sub(a) => sub::run(cfg, a).await,
            Command::Schema(a) => schema::run(a),
            Command::BenchWsLoad(a) => bench::ws_load_main(a).await,
            Command::BenchWsBare(a) => bench::bare_main(a).await,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match setup::load_config(&cli.global, cli.command.default_universe()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the trace exporter sends its requests on it.
    let telemetry = {
        let _rt = runtime.enter();
        match setup::init_telemetry(cfg.log_json, cli.command.name()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    };
    let Cli { global, command } = cli;
    let result = runtime.block_on(command.run(cfg, &global));
    // Flushes the buffered spans while the runtime still runs.
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
