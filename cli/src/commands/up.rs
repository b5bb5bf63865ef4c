//! `deltastream up`: the whole system on one machine. Starts `nats-server` and
//! `mongod` as children when no URL is configured (data under `--data-dir`, so
//! history survives restarts), applies the topology, runs feed, enricher,
//! projector and gateway in development mode, and on SIGINT/SIGTERM drains the
//! components, stops the children and exits 0.
//!
//! With `--cluster N` it starts N `nats-server`s clustered on loopback instead of
//! one (JetStream, R3 streams), so cluster behaviour is testable on one machine.

use crate::commands::creds::{self, Bus};
use crate::embedded::Embedded;
use anyhow::Context as _;
use clap::Args;
use ds_runtime::auth::{Component, LocalCreds};
use ds_runtime::config::Config;
use ds_runtime::servers::NatsCluster;
use ds_runtime::shutdown::{on_signal, Shutdown};
use ds_runtime::topology::{self, ApplyOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Stream replicas in a cluster (SPEC §2).
const CLUSTER_REPLICAS: usize = 3;

/// `up` options.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the embedded servers keep their data.
    #[arg(long, env = "DS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Gateway listen address (a free port is chosen if it is taken).
    #[arg(long, env = "DS_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Do not run the feed (only process what others publish).
    #[arg(long)]
    pub no_feed: bool,
    /// Publish every product at any hour, not only while its exchange is in
    /// session (a demo of a universe whose markets are closed now).
    #[arg(long, conflicts_with = "no_feed")]
    pub all_hours: bool,
    /// Run N clustered nats-servers on loopback (JetStream, R3 streams) instead
    /// of one; data under `<data-dir>/nats-cluster/n<i>`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(3..=7))]
    pub cluster: Option<u8>,
}

fn pick_http_addr(wanted: &str) -> anyhow::Result<String> {
    if std::net::TcpListener::bind(wanted).is_ok() {
        return Ok(wanted.to_owned());
    }
    let host = wanted.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let l = std::net::TcpListener::bind((host, 0)).with_context(|| format!("binding {host}:0"))?;
    let addr = l.local_addr()?.to_string();
    eprintln!("note: {wanted} is in use; the gateway listens on {addr} instead");
    Ok(addr)
}

/// The servers `up` started itself (stopped on drop).
struct Servers {
    cluster: Option<NatsCluster>,
    embedded: Embedded,
}

impl Servers {
    /// Starts the servers `cfg` names no URL for, and points `cfg` at them.
    /// Children start first, on the main thread (their parent-death signal is
    /// tied to it).
    fn start(
        cfg: &mut Config,
        data_dir: &Path,
        cluster: Option<u8>,
        local: Option<&LocalCreds>,
    ) -> anyhow::Result<Self> {
        if cluster.is_some() && cfg.nats_url.is_some() {
            anyhow::bail!("--cluster starts its own nats-servers; do not also give a NATS URL");
        }
        let cluster = match cluster {
            Some(n) => {
                let c = NatsCluster::start_with(
                    &data_dir.join("nats-cluster"),
                    usize::from(n),
                    None,
                    creds::server_auth(local),
                )?;
                cfg.nats_url = Some(c.urls());
                Some(c)
            }
            None => None,
        };
        let embedded = Embedded::start(
            cfg,
            data_dir,
            None,
            creds::server_auth(local),
            cfg.products.len(),
        )?;
        Ok(Self { cluster, embedded })
    }

    /// Stops the children (SIGTERM, then SIGKILL after a grace period).
    fn stop(self) {
        drop(self.embedded.mongod);
        drop(self.embedded.nats);
        drop(self.cluster);
    }
}

/// The components `up` runs, each a task reporting its name and outcome.
type Components = JoinSet<(&'static str, anyhow::Result<()>)>;

/// Starts feed (unless `no_feed`), enricher, DLQ re-drive responder, projector
/// and gateway, each connected as its own NATS identity.
async fn spawn_components(
    cfg: &Arc<Config>,
    bus: &Bus,
    db: &mongodb::Database,
    feed: Option<ds_processors::feed::hours::Hours>,
    shutdown: &Shutdown,
) -> anyhow::Result<Components> {
    let mut tasks = Components::new();
    if let Some(hours) = feed {
        let (c, j, s) = (
            cfg.clone(),
            bus.js(Component::Feed).await?,
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let opts = ds_processors::feed::FeedOptions {
                hours,
                ..Default::default()
            };
            (
                "feed",
                ds_processors::feed::run(&c, j, opts, s).await.map(|_| ()),
            )
        });
    }
    {
        let (c, j, s) = (
            cfg.clone(),
            bus.js(Component::Enrich).await?,
            shutdown.clone(),
        );
        tasks.spawn(async move { ("enrich", ds_processors::enrich::run(c, j, s).await) });
    }
    {
        let (n, s) = (bus.connect(Component::Redrive).await?, shutdown.clone());
        tasks.spawn(async move { ("redrive", ds_processors::redrive::serve(n, s).await) });
    }
    {
        let (j, d, s) = (
            bus.js(Component::Project).await?,
            db.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move { ("project", ds_processors::project::run(j, d, s).await) });
    }
    {
        let n = bus.connect(Component::Gateway).await?;
        let (c, d, s) = (cfg.clone(), db.clone(), shutdown.clone());
        tasks.spawn(async move {
            let run = async move {
                ds_gateway::serve(ds_gateway::AppState::new(c, d, n).await?, s).await
            };
            ("gateway", run.await)
        });
    }
    Ok(tasks)
}

/// Runs everything until a signal.
///
/// # Errors
/// When a server cannot start or a component fails at start-up.
pub async fn run(mut cfg: Config, a: UpArgs) -> anyhow::Result<()> {
    cfg.dev = true;
    if let Some(d) = a.data_dir {
        cfg.data_dir = d;
    }
    if let Some(addr) = a.http_addr {
        cfg.http_addr = addr;
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    // The embedded servers run with DeltaStream's users: seeds in <data-dir>/creds.
    let local = creds::local_for_up(&cfg, &data_dir)?;
    let servers = Servers::start(&mut cfg, &data_dir, a.cluster, local.as_ref())?;
    cfg.http_addr = pick_http_addr(&cfg.http_addr)?;

    let bus = Bus::new(&cfg, local.clone());
    let client = bus.connect(Component::Admin).await?;
    let js = ds_runtime::nats::jetstream(client.clone());
    let opts = ApplyOptions {
        replicas: servers.cluster.as_ref().map(|_| CLUSTER_REPLICAS),
        max_age: Some(Duration::from_secs(cfg.stream_max_age_days * 86_400)),
    };
    // A new cluster takes a moment to elect its JetStream meta leader.
    let within = Duration::from_secs(if servers.cluster.is_some() { 60 } else { 0 });
    topology::apply_when_ready(&js, opts, within).await?;
    let db = crate::setup::connect_mongo(&cfg, true).await?;
    ds_runtime::collections::ensure_indexes(&db).await?;

    let cfg = Arc::new(cfg);
    let (trigger, shutdown) = on_signal();
    use ds_processors::feed::hours::Hours;
    let feed = match (a.no_feed, a.all_hours) {
        (true, _) => None,
        (false, true) => Some(Hours::Always),
        (false, false) => Some(Hours::Exchange),
    };
    let mut tasks = spawn_components(&cfg, &bus, &db, feed, &shutdown).await?;
    if let Some(c) = &servers.cluster {
        eprintln!(
            "NATS cluster: {} nats-servers on loopback (JetStream, R{CLUSTER_REPLICAS} streams), data under {}",
            c.servers.len(),
            data_dir.join("nats-cluster").display()
        );
    }
    print_banner(&cfg, &servers.embedded, local.as_ref());
    let failed = supervise(&mut tasks, shutdown, &trigger).await;
    drop(js);
    let _ = client.drain().await;
    servers.stop();
    eprintln!("deltastream stopped");
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Waits for a signal (or a component failing), then drains every component.
async fn supervise(
    tasks: &mut Components,
    mut shutdown: Shutdown,
    trigger: &ds_runtime::shutdown::ShutdownTrigger,
) -> Option<anyhow::Error> {
    let mut failed = None;
    tokio::select! {
        _ = shutdown.wait() => {}
        Some(done) = tasks.join_next() => {
            match done {
                Ok((name, Err(e))) => failed = Some(e.context(format!("{name} failed"))),
                // Finishing is expected once a signal asked everyone to stop.
                Ok((_, Ok(()))) if shutdown.is_triggered() => {}
                Ok((name, Ok(()))) => failed = Some(anyhow::anyhow!("{name} stopped unexpectedly")),
                Err(e) => failed = Some(anyhow::anyhow!("a component panicked: {e}")),
            }
        }
    }
    eprintln!("stopping: draining feed, enricher, projector and gateway…");
    trigger.trigger();
    let drain = async {
        while let Some(done) = tasks.join_next().await {
            if let Ok((name, Err(e))) = done {
                tracing::warn!(component = name, error = %format!("{e:#}"), "stopped with an error");
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), drain)
        .await
        .is_err()
    {
        tracing::warn!("components did not stop within 20 s; aborting them");
        tasks.abort_all();
    }
    failed
}

fn print_banner(cfg: &Config, embedded: &Embedded, local: Option<&LocalCreds>) {
    let http = format!("http://{}", cfg.http_addr);
    eprintln!();
    eprintln!("DeltaStream is up (development mode).");
    eprintln!(
        "  NATS        {}{}",
        cfg.nats_url_or_default(),
        if embedded.nats.is_some() {
            "  (embedded)"
        } else {
            ""
        }
    );
    eprintln!(
        "  MongoDB     {}/{}{}",
        cfg.mongo_url_or_default(),
        cfg.mongo_db,
        if embedded.mongod.is_some() {
            "  (embedded)"
        } else {
            ""
        }
    );
    eprintln!("  Data        {}", cfg.data_dir.display());
    eprintln!("  Dashboard   {http}/dashboard/");
    // A product in session now (the demo's BTC always is), so the examples show data.
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let product = cfg
        .products
        .iter()
        .find(|p| p.market_status(now).open)
        .or(cfg.products.first())
        .map_or("NIFTY", |p| p.name.as_str());
    let open = cfg
        .products
        .iter()
        .filter(|p| p.market_status(now).open)
        .count();
    eprintln!(
        "  Universe    {} ({} products, {open} in session now; closed markets publish nothing unless --all-hours)",
        cfg.universe.as_deref().unwrap_or("demo"),
        cfg.products.len()
    );
    eprintln!("  REST        {http}/api/v1/underlying/{product}/latest   (API docs: {http}/docs)");
    eprintln!("  WebSocket   ws://{}/ws", cfg.http_addr);
    eprintln!("  Health      {http}/health/ready");
    eprintln!("  Metrics     {http}/metrics");
    creds::print_bus_hints(cfg, local, product);
    eprintln!("Development mode: reads need no token. To get one (for writes and admin routes):");
    eprintln!(
        "  curl -s -X POST {http}/api/v1/auth/register -H 'content-type: application/json' -d '{{\"email\":\"me@example.com\",\"password\":\"a-long-password\"}}'"
    );
    eprintln!(
        "  (first admin: deltastream user add --email you@example.com --role admin --password …)"
    );
    eprintln!("Press Ctrl-C to stop.");
    eprintln!();
}
