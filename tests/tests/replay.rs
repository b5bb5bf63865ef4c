//! Replay of a trading day through real servers: rebuilt projections equal the
//! live ones, one product touches only that product, in-place replay repairs the
//! live projections, paced re-publishing keeps the relative timing, and a
//! back-filled day interleaved with another day replays like its live run.

use ds_processors::replay::{self, locate::Location, ReplayError, ReplayOptions, Target};
use ds_runtime::collections::{
    BARS, CHAIN_LATEST, OPTION_CHAINS, UNDERLYING_LATEST, UNDERLYING_TICKS,
};
use ds_runtime::config::Config;
use ds_schemas::subjects::{STREAM_ENRICHED, STREAM_RAW};
use ds_tests::*;
use futures::StreamExt;
use mongodb::bson::{doc, Document};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DAY: &str = "2025-01-15";
const NEXT_DAY: &str = "2025-01-16";

/// The database a replay of `day` rebuilds into by default.
fn replay_db(env: &TestEnv, day: &str) -> mongodb::Database {
    env.db
        .client()
        .database(&replay::default_database(date(day)))
}

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().expect("date")
}

/// Feeds nothing; waits until the live pipeline has projected everything the
/// reference enrichment of `MD_RAW` yields, and until every enricher has
/// acknowledged its messages (so the day index is complete). Returns the live
/// snapshot.
async fn wait_live(env: &TestEnv, cfg: &Config, products: &[&str]) -> Snapshot {
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let expected = reference_enrichment(cfg, &raw);
    let (got, want) = projections_and_reference(&env.db, &expected, Duration::from_secs(90)).await;
    assert_eq!(got, want, "live projections differ from the reference");
    let stream = env.js.get_stream(STREAM_RAW).await.expect("MD_RAW");
    for p in products {
        let name = ds_processors::enrich::partition::consumer_of(p);
        eventually(
            "enricher acknowledged everything",
            Duration::from_secs(30),
            || async {
                let i = stream.consumer_info(&name).await.ok()?;
                (i.num_pending == 0 && i.num_ack_pending == 0).then_some(())
            },
        )
        .await;
    }
    got
}

/// Feeds `DAY` for `products` and processes it live; returns the live snapshot.
async fn live_day(env: &TestEnv, cfg: &Config, products: &[&str], seed: u64) -> Snapshot {
    feed_day(env, cfg, DAY, products, seed).await;
    let enrich = enricher(env);
    let project = projector(env);
    let snap = wait_live(env, cfg, products).await;
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
    snap
}

fn only_product(snap: &Snapshot, product: &str) -> Snapshot {
    snap.iter()
        .map(|(c, docs)| {
            let kept = docs
                .iter()
                .filter(|d| d.get_str("product") == Ok(product))
                .cloned()
                .collect();
            (c.clone(), kept)
        })
        .collect()
}

async fn raw_docs(db: &mongodb::Database, coll: &str, filter: Document) -> Vec<Document> {
    use futures::TryStreamExt;
    db.collection::<Document>(coll)
        .find(filter)
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_day_equals_the_live_projections() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY", "AAPL"], 42).await;
    let raw_before = stream_len(&env.js, STREAM_RAW).await;
    let enriched_before = stream_len(&env.js, STREAM_ENRICHED).await;

    let started = Instant::now();
    let report = run_replay(&env, &cfg, ReplayOptions::new(date(DAY)))
        .await
        .expect("replay");
    let took = started.elapsed();
    let target = replay_db(&env, DAY);
    assert_eq!(target.name(), "deltastream_replay_20250115");
    assert_eq!(
        projection_snapshot(&target).await,
        live,
        "replayed projections differ from the live ones"
    );
    assert!(!report.interrupted);
    let names: Vec<&str> = report.products.iter().map(|p| p.product.as_str()).collect();
    assert_eq!(names, ["NIFTY", "AAPL"]);
    assert!(report
        .products
        .iter()
        .all(|p| p.location == Location::Indexed && p.completed && p.poison == 0));
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.product.as_str()).collect();
    assert_eq!(
        skipped,
        ["BANKNIFTY", "TSLA"],
        "products without data that day are skipped"
    );
    assert_eq!(
        report.messages(),
        raw_before,
        "read exactly the day's messages"
    );
    let docs: usize = live.values().map(Vec::len).sum();
    assert!(report.documents() >= docs as u64);
    eprintln!(
        "replay of the small day: {} messages in {took:?}",
        report.messages()
    );

    // Nothing live moved: no message added to the streams.
    assert_eq!(stream_len(&env.js, STREAM_RAW).await, raw_before);
    assert_eq!(stream_len(&env.js, STREAM_ENRICHED).await, enriched_before);

    // Re-running is safe: same result.
    let again = run_replay(&env, &cfg, ReplayOptions::new(date(DAY)))
        .await
        .expect("replay again");
    assert_eq!(projection_snapshot(&target).await, live);
    assert_eq!(again.products.iter().map(|p| p.deleted).sum::<u64>(), 0);
}

/// Beside live traffic the product's enricher always has messages in flight, so
/// the day's range runs to the stream's end; what the enricher applied after
/// the day (other days, indexed elsewhere) is skipped, not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_replayed_while_the_enricher_is_behind_skips_what_it_applied_since() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY"], 5).await;
    let day_messages = stream_len(&env.js, STREAM_RAW).await;
    // The next day, applied by the enricher…
    feed_day(&env, &cfg, "2025-01-16", &["NIFTY"], 6).await;
    let enrich = enricher(&env);
    let project = projector(&env);
    wait_live(&env, &cfg, &["NIFTY"]).await;
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
    let applied = stream_len(&env.js, STREAM_RAW).await - day_messages;
    // …and a third it has not applied yet.
    let third = feed_day(&env, &cfg, "2025-01-17", &["NIFTY"], 7).await;
    let third = third.ticks + third.chains;

    let mut opts = ReplayOptions::new(date(DAY));
    opts.products = vec!["NIFTY".into()];
    let report = run_replay(&env, &cfg, opts).await.expect("replay");
    let p = &report.products[0];
    let Location::IndexedAndUnapplied { pending } = p.location else {
        panic!("{:?}", p.location);
    };
    // The consumer's pending count may also include messages a stopped
    // enricher's last pull request was handed; the ack floor does not move.
    assert!(pending >= third, "{pending}");
    assert!(p.completed);
    assert_eq!(
        report.messages(),
        day_messages + third,
        "the day and the unapplied tail, not the applied day in between ({applied})"
    );
    assert_eq!(projection_snapshot(&replay_db(&env, DAY)).await, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_caps_how_fast_a_replay_reads() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY"], 8).await;
    let raw = stream_len(&env.js, STREAM_RAW).await;
    let rate = 400.0;
    let opts = ReplayOptions {
        products: vec!["NIFTY".into()],
        max_rate: Some(rate),
        ..ReplayOptions::new(date(DAY))
    };
    let started = Instant::now();
    let report = run_replay(&env, &cfg, opts).await.expect("replay");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(report.messages(), raw);
    // The cap is a floor on the duration (no upper bound: shared machines are slow).
    let floor = (raw as f64 - 1.0) / rate;
    assert!(
        took >= floor,
        "{raw} messages at ≤ {rate}/s took only {took:.2} s"
    );
    let target = replay_db(&env, DAY);
    assert_eq!(
        projection_snapshot(&target).await,
        live,
        "a capped replay is still exact"
    );
}

/// Live enrichers at work, as a replay sees them: enriched ticks stored in
/// `MD_ENRICHED` every 50 ms.
fn live_traffic(env: &TestEnv) -> tokio::task::JoinHandle<()> {
    use prost::Message as _;
    let js = env.js.clone();
    tokio::spawn(async move {
        for seq in 1u64.. {
            let u = ds_schemas::EnrichedUnderlying {
                product: "NIFTY".into(),
                ts_unix_ns: ds_processors::time::now_unix_ns(),
                seq,
                ..Default::default()
            };
            let sent = js
                .publish("md.enriched.NIFTY.underlying", u.encode_to_vec().into())
                .await;
            if sent.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_reads_at_a_fixed_cap_while_live_enrichers_are_active() {
    use ds_processors::replay::throttle::BESIDE_LIVE;
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY"], 9).await;
    let raw = stream_len(&env.js, STREAM_RAW).await;
    let opts = ReplayOptions {
        products: vec!["NIFTY".into()],
        target: Target::Database("alone".into()),
        ..ReplayOptions::new(date(DAY))
    };
    // Wait until the live day's last enriched message is older than the idle
    // window: no live enricher is active, so no cap.
    tokio::time::sleep(ds_processors::replay::throttle::LIVE_IDLE).await;
    let alone = run_replay(&env, &cfg, opts.clone()).await.expect("replay");
    assert_eq!(alone.yielded, Default::default());

    // Live enrichers at work: the replay reads at most BESIDE_LIVE msgs/s (a
    // floor on its duration; no upper bound: shared machines are slow) and is
    // still exact.
    let before = stream_len(&env.js, STREAM_ENRICHED).await;
    let traffic = live_traffic(&env);
    eventually("live traffic flows", Duration::from_secs(30), || async {
        (stream_len(&env.js, STREAM_ENRICHED).await > before).then_some(())
    })
    .await;
    let started = Instant::now();
    let beside = run_replay(&env, &cfg, opts.clone()).await.expect("replay");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(beside.messages(), raw);
    let y = beside.yielded;
    assert!(y.read_beside_live > raw / 2, "{y:?}");
    assert_eq!(y.live_cap, Some(BESIDE_LIVE), "{y:?}");
    let floor = (y.read_beside_live as f64 - 1.0) / BESIDE_LIVE;
    assert!(
        took >= floor,
        "{} messages at ≤ {BESIDE_LIVE}/s took only {took:.2} s",
        y.read_beside_live
    );
    let target = env.db.client().database("alone");
    assert_eq!(
        projection_snapshot(&target).await,
        live,
        "a capped replay is still exact"
    );

    // `--no-yield`: the same live traffic is not watched.
    let greedy = run_replay(
        &env,
        &cfg,
        ReplayOptions {
            yield_to_live: false,
            ..opts.clone()
        },
    )
    .await
    .expect("replay");
    assert_eq!(greedy.yielded, Default::default());

    // A paced replay keeps to its pacing: it is not capped for live traffic.
    let paced = run_replay(
        &env,
        &cfg,
        ReplayOptions {
            speed: ds_processors::feed::Speed::Factor(20_000.0),
            ..opts
        },
    )
    .await
    .expect("replay");
    traffic.abort();
    assert_eq!(paced.yielded, Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_one_product_touches_only_that_product() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY", "AAPL"], 7).await;
    let live_full = |coll| raw_docs(&env.db, coll, doc! {});
    let mut before = BTreeMap::new();
    for c in ds_runtime::collections::PROJECTIONS {
        before.insert(*c, live_full(c).await);
    }

    // Into a new database: only NIFTY's documents, equal to NIFTY's live ones.
    let mut opts = ReplayOptions::new(date(DAY));
    opts.products = vec!["NIFTY".into()];
    opts.target = Target::Database("only_nifty".into());
    let report = run_replay(&env, &cfg, opts.clone()).await.expect("replay");
    assert_eq!(report.products.len(), 1);
    let target = env.db.client().database("only_nifty");
    let snap = projection_snapshot(&target).await;
    assert_eq!(snap, only_product(&live, "NIFTY"));
    assert!(snap
        .values()
        .flatten()
        .all(|d| d.get_str("product") == Ok("NIFTY")));
    assert!(!snap[UNDERLYING_TICKS].is_empty());

    // Two products named: read with a filter subject each, one per worker.
    let mut two = opts.clone();
    two.products = vec!["NIFTY".into(), "AAPL".into()];
    two.target = Target::Database("nifty_and_aapl".into());
    let report = run_replay(&env, &cfg, two).await.expect("replay of two");
    assert_eq!(report.products.len(), 2);
    assert!(report.products.iter().all(|p| p.completed));
    let both = projection_snapshot(&env.db.client().database("nifty_and_aapl")).await;
    assert_eq!(both, live);

    // In place: NIFTY rewritten, AAPL's live documents untouched (even `written_at`).
    opts.target = Target::InPlace(cfg.mongo_db.clone());
    run_replay(&env, &cfg, opts).await.expect("in-place replay");
    assert_eq!(projection_snapshot(&env.db).await, live);
    for c in ds_runtime::collections::PROJECTIONS {
        let aapl = |docs: &Vec<Document>| -> Vec<Document> {
            docs.iter()
                .filter(|d| d.get_str("product") == Ok("AAPL"))
                .cloned()
                .collect()
        };
        assert_eq!(
            aapl(&live_full(c).await),
            aapl(&before[c]),
            "{c}: AAPL documents changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_replay_restores_deleted_and_corrupted_documents() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let live = live_day(&env, &cfg, &["NIFTY", "AAPL"], 11).await;
    let coll = |c: &str| env.db.collection::<Document>(c);

    // Damage NIFTY's day: deleted ticks, bar, latest chains; corrupted chain and
    // latest tick; and a stray tick the stream never produced.
    let ticks = raw_docs(&env.db, UNDERLYING_TICKS, doc! {"product": "NIFTY"}).await;
    let victims: Vec<_> = ticks
        .iter()
        .step_by(50)
        .map(|d| d.get("_id").cloned().expect("_id"))
        .collect();
    coll(UNDERLYING_TICKS)
        .delete_many(doc! {"_id": {"$in": victims}})
        .await
        .expect("delete");
    coll(BARS)
        .delete_one(doc! {"product": "NIFTY", "interval": "5m"})
        .await
        .expect("delete");
    coll(CHAIN_LATEST)
        .delete_many(doc! {"product": "NIFTY"})
        .await
        .expect("delete");
    coll(OPTION_CHAINS)
        .update_one(
            doc! {"product": "NIFTY"},
            doc! {"$set": {"pcr_oi": -1.0, "calls": []}},
        )
        .await
        .expect("corrupt");
    coll(UNDERLYING_LATEST)
        .update_one(doc! {"_id": "NIFTY"}, doc! {"$set": {"price": 0.5}})
        .await
        .expect("corrupt");
    let mut stray = ticks[10].clone();
    stray.insert("_id", "NIFTY:999999");
    stray.insert("seq", 999_999_i64);
    coll(UNDERLYING_TICKS)
        .insert_one(stray)
        .await
        .expect("stray");
    assert_ne!(projection_snapshot(&env.db).await, live);

    let mut opts = ReplayOptions::new(date(DAY));
    opts.products = vec!["NIFTY".into()];
    opts.target = Target::InPlace(cfg.mongo_db.clone());
    let report = run_replay(&env, &cfg, opts).await.expect("in-place replay");
    assert_eq!(report.products[0].deleted, 1, "the stray tick is deleted");
    assert_eq!(
        projection_snapshot(&env.db).await,
        live,
        "live projections restored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_replay_keeps_the_relative_timing() {
    // Tolerance: every message arrives within 1 s of its scheduled offset
    // (event-time offset / factor) and the whole day within 15 % of its
    // scheduled length; the benchmark measures the tight figure.
    const FACTOR: f64 = 2000.0;
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, DAY, &["NIFTY"], 5).await;
    let raw_before = stream_len(&env.js, STREAM_RAW).await;

    let mut sub = env
        .client
        .subscribe("replay.paced.md.enriched.NIFTY.underlying")
        .await
        .expect("subscribe");
    env.client.flush().await.expect("flush");
    let collector = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(m) = sub.next().await {
            let schema = ds_runtime::headers::schema(m.headers.as_ref()).map(str::to_owned);
            got.push((Instant::now(), schema, m.payload));
            if got.len() == 376 {
                break;
            }
        }
        got
    });
    let mut opts = ReplayOptions::new(date(DAY));
    opts.products = vec!["NIFTY".into()];
    opts.target = Target::None;
    opts.publish_prefix = Some("replay.paced".into());
    opts.speed = ds_processors::feed::Speed::Factor(FACTOR);
    // Never enriched live: not in the day index, so scan the product's subject.
    opts.scan = true;
    let report = run_replay(&env, &cfg, opts).await.expect("paced replay");
    assert_eq!(report.products[0].location, Location::Scan);
    let got = tokio::time::timeout(Duration::from_secs(10), collector)
        .await
        .expect("all ticks arrive")
        .expect("collector");
    assert_eq!(got.len(), 376);
    use prost::Message as _;
    let ts: Vec<i64> = got
        .iter()
        .map(|(_, schema, p)| {
            assert_eq!(schema.as_deref(), Some("deltastream.v1.EnrichedUnderlying"));
            ds_schemas::EnrichedUnderlying::decode(p.clone())
                .expect("decodes")
                .ts_unix_ns
        })
        .collect();
    let (t0, ts0) = (got[0].0, ts[0]);
    let mut worst = 0.0f64;
    for ((at, _, _), t) in got.iter().zip(&ts) {
        let scheduled = (t - ts0) as f64 / 1e9 / FACTOR;
        let actual = at.duration_since(t0).as_secs_f64();
        worst = worst.max((actual - scheduled).abs());
    }
    let scheduled_total = (ts[375] - ts0) as f64 / 1e9 / FACTOR;
    let actual_total = got[375].0.duration_since(t0).as_secs_f64();
    eprintln!("paced ×{FACTOR}: {actual_total:.2} s for {scheduled_total:.2} s scheduled, worst deviation {worst:.3} s");
    assert!(worst < 1.0, "a message arrived {worst:.3} s off schedule");
    assert!(
        (actual_total / scheduled_total - 1.0).abs() < 0.15,
        "{actual_total} s vs {scheduled_total} s"
    );
    assert_eq!(
        stream_len(&env.js, STREAM_RAW).await,
        raw_before,
        "MD_RAW untouched"
    );
    assert_eq!(
        stream_len(&env.js, STREAM_ENRICHED).await,
        0,
        "nothing published on MD_ENRICHED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unindexed_day_is_refused_clearly_or_scanned() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, DAY, &["NIFTY"], 9).await;
    let mut opts = ReplayOptions::new(date(DAY));
    opts.products = vec!["NIFTY".into()];
    let err = run_replay(&env, &cfg, opts.clone())
        .await
        .expect_err("not indexed");
    let text = err.to_string();
    assert!(matches!(err, ReplayError::NotIndexed { .. }), "{text}");
    assert!(
        text.contains("2025-01-15") && text.contains("NIFTY") && text.contains("--scan"),
        "{text}"
    );
    let err = run_replay(&env, &cfg, ReplayOptions::new(date(DAY)))
        .await
        .expect_err("nothing indexed");
    assert!(err.to_string().contains("not in the day index"), "{err}");
    let mut bad = ReplayOptions::new(date(DAY));
    bad.products = vec!["NOPE".into()];
    assert!(run_replay(&env, &cfg, bad)
        .await
        .expect_err("unknown")
        .to_string()
        .contains("unknown product"));

    // With --scan: the product's subject is read, and the result is the reference.
    opts.scan = true;
    let report = run_replay(&env, &cfg, opts).await.expect("scan");
    assert_eq!(report.products[0].location, Location::Scan);
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let reference_db = env.db.client().database("reference");
    project_reference(&reference_db, &reference_enrichment(&cfg, &raw)).await;
    let target = replay_db(&env, DAY);
    assert_eq!(
        projection_snapshot(&target).await,
        projection_snapshot(&reference_db).await
    );
}

/// The day (in its exchange's time zone) of a projection document.
fn doc_day(cfg: &Config, d: &Document) -> Option<chrono::NaiveDate> {
    let spec = cfg.product(d.get_str("product").ok()?)?;
    let ts = d
        .get_i64("ts_unix_ns")
        .or_else(|_| d.get_i64("start_unix_ns"))
        .ok()?;
    Some(ds_analytics::market::trading_day(ts, spec.exchange))
}

/// What the live snapshot holds for `day`: the append-only documents of that
/// day, and as latest-value documents the last (highest `source_seq`) of that
/// day per product (ticks) and per product and expiry (chains).
fn live_for_day(cfg: &Config, live: &Snapshot, day: chrono::NaiveDate) -> Snapshot {
    let mut out = Snapshot::new();
    for c in [UNDERLYING_TICKS, BARS, OPTION_CHAINS] {
        let docs = live[c]
            .iter()
            .filter(|d| doc_day(cfg, d) == Some(day))
            .cloned()
            .collect();
        out.insert(c.to_string(), docs);
    }
    let latest = |coll: &str, key: &dyn Fn(&Document) -> String| {
        let mut best: BTreeMap<String, Document> = BTreeMap::new();
        for d in &out[coll] {
            let k = key(d);
            let newer = best.get(&k).is_none_or(|b| {
                d.get_i64("source_seq").unwrap_or(0) > b.get_i64("source_seq").unwrap_or(0)
            });
            if newer {
                let mut d = d.clone();
                d.insert("_id", k.clone());
                best.insert(k, d);
            }
        }
        best.into_values().collect::<Vec<_>>()
    };
    let ticks = latest(UNDERLYING_TICKS, &|d| {
        d.get_str("product").unwrap_or("").to_owned()
    });
    let chains = latest(OPTION_CHAINS, &|d| {
        format!(
            "{}:{}",
            d.get_str("product").unwrap_or(""),
            d.get_str("expiry").unwrap_or("")
        )
    });
    out.insert(UNDERLYING_LATEST.into(), ticks);
    out.insert(CHAIN_LATEST.into(), chains);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_days_each_replay_like_their_live_run() {
    let (env, cfg) = TestEnv::start_small_day().await;
    // Two days generated one after the other, then re-published interleaved
    // message by message (as a back-fill running beside live data would be).
    feed_day(&env, &cfg, DAY, &["NIFTY", "AAPL"], 21).await;
    feed_day(&env, &cfg, NEXT_DAY, &["NIFTY", "AAPL"], 22).await;
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let stream = env.js.get_stream(STREAM_RAW).await.expect("MD_RAW");
    stream.purge().await.expect("purge");
    let split = raw
        .iter()
        .position(|m| {
            let ts = ds_processors::replay::source::event_time(&m.subject, &m.payload)
                .expect("event time");
            ts > 1_736_985_600_000_000_000 // 2025-01-16T00:00Z: past every 2025-01-15 session
        })
        .expect("second day");
    let (first, second) = raw.split_at(split);
    let mut interleaved = Vec::with_capacity(raw.len());
    let (mut a, mut b) = (first.iter(), second.iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => interleaved.extend(x.into_iter().chain(y)),
        }
    }
    let mut publisher = ds_runtime::publish::Publisher::new(env.js.clone(), 512);
    for m in interleaved {
        let mut h = async_nats::HeaderMap::new();
        if let Some(s) = &m.schema {
            h.insert("Ds-Schema", s.as_str());
        }
        h.insert(
            "Nats-Msg-Id",
            format!("{}:interleaved", m.msg_id.clone().unwrap_or_default()).as_str(),
        );
        publisher
            .publish_raw(m.subject.clone(), h, m.payload.clone().into())
            .await
            .expect("publish");
    }
    publisher.flush().await.expect("flush");

    let enrich = enricher(&env);
    let project = projector(&env);
    let live = wait_live(&env, &cfg, &["NIFTY", "AAPL"]).await;
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");

    for day in [DAY, NEXT_DAY] {
        let mut opts = ReplayOptions::new(date(day));
        opts.products = vec!["NIFTY".into(), "AAPL".into()];
        let report = run_replay(&env, &cfg, opts).await.expect("replay");
        assert!(
            report.messages() > report.day_messages(),
            "the day's range holds the other day's messages too"
        );
        let target = replay_db(&env, day);
        let got = projection_snapshot(&target).await;
        let want = live_for_day(&cfg, &live, date(day));
        assert!(!want[UNDERLYING_TICKS].is_empty());
        assert_eq!(got, want, "{day} replays unlike its live run");
    }
}

/// Not a test: the figure for the closing note. A full synthetic day (1 s ticks)
/// of the 4 default products processed live at maximum speed, then replayed into
/// a new database. `cargo test -p ds-tests --test replay -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: minutes"]
async fn full_day_replay_speed() {
    let env = TestEnv::start().await;
    let cfg = env.cfg.clone();
    let products = ["NIFTY", "BANKNIFTY", "AAPL", "TSLA"];
    let fed = feed_day(&env, &cfg, DAY, &products, 1).await;
    let raw = stream_len(&env.js, STREAM_RAW).await;
    eprintln!(
        "fed {} ticks + {} chains in {:?}",
        fed.ticks, fed.chains, fed.elapsed
    );
    let started = Instant::now();
    let enrich = enricher(&env);
    let project = projector(&env);
    let ticks = fed.ticks;
    eventually(
        "live projections complete",
        Duration::from_secs(1200),
        || async {
            let enriched_done = stream_len(&env.js, STREAM_ENRICHED).await;
            let projected = count(&env.db, UNDERLYING_TICKS).await;
            (projected == ticks && enriched_done > 0).then_some(())
        },
    )
    .await;
    let stream = env.js.get_stream(STREAM_RAW).await.expect("MD_RAW");
    for p in products {
        let name = ds_processors::enrich::partition::consumer_of(p);
        eventually("enricher caught up", Duration::from_secs(600), || async {
            let i = stream.consumer_info(&name).await.ok()?;
            (i.num_pending == 0 && i.num_ack_pending == 0).then_some(())
        })
        .await;
    }
    let chains_target = fed.chains;
    eventually("chains projected", Duration::from_secs(600), || async {
        (count(&env.db, OPTION_CHAINS).await == chains_target).then_some(())
    })
    .await;
    let live_took = started.elapsed();
    enrich.stop().await.expect("stops");
    project.stop().await.expect("stops");

    let started = Instant::now();
    let report = run_replay(&env, &cfg, ReplayOptions::new(date(DAY)))
        .await
        .expect("replay");
    let replay_took = started.elapsed();
    eprintln!(
        "{raw} raw messages: live enrich+project {:.1} s ({:.0} msgs/s); replay into a new database {:.1} s ({:.0} msgs/s, {} documents)",
        live_took.as_secs_f64(),
        raw as f64 / live_took.as_secs_f64(),
        replay_took.as_secs_f64(),
        report.rate(),
        report.documents()
    );
    let target = replay_db(&env, DAY);
    assert_eq!(count(&target, UNDERLYING_TICKS).await, ticks);
    assert_eq!(count(&target, OPTION_CHAINS).await, chains_target);
}
