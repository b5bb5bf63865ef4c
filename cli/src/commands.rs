//! The subcommands other than `up`: each component alone, and the operator tools.

use crate::Global;
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use ds_processors::feed::{FeedOptions, Speed};
use ds_runtime::config::Config;
use ds_runtime::connect::{self, Patience};
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

/// Logs to stderr, human-readable or JSON (`RUST_LOG` overrides the levels), and
/// exports traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, as
/// `OTEL_SERVICE_NAME` (default `deltastream-<subcommand>`). Call it inside the
/// Tokio runtime; drop the returned guard after the runtime's work is done (it
/// flushes the spans still buffered).
///
/// # Errors
/// A bad `OTEL_*` setting, or an exporter that cannot be built.
pub fn init_telemetry(
    json: bool,
    subcommand: &str,
) -> anyhow::Result<ds_runtime::telemetry::Telemetry> {
    use ds_runtime::telemetry::{self, LogFormat, TelemetryConfig};
    let log = if json {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let cfg = TelemetryConfig::from_env(&format!("deltastream-{subcommand}"), log)?;
    Ok(telemetry::init(cfg)?)
}

/// Connects to JetStream, waiting for NATS as long as a long-running component
/// (or, for a one-shot command, the configured deadline) allows.
async fn connect_js(
    cfg: &Config,
    name: &str,
    long_running: bool,
) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = connect::nats(cfg, name, Patience::of(cfg, long_running)).await?;
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
    let js = connect_js(&cfg, "deltastream-feed", true).await?;
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
    let js = connect_js(&cfg, "deltastream-enrich", true).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);
    ds_processors::enrich::run(Arc::new(cfg), js, shutdown).await
}

/// `deltastream project`.
pub async fn project(cfg: Config, g: &Global) -> anyhow::Result<()> {
    let js = connect_js(&cfg, "deltastream-project", true).await?;
    let db = connect::mongo(&cfg, Patience::of(&cfg, true)).await?;
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
    let db = connect::mongo(&cfg, Patience::of(&cfg, true)).await?;
    let client = connect::nats(&cfg, "deltastream-gateway", Patience::of(&cfg, true)).await?;
    let (_trigger, shutdown) = on_signal();
    let state = ds_gateway::AppState::new(Arc::new(cfg), db, client).await?;
    ds_gateway::serve(state, shutdown).await
}

/// `replay` options (SPEC §9).
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The trading day to replay (YYYY-MM-DD): the session date in each product's
    /// exchange time zone, selected by event time.
    #[arg(long)]
    pub date: NaiveDate,
    /// Only these products (comma-separated); default: every configured product
    /// with data that day.
    #[arg(long, value_delimiter = ',')]
    pub products: Vec<String>,
    /// Rebuild the projections into this database (default
    /// deltastream_replay_<YYYYMMDD>; with a publish option, only when given).
    #[arg(long, conflicts_with = "in_place")]
    pub target_db: Option<String>,
    /// Replace the live projections of that day (documents overwritten in place,
    /// then those the replay did not produce deleted).
    #[arg(long)]
    pub in_place: bool,
    /// Re-publish the enriched messages on core NATS under this subject prefix
    /// (`<P>.md.enriched.…`); publishing alone writes no database.
    #[arg(long)]
    pub publish_prefix: Option<String>,
    /// Re-publish under a generated prefix `replay.<YYYYMMDD>-<id>` (printed).
    #[arg(long, conflicts_with = "publish_prefix")]
    pub publish: bool,
    /// Pace by event time: `max`, or a factor of the original pace (1 = real time).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// For a product whose day is not in the day index (the enrichers never
    /// applied it), scan its subject in MD_RAW instead of failing.
    #[arg(long)]
    pub scan: bool,
    /// Products replayed at once (enrichment is CPU-bound; leave room for live
    /// processing). Paced replays run every product at once.
    #[arg(long, default_value_t = ds_processors::replay::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// At most this many MD_RAW messages per second in all, beside live traffic
    /// or not (default: 500 while live enrichers are active, i.e. MD_ENRICHED
    /// grew in the last 2 s; no cap otherwise).
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// No cap beside live traffic: read at full speed (or --max-rate) even while
    /// live enrichers are active. A paced replay (--speed other than max) keeps
    /// to its pacing and is never capped for live traffic.
    #[arg(long)]
    pub no_yield: bool,
}

/// The CPU priority a replay runs at (`nice`): it is background work, so live
/// processes on the same machine come first; on an idle machine it costs nothing.
const REPLAY_NICE: i32 = 10;

/// Lowers the scheduling priority of every thread of this process to `nice`
/// (Linux keeps it per thread; threads started later inherit it). Best effort.
fn lower_cpu_priority(nice: i32) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for tid in tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::id_t>().ok())
    {
        // SAFETY: setpriority(2) on a thread of this process; no memory is shared.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if r != 0 {
            tracing::debug!(tid, "could not lower the thread's CPU priority");
        }
    }
}

/// `deltastream replay`: re-drives a trading day from MD_RAW through the
/// enrichment into a database and/or replay subjects, with a progress bar on a
/// terminal (plain lines otherwise) and a summary; Ctrl-C stops cleanly.
pub async fn replay(cfg: Config, a: ReplayArgs) -> anyhow::Result<()> {
    use ds_processors::replay::{self, Progress, ReplayOptions, Target};
    use std::io::IsTerminal as _;

    fn rate(n: u64, d: Duration) -> f64 {
        n as f64 / d.as_secs_f64().max(1e-9)
    }
    fn line(p: &Progress) -> String {
        format!(
            "{} messages ({:.0}/s), {} outputs, {}/{} products",
            p.messages,
            rate(p.messages, p.elapsed),
            p.outputs,
            p.products_done,
            p.products
        )
    }
    fn event_time(ns: Option<i64>) -> String {
        ns.map(|n| {
            chrono::DateTime::from_timestamp_nanos(n)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|| "no message of the day yet".into())
    }

    let publish_prefix = match (a.publish_prefix, a.publish) {
        (Some(p), _) => Some(p),
        (None, true) => Some(replay::publish::default_prefix(
            a.date,
            ds_processors::time::now_unix_ns() as u64,
        )),
        (None, false) => None,
    };
    let target = match (a.in_place, a.target_db) {
        (true, _) => Target::InPlace(cfg.mongo_db.clone()),
        (false, Some(db)) => Target::Database(db),
        (false, None) if publish_prefix.is_some() => Target::None,
        (false, None) => Target::Database(replay::default_database(a.date)),
    };
    let opts = ReplayOptions {
        date: a.date,
        products: a.products,
        target: target.clone(),
        publish_prefix: publish_prefix.clone(),
        speed: a.speed,
        concurrency: a.concurrency.max(1),
        scan: a.scan,
        max_rate: a.max_rate,
        yield_to_live: !a.no_yield,
    };
    lower_cpu_priority(REPLAY_NICE);
    let js = connect_js(&cfg, "deltastream-replay", false).await?;
    let db = match target.database() {
        Some(_) => Some(connect::mongo(&cfg, Patience::of(&cfg, false)).await?),
        None => None,
    };
    match &target {
        Target::Database(d) => eprintln!("replaying {} into database {d}", a.date),
        Target::InPlace(d) => eprintln!("replaying {} in place into the live database {d}", a.date),
        Target::None => eprintln!("replaying {}", a.date),
    }
    if let Some(p) = &publish_prefix {
        eprintln!("re-publishing on {p}.md.enriched.> (speed {:?})", a.speed);
    }
    let (_trigger, shutdown) = on_signal();

    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let last_line = std::sync::Mutex::new(std::time::Instant::now());
    let on_progress = |p: &Progress| match &bar {
        Some(b) => {
            b.set_length(p.length.max(1));
            b.set_position(p.position.min(p.length));
            b.set_message(line(p));
        }
        None => {
            // Plain lines (CI, logs): one every 5 s.
            if let Ok(mut last) = last_line.lock() {
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = std::time::Instant::now();
                    let pct = 100.0 * p.position as f64 / p.length.max(1) as f64;
                    eprintln!("replay {}: {pct:.0}% {}", a.date, line(p));
                }
            }
        }
    };
    let result = replay::run(
        &cfg,
        &js,
        db.as_ref().map(|d| d.client()),
        opts,
        &on_progress,
        shutdown,
    )
    .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = result?;

    for p in &report.products {
        println!(
            "  {:<10} seq {}..{} ({}): {} messages, {} of the day, {} outputs, {} documents{}{}{}",
            p.product,
            p.first_seq,
            p.last_seq,
            p.location,
            p.messages,
            p.day_messages,
            p.outputs,
            p.documents,
            if p.deleted > 0 {
                format!(", {} stale documents deleted", p.deleted)
            } else {
                String::new()
            },
            if p.poison > 0 {
                format!(", {} invalid messages skipped (as in the DLQ)", p.poison)
            } else {
                String::new()
            },
            if p.completed {
                String::new()
            } else {
                format!(
                    " — stopped at seq {} ({})",
                    p.done_seq,
                    event_time(p.last_event_unix_ns)
                )
            },
        );
    }
    for s in &report.skipped {
        println!("  {:<10} skipped: {}", s.product, s.reason);
    }
    let target_text = match (&report.database, report.in_place) {
        (Some(d), true) => format!(" in place in {d}"),
        (Some(d), false) => format!(" into {d}"),
        (None, _) => String::new(),
    };
    let published = report
        .publish_prefix
        .as_ref()
        .map(|p| format!(", re-published on {p}.md.enriched.>"))
        .unwrap_or_default();
    println!(
        "{} {}: {} products, {} messages ({} of the day), {} outputs, {} documents{target_text}{published} in {:.2} s ({:.0} msgs/s)",
        if report.interrupted { "interrupted replay of" } else { "replayed" },
        report.date,
        report.products.len(),
        report.messages(),
        report.day_messages(),
        report.outputs(),
        report.documents(),
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    let y = report.yielded;
    if y.read_beside_live > 0 {
        println!(
            "live enrichers were active: {} messages read at most {} msgs/s beside them",
            y.read_beside_live,
            y.live_cap.map_or_else(|| "∞".into(), |c| format!("{c:.0}"))
        );
    }
    if report.interrupted {
        anyhow::bail!("replay stopped before the end; re-run the same command to finish (safe: every write is idempotent)");
    }
    Ok(())
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
    let js = connect_js(&cfg, "deltastream-topology", false).await?;
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
                    "stream",
                    "subjects",
                    "messages",
                    "bytes",
                    "first",
                    "last",
                    "consumers",
                    "replicas",
                    "age(d)"
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
    let js = connect_js(&cfg, "deltastream-dlq", false).await?;
    match action {
        DlqAction::List { json, limit } => {
            let entries = dlq::list(&js, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("MD_DLQ is empty");
            } else {
                println!(
                    "{:>8}  {:<10} {:<36} {:>10}  error",
                    "dlq_seq", "processor", "subject", "src_seq"
                );
                for e in entries {
                    println!(
                        "{:>8}  {:<10} {:<36} {:>10}  {}",
                        e.dlq_seq,
                        e.letter.processor,
                        e.letter.subject,
                        e.letter.stream_seq,
                        e.letter.error
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
                println!(
                    "failed_at:  {}",
                    chrono::DateTime::from_timestamp_nanos(l.failed_at_unix_ns).to_rfc3339()
                );
                println!("payload:    {} bytes", l.payload.len());
            }
        }
        DlqAction::Retry { seq } => {
            let new_seq = dlq::retry(&js, seq)
                .await
                .with_context(|| format!("retrying DLQ entry {seq}"))?;
            println!(
                "re-drove DLQ entry {seq} as stream sequence {new_seq}; removed it from MD_DLQ"
            );
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
        /// Password (at least 8 characters). Prefer the DS_USER_PASSWORD
        /// environment variable: command lines are visible to other users.
        #[arg(long, env = "DS_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `deltastream user add`: creates a user directly in MongoDB (how the first
/// admin is made; later ones can register over HTTP and be promoted).
///
/// # Errors
/// When the role or input is invalid, the e-mail is taken, or MongoDB fails.
pub async fn user(cfg: Config, action: UserAction) -> anyhow::Result<()> {
    match action {
        UserAction::Add {
            email,
            role,
            password,
        } => {
            let role: ds_gateway::auth::Role =
                role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let password = password.filter(|p| !p.is_empty()).context(
                "no password: pass --password or set DS_USER_PASSWORD (there is no prompt, so scripts and CI work)",
            )?;
            let db = connect::mongo(&cfg, Patience::of(&cfg, false)).await?;
            ds_runtime::collections::ensure_indexes(&db).await?;
            let u = ds_gateway::auth::users::add_user(&db, &email, &password, role).await?;
            println!("added {} user {} (id {})", u.role.as_str(), u.email, u.id);
            println!(
                "get a token: POST /api/v1/auth/login {{\"email\": \"{}\", \"password\": …}}",
                u.email
            );
            Ok(())
        }
    }
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

/// `deltastream bench`.
pub async fn bench(cfg: Config, a: BenchArgs) -> anyhow::Result<()> {
    crate::bench::run(
        cfg,
        crate::bench::BenchOptions {
            json: a.json,
            quick: a.quick,
        },
    )
    .await
}
