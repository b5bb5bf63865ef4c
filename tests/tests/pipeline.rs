//! The durable pipeline through real servers: golden output, exactly-once
//! projections, duplicates, poison messages and the DLQ, a MongoDB outage and a
//! nats-server restart.

use ds_runtime::collections::{PROJECTION_OFFSETS, UNDERLYING_TICKS};
use ds_runtime::config::Config;
use ds_schemas::subjects::{STREAM_DLQ, STREAM_ENRICHED, STREAM_RAW};
use ds_schemas::{OptionChain, OptionQuote, UnderlyingTick};
use ds_tests::*;
use prost::Message;
use std::time::Duration;

const DAY: &str = "2025-01-15";
/// How long the projector may take to catch up.
const WITHIN: Duration = Duration::from_secs(90);

/// Waits until the projections equal the reference enrichment of everything in
/// `MD_RAW`, projected into a database of its own.
async fn projected_as_reference(env: &TestEnv, cfg: &Config) {
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let expected = reference_enrichment(cfg, &raw);
    let (got, want) = projections_and_reference(&env.db, &expected, WITHIN).await;
    assert_eq!(got, want);
}

/// The golden digest of the small day's enrichment: message counts per kind and
/// a hash of every payload. Set DS_BLESS=1 to rewrite it after a deliberate change.
fn check_golden(outputs: &[Out]) {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut all = Vec::new();
    for (id, _, p) in outputs {
        *counts
            .entry(id.split(':').next().unwrap_or("").to_owned())
            .or_default() += 1;
        all.extend_from_slice(p);
    }
    let text = format!(
        "{}\npayload_fnv {:016x}\n",
        counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        fnv(&all)
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/small_day.txt");
    if std::env::var_os("DS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write golden");
    }
    let golden =
        std::fs::read_to_string(&path).expect("tests/golden/small_day.txt (DS_BLESS=1 to create)");
    assert_eq!(
        text, golden,
        "enrichment output changed; if deliberate, re-run with DS_BLESS=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_day_enriched_and_projected_exactly_once() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, DAY, &["NIFTY", "AAPL"], 42).await;
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let expected = reference_enrichment(&cfg, &raw);
    check_golden(&expected);

    let enrich = enricher(&env);
    let project = projector(&env);
    wait_enriched(&env.js, expected.len(), WITHIN).await;
    assert_same_outputs(&expected, &enriched_outputs(&env.js).await);

    let (got, want) = projections_and_reference(&env.db, &expected, WITHIN).await;
    assert_eq!(got, want, "projections differ from the reference");
    assert!(want[UNDERLYING_TICKS].len() == 376 + 391);
    let offsets = count(&env.db, PROJECTION_OFFSETS).await;
    assert_eq!(offsets, 1);
    assert_eq!(stream_len(&env.js, STREAM_DLQ).await, 0);
    enrich.stop().await.expect("stops");
    project.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_twice_has_one_effect() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let project = projector(&env);
    let tick = UnderlyingTick {
        product: "NIFTY".into(),
        price: 21500.0,
        ts_unix_ns: 1_736_912_700_000_000_000,
        seq: 1,
        volume: 5,
    };
    for _ in 0..2 {
        let h = ds_runtime::headers::for_message::<UnderlyingTick>("NIFTY:underlying:1");
        env.js
            .publish_with_headers("md.raw.NIFTY.underlying", h, tick.encode_to_vec().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    assert_eq!(
        stream_len(&env.js, STREAM_RAW).await,
        1,
        "JetStream de-duplicates by Nats-Msg-Id"
    );
    eventually("the tick projected", Duration::from_secs(30), || async {
        (count(&env.db, UNDERLYING_TICKS).await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stream_len(&env.js, STREAM_ENRICHED).await, 1);
    assert_eq!(count(&env.db, UNDERLYING_TICKS).await, 1);
    enrich.stop().await.expect("stops");
    project.stop().await.expect("stops");
}

fn chain(product: &str, strikes: Vec<f64>, quotes: usize, price: f64) -> OptionChain {
    let q = OptionQuote {
        strike: 0.0,
        bid: price,
        ask: price + 1.0,
        last: price,
        volume: 1,
        open_interest: 10,
    };
    OptionChain {
        product: product.into(),
        expiry: "2025-01-30".into(),
        spot: 21500.0,
        ts_unix_ns: 1_736_912_700_000_000_000,
        seq: 1,
        strikes,
        calls: vec![q; quotes],
        puts: vec![q; quotes],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dlq_with_its_reason_and_valid_traffic_flows() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let publish = |subject: &'static str, id: &'static str, payload: Vec<u8>| {
        let js = env.js.clone();
        async move {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", id);
            js.publish_with_headers(subject, h, payload.into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
    };
    let good = |seq: u64, price: f64| UnderlyingTick {
        product: "NIFTY".into(),
        price,
        ts_unix_ns: 1_736_912_700_000_000_000 + seq as i64 * 1_000_000_000,
        seq,
        volume: 1,
    };
    publish(
        "md.raw.NIFTY.underlying",
        "g1",
        good(1, 21500.0).encode_to_vec(),
    )
    .await;
    publish("md.raw.NIFTY.underlying", "p1", vec![0xff, 0xfe, 0x01]).await; // undecodable
    publish(
        "md.raw.NIFTY.underlying",
        "p2",
        good(2, f64::NAN).encode_to_vec(),
    )
    .await; // non-finite
    publish(
        "md.raw.NIFTY.underlying",
        "p3",
        good(3, -5.0).encode_to_vec(),
    )
    .await; // negative
    publish(
        "md.raw.NIFTY.chain.2025-01-30",
        "p4",
        chain("NIFTY", vec![21400.0, 21500.0], 1, 50.0).encode_to_vec(),
    )
    .await; // length mismatch
    publish("md.raw.NIFTY.trades", "p5", good(4, 1.0).encode_to_vec()).await; // malformed subject
    publish(
        "md.raw.FOO.underlying",
        "p6",
        UnderlyingTick {
            product: "FOO".into(),
            ..good(5, 10.0)
        }
        .encode_to_vec(),
    )
    .await; // unknown product
    publish(
        "md.raw.NIFTY.underlying",
        "g2",
        good(6, 21501.0).encode_to_vec(),
    )
    .await;

    let letters = eventually("six dead letters", Duration::from_secs(30), || async {
        let l = ds_runtime::dlq::list(&env.js, 100).await.ok()?;
        (l.len() >= 6).then_some(l)
    })
    .await;
    assert_eq!(letters.len(), 6, "{letters:#?}");
    let reason = |subject: &str| -> String {
        letters
            .iter()
            .filter(|e| e.letter.subject == subject)
            .map(|e| e.letter.error.clone())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let nifty = reason("md.raw.NIFTY.underlying");
    assert!(nifty.contains("undecodable"), "{nifty}");
    assert!(nifty.contains("not a positive finite number"), "{nifty}");
    assert!(
        reason("md.raw.NIFTY.chain.2025-01-30").contains("length mismatch"),
        "{}",
        reason("md.raw.NIFTY.chain.2025-01-30")
    );
    assert!(reason("md.raw.NIFTY.trades").contains("malformed subject"));
    assert!(reason("md.raw.FOO.underlying").contains("unknown product FOO"));
    for e in &letters {
        assert!(!e.letter.payload.is_empty() || e.letter.subject.contains("trades"));
        assert!(
            e.dlq_subject.starts_with("md.dlq.enrich."),
            "{}",
            e.dlq_subject
        );
    }
    let foo = letters
        .iter()
        .find(|e| e.letter.subject == "md.raw.FOO.underlying")
        .expect("FOO letter");
    assert_eq!(foo.dlq_subject, "md.dlq.enrich.FOO");
    // Valid traffic kept flowing: both good ticks enriched.
    let enriched = eventually("good ticks enriched", Duration::from_secs(10), || async {
        let v = enriched_outputs(&env.js).await;
        (v.iter()
            .filter(|(id, _, _)| id.starts_with("EnrichedUnderlying"))
            .count()
            == 2)
            .then_some(v)
    })
    .await;
    assert!(enriched
        .iter()
        .all(|(_, s, _)| s.starts_with("md.enriched.NIFTY.")));

    // Fix the cause (FOO becomes a configured product) and re-drive its letter.
    enrich.stop().await.expect("stops");
    let mut cfg = env.cfg.clone();
    let mut foo_spec = cfg.products[2].clone();
    foo_spec.name = "FOO".into();
    cfg.products.push(foo_spec);
    let enrich = enricher_with(&env, std::sync::Arc::new(cfg));
    // Re-driven as the gateway does it: a request naming the sequence, served
    // by the responder under the `redrive` identity (the gateway cannot write
    // md.raw.> itself).
    let responder = redrive(&env);
    let gateway = env.connect(ds_runtime::auth::Component::Gateway).await;
    eventually("the re-drive answered", Duration::from_secs(10), || async {
        ds_runtime::dlq::request_retry(&gateway, foo.dlq_seq)
            .await
            .ok()
    })
    .await;
    eventually(
        "FOO enriched after retry",
        Duration::from_secs(30),
        || async {
            enriched_outputs(&env.js)
                .await
                .iter()
                .any(|(_, s, _)| s == "md.enriched.FOO.underlying")
                .then_some(())
        },
    )
    .await;
    assert!(
        ds_runtime::dlq::show(&env.js, foo.dlq_seq).await.is_err(),
        "re-driven letter removed"
    );
    assert!(matches!(
        ds_runtime::dlq::request_retry(&gateway, foo.dlq_seq).await,
        Err(ds_runtime::dlq::RetryError::NotFound(_))
    ));
    responder.stop().await.expect("responder stops");
    enrich.stop().await.expect("stops");
}

/// Runs the enricher and the projector on the small day through `outage` (which
/// feeds the day and takes a server down and up), then checks that the
/// projections equal the reference.
async fn loses_nothing_through(outage: impl AsyncFnOnce(&mut TestEnv, &Config)) {
    let (mut env, cfg) = TestEnv::start_small_day().await;
    let enrich = enricher(&env);
    let project = projector(&env);
    outage(&mut env, &cfg).await;
    projected_as_reference(&env, &cfg).await;
    enrich.stop().await.expect("stops");
    project.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mongodb_outage_loses_nothing() {
    loses_nothing_through(async |env: &mut TestEnv, cfg: &Config| {
        // MongoDB goes down, the day flows in meanwhile, and 10 s later it is back.
        env.mongod.stop();
        feed_day(env, cfg, DAY, &["NIFTY"], 3).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        env.mongod.restart().expect("mongod restarts");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_loses_nothing() {
    loses_nothing_through(async |env: &mut TestEnv, cfg: &Config| {
        feed_day(env, cfg, DAY, &["NIFTY"], 3).await;
        wait_enriched(&env.js, 1, WITHIN).await;
        // The enricher's consumers keep their state in memory only (its checkpoints
        // in `ds_checkpoints` are the positions that count): the restart drops them,
        // and the enricher rebuilds them from its checkpoints.
        env.nats.restart().expect("nats-server restarts");
        eventually(
            "JetStream answers again",
            Duration::from_secs(30),
            || async { env.js.get_stream(STREAM_RAW).await.ok().map(|_| ()) },
        )
        .await;
        feed_day(env, cfg, "2025-01-16", &["NIFTY"], 4).await;
    })
    .await;
}
