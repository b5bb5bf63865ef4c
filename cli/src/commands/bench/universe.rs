//! Section `universe` (opt-in: `bench --section universe`): the `nse-fo`
//! universe (205 products) on its own processes, streams and database. A
//! whole trading day generated, enriched and projected, then replayed; disk
//! per universe day and bytes per chain; then the live universe at its real
//! rate (a tick a second per product, the feed's chain cadence), raw →
//! enriched and raw → WebSocket client for 100 clients spread over 100 products.
//!
//! The day is generated at one tick a second per product and one chain per
//! expiry a minute ([`DAY_CHAIN_EVERY_TICKS`]): the feed's default (a chain
//! every 5 ticks) would make ~2.8 million chains of 3–15 KB, some 50 GB over
//! JetStream and MongoDB. `--quick` runs 20 products (the 5 indices and 15
//! stocks) at a tick a minute and a 10 s live window.

use super::drain::{enrich_consumers, project_consumer, wait_drained};
use super::env::{Component, Env};
use super::live::{collect_enriched, Split};
use super::load;
use super::procstat;
use super::report::{percentile, Report};
use ds_processors::feed::hours::Hours;
use ds_processors::feed::{FeedOptions, Speed};
use ds_processors::replay::{ReplayOptions, Target};
use ds_runtime::config::Config;
use ds_runtime::shutdown::Shutdown;
use ds_runtime::topology::{self, ApplyOptions};
use std::time::{Duration, Instant};

/// The universe measured.
const UNIVERSE: &str = "nse-fo";
/// Its trading day (a Monday; NIFTY's weekly expiry is the next day).
const DAY: &str = "2025-11-24";
/// The database its projections go to.
const DB: &str = "deltastream_bench_universe";
/// The database its replay rebuilds.
const REPLAY_DB: &str = "deltastream_bench_universe_replay";
/// A chain per expiry every this many ticks in the day (a minute at 1 s ticks).
const DAY_CHAIN_EVERY_TICKS: u32 = 60;
/// WebSocket clients in the live window, one product each.
const WS_CLIENTS: usize = 100;
/// Section label in the report.
const SECTION: &str = "universe";

/// The universe's products.
///
/// # Errors
/// Never for the built-in universe (its file is part of the binary).
pub fn products() -> anyhow::Result<Vec<ds_analytics::market::ProductSpec>> {
    Ok(ds_runtime::config::universe(UNIVERSE)?.into_products())
}

/// Runs the universe section.
///
/// # Errors
/// When a process cannot start, NATS or MongoDB fail.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    // Nothing of the default day's processes, messages or state is measured here.
    env.gateway = None;
    env.enrich = None;
    env.project = None;
    reset(env).await?;
    let cfg = universe_cfg(env)?;
    let enrich = env.spawn_for(&cfg, "enrich", &[], &[])?;
    let project = env.spawn_for(&cfg, "project", &[], &[])?;
    let t_projected = day(env, &cfg, &enrich, &project).await?;
    replay(env, &cfg, t_projected).await?;
    disk(env).await?;
    live(env, &cfg).await?;
    drop(enrich);
    drop(project);
    Ok(())
}

/// Empties the streams and the processors' state, so the universe starts alone.
async fn reset(env: &Env) -> anyhow::Result<()> {
    topology::apply(&env.js, ApplyOptions::default()).await?;
    for stream in [
        "MD_RAW",
        "MD_ENRICHED",
        "MD_DLQ",
        "KV_ds_checkpoints",
        "KV_ds_day_index",
        "KV_ds_leases",
    ] {
        env.js.get_stream(stream).await?.purge().await?;
    }
    for db in [DB, REPLAY_DB] {
        env.db.client().database(db).drop().await?;
    }
    Ok(())
}

/// The configuration of the universe's processes (they get `DS_UNIVERSE`).
fn universe_cfg(env: &Env) -> anyhow::Result<Config> {
    let mut cfg = env.cfg.clone();
    cfg.universe = Some(UNIVERSE.into());
    cfg.products = products()?;
    cfg.mongo_db = DB.into();
    Ok(cfg)
}

/// The whole day: published at maximum speed, enriched and projected; returns
/// the seconds to the last durable projection.
async fn day(
    env: &mut Env,
    cfg: &Config,
    enrich: &Component,
    project: &Component,
) -> anyhow::Result<f64> {
    let db = env.db.client().database(DB);
    ds_runtime::collections::ensure_indexes(&db).await?;
    let (day_cfg, products) = day_config(cfg, env.quick);
    env.progress.line(&format!(
        "universe: {UNIVERSE} {DAY}, {} products, {} ms ticks, a chain per expiry every {} ticks",
        products.len(),
        day_cfg.feed.tick_interval_ms,
        day_cfg.feed.chain_every_ticks
    ));
    let started = Instant::now();
    let (_trigger, no_stop) = Shutdown::new();
    let feed = ds_processors::feed::run(
        &day_cfg,
        env.js.clone(),
        FeedOptions {
            date: Some(DAY.parse()?),
            speed: Speed::Max,
            seed: Some(42),
            products: products.clone(),
            ..FeedOptions::default()
        },
        no_stop,
    )
    .await?;
    let watched: Vec<(&str, u32)> = [("enrich", enrich.pid()), ("project", project.pid())]
        .into_iter()
        .chain(env.servers())
        .collect();
    let mut peaks = vec![0.0f64; watched.len()];
    let mut sample = || {
        for (peak, (_, pid)) in peaks.iter_mut().zip(&watched) {
            *peak = peak.max(procstat::read(*pid).peak_rss_mib);
        }
    };
    env.progress
        .line("universe: waiting for the enrichers, then the projector");
    let enriched = wait_drained(
        &env.js,
        "MD_RAW",
        &enrich_consumers(&products),
        &env.progress,
        &mut sample,
    )
    .await?;
    let projected = wait_drained(
        &env.js,
        "MD_ENRICHED",
        &project_consumer(),
        &env.progress,
        &mut sample,
    )
    .await?;
    let t_enriched = enriched.duration_since(started).as_secs_f64();
    let t_projected = projected.duration_since(started).as_secs_f64();
    let peaks: Vec<(&str, f64)> = watched.iter().map(|(n, _)| *n).zip(peaks).collect();
    report_day(
        env,
        &feed,
        products.len(),
        (t_enriched, t_projected),
        &peaks,
    );
    Ok(t_projected)
}

/// The day's configuration and products: the whole universe with a chain
/// per expiry every [`DAY_CHAIN_EVERY_TICKS`], or (`quick`) 20 products at a
/// tick a minute.
fn day_config(cfg: &Config, quick: bool) -> (Config, Vec<String>) {
    let mut day_cfg = cfg.clone();
    let products: Vec<String> = if quick {
        day_cfg.feed.tick_interval_ms = 60_000;
        cfg.products
            .iter()
            .take(20)
            .map(|p| p.name.clone())
            .collect()
    } else {
        day_cfg.feed.chain_every_ticks = DAY_CHAIN_EVERY_TICKS;
        cfg.products.iter().map(|p| p.name.clone()).collect()
    };
    (day_cfg, products)
}

/// The day's rows: its size, rates, times and each process's peak memory.
fn report_day(
    env: &mut Env,
    feed: &ds_processors::feed::FeedReport,
    products: usize,
    (t_enriched, t_projected): (f64, f64),
    peaks: &[(&str, f64)],
) {
    let msgs = (feed.ticks + feed.chains) as f64;
    let r = &mut env.report;
    r.info(
        SECTION,
        format!(
            "day: {} ticks and {} chains of {} products",
            feed.ticks, feed.chains, products
        ),
        msgs,
        "msgs",
    );
    r.info(
        SECTION,
        "day: feed publish rate",
        msgs / feed.elapsed.as_secs_f64(),
        "msg/s",
    );
    r.info(
        SECTION,
        "day: time to the last enriched message",
        t_enriched,
        "s",
    );
    let figure = "day: generated, enriched and projected (to the last durable projection)";
    if env.quick {
        r.info(SECTION, figure, t_projected, "s");
    } else {
        r.at_most(SECTION, figure, t_projected, "s", 900.0);
    }
    for (name, peak) in peaks {
        r.at_most(SECTION, format!("peak memory, {name}"), *peak, "MiB", 300.0);
    }
}

/// Replays the day into a new database, against the time it first took.
async fn replay(env: &mut Env, cfg: &Config, t_projected: f64) -> anyhow::Result<()> {
    env.progress
        .line("universe: replaying the day into a new database");
    // The day's database had its collections and indexes before its timer
    // started; so does the replay's (its own set-up then finds them there).
    ds_runtime::collections::ensure_indexes(&env.db.client().database(REPLAY_DB)).await?;
    let opts = ReplayOptions {
        target: Target::Database(REPLAY_DB.into()),
        concurrency: 2,
        ..ReplayOptions::new(DAY.parse()?)
    };
    let (_trigger, no_stop) = Shutdown::new();
    let replay =
        ds_processors::replay::run(cfg, &env.js, Some(env.db.client()), opts, &|_| {}, no_stop)
            .await
            .map_err(|e| anyhow::anyhow!("replay: {e}"))?;
    let secs = replay.elapsed.as_secs_f64();
    let r = &mut env.report;
    r.info(
        SECTION,
        format!("replay the day ({} msgs)", replay.messages()),
        secs,
        "s",
    );
    r.at_most(
        SECTION,
        "replay time ÷ first processing time",
        secs / t_projected.max(1e-9),
        "×",
        1.0,
    );
    Ok(())
}

/// Disk used by the day, and bytes per chain.
async fn disk(env: &mut Env) -> anyhow::Result<()> {
    let mut js_bytes = 0u64;
    for stream in ["MD_RAW", "MD_ENRICHED"] {
        js_bytes += env.js.get_stream(stream).await?.info().await?.state.bytes;
    }
    let db = env.db.client().database(DB);
    let stats = db.run_command(mongodb::bson::doc! {"dbStats": 1}).await?;
    let num = |k: &str| match stats.get(k) {
        Some(mongodb::bson::Bson::Double(v)) => *v,
        Some(mongodb::bson::Bson::Int32(v)) => f64::from(*v),
        Some(mongodb::bson::Bson::Int64(v)) => *v as f64,
        _ => 0.0,
    };
    let mongo_bytes = num("storageSize") + num("indexSize");
    let chains = db
        .run_command(mongodb::bson::doc! {"collStats": ds_runtime::collections::OPTION_CHAINS})
        .await?;
    let avg_chain = match chains.get("avgObjSize") {
        Some(mongodb::bson::Bson::Double(v)) => *v,
        Some(mongodb::bson::Bson::Int32(v)) => f64::from(*v),
        Some(mongodb::bson::Bson::Int64(v)) => *v as f64,
        _ => 0.0,
    };
    let nifty = |stream: &'static str, subject: &'static str| {
        let js = env.js.clone();
        async move {
            let s = js.get_stream(stream).await.ok()?;
            let m = s.get_last_raw_message_by_subject(subject).await.ok()?;
            Some(m.payload.len() as f64)
        }
    };
    let nifty_expiry = "2025-11-25";
    let raw_chain = nifty("MD_RAW", "md.raw.NIFTY.chain.2025-11-25").await;
    let enriched_chain = nifty("MD_ENRICHED", "md.enriched.NIFTY.chain.2025-11-25").await;
    let mib = |b: f64| b / (1024.0 * 1024.0);
    let r = &mut env.report;
    r.info(
        SECTION,
        "disk per universe day: JetStream (MD_RAW + MD_ENRICHED)",
        mib(js_bytes as f64),
        "MiB",
    );
    r.info(
        SECTION,
        "disk per universe day: MongoDB (storage + indexes)",
        mib(mongo_bytes),
        "MiB",
    );
    r.info(
        SECTION,
        "bytes per chain document (option_chains, average)",
        avg_chain,
        "B",
    );
    for (what, v) in [("raw", raw_chain), ("enriched", enriched_chain)] {
        if let Some(v) = v {
            r.info(
                SECTION,
                format!("bytes per {what} NIFTY chain ({nifty_expiry}, 101 strikes)"),
                v,
                "B",
            );
        }
    }
    Ok(())
}

/// The live universe at its real rate, through an enricher, a projector and a
/// gateway, measured at the enriched stream and at 100 WebSocket clients.
async fn live(env: &mut Env, cfg: &Config) -> anyhow::Result<()> {
    let port = ds_runtime::servers::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let gateway = env.spawn_for(
        cfg,
        "gateway",
        &["--dev", "--http-addr", &addr],
        &[("DS_RATE_LIMIT_RPS", "0")],
    )?;
    super::rest::wait_http(&addr, "/health/ready").await?;
    env.settle().await;
    let secs = if env.quick { 10 } else { 60 };
    env.progress.line(&format!(
        "universe: {secs} s of the live {UNIVERSE} universe at its real rate ({} products, a tick a second each), {WS_CLIENTS} WebSocket clients",
        cfg.products.len()
    ));
    let rooms: Vec<String> = cfg
        .products
        .iter()
        .take(WS_CLIENTS)
        .map(|p| p.name.clone())
        .collect();
    let client = env.client.clone();
    let (feed_cfg, js) = (cfg.clone(), env.js.clone());
    let window = Duration::from_secs(secs);
    let (measured_tx, measured) = tokio::sync::oneshot::channel();
    let ws = load::websocket(
        &format!("ws://{addr}/ws"),
        &rooms,
        WS_CLIENTS,
        WS_CLIENTS,
        async move {
            let (trigger, stop) = Shutdown::new();
            let feed = tokio::spawn(async move {
                let opts = FeedOptions {
                    seed: Some(7),
                    // The real rate whatever the hour of the run.
                    hours: Hours::Always,
                    ..FeedOptions::default()
                };
                ds_processors::feed::run(&feed_cfg, js, opts, stop).await
            });
            let _ = measured_tx.send(collect_enriched(&client, window).await);
            trigger.trigger();
            let _ = feed.await;
        },
    )
    .await;
    let enriched = measured.await??;
    let gateway_rss = procstat::read(gateway.pid()).peak_rss_mib;
    report_live(&mut env.report, &enriched, &ws, gateway_rss);
    Ok(())
}

/// The live window's rows: latencies at the enriched stream and at the
/// WebSocket clients, and the gateway's memory.
fn report_live(r: &mut Report, enriched: &Split, ws: &load::WsLoad, gateway_rss: f64) {
    for (p, v) in [
        ("p50", percentile(&enriched.total, 50.0)),
        ("p99", percentile(&enriched.total, 99.0)),
    ] {
        r.at_most(SECTION, format!("live: raw → enriched, {p}"), v, "ms", 10.0);
    }
    r.info(
        SECTION,
        "live: enriched messages measured",
        enriched.total.len() as f64,
        "msgs",
    );
    // Where the time goes: the bench also sees each raw message arrive.
    for (leg, v) in [
        ("event time → raw message seen", &enriched.to_raw),
        (
            "raw message seen → enriched seen",
            &enriched.raw_to_enriched,
        ),
    ] {
        for p in [50.0, 99.0] {
            r.info(
                SECTION,
                format!("live: {leg}, p{p}"),
                percentile(v, p),
                "ms",
            );
        }
    }
    r.info(
        SECTION,
        format!("live: WebSocket clients connected (of {WS_CLIENTS})"),
        ws.connected as f64,
        "clients",
    );
    for (p, v) in [
        ("p50", percentile(&ws.latencies, 50.0)),
        ("p99", percentile(&ws.latencies, 99.0)),
    ] {
        r.at_most(
            SECTION,
            format!("live: raw → WebSocket client, {p} ({WS_CLIENTS} clients over {WS_CLIENTS} products)"),
            v,
            "ms",
            50.0,
        );
    }
    r.at_most(SECTION, "peak memory, gateway", gateway_rss, "MiB", 300.0);
}
