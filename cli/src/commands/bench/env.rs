//! What the sections measure against: the private servers, the connections to
//! them, the `deltastream` processes the bench runs, and the figures later
//! sections compare with.

use super::ceiling::Ceiling;
use super::procstat;
use super::report::{Report, Row};
use super::Progress;
use crate::embedded::Embedded;
use anyhow::Context as _;
use async_nats::jetstream::Context;
use ds_processors::feed::{FeedOptions, FeedReport, Speed};
use ds_runtime::auth::{self, LocalCreds};
use ds_runtime::config::Config;
use ds_runtime::connect::{self, Patience};
use ds_runtime::servers::ServerAuth;
use ds_runtime::shutdown::Shutdown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Figures a section leaves for later ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Found {
    /// The ceiling at tick size.
    pub tick_ceiling: Ceiling,
    /// The ceiling at chain size.
    pub chain_ceiling: Ceiling,
    /// The relay ceiling for the day's mix of ticks and chains (msgs/s).
    pub mix_ceiling: f64,
    /// Seconds from the day's first publish to its last durable projection.
    pub t_projected: f64,
    /// Chains in the published day.
    pub day_chains: u64,
    /// MongoDB's I/O counters before the day was published.
    pub mongo_io_before_day: ds_runtime::footprint::MongoIo,
}

/// The bench's servers, connections, processes and report.
pub struct Env {
    /// The configuration of every process (database `deltastream_bench`).
    pub cfg: Config,
    /// The configuration the benchmark days are published with.
    pub day_cfg: Config,
    /// A shorter run.
    pub quick: bool,
    /// WebSocket fan-out client counts (`--ws-clients`; empty: the section's own).
    pub ws_clients: Vec<usize>,
    /// This process's NATS connection.
    pub client: async_nats::Client,
    /// JetStream on it.
    pub js: Context,
    /// The bench database.
    pub db: mongodb::Database,
    /// Progress lines.
    pub progress: Progress,
    /// The rows so far.
    pub report: Report,
    /// The servers that must be idle before a latency window (see [`Env::settle`]).
    pub settle_pids: Vec<u32>,
    /// The `deltastream enrich` process, while it runs.
    pub enrich: Option<Component>,
    /// The `deltastream project` process, while it runs.
    pub project: Option<Component>,
    /// The `deltastream gateway` process and its address, while it runs.
    pub gateway: Option<(Component, String)>,
    /// Figures later sections compare with.
    pub found: Found,
    /// The `nats-server` binary measured (the one found when `None`).
    pub nats_binary: Option<PathBuf>,
    /// The users' credentials when the server has DeltaStream's users.
    pub creds: Option<LocalCreds>,
    servers: Embedded,
}

impl Env {
    /// Starts the servers `cfg` names no URL for (data under `dir`; the
    /// `nats-server` binary `nats_binary`, by default the one found) and connects.
    ///
    /// # Errors
    /// When a server cannot start or be reached.
    pub async fn start(
        mut cfg: Config,
        dir: &Path,
        quick: bool,
        progress: Progress,
        nats_binary: Option<PathBuf>,
        users: bool,
        products: usize,
    ) -> anyhow::Result<Self> {
        // Open (anyone may do anything), or with DeltaStream's users as `up`
        // runs: each spawned process under its own identity, this process as
        // the operator (the bench's own ceiling streams are under `md.bench.>`,
        // which the operator may write).
        let auth = if users {
            ServerAuth::Generate
        } else {
            ServerAuth::Open
        };
        let servers = Embedded::start(&mut cfg, dir, nats_binary.clone(), auth, products)?;
        let creds = servers.nats.as_ref().and_then(|n| n.creds.clone());
        cfg.mongo_db = "deltastream_bench".into();
        let mut day_cfg = cfg.clone();
        if quick {
            day_cfg.feed.tick_interval_ms = 5_000;
        }
        let client = match &creds {
            Some(c) => {
                let admin = c.identity(auth::Component::Admin)?;
                connect::nats_as(&cfg, &admin, Patience::of(&cfg, false)).await?
            }
            None => crate::setup::connect_nats(&cfg, auth::Component::Admin, false).await?,
        };
        let js = ds_runtime::nats::jetstream(client.clone());
        let db = crate::setup::connect_mongo(&cfg, false).await?;
        let mut env = Self {
            cfg,
            day_cfg,
            quick,
            ws_clients: Vec::new(),
            client,
            js,
            db,
            progress,
            report: Report::default(),
            settle_pids: Vec::new(),
            enrich: None,
            project: None,
            gateway: None,
            found: Found::default(),
            nats_binary,
            creds,
            servers,
        };
        // Latency is measured on a settled machine (see `settle`).
        env.settle_pids = env.servers().into_iter().map(|(_, pid)| pid).collect();
        Ok(env)
    }

    /// Starts `deltastream <name>` (under its own identity when the server
    /// has users).
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn spawn(&self, name: &'static str) -> anyhow::Result<Component> {
        self.spawn_with(name, &[], &[])
    }

    /// Starts `deltastream <name> <args…>` with extra environment (and its
    /// credential when the server has users: `DS_NATS_CREDS`, and the
    /// enricher's re-drive responder's `DS_NATS_REDRIVE_CREDS`).
    ///
    /// # Errors
    /// When the process cannot start or its credential has no file.
    pub fn spawn_with(
        &self,
        name: &'static str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Component> {
        self.spawn_for(&self.cfg, name, args, env)
    }

    /// [`Env::spawn_with`] with `cfg`'s servers, database and universe instead
    /// of the bench's (a section on its own products and database).
    ///
    /// # Errors
    /// When the process cannot start or its credential has no file.
    pub fn spawn_for(
        &self,
        cfg: &Config,
        name: &'static str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Component> {
        let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if let Some(creds) = &self.creds {
            let who = auth::Component::parse(name)
                .with_context(|| format!("no NATS identity for `deltastream {name}`"))?;
            env.push(("DS_NATS_CREDS", creds.path(who).display().to_string()));
            if who == auth::Component::Enrich {
                let redrive = creds.path(auth::Component::Redrive);
                env.push(("DS_NATS_REDRIVE_CREDS", redrive.display().to_string()));
            }
        }
        Component::start(name, cfg, args, &env)
    }

    /// The private servers' names and process ids.
    pub fn servers(&self) -> Vec<(&'static str, u32)> {
        self.servers.pids()
    }

    /// The private `nats-server`'s JetStream store directory, if it runs one.
    pub fn nats_store(&self) -> Option<&Path> {
        self.servers.nats_store.as_deref()
    }

    /// Publishes the whole trading day `date` of every product at maximum speed.
    ///
    /// # Errors
    /// When publishing fails.
    pub async fn feed_day(&self, date: &str, seed: u64) -> anyhow::Result<FeedReport> {
        let (_trigger, no_stop) = Shutdown::new();
        ds_processors::feed::run(
            &self.day_cfg,
            self.js.clone(),
            FeedOptions {
                date: Some(date.parse()?),
                speed: Speed::Max,
                seed: Some(seed),
                products: Vec::new(),
                ..Default::default()
            },
            no_stop,
        )
        .await
    }

    /// Waits (at most 60 s) until the local servers are idle: a burst leaves
    /// nats-server and mongod busy for seconds afterwards (expiring caches, a
    /// WiredTiger checkpoint of the burst's writes), which a latency measurement
    /// would otherwise attribute to whatever it measures next.
    pub async fn settle(&self) {
        const IDLE_CPU: f64 = 0.05;
        let cpu = || {
            self.settle_pids
                .iter()
                .map(|p| procstat::read(*p).cpu_secs)
                .sum::<f64>()
        };
        let started = Instant::now();
        let mut before = cpu();
        while started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = cpu();
            if now - before < IDLE_CPU {
                break;
            }
            before = now;
        }
        if started.elapsed() > Duration::from_secs(2) {
            self.progress.line(&format!(
                "  servers settled after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
    }

    /// Applies the topology and starts `deltastream enrich` unless an earlier
    /// section left it running (for a section run alone with `--only`).
    ///
    /// # Errors
    /// When the topology cannot be applied or the process cannot start.
    pub async fn ensure_enricher(&mut self) -> anyhow::Result<()> {
        if self.enrich.is_none() {
            ds_runtime::topology::apply(&self.js, Default::default()).await?;
            self.enrich = Some(self.spawn("enrich")?);
        }
        Ok(())
    }

    /// The address of the `deltastream gateway` process (development mode,
    /// no rate limit), started and waited for unless it runs.
    ///
    /// # Errors
    /// When it cannot start or never becomes ready.
    pub async fn gateway_addr(&mut self) -> anyhow::Result<String> {
        if let Some((_, addr)) = &self.gateway {
            return Ok(addr.clone());
        }
        let port = ds_runtime::servers::free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let gateway = self.spawn_with(
            "gateway",
            &["--dev", "--http-addr", &addr],
            &[("DS_RATE_LIMIT_RPS", "0")],
        )?;
        self.gateway = Some((gateway, addr.clone()));
        super::rest::wait_http(&addr, "/health/ready").await?;
        Ok(addr)
    }

    /// Stops the processes and the connection; returns the rows.
    pub async fn finish(mut self) -> Vec<Row> {
        self.gateway = None;
        self.enrich = None;
        self.project = None;
        let rows = std::mem::take(&mut self.report.rows);
        let _ = self.client.drain().await;
        rows
    }
}

/// A `deltastream` subcommand run as a child process against the bench's servers.
pub struct Component {
    /// The process.
    pub child: Child,
}

impl Component {
    /// Starts `deltastream <name> <args…>` with extra environment (see
    /// [`Env::spawn_with`]; directly: a process without a NATS identity).
    pub(super) fn start(
        name: &'static str,
        cfg: &Config,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the deltastream binary")?;
        let child = Command::new(exe)
            .arg(name)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("DS_NATS_URL", cfg.nats_url_or_default())
            .env("DS_MONGO_URL", cfg.mongo_url_or_default())
            .env("DS_MONGO_DB", &cfg.mongo_db)
            // The same products as this process (a universe named by a flag is
            // not in the environment the child inherits).
            .envs(cfg.universe.as_deref().map(|u| ("DS_UNIVERSE", u)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting `deltastream {name}`"))?;
        Ok(Self { child })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it: SIGTERM (it drains), then SIGKILL after 10 s.
    pub fn stop(self) {
        drop(self);
    }
}

/// A component never outlives the bench, also when a measurement fails midway.
impl Drop for Component {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
