//! Replay of one trading day from `MD_RAW` (SPEC §5, §9): the day's raw messages
//! of each product are re-driven, in stream order, through the same pure
//! [`ProductState`](crate::enrich::state::ProductState) the live enrichers run,
//! and the outputs of that day go to the chosen targets:
//! - projections rebuilt into a separate database with the projector's own
//!   document code ([`Target::Database`]), or written over the live projections
//!   of that day ([`Target::InPlace`]);
//! - the enriched messages re-published on core NATS under a prefix
//!   (`<prefix>.md.enriched.…`), paced by event time.
//!
//! The day is found through the day index the enrichers keep ([`locate`]), never
//! by scanning the whole stream; one ephemeral ordered consumer reads the
//! products' ranges once, in stream order, so a replay never writes into
//! `MD_RAW` and never moves a live consumer. Its messages go to a few workers,
//! each applying its products in order, reading no faster than live traffic
//! allows ([`throttle`]).

pub mod locate;
pub mod publish;
pub mod sink;
pub mod source;
pub mod throttle;

use crate::enrich::state::{Applied, ProductState, RawInput};
use crate::feed::Speed;
use crate::project::store::{Store, StoreError};
use async_nats::jetstream::Context;
use chrono::NaiveDate;
use ds_analytics::market::{session_bounds, trading_day, ProductSpec};
use ds_runtime::config::Config;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::enriched::Enriched;
use locate::{Located, Location};
use sink::{DbMode, ProjectionSink};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raw messages handled between two hand-overs to the database writer.
pub const BATCH_MESSAGES: usize = 500;
/// Workers applying products at once by default: enrichment is CPU-bound, and
/// a replay must leave room for live processing on the same machine.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// Messages read ahead for each worker.
const READ_AHEAD: usize = 512;
/// How often the progress callback is called.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Where the rebuilt projections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A separate database (e.g. [`default_database`]); the live one is untouched.
    Database(String),
    /// The live database: that day's documents of the replayed products are
    /// overwritten in place, then those the replay did not produce are deleted.
    InPlace(String),
    /// No projections (re-publish only).
    None,
}

impl Target {
    /// The database written, if any.
    pub fn database(&self) -> Option<&str> {
        match self {
            Target::Database(d) | Target::InPlace(d) => Some(d),
            Target::None => None,
        }
    }
}

/// The default target database of a day: `deltastream_replay_<YYYYMMDD>`.
pub fn default_database(date: NaiveDate) -> String {
    format!("deltastream_replay_{}", date.format("%Y%m%d"))
}

/// What to replay and where.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The trading day (session date in each product's exchange time zone).
    pub date: NaiveDate,
    /// Only these products; all configured ones (those with data that day) when empty.
    pub products: Vec<String>,
    /// Where projections go.
    pub target: Target,
    /// Re-publish the enriched messages under this subject prefix (core NATS).
    pub publish_prefix: Option<String>,
    /// Pacing by event time: `Max`, or a factor of the original pace.
    pub speed: Speed,
    /// Workers applying products at once (each product's messages go to one
    /// of them, in order); paced replays give every product its own.
    pub concurrency: usize,
    /// For a product whose day is not in the index, scan its subject in `MD_RAW`
    /// (bounded by the stream's last sequence at start) instead of failing.
    pub scan: bool,
    /// At most this many MD_RAW messages per second in all, beside live traffic
    /// or not. When `None`: [`throttle::BESIDE_LIVE`] while live enrichers are
    /// active (with `yield_to_live`), unlimited otherwise.
    pub max_rate: Option<f64>,
    /// Read at most [`throttle::BESIDE_LIVE`] msgs/s while live enrichers are
    /// active ([`throttle`]). A paced replay (`speed` not max) keeps to its
    /// pacing instead.
    pub yield_to_live: bool,
}

impl ReplayOptions {
    /// Options rebuilding `date` into [`default_database`] at maximum speed.
    pub fn new(date: NaiveDate) -> Self {
        Self {
            date,
            products: Vec::new(),
            target: Target::Database(default_database(date)),
            publish_prefix: None,
            speed: Speed::Max,
            concurrency: DEFAULT_CONCURRENCY,
            scan: false,
            max_rate: None,
            yield_to_live: true,
        }
    }
}

/// Why a replay could not run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The options are wrong; fix them and re-run.
    #[error("{0}")]
    Invalid(String),
    /// The day is not in the day index for these products.
    #[error(
        "{date} is not in the day index for {products}: the enrichers have not processed \
         that day (is `deltastream enrich` running and caught up? is the date right?); \
         pass --scan to scan those products' subjects in MD_RAW instead"
    )]
    NotIndexed {
        /// The day.
        date: NaiveDate,
        /// The products missing from the index, comma-separated.
        products: String,
    },
    /// NATS failed (a retry may help).
    #[error("NATS: {0}")]
    Nats(String),
    /// The server refused an operation to this identity (its permissions): a
    /// retry cannot help.
    #[error("{0}")]
    Denied(String),
    /// MongoDB refused a write for good.
    #[error("MongoDB refused: {0}")]
    Refused(String),
    /// The projections' store failed (it says whether a retry can help).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplayError {
    /// Whether re-running later may succeed (a server was unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            ReplayError::Nats(_) => true,
            ReplayError::Store(e) => e.is_transient(),
            ReplayError::Invalid(_)
            | ReplayError::NotIndexed { .. }
            | ReplayError::Refused(_)
            | ReplayError::Denied(_) => false,
        }
    }

    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        ReplayError::Nats(e.to_string())
    }
}

/// Progress so far, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Raw messages read from `MD_RAW` (all days within the located ranges).
    pub messages: u64,
    /// Of those, messages of the replayed day.
    pub day_messages: u64,
    /// Enriched messages produced.
    pub outputs: u64,
    /// Stream sequences covered so far, summed over products (position of the bar).
    pub position: u64,
    /// Stream sequences to cover, summed over products (length of the bar).
    pub length: u64,
    /// Products finished.
    pub products_done: usize,
    /// Products replayed.
    pub products: usize,
    /// Time since start.
    pub elapsed: Duration,
}

/// The outcome of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductReport {
    /// The product.
    pub product: String,
    /// How its range was found.
    pub location: Location,
    /// First `MD_RAW` sequence of the range read.
    pub first_seq: u64,
    /// Last `MD_RAW` sequence of the range read.
    pub last_seq: u64,
    /// Raw messages read.
    pub messages: u64,
    /// Raw messages of the day applied.
    pub day_messages: u64,
    /// Messages that could not be enriched (dead-lettered in the live run).
    pub poison: u64,
    /// Enriched messages produced.
    pub outputs: u64,
    /// Documents written.
    pub documents: u64,
    /// Documents of that day deleted because the replay did not produce them
    /// (in-place or a re-run into a non-empty database).
    pub deleted: u64,
    /// Last sequence applied (how far it got).
    pub done_seq: u64,
    /// Event time of the last message of the day applied.
    pub last_event_unix_ns: Option<i64>,
    /// Whether the whole range was replayed (false when stopped).
    pub completed: bool,
}

/// A product that was not replayed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The product.
    pub product: String,
    /// Why.
    pub reason: String,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// The day.
    pub date: NaiveDate,
    /// The database written, if any.
    pub database: Option<String>,
    /// Whether that database is the live one.
    pub in_place: bool,
    /// The subject prefix re-published under, if any.
    pub publish_prefix: Option<String>,
    /// Products replayed.
    pub products: Vec<ProductReport>,
    /// Products skipped (no data that day).
    pub skipped: Vec<Skipped>,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether it was stopped before the end.
    pub interrupted: bool,
    /// How it shared the machine with live traffic.
    pub yielded: throttle::YieldStats,
}

impl ReplayReport {
    /// Raw messages read.
    pub fn messages(&self) -> u64 {
        self.products.iter().map(|p| p.messages).sum()
    }
    /// Raw messages of the day applied.
    pub fn day_messages(&self) -> u64 {
        self.products.iter().map(|p| p.day_messages).sum()
    }
    /// Enriched messages produced.
    pub fn outputs(&self) -> u64 {
        self.products.iter().map(|p| p.outputs).sum()
    }
    /// Documents written.
    pub fn documents(&self) -> u64 {
        self.products.iter().map(|p| p.documents).sum()
    }
    /// Raw messages per second of wall time.
    pub fn rate(&self) -> f64 {
        self.messages() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Shared counters the progress callback reads.
#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    day_messages: AtomicU64,
    outputs: AtomicU64,
    position: AtomicU64,
    products_done: AtomicU64,
}

fn snapshot(c: &Counters, length: u64, products: usize, started: Instant) -> Progress {
    Progress {
        messages: c.messages.load(Ordering::Relaxed),
        day_messages: c.day_messages.load(Ordering::Relaxed),
        outputs: c.outputs.load(Ordering::Relaxed),
        position: c.position.load(Ordering::Relaxed),
        length,
        products_done: c.products_done.load(Ordering::Relaxed) as usize,
        products,
        elapsed: started.elapsed(),
    }
}

fn validate(
    cfg: &Config,
    opts: &ReplayOptions,
    mongo: Option<&mongodb::Client>,
) -> Result<(), ReplayError> {
    if let Target::Database(db) = &opts.target {
        if db == &cfg.mongo_db {
            return Err(ReplayError::Invalid(format!(
                "target database {db} is the live one; pass --in-place to replace the live projections of the day"
            )));
        }
        if db.is_empty() || db.contains(['/', '\\', '.', ' ', '"', '$']) {
            return Err(ReplayError::Invalid(format!(
                "{db:?} is not a valid MongoDB database name"
            )));
        }
    }
    if opts.target.database().is_some() && mongo.is_none() {
        return Err(ReplayError::Invalid(
            "rebuilding projections needs a MongoDB connection".into(),
        ));
    }
    if let Some(p) = &opts.publish_prefix {
        ds_schemas::subjects::validate_replay_prefix(p).map_err(ReplayError::Invalid)?;
    }
    if opts.target == Target::None && opts.publish_prefix.is_none() {
        return Err(ReplayError::Invalid(
            "nothing to do: no projections target and no publish prefix".into(),
        ));
    }
    Ok(())
}

/// Everything a product task needs, shared.
struct Shared {
    date: NaiveDate,
    js: Context,
    db: Option<(Store, bool)>,
    publisher: Option<publish::Publisher>,
    counters: Counters,
    /// Pacing: factor and origin (event time that maps to the replay's start).
    pacing: Option<(f64, i64)>,
    /// The read rate all products share (`--max-rate`, or capped beside live traffic).
    throttle: Arc<throttle::Throttle>,
    started: Instant,
}

/// Replays `opts.date` (see the module docs).
///
/// `progress` is called every [`PROGRESS_EVERY`] and once at the end. When
/// `shutdown` fires, every product stops after the message in hand, what was
/// produced so far is written (durably) and the report says how far each got
/// (`interrupted`); re-running is safe, every write being idempotent.
///
/// # Errors
/// [`ReplayError::Invalid`] for bad options, [`ReplayError::NotIndexed`] when a
/// requested product's day is not in the index (and `scan` is off), and NATS or
/// MongoDB failures.
pub async fn run(
    cfg: &Config,
    js: &Context,
    mongo: Option<&mongodb::Client>,
    opts: ReplayOptions,
    progress: &(dyn Fn(&Progress) + Sync),
    shutdown: Shutdown,
) -> Result<ReplayReport, ReplayError> {
    // A JetStream call the server refused (permissions) fails as a timeout: say
    // what was refused instead.
    replay(cfg, js, mongo, opts, progress, shutdown)
        .await
        .map_err(
            |e| match ds_runtime::auth::violations::check(&js.client()) {
                Err(v) => ReplayError::Denied(v.to_string()),
                Ok(()) => e,
            },
        )
}

async fn replay(
    cfg: &Config,
    js: &Context,
    mongo: Option<&mongodb::Client>,
    opts: ReplayOptions,
    progress: &(dyn Fn(&Progress) + Sync),
    shutdown: Shutdown,
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    validate(cfg, &opts, mongo)?;
    let (work, skipped) = plan(cfg, js, &opts).await?;
    let pacing = pacing(&opts, &work);
    let throttle = Arc::new(throttle_for(&opts, pacing.is_some()));
    let _watcher = if throttle.watches_live() {
        Some(
            throttle::watch_live(js, throttle.clone())
                .await
                .map_err(|e| ReplayError::nats(format!("watching live traffic: {e}")))?,
        )
    } else {
        None
    };
    let shared = Arc::new(Shared {
        date: opts.date,
        js: js.clone(),
        db: open_target(&opts.target, mongo).await?,
        publisher: opts
            .publish_prefix
            .as_ref()
            .map(|p| publish::Publisher::new(js.client(), p.clone())),
        counters: Counters::default(),
        pacing,
        throttle: throttle.clone(),
        started,
    });
    let every_product = opts.products.is_empty();
    let products = drive(
        &shared,
        work,
        (opts.concurrency, every_product),
        progress,
        shutdown,
    )
    .await?;
    let interrupted = products.iter().any(|p| !p.completed);
    Ok(ReplayReport {
        date: opts.date,
        database: opts.target.database().map(str::to_owned),
        in_place: matches!(opts.target, Target::InPlace(_)),
        publish_prefix: opts.publish_prefix,
        products,
        skipped,
        elapsed: started.elapsed(),
        interrupted,
        yielded: throttle.stats(),
    })
}

/// The products to replay, each with its range, and those skipped (no data that day).
///
/// # Errors
/// [`ReplayError::NotIndexed`] when a requested product (or every product) has
/// no data that day.
async fn plan(
    cfg: &Config,
    js: &Context,
    opts: &ReplayOptions,
) -> Result<(Vec<(ProductSpec, Located)>, Vec<Skipped>), ReplayError> {
    let specs = cfg
        .products_named(&opts.products)
        .map_err(ReplayError::Invalid)?;
    let explicit = !opts.products.is_empty();
    let located = locate::locate_all(js, &specs, opts.date, opts.scan).await?;
    let mut work: Vec<(ProductSpec, Located)> = Vec::new();
    let mut skipped = Vec::new();
    let mut missing = Vec::new();
    for (spec, loc) in specs.into_iter().zip(located) {
        match loc {
            Some(l) => work.push((spec, l)),
            None if explicit => missing.push(spec.name.clone()),
            None => skipped.push(Skipped {
                product: spec.name.clone(),
                reason: format!("no messages of {} in the day index", opts.date),
            }),
        }
    }
    if missing.is_empty() && !work.is_empty() {
        return Ok((work, skipped));
    }
    let products = if missing.is_empty() {
        let names: Vec<&str> = skipped.iter().map(|s| s.product.as_str()).collect();
        names.join(", ")
    } else {
        missing.join(", ")
    };
    Err(ReplayError::NotIndexed {
        date: opts.date,
        products,
    })
}

/// Pacing by event time: the factor, and the earliest session open of the
/// replayed products (the event time that maps to the replay's start).
fn pacing(opts: &ReplayOptions, work: &[(ProductSpec, Located)]) -> Option<(f64, i64)> {
    match opts.speed {
        Speed::Max => None,
        Speed::Factor(f) => {
            let origin = work
                .iter()
                .map(|(s, _)| session_bounds(opts.date, s.exchange).0)
                .min()
                .unwrap_or(0);
            Some((f, origin))
        }
    }
}

/// The read rate: `--max-rate` when given; else, unless told not to yield (or
/// paced, which keeps to its pacing), [`throttle::BESIDE_LIVE`] while live
/// enrichers are active; unlimited otherwise.
fn throttle_for(opts: &ReplayOptions, paced: bool) -> throttle::Throttle {
    match opts.max_rate.filter(|r| r.is_finite() && *r > 0.0) {
        Some(cap) => throttle::Throttle::new(cap, cap),
        None if opts.yield_to_live && !paced => {
            throttle::Throttle::new(f64::INFINITY, throttle::BESIDE_LIVE)
        }
        None => throttle::Throttle::new(f64::INFINITY, f64::INFINITY),
    }
}

/// The store the projections go to (indexes created), and whether in place.
async fn open_target(
    target: &Target,
    mongo: Option<&mongodb::Client>,
) -> Result<Option<(Store, bool)>, ReplayError> {
    let db = match (target, mongo) {
        (Target::Database(name), Some(c)) => Some((Store::new(c.database(name)), false)),
        (Target::InPlace(name), Some(c)) => Some((Store::new(c.database(name)), true)),
        _ => None,
    };
    if let Some((store, _)) = &db {
        store.ensure_indexes().await.map_err(|e| {
            ReplayError::Invalid(format!("creating indexes in {}: {e}", store.name()))
        })?;
    }
    Ok(db)
}

/// A product to replay: its index in the work, its spec, its range.
type Member = (usize, ProductSpec, Located);

/// What the reader hands a worker.
enum Item {
    /// The next message of one of the worker's products (the index of that
    /// product among the worker's), in its range.
    Message(usize, source::RawMessage),
    /// Every range was read to its end.
    End,
}

/// Where the reader sends a product's messages.
struct Route {
    /// Its worker.
    worker: usize,
    /// Its place among that worker's products.
    run: usize,
    /// Its range.
    loc: Located,
}

/// What a task of the replay ended with.
enum Done {
    /// The reader.
    Read(Result<(), ReplayError>),
    /// A worker, with its products' reports.
    Applied(Result<Vec<(usize, ProductReport)>, ReplayError>),
}

/// Replays the work: one reader ([`read`]) hands each message to the worker
/// that applies its product ([`apply`]); product `i` goes to worker `i mod
/// workers` (`concurrency` of them, or one per product when paced, to keep
/// their relative timing). Reports progress and returns the products' reports
/// in the order of `work`. The first failure stops the others: re-running
/// redoes everything idempotently. With `every_product` (nothing asked for by
/// name) the reader reads the whole stream's subjects in the range, so the
/// server walks the day's blocks once, with no subject filter to match;
/// otherwise it reads just those products' subjects.
async fn drive(
    shared: &Arc<Shared>,
    work: Vec<(ProductSpec, Located)>,
    (concurrency, every_product): (usize, bool),
    progress: &(dyn Fn(&Progress) + Sync),
    shutdown: Shutdown,
) -> Result<Vec<ProductReport>, ReplayError> {
    let length: u64 = work.iter().map(|(_, l)| l.span()).sum();
    let products = work.len();
    let workers = if shared.pacing.is_some() {
        products.max(1)
    } else {
        concurrency.clamp(1, products.max(1))
    };
    let filters = if every_product && products > 1 {
        vec![ds_schemas::subjects::ALL_RAW.to_owned()]
    } else {
        work.iter()
            .map(|(s, _)| ds_schemas::subjects::raw_product(&s.name))
            .collect()
    };
    let ranges = source::union(work.iter().flat_map(|(_, loc)| loc.runs()));
    // Each product's worker, its place among that worker's products, its range.
    let mut route = std::collections::HashMap::new();
    let mut members: Vec<Vec<Member>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, (spec, loc)) in work.into_iter().enumerate() {
        let own = &mut members[i % workers];
        route.insert(
            spec.name.clone(),
            Route {
                worker: i % workers,
                run: own.len(),
                loc: loc.clone(),
            },
        );
        own.push((i, spec, loc));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut senders = Vec::with_capacity(workers);
    for own in members {
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        senders.push(tx);
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        tasks.spawn(async move { Done::Applied(apply(&shared, &own, rx, shutdown).await) });
    }
    {
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        tasks.spawn(async move {
            Done::Read(read(&shared, (filters, ranges), &route, senders, shutdown).await)
        });
    }
    let report = || {
        progress(&snapshot(
            &shared.counters,
            length,
            products,
            shared.started,
        ))
    };
    let mut results: Vec<Option<ProductReport>> = vec![None; products];
    let mut first_error = None;
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(Done::Read(Ok(())))) => {}
                Some(Ok(Done::Applied(Ok(reports)))) => {
                    for (i, r) in reports {
                        results[i] = Some(r);
                    }
                }
                Some(Ok(Done::Read(Err(e)) | Done::Applied(Err(e)))) => {
                    tasks.abort_all();
                    first_error.get_or_insert(e);
                }
                Some(Err(e)) if e.is_cancelled() => {}
                Some(Err(e)) => {
                    tasks.abort_all();
                    first_error.get_or_insert(ReplayError::Invalid(format!("a replay task failed: {e}")));
                }
            },
            _ = ticker.tick() => report(),
        }
    }
    report();
    if let Some(p) = &shared.publisher {
        p.flush().await?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(results.into_iter().flatten().collect()),
    }
}

/// Reads the `ranges` of `MD_RAW` on `filters` once, in stream order, and
/// hands each message of a replayed product, in that product's range, to its
/// worker (`route`); tells every worker when all was read.
async fn read(
    shared: &Shared,
    (filters, ranges): (Vec<String>, Vec<(u64, u64)>),
    route: &std::collections::HashMap<String, Route>,
    workers: Vec<tokio::sync::mpsc::Sender<Item>>,
    mut shutdown: Shutdown,
) -> Result<(), ReplayError> {
    let label = match filters.as_slice() {
        [one] => one.clone(),
        _ => format!("{} products", filters.len()),
    };
    let mut messages = source::open(&shared.js, &label, filters, ranges).await?;
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.wait() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(m) = next? else {
            for w in &workers {
                // A worker that is gone failed, and says why.
                let _ = w.send(Item::End).await;
            }
            return Ok(());
        };
        let product = ds_schemas::subjects::product_or_unknown(&m.subject);
        let Some(to) = route.get(product).filter(|to| to.loc.contains(m.seq)) else {
            continue;
        };
        if shared.throttle.rate().is_finite() {
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                _ = shared.throttle.admit() => {}
            }
        }
        if workers[to.worker]
            .send(Item::Message(to.run, m))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Applies its products' messages as the reader hands them over, in order,
/// and writes what they produce; their reports once the reader is done (or
/// the replay stops).
async fn apply(
    shared: &Shared,
    members: &[Member],
    mut messages: tokio::sync::mpsc::Receiver<Item>,
    mut shutdown: Shutdown,
) -> Result<Vec<(usize, ProductReport)>, ReplayError> {
    let mut runs = Vec::with_capacity(members.len());
    for (_, spec, loc) in members {
        runs.push(ProductRun::start(shared, spec, loc).await?);
    }
    loop {
        let item = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            item = messages.recv() => item,
        };
        let (run, m) = match item {
            Some(Item::Message(run, m)) => (run, m),
            Some(Item::End) => {
                runs.iter_mut().for_each(ProductRun::completed);
                break;
            }
            // The reader stopped early.
            None => break,
        };
        let Some(run) = runs.get_mut(run) else {
            continue;
        };
        let Some((outputs, event)) = run.apply(&m) else {
            continue;
        };
        if let Some(due) = run.due(event) {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(due) => {}
            }
        }
        run.emit(&outputs, m.seq).await?;
    }
    let finished = runs.into_iter().map(ProductRun::finish);
    let reports = futures::future::try_join_all(finished).await?;
    shared
        .counters
        .products_done
        .fetch_add(members.len() as u64, Ordering::Relaxed);
    Ok(members.iter().map(|(i, _, _)| *i).zip(reports).collect())
}

/// One product's replay in progress.
struct ProductRun<'a> {
    shared: &'a Shared,
    spec: &'a ProductSpec,
    loc: &'a Located,
    report: ProductReport,
    state: ProductState,
    sink: Option<ProjectionSink>,
    last_position: u64,
}

impl<'a> ProductRun<'a> {
    async fn start(
        shared: &'a Shared,
        spec: &'a ProductSpec,
        loc: &'a Located,
    ) -> Result<Self, ReplayError> {
        let sink = match &shared.db {
            Some((store, in_place)) => {
                let mode = if *in_place {
                    DbMode::Overwrite
                } else {
                    sink::mode_for(store, &spec.name, spec.exchange, shared.date).await?
                };
                Some(ProjectionSink::start(store.clone(), mode))
            }
            None => None,
        };
        Ok(Self {
            shared,
            spec,
            loc,
            report: ProductReport {
                product: spec.name.clone(),
                location: loc.how.clone(),
                first_seq: loc.first_seq,
                last_seq: loc.last_seq,
                messages: 0,
                day_messages: 0,
                poison: 0,
                outputs: 0,
                documents: 0,
                deleted: 0,
                done_seq: 0,
                last_event_unix_ns: None,
                completed: false,
            },
            state: ProductState::new(spec),
            sink,
            last_position: 0,
        })
    }

    /// The whole range is read (its rest held no message of this product).
    fn completed(&mut self) {
        self.report.completed = true;
        let rest = self.loc.span().saturating_sub(self.last_position);
        self.shared
            .counters
            .position
            .fetch_add(rest, Ordering::Relaxed);
    }

    /// Applies `m`; its outputs and event time when it is of the replayed day.
    fn apply(&mut self, m: &source::RawMessage) -> Option<(Vec<Enriched>, Option<i64>)> {
        let c = &self.shared.counters;
        self.report.messages += 1;
        self.report.done_seq = m.seq;
        c.messages.fetch_add(1, Ordering::Relaxed);
        let position = self.loc.position(m.seq);
        c.position
            .fetch_add(position - self.last_position, Ordering::Relaxed);
        self.last_position = position;
        let event = source::event_time(&m.subject, &m.payload);
        if event.is_some_and(|ts| trading_day(ts, self.spec.exchange) != self.shared.date) {
            return None;
        }
        let input = RawInput {
            subject: &m.subject,
            schema: m.schema.as_deref(),
            payload: &m.payload,
            stream_seq: m.seq,
        };
        let outputs = match self.state.apply(self.spec, input) {
            Ok(Applied::Outputs { day, outputs }) if day == self.shared.date => outputs,
            Ok(_) => return None,
            Err(_) => {
                self.report.poison += 1;
                return None;
            }
        };
        self.report.day_messages += 1;
        self.report.last_event_unix_ns = event;
        c.day_messages.fetch_add(1, Ordering::Relaxed);
        Some((outputs, event))
    }

    /// How long to wait before emitting an event of time `event` (paced replays).
    fn due(&self, event: Option<i64>) -> Option<Duration> {
        let ((factor, origin), ts) = (self.shared.pacing?, event?);
        let due = Duration::from_secs_f64(((ts - origin).max(0) as f64 / 1e9) / factor);
        due.checked_sub(self.shared.started.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// Re-publishes and writes the outputs of the raw message `seq`.
    async fn emit(&mut self, outputs: &[Enriched], seq: u64) -> Result<(), ReplayError> {
        self.report.outputs += outputs.len() as u64;
        self.shared
            .counters
            .outputs
            .fetch_add(outputs.len() as u64, Ordering::Relaxed);
        if let Some(p) = &self.shared.publisher {
            for o in outputs {
                p.publish(o, seq).await?;
            }
        }
        if let Some(s) = &mut self.sink {
            s.add(outputs)
                .map_err(|e| ReplayError::Invalid(format!("not representable in BSON: {e}")))?;
            if s.pending_messages() >= BATCH_MESSAGES || self.shared.pacing.is_some() {
                s.hand_over().await?;
            }
        }
        Ok(())
    }

    /// Writes what is left (durably) and reports.
    async fn finish(mut self) -> Result<ProductReport, ReplayError> {
        if let Some(s) = self.sink.take() {
            let range = self
                .report
                .completed
                .then_some((self.loc.first_seq, self.loc.last_seq));
            let done = s
                .finish(&self.spec.name, self.spec.exchange, self.shared.date, range)
                .await?;
            self.report.documents = done.written;
            self.report.deleted = done.deleted;
        }
        Ok(self.report)
    }
}
