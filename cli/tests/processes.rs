//! The consumer groups as separate processes of the real binary: two enrichers
//! give the same output as one, and an enricher and a projector killed with
//! SIGKILL mid-stream and replaced lose nothing and double nothing.

use ds_runtime::auth::Component;
use ds_schemas::subjects::{STREAM_ENRICHED, STREAM_RAW};
use ds_tests::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn component(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_deltastream"))
        .args(args)
        .env("DS_NATS_URL", &env.nats.url)
        // Each process with its own identity; enrich also runs the re-drive responder.
        .env(
            "DS_NATS_CREDS",
            env.creds()
                .path(Component::parse(args[0]).expect("a component's subcommand")),
        )
        .env(
            "DS_NATS_REDRIVE_CREDS",
            env.creds().path(Component::Redrive),
        )
        .env("DS_MONGO_URL", &env.mongod.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("deltastream starts")
}

fn kill9(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn sigterm(mut c: Child) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let _ = c.wait();
}

async fn check_against_reference(env: &TestEnv, cfg: &ds_runtime::config::Config) {
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let expected = reference_enrichment(cfg, &raw);
    wait_enriched(&env.js, expected.len(), Duration::from_secs(120)).await;
    // A little longer: nothing more may arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_same_outputs(&expected, &enriched_outputs(&env.js).await);
    let (got, want) = projections_and_reference(&env.db, &expected, Duration::from_secs(120)).await;
    assert_eq!(got, want, "projections differ from an undisturbed run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_enrichers_give_the_same_output_as_one() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let a = component(&env, &["enrich"]);
    let b = component(&env, &["enrich"]);
    let p = component(&env, &["project"]);
    feed_day(
        &env,
        &cfg,
        "2025-01-15",
        &["NIFTY", "BANKNIFTY", "AAPL", "TSLA"],
        11,
    )
    .await;
    check_against_reference(&env, &cfg).await;
    // Both instances share the partitions once the group has balanced (a lease
    // moves at a renewal, every 2 s; the small day may be done before that).
    let kv = env.js.get_key_value("ds_leases").await.expect("leases");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let owners = loop {
        let mut owners = std::collections::BTreeSet::new();
        for partition in ds_processors::enrich::partitions(["NIFTY", "BANKNIFTY", "AAPL", "TSLA"]) {
            if let Ok(Some(v)) = kv.get(format!("enrich.owner.{partition}")).await {
                owners.insert(String::from_utf8_lossy(&v).to_string());
            }
        }
        if owners.len() == 2 || std::time::Instant::now() > deadline {
            break owners;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        owners.len(),
        2,
        "partitions spread over both instances: {owners:?}"
    );
    sigterm(a);
    sigterm(b);
    sigterm(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_enricher_and_projector_are_replaced_without_loss_or_doubles() {
    let env = TestEnv::start().await;
    let mut cfg = small_day_config(env.cfg.clone());
    cfg.feed.tick_interval_ms = 5_000;
    // Publish the day first, then let the first pair start on it.
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY", "AAPL"], 5).await;
    let total_raw = stream_len(&env.js, STREAM_RAW).await;
    let enrich = component(&env, &["enrich"]);
    let project = component(&env, &["project"]);
    eventually(
        "the first enricher well under way",
        Duration::from_secs(60),
        || async { (stream_len(&env.js, STREAM_ENRICHED).await > total_raw / 3).then_some(()) },
    )
    .await;
    kill9(enrich);
    kill9(project);
    // Their replacements take over (the dead one's leases expire within ~10 s).
    let enrich = component(&env, &["enrich"]);
    let project = component(&env, &["project"]);
    check_against_reference(&env, &cfg).await;
    sigterm(enrich);
    sigterm(project);
}
