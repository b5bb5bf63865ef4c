//! `deltastream up`: the whole system on one machine. Starts `nats-server` and
//! `mongod` as children when no URL is configured (data under `--data-dir`, so
//! history survives restarts), applies the topology, runs feed, enricher,
//! projector and gateway in development mode, and on SIGINT/SIGTERM drains the
//! components, stops the children and exits 0.
//!
//! With `--cluster N` it starts N `nats-server`s clustered on loopback instead of
//! one (JetStream, R3 streams), so cluster behaviour is testable on one machine.

use anyhow::Context as _;
use clap::Args;
use ds_runtime::config::Config;
use ds_runtime::servers::{Mongod, MongodOptions, NatsCluster, NatsOptions, NatsServer};
use ds_runtime::shutdown::{on_signal, Shutdown};
use ds_runtime::topology::{self, ApplyOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// Run N clustered nats-servers on loopback (JetStream, R3 streams) instead
    /// of one; data under `<data-dir>/nats-cluster/n<i>`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(3..=7))]
    pub cluster: Option<u8>,
}

/// Applies the topology; a cluster that just started elects its JetStream meta
/// leader first, so that is retried for up to a minute.
async fn apply_topology(
    js: &async_nats::jetstream::Context,
    opts: ApplyOptions,
    wait_for_cluster: bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(if wait_for_cluster { 60 } else { 0 });
    let mut backoff = Duration::from_millis(250);
    loop {
        match topology::apply(js, opts).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                tracing::info!(error = %e, "JetStream cluster not ready yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
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

    // Children first, on the main thread (their parent-death signal is tied to it).
    if a.cluster.is_some() && cfg.nats_url.is_some() {
        anyhow::bail!("--cluster starts its own nats-servers; do not also give a NATS URL");
    }
    let nats_cluster = match a.cluster {
        Some(n) => {
            let c = NatsCluster::start(&data_dir.join("nats-cluster"), usize::from(n))?;
            cfg.nats_url = Some(c.urls());
            Some(c)
        }
        None => None,
    };
    let nats_server = match &cfg.nats_url {
        Some(_) => None,
        None => {
            let s = NatsServer::start(NatsOptions {
                store_dir: data_dir.join("nats"),
                ..Default::default()
            })?;
            cfg.nats_url = Some(s.url.clone());
            Some(s)
        }
    };
    let mongod = match &cfg.mongo_url {
        Some(_) => None,
        None => {
            let m = Mongod::start(MongodOptions {
                db_path: data_dir.join("mongo"),
                ..Default::default()
            })?;
            cfg.mongo_url = Some(m.url.clone());
            Some(m)
        }
    };
    cfg.http_addr = pick_http_addr(&cfg.http_addr)?;

    let patience = ds_runtime::connect::Patience::of(&cfg, true);
    let client = ds_runtime::connect::nats(&cfg, "deltastream-up", patience).await?;
    let js = ds_runtime::nats::jetstream(client.clone());
    apply_topology(
        &js,
        ApplyOptions {
            replicas: nats_cluster.as_ref().map(|_| CLUSTER_REPLICAS),
            max_age: Some(Duration::from_secs(cfg.stream_max_age_days * 86_400)),
        },
        nats_cluster.is_some(),
    )
    .await?;
    let db = ds_runtime::connect::mongo(&cfg, patience).await?;
    ds_runtime::collections::ensure_indexes(&db).await?;

    let cfg = Arc::new(cfg);
    let (trigger, shutdown) = on_signal();
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    if !a.no_feed {
        let (c, j, s) = (cfg.clone(), js.clone(), shutdown.clone());
        tasks.spawn(async move {
            let opts = ds_processors::feed::FeedOptions {
                date: None,
                speed: ds_processors::feed::Speed::Max,
                seed: None,
                products: Vec::new(),
            };
            (
                "feed",
                ds_processors::feed::run(&c, j, opts, s).await.map(|_| ()),
            )
        });
    }
    {
        let (c, j, s) = (cfg.clone(), js.clone(), shutdown.clone());
        tasks.spawn(async move { ("enrich", ds_processors::enrich::run(c, j, s).await) });
    }
    {
        let (j, d, s) = (js.clone(), db.clone(), shutdown.clone());
        tasks.spawn(async move { ("project", ds_processors::project::run(j, d, s).await) });
    }
    {
        let (c, d, n, s) = (cfg.clone(), db.clone(), client.clone(), shutdown.clone());
        tasks.spawn(async move {
            let run = async move {
                ds_gateway::serve(ds_gateway::AppState::new(c, d, n).await?, s).await
            };
            ("gateway", run.await)
        });
    }

    if let Some(c) = &nats_cluster {
        eprintln!(
            "NATS cluster: {} nats-servers on loopback (JetStream, R{CLUSTER_REPLICAS} streams), data under {}",
            c.servers.len(),
            data_dir.join("nats-cluster").display()
        );
    }
    print_banner(&cfg, nats_server.as_ref(), mongod.as_ref());
    let failed = supervise(&mut tasks, shutdown, &trigger).await;
    drop(js);
    let _ = client.drain().await;
    // Stop the children (SIGTERM, then SIGKILL after a grace period).
    drop(mongod);
    drop(nats_server);
    drop(nats_cluster);
    eprintln!("deltastream stopped");
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Waits for a signal (or a component failing), then drains every component.
async fn supervise(
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
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

fn print_banner(cfg: &Config, nats: Option<&NatsServer>, mongod: Option<&Mongod>) {
    let http = format!("http://{}", cfg.http_addr);
    eprintln!();
    eprintln!("DeltaStream is up (development mode).");
    eprintln!(
        "  NATS        {}{}",
        cfg.nats_url_or_default(),
        if nats.is_some() { "  (embedded)" } else { "" }
    );
    eprintln!(
        "  MongoDB     {}/{}{}",
        cfg.mongo_url_or_default(),
        cfg.mongo_db,
        if mongod.is_some() { "  (embedded)" } else { "" }
    );
    eprintln!("  Data        {}", cfg.data_dir.display());
    eprintln!("  Dashboard   {http}/dashboard/");
    eprintln!("  REST        {http}/api/v1/underlying/NIFTY/latest   (API docs: {http}/docs)");
    eprintln!("  WebSocket   ws://{}/ws", cfg.http_addr);
    eprintln!("  Health      {http}/health/ready");
    eprintln!("  Metrics     {http}/metrics");
    eprintln!(
        "  Subscribe   nats sub --server {} 'md.enriched.>'",
        cfg.nats_url_or_default()
    );
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
