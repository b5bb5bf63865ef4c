//! Test support used by every integration test: a private `nats-server`
//! (JetStream, temp dir, free port, DeltaStream's users and permissions) and a
//! private `mongod` (temp dir, free port), stopped when the [`TestEnv`] drops —
//! also when the test panics — and helpers to run the real pipeline components
//! in-process against them, each connected as its own NATS identity, so a
//! permission the code needs and the table lacks fails a test.

pub mod http;

use ds_runtime::auth::{Component, Identity, LocalCreds};
use ds_runtime::config::Config;
use ds_runtime::servers::{Mongod, MongodOptions, NatsOptions, NatsServer};
use ds_runtime::shutdown::{Shutdown, ShutdownTrigger};
use ds_runtime::topology::{self, ApplyOptions};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Private servers for one test.
pub struct TestEnv {
    /// The JetStream server.
    pub nats: NatsServer,
    /// The MongoDB server.
    pub mongod: Mongod,
    /// Configuration pointing at them (database `deltastream`).
    pub cfg: Config,
    /// A client on `nats`, as the operator (`admin`): for the tests' own
    /// publishing and inspection.
    pub client: async_nats::Client,
    /// JetStream on `client`, with the topology applied.
    pub js: async_nats::jetstream::Context,
    /// The projections' database.
    pub db: mongodb::Database,
    /// Set by a test that provokes permission violations on purpose.
    violations_allowed: std::sync::atomic::AtomicBool,
    // Dropped last: the servers' data.
    _dir: tempfile::TempDir,
}

/// Logs of the code under test go to the test's output (shown on failure).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,async_nats=warn,mongodb=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

impl TestEnv {
    /// Starts both servers on free ports and applies the topology.
    ///
    /// # Panics
    /// When a server cannot start (e.g. `scripts/setup.sh` was not run).
    pub async fn start() -> Self {
        init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = NatsServer::start(NatsOptions {
            store_dir: dir.path().join("nats"),
            ..Default::default()
        })
        .expect("nats-server starts (run scripts/setup.sh)");
        let mongod = Mongod::start(MongodOptions {
            db_path: dir.path().join("mongo"),
            ..Default::default()
        })
        .expect("mongod starts (run scripts/setup.sh)");
        let cfg = Config {
            nats_url: Some(nats.url.clone()),
            mongo_url: Some(mongod.url.clone()),
            dev: true,
            ..Config::default()
        };
        let admin = nats
            .creds
            .as_ref()
            .expect("the test server has users")
            .identity(Component::Admin)
            .expect("admin credential");
        let client = ds_runtime::nats::connect_as(&nats.url, &admin)
            .await
            .expect("connect to NATS");
        let js = ds_runtime::nats::jetstream(client.clone());
        topology::apply(&js, ApplyOptions::default())
            .await
            .expect("topology applies");
        let db = ds_runtime::mongo::connect(&mongod.url, &cfg.mongo_db)
            .await
            .expect("connect to MongoDB");
        Self {
            nats,
            mongod,
            cfg,
            client,
            js,
            db,
            violations_allowed: Default::default(),
            _dir: dir,
        }
    }

    /// The permission violations the NATS server logged so far (its log lines).
    pub fn violations(&self) -> Vec<String> {
        let log = self._dir.path().join("nats").join("nats-server.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Violation"))
            .map(str::to_owned)
            .collect()
    }

    /// Lets this test's clients be denied something: a test of the permissions
    /// themselves (otherwise any violation fails the test when `self` drops).
    pub fn allow_violations(&self) {
        self.violations_allowed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The directory holding both servers' data (`nats/` and `mongo/`).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The configuration as an `Arc`, for the components.
    pub fn cfg(&self) -> Arc<Config> {
        Arc::new(self.cfg.clone())
    }

    /// The users' credentials of the test server.
    ///
    /// # Panics
    /// Never: the test server always has users.
    pub fn creds(&self) -> &LocalCreds {
        self.nats.creds.as_ref().expect("the test server has users")
    }

    /// `c` with its own credential.
    ///
    /// # Panics
    /// When its seed cannot be read.
    pub fn identity(&self, c: Component) -> Identity {
        self.creds().identity(c).expect("credential")
    }

    /// A new connection as `c`.
    ///
    /// # Panics
    /// When the server refuses it.
    pub async fn connect(&self, c: Component) -> async_nats::Client {
        connect_as(&self.nats.url, &self.identity(c)).await
    }

    /// [`TestEnv::start`], with its configuration for a small day
    /// ([`small_day_config`]).
    pub async fn start_small_day() -> (Self, Config) {
        let env = Self::start().await;
        let cfg = small_day_config(env.cfg.clone());
        (env, cfg)
    }

    /// JetStream on a new connection as `c`.
    pub async fn js_as(&self, c: Component) -> async_nats::jetstream::Context {
        ds_runtime::nats::jetstream(self.connect(c).await)
    }
}

/// A new connection to `url` as `who`.
///
/// # Panics
/// When the server refuses it.
pub async fn connect_as(url: &str, who: &Identity) -> async_nats::Client {
    ds_runtime::nats::connect_as(url, who)
        .await
        .unwrap_or_else(|e| panic!("connect as {}: {e}", who.user))
}

impl Drop for TestEnv {
    /// Every test runs under the permissions: one the code needs and the table
    /// lacks shows up here, with the user and subject the server logged.
    fn drop(&mut self) {
        if std::thread::panicking()
            || self
                .violations_allowed
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let v = self.violations();
        assert!(
            v.is_empty(),
            "the NATS server logged permission violations (see the table in \
             runtime/src/auth/permissions.rs):\n{}",
            v.join("\n")
        );
    }
}

/// A component running in-process until stopped.
pub struct Running {
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Spawns `f(shutdown)`.
    pub fn spawn<F, Fut>(f: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (trigger, shutdown) = Shutdown::new();
        Self {
            trigger,
            task: tokio::spawn(f(shutdown)),
        }
    }

    /// Stops it gracefully and returns its result.
    ///
    /// # Panics
    /// When the component panicked.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.trigger.trigger();
        self.task.await.expect("component did not panic")
    }

    /// Kills it at once, as a crash would (no draining, no leases released).
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Runs an enricher instance on `env` (identity `enrich`).
pub fn enricher(env: &TestEnv) -> Running {
    enricher_with(env, env.cfg())
}

/// Runs an enricher instance on `env` with `cfg` (identity `enrich`).
pub fn enricher_with(env: &TestEnv, cfg: Arc<Config>) -> Running {
    let (url, who) = (env.nats.url.clone(), env.identity(Component::Enrich));
    Running::spawn(move |s| async move {
        let js = ds_runtime::nats::jetstream(connect_as(&url, &who).await);
        ds_processors::enrich::run(cfg, js, s).await
    })
}

/// Runs a projector instance on `env` (identity `project`).
pub fn projector(env: &TestEnv) -> Running {
    let (url, who, db) = (
        env.nats.url.clone(),
        env.identity(Component::Project),
        env.db.clone(),
    );
    Running::spawn(move |s| async move {
        let js = ds_runtime::nats::jetstream(connect_as(&url, &who).await);
        ds_processors::project::run(js, db, s).await
    })
}

/// Runs the DLQ re-drive responder on `env` (identity `redrive`).
pub fn redrive(env: &TestEnv) -> Running {
    let (url, who) = (env.nats.url.clone(), env.identity(Component::Redrive));
    Running::spawn(move |s| async move {
        ds_processors::redrive::serve(connect_as(&url, &who).await, s).await
    })
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`
/// with `what` in the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Messages currently in a stream.
pub async fn stream_len(js: &async_nats::jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Waits (at most `within`) until `MD_ENRICHED` holds `n` messages or more.
///
/// # Panics
/// When it does not in time.
pub async fn wait_enriched(js: &async_nats::jetstream::Context, n: usize, within: Duration) {
    let stream = ds_schemas::subjects::STREAM_ENRICHED;
    eventually("every enriched message", within, || async {
        (stream_len(js, stream).await as usize >= n).then_some(())
    })
    .await;
}

/// Documents in a collection.
pub async fn count(db: &mongodb::Database, coll: &str) -> u64 {
    db.collection::<mongodb::bson::Document>(coll)
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap_or(0)
}

/// A plain HTTP/1.1 GET over a real socket: `(status, body)`.
///
/// # Panics
/// When the connection fails or the response is not HTTP.
pub async fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let r = http::req(addr, "GET", path, headers, None).await;
    (r.status, r.body)
}

/// Starts the gateway of `env` on a free port; returns its address.
pub fn gateway(env: &TestEnv) -> (String, Running) {
    let port = ds_runtime::servers::free_port().expect("free port");
    let addr = format!("127.0.0.1:{port}");
    let mut cfg = env.cfg.clone();
    cfg.http_addr = addr.clone();
    let (cfg, db) = (Arc::new(cfg), env.db.clone());
    let (url, who) = (env.nats.url.clone(), env.identity(Component::Gateway));
    let run = Running::spawn(move |s| async move {
        let nats = connect_as(&url, &who).await;
        let state = ds_gateway::AppState::new(cfg, db, nats).await?;
        ds_gateway::serve(state, s).await
    });
    (addr, run)
}

/// A small trading day for tests: one tick per product per minute (376 ticks for
/// an NSE session, a chain per expiry every 5 ticks).
pub fn small_day_config(mut cfg: Config) -> Config {
    cfg.feed.tick_interval_ms = 60_000;
    cfg
}

/// Publishes `date` for `products` with `seed` (the real feed, at max speed,
/// identity `feed`).
///
/// # Panics
/// When publishing fails.
pub async fn feed_day(
    env: &TestEnv,
    cfg: &Config,
    date: &str,
    products: &[&str],
    seed: u64,
) -> ds_processors::feed::FeedReport {
    let opts = ds_processors::feed::FeedOptions {
        date: Some(date.parse().expect("date")),
        speed: ds_processors::feed::Speed::Max,
        seed: Some(seed),
        products: products.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let (_t, shutdown) = Shutdown::new();
    ds_processors::feed::run(cfg, env.js_as(Component::Feed).await, opts, shutdown)
        .await
        .expect("feed publishes")
}

/// Options of the live feed (wall-clock ticks, no pause) for `products` with
/// `seed`, at any hour: exchange hours are tested on their own.
pub fn live_feed_options(seed: u64, products: &[&str]) -> ds_processors::feed::FeedOptions {
    ds_processors::feed::FeedOptions {
        date: None,
        speed: ds_processors::feed::Speed::Max,
        seed: Some(seed),
        products: products.iter().map(|p| p.to_string()).collect(),
        hours: ds_processors::feed::hours::Hours::Always,
        ..Default::default()
    }
}

/// Runs the live feed ([`live_feed_options`]) on `cfg` over `js` until stopped.
pub fn spawn_live_feed(
    cfg: Config,
    js: async_nats::jetstream::Context,
    seed: u64,
    products: &[&str],
) -> Running {
    let opts = live_feed_options(seed, products);
    Running::spawn(move |s| async move {
        ds_processors::feed::run(&cfg, js, opts, s)
            .await
            .map(|_| ())
    })
}

/// A message as stored in a stream.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Stream sequence.
    pub seq: u64,
    /// Subject.
    pub subject: String,
    /// `Ds-Schema` header.
    pub schema: Option<String>,
    /// `Nats-Msg-Id` header.
    pub msg_id: Option<String>,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Every message of `stream` matching `filter`, in stream order.
///
/// # Panics
/// When the stream cannot be read.
pub async fn read_all(
    js: &async_nats::jetstream::Context,
    stream: &str,
    filter: &str,
) -> Vec<Stored> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    use futures::StreamExt;
    let s = js.get_stream(stream).await.expect("stream exists");
    let consumer = s
        .create_consumer(OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut consumer = consumer;
    let total = consumer.info().await.expect("consumer info").num_pending;
    let mut out = Vec::with_capacity(total as usize);
    if total == 0 {
        return out;
    }
    let mut messages = consumer.messages().await.expect("messages");
    while let Some(m) = messages.next().await {
        let m = m.expect("message");
        let info = m.info().expect("info");
        let seq = info.stream_sequence;
        let pending = info.pending;
        out.push(Stored {
            seq,
            subject: m.subject.to_string(),
            schema: ds_runtime::headers::schema(m.headers.as_ref()).map(str::to_owned),
            msg_id: ds_runtime::headers::msg_id(m.headers.as_ref()).map(str::to_owned),
            payload: m.payload.to_vec(),
        });
        if pending == 0 {
            break;
        }
    }
    out
}

/// FNV-1a 64 of a byte string (for comparing large outputs in tests).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Projections per collection, as [`projection_snapshot`] reads them.
pub type Snapshot = std::collections::BTreeMap<String, Vec<mongodb::bson::Document>>;

/// The projections `expected` (a reference enrichment) must give, written into a
/// scratch database `reference` beside `db` (dropped again), and `db`'s own once
/// every collection holds as many documents (waiting at most `within`): the
/// caller asserts they are equal.
///
/// # Panics
/// When MongoDB fails, or `db` does not catch up within `within`.
pub async fn projections_and_reference(
    db: &mongodb::Database,
    expected: &[Out],
    within: Duration,
) -> (Snapshot, Snapshot) {
    let reference_db = db.client().database("reference");
    project_reference(&reference_db, expected).await;
    let want = projection_snapshot(&reference_db).await;
    reference_db.drop().await.expect("drop reference");
    let got = eventually("projections complete", within, || async {
        let snap = projection_snapshot(db).await;
        snap.iter()
            .all(|(c, d)| want.get(c).map_or(0, Vec::len) == d.len())
            .then_some(snap)
    })
    .await;
    (got, want)
}

/// Runs a replay of `opts` under the replay's identity, to the end.
///
/// # Errors
/// As [`ds_processors::replay::run`].
pub async fn run_replay(
    env: &TestEnv,
    cfg: &Config,
    opts: ds_processors::replay::ReplayOptions,
) -> Result<ds_processors::replay::ReplayReport, ds_processors::replay::ReplayError> {
    let (_t, shutdown) = Shutdown::new();
    ds_processors::replay::run(
        cfg,
        &env.js_as(Component::Replay).await,
        Some(env.db.client()),
        opts,
        &|_| {},
        shutdown,
    )
    .await
}

/// Every projection document (processing-time `*_at` fields removed), per
/// collection, sorted by `_id`: what must be equal between two runs of a day.
pub async fn projection_snapshot(db: &mongodb::Database) -> Snapshot {
    use futures::TryStreamExt;
    let mut out = std::collections::BTreeMap::new();
    for coll in ds_runtime::collections::PROJECTIONS {
        let mut docs: Vec<mongodb::bson::Document> = db
            .collection::<mongodb::bson::Document>(coll)
            .find(mongodb::bson::doc! {})
            .sort(mongodb::bson::doc! {"_id": 1})
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        for d in &mut docs {
            let keys: Vec<String> = d.keys().filter(|k| k.ends_with("_at")).cloned().collect();
            for k in keys {
                d.remove(&k);
            }
        }
        out.insert(coll.to_string(), docs);
    }
    out
}

/// An enriched message as expected or as found: `(msg_id, subject, payload)`.
pub type Out = (String, String, Vec<u8>);

/// What the enrichers must publish for `raw`: the pure per-product state machine
/// run over `MD_RAW` in stream order (poison is skipped: it goes to the DLQ).
pub fn reference_enrichment(cfg: &Config, raw: &[Stored]) -> Vec<Out> {
    use ds_processors::enrich::state::{Applied, ProductState, RawInput};
    let mut states: std::collections::BTreeMap<String, ProductState> = Default::default();
    let mut out = Vec::new();
    for m in raw {
        let product = m.subject.split('.').nth(2).unwrap_or("_").to_owned();
        let Some(spec) = cfg.product(&product) else {
            continue;
        };
        let state = states
            .entry(product)
            .or_insert_with(|| ProductState::new(spec));
        let input = RawInput {
            subject: &m.subject,
            schema: m.schema.as_deref(),
            payload: &m.payload,
            stream_seq: m.seq,
        };
        if let Ok(Applied::Outputs { outputs: v, .. }) = state.apply(spec, input) {
            for e in v {
                out.push((e.msg_id(m.seq), e.subject(), e.encode().to_vec()));
            }
        }
    }
    out
}

/// The enriched messages found in `MD_ENRICHED`.
pub async fn enriched_outputs(js: &async_nats::jetstream::Context) -> Vec<Out> {
    read_all(js, ds_schemas::subjects::STREAM_ENRICHED, "md.enriched.>")
        .await
        .into_iter()
        .map(|m| (m.msg_id.unwrap_or_default(), m.subject, m.payload))
        .collect()
}

/// Asserts that `found` holds exactly the messages of `expected`, each once, and
/// that per product and subject kind they appear in the same order.
///
/// # Panics
/// With a description of the first difference.
pub fn assert_same_outputs(expected: &[Out], found: &[Out]) {
    use std::collections::{BTreeMap, HashMap};
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (id, _, _) in found {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    if let Some((id, n)) = seen.iter().find(|(_, n)| **n > 1) {
        panic!("{id} published {n} times");
    }
    let by_id: HashMap<&str, (&String, &Vec<u8>)> =
        found.iter().map(|(i, s, p)| (i.as_str(), (s, p))).collect();
    for (id, subject, payload) in expected {
        match by_id.get(id.as_str()) {
            None => panic!("{id} ({subject}) missing from MD_ENRICHED"),
            Some((s, p)) => {
                assert_eq!(*s, subject, "{id} on the wrong subject");
                assert!(*p == payload, "{id} differs from the reference");
            }
        }
    }
    assert_eq!(found.len(), expected.len(), "extra messages in MD_ENRICHED");
    // Order per subject (e.g. md.enriched.NIFTY.underlying) as in the reference.
    let order = |v: &[Out]| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, s, _) in v {
            m.entry(s.clone()).or_default().push(id.clone());
        }
        m
    };
    assert_eq!(order(found), order(expected), "per-subject order differs");
}

/// The document writes of enriched message `e` as the projector wrote them
/// before the chain layout 2: a chain as its message's serde form (an object
/// per quote); everything else as today (unchanged).
///
/// # Panics
/// When a message is not representable in BSON.
pub fn first_layout_writes(
    e: &ds_schemas::enriched::Enriched,
) -> Vec<ds_processors::project::docs::DocWrite> {
    use ds_processors::project::docs::{self, DocWrite, PROCESSOR_VERSION};
    use mongodb::bson;
    let w = docs::writes(e).expect("bson");
    let ds_schemas::enriched::Enriched::Chain(c) = e else {
        return w;
    };
    let mut d = bson::to_document(c).expect("bson");
    d.insert(
        "ts",
        bson::DateTime::from_millis(c.ts_unix_ns.div_euclid(1_000_000)),
    );
    d.insert("processor_version", PROCESSOR_VERSION);
    let bytes = bson::to_vec(&d).expect("bson");
    let body: Arc<[u8]> = Arc::from(&bytes[4..bytes.len() - 1]);
    w.into_iter()
        .map(|w| DocWrite {
            body: body.clone(),
            ..w
        })
        .collect()
}

/// Writes `outputs` straight into `db` with the projector's document code: the
/// projections an undisturbed run must produce.
pub async fn project_reference(db: &mongodb::Database, outputs: &[Out]) {
    let mut writes = Vec::new();
    for (_, subject, payload) in outputs {
        let e = ds_schemas::enriched::Enriched::decode(None, subject, payload).expect("decodes");
        writes.extend(ds_processors::project::docs::writes(&e).expect("bson"));
    }
    ds_processors::project::store::Store::new(db.clone())
        .write(
            &writes,
            ds_processors::project::store::Durability::EachWrite,
        )
        .await
        .expect("reference written");
}
