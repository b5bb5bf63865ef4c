//! The subcommands other than `up`: each component alone, and the operator tools.

use crate::Global;
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use ds_processors::feed::{FeedOptions, Speed};
use ds_runtime::config::Config;
use ds_runtime::shutdown::{on_signal, Shutdown};
use ds_runtime::topology::{self, ApplyOptions};
use std::sync::Arc;
use std::time::Duration;

/// Builds the configuration: file, then `DS_*` environment, then flags.
///
/// # Errors
/// When the file is unreadable or invalid.
pub fn load_config(g: &Global) -> anyhow::Result<Config> {
    let mut cfg = Config::load(g.config.as_deref())?;
    if let Some(u) = &g.nats_url {
        cfg.nats_url = Some(u.clone());
    }
    if let Some(u) = &g.mongo_url {
        cfg.mongo_url = Some(u.clone());
    }
    if let Some(d) = &g.mongo_db {
        cfg.mongo_db = d.clone();
    }
    if g.log_json {
        cfg.log_json = true;
    }
    Ok(cfg)
}

/// Logs to stderr, human-readable or JSON; `RUST_LOG` overrides the levels.
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn,mongodb=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

async fn connect_js(cfg: &Config, name: &str) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = ds_runtime::nats::connect(cfg.nats_url_or_default(), name).await?;
    Ok(ds_runtime::nats::jetstream(client))
}

fn spawn_metrics(g: &Global, shutdown: &Shutdown) {
    if let Some(addr) = g.metrics_addr.clone() {
        let s = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = ds_runtime::metrics::serve(&addr, s).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
    }
}

/// `feed` options.
#[derive(Args, Debug)]
pub struct FeedArgs {
    /// Generate this trading day (YYYY-MM-DD) instead of live data.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Pace of a historical day: `max` or a factor of real time (e.g. 10).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Seed of every random choice: the same seed and options give identical messages.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only these products (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub products: Vec<String>,
}

/// `deltastream feed`.
pub async fn feed(cfg: Config, g: &Global, a: FeedArgs) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-feed").await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    let opts = FeedOptions {
        date: a.date,
        speed: a.speed,
        seed: a.seed,
        products: a.products,
    };
    let report = ds_processors::feed::run(&cfg, js, opts, shutdown).await?;
    let secs = report.elapsed.as_secs_f64();
    let total = report.ticks + report.chains;
    println!(
        "published {} ticks and {} chains ({} messages, {} duplicates) in {:.2} s ({:.0} msgs/s)",
        report.ticks,
        report.chains,
        total,
        report.duplicates,
        secs,
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `deltastream enrich`.
pub async fn enrich(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-enrich").await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    ds_processors::enrich::run(Arc::new(cfg), js, shutdown).await
}

/// `deltastream project`.
pub async fn project(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-project").await?;
    let db = ds_runtime::mongo::connect(cfg.mongo_url_or_default(), &cfg.mongo_db).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    ds_processors::project::run(js, db, shutdown).await
}

/// `gateway` options.
#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// Development mode: generated JWT secret, anonymous reads.
    #[arg(long)]
    pub dev: bool,
    /// Listen address (host:port).
    #[arg(long, env = "DS_HTTP_ADDR")]
    pub http_addr: Option<String>,
}

/// `deltastream gateway`.
pub async fn gateway(mut cfg: Config, a: GatewayArgs) -> anyhow::Result<()> {
    if a.dev {
        cfg.dev = true;
    }
    if let Some(addr) = a.http_addr {
        cfg.http_addr = addr;
    }
    let db = ds_runtime::mongo::connect(cfg.mongo_url_or_default(), &cfg.mongo_db).await?;
    let client = ds_runtime::nats::connect(cfg.nats_url_or_default(), "deltastream-gateway").await?;
    let (_trigger, shutdown) = on_signal();
    let state = ds_gateway::AppState {
        cfg: Arc::new(cfg),
        db,
        nats: client,
    };
    ds_gateway::serve(state, shutdown).await
}

/// `replay` options (SPEC §9).
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The trading day to replay (YYYY-MM-DD).
    #[arg(long)]
    pub date: NaiveDate,
    /// Only these products (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub products: Vec<String>,
    /// Rebuild into this database (default deltastream_replay_<YYYYMMDD>).
    #[arg(long)]
    pub target_db: Option<String>,
    /// Replace the live projections of that day instead.
    #[arg(long)]
    pub in_place: bool,
    /// Re-publish enriched messages under this subject prefix.
    #[arg(long)]
    pub publish_prefix: Option<String>,
    /// Pace: `max` or a factor of real time.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
}

/// `deltastream replay`: not built yet.
pub async fn replay(_cfg: Config, _a: ReplayArgs) -> anyhow::Result<()> {
    anyhow::bail!("`replay` is not available yet in this version of DeltaStream")
}

/// `topology` actions.
#[derive(Subcommand, Debug)]
pub enum TopologyAction {
    /// Create or update the streams and KV buckets of nats/ (idempotent).
    Apply {
        /// Replicas of every stream and bucket (3 in a cluster).
        #[arg(long)]
        replicas: Option<usize>,
    },
    /// Show the streams' state.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `deltastream topology`.
pub async fn topology(cfg: Config, action: TopologyAction) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-topology").await?;
    match action {
        TopologyAction::Apply { replicas } => {
            let results = topology::apply(
                &js,
                ApplyOptions {
                    replicas,
                    max_age: Some(Duration::from_secs(cfg.stream_max_age_days * 86_400)),
                },
            )
            .await?;
            for (name, outcome) in results {
                println!("{name:<20} {outcome}");
            }
        }
        TopologyAction::Show { json } => {
            let streams = topology::show(&js).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&streams)?);
            } else {
                println!(
                    "{:<12} {:<16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>8}",
                    "stream", "subjects", "messages", "bytes", "first", "last", "consumers", "replicas", "age(d)"
                );
                for s in streams {
                    println!(
                        "{:<12} {:<16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>8}",
                        s.name,
                        s.subjects.join(","),
                        s.messages,
                        s.bytes,
                        s.first_seq,
                        s.last_seq,
                        s.consumers,
                        s.replicas,
                        s.max_age_secs / 86_400
                    );
                }
            }
        }
    }
    Ok(())
}

/// `dlq` actions.
#[derive(Subcommand, Debug)]
pub enum DlqAction {
    /// List dead letters, oldest first.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter with its payload.
    Show {
        /// Its MD_DLQ sequence.
        seq: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Re-publish a dead letter's original message on its original subject.
    Retry {
        /// Its MD_DLQ sequence.
        seq: u64,
    },
}

/// `deltastream dlq`.
pub async fn dlq(cfg: Config, action: DlqAction) -> anyhow::Result<()> {
    use ds_processors::dlq;
    let js = connect_js(&cfg, "deltastream-dlq").await?;
    match action {
        DlqAction::List { json, limit } => {
            let entries = dlq::list(&js, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("MD_DLQ is empty");
            } else {
                println!("{:>8}  {:<10} {:<36} {:>10}  error", "dlq_seq", "processor", "subject", "src_seq");
                for e in entries {
                    println!(
                        "{:>8}  {:<10} {:<36} {:>10}  {}",
                        e.dlq_seq, e.letter.processor, e.letter.subject, e.letter.stream_seq, e.letter.error
                    );
                }
            }
        }
        DlqAction::Show { seq, json } => {
            let e = dlq::show(&js, seq).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                let l = &e.letter;
                println!("dlq_seq:    {}", e.dlq_seq);
                println!("processor:  {}", l.processor);
                println!("subject:    {}", l.subject);
                println!("stream:     {} seq {}", l.stream, l.stream_seq);
                println!("schema:     {}", l.schema);
                println!("error:      {}", l.error);
                println!("deliveries: {}", l.deliveries);
                println!("failed_at:  {}", chrono::DateTime::from_timestamp_nanos(l.failed_at_unix_ns).to_rfc3339());
                println!("payload:    {} bytes", l.payload.len());
            }
        }
        DlqAction::Retry { seq } => {
            let new_seq = dlq::retry(&js, seq).await.with_context(|| format!("retrying DLQ entry {seq}"))?;
            println!("re-drove DLQ entry {seq} as stream sequence {new_seq}; removed it from MD_DLQ");
        }
    }
    Ok(())
}

/// `user` actions.
#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user (bootstraps the first admin).
    Add {
        /// E-mail address (the login).
        #[arg(long)]
        email: String,
        /// Role: viewer or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
}

/// `deltastream user`: not built yet.
pub async fn user(_cfg: Config, _action: UserAction) -> anyhow::Result<()> {
    anyhow::bail!("`user` is not available yet in this version of DeltaStream")
}

/// `bench` options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
    /// A shorter run.
    #[arg(long)]
    pub quick: bool,
}

/// `deltastream bench`: not built yet.
pub async fn bench(_cfg: Config, _a: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`bench` is not available yet in this version of DeltaStream")
}
