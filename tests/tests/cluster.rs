//! A 3-node JetStream cluster on loopback with R3 streams: the live feed,
//! an enricher and a projector run against all three URLs; the `MD_RAW` leader
//! is killed with SIGKILL mid-run and restarted later. Nothing is lost: the
//! feed's sequence numbers are contiguous in `MD_RAW`, publishing went on while
//! the node was down, and enrichment and projections equal the reference.

use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::servers::{Mongod, MongodOptions, NatsCluster};
use ds_runtime::topology::{self, ApplyOptions};
use ds_schemas::subjects::STREAM_RAW;
use ds_schemas::{OptionChain, UnderlyingTick};
use ds_tests::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Applies the topology with three replicas once a fresh cluster has elected
/// its JetStream meta leader (after the servers answer).
async fn apply_r3(js: &async_nats::jetstream::Context) {
    let opts = ApplyOptions {
        replicas: Some(3),
        max_age: None,
    };
    topology::apply_when_ready(js, opts, Duration::from_secs(30))
        .await
        .expect("topology applied");
}

async fn raw_leader(js: &async_nats::jetstream::Context) -> Option<String> {
    let mut s = js.get_stream(STREAM_RAW).await.ok()?;
    s.info().await.ok()?.cluster.as_ref()?.leader.clone()
}

/// Every feed sequence per product (ticks) and per product + expiry (chains) is
/// present exactly once, without gaps; returns the ticks' event times.
fn assert_contiguous(raw: &[Stored]) -> Vec<i64> {
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut tick_times = Vec::new();
    for m in raw {
        if m.subject.ends_with(".underlying") {
            let t: UnderlyingTick = ds_runtime::headers::decode(None, &m.payload).expect("tick");
            seqs.entry(t.product).or_default().push(t.seq);
            tick_times.push(t.ts_unix_ns);
        } else {
            let c: OptionChain = ds_runtime::headers::decode(None, &m.payload).expect("chain");
            seqs.entry(format!("{}:{}", c.product, c.expiry))
                .or_default()
                .push(c.seq);
        }
    }
    assert!(seqs.contains_key("NIFTY") && seqs.contains_key("AAPL"));
    for (key, mut v) in seqs {
        v.sort_unstable();
        let first = v[0];
        for (i, s) in v.iter().enumerate() {
            assert_eq!(
                *s,
                first + i as u64,
                "{key}: feed sequence {} missing or duplicated in MD_RAW",
                first + i as u64
            );
        }
    }
    tick_times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_loses_nothing_and_publishing_goes_on() {
    let started = Instant::now();
    init_logging();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = NatsCluster::start(&dir.path().join("nats"), 3).expect("3 nats-servers");
    let mongod = Mongod::start(MongodOptions {
        db_path: dir.path().join("mongo"),
        ..Default::default()
    })
    .expect("mongod starts");
    let urls = cluster.urls();
    let creds = cluster.creds.clone().expect("the cluster has users");
    let identity = |c: Component| creds.identity(c).expect("credential");
    let client = connect_as(&urls, &identity(Component::Admin)).await;
    let js = ds_runtime::nats::jetstream(client.clone());
    apply_r3(&js).await;
    let mut s = js.get_stream(STREAM_RAW).await.expect("MD_RAW");
    assert_eq!(s.info().await.expect("info").config.num_replicas, 3);

    let mut cfg = Config {
        nats_url: Some(urls.clone()),
        mongo_url: Some(mongod.url.clone()),
        dev: true,
        ..Config::default()
    };
    cfg.feed.tick_interval_ms = 50;
    let cfg = Arc::new(cfg);
    let db = ds_runtime::mongo::connect(&mongod.url, &cfg.mongo_db)
        .await
        .expect("MongoDB");
    // The components connect with all three URLs, as deployments do.
    let connect = |c: Component| {
        let (urls, who) = (urls.clone(), identity(c));
        async move { ds_runtime::nats::jetstream(connect_as(&urls, &who).await) }
    };
    let (feed_js, enrich_js, project_js) = (
        connect(Component::Feed).await,
        connect(Component::Enrich).await,
        connect(Component::Project).await,
    );
    let feed = spawn_live_feed(Config::clone(&cfg), feed_js, 5, &["NIFTY", "AAPL"]);
    let enrich = {
        let cfg = cfg.clone();
        Running::spawn(move |s| ds_processors::enrich::run(cfg, enrich_js, s))
    };
    let project = {
        let db = db.clone();
        Running::spawn(move |s| ds_processors::project::run(project_js, db, s))
    };

    eventually("a steady feed", Duration::from_secs(20), || async {
        (stream_len(&js, STREAM_RAW).await >= 60).then_some(())
    })
    .await;
    // The hard case: the node leading MD_RAW.
    let leader = eventually("an MD_RAW leader", Duration::from_secs(10), || {
        raw_leader(&js)
    })
    .await;
    let victim = leader
        .trim_start_matches('n')
        .parse::<usize>()
        .expect("server names are n<i>")
        - 1;
    let before = stream_len(&js, STREAM_RAW).await;
    let down_at = now_ns();
    cluster.servers[victim].kill9();
    tracing::info!(%leader, before, "killed the MD_RAW leader");

    // Publishing goes on through the other two nodes.
    eventually(
        "publishing while a node is down",
        Duration::from_secs(30),
        || async { (stream_len(&js, STREAM_RAW).await >= before + 80).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let up_at = now_ns();
    cluster.servers[victim]
        .restart()
        .expect("the node restarts");
    let after_restart = stream_len(&js, STREAM_RAW).await;
    eventually(
        "publishing after the restart",
        Duration::from_secs(20),
        || async { (stream_len(&js, STREAM_RAW).await >= after_restart + 60).then_some(()) },
    )
    .await;
    feed.stop()
        .await
        .expect("the feed kept publishing throughout");

    let raw = read_all(&js, STREAM_RAW, "md.raw.>").await;
    let tick_times = assert_contiguous(&raw);
    let during = tick_times
        .iter()
        .filter(|t| **t > down_at && **t < up_at)
        .count();
    assert!(
        during >= 20,
        "only {during} ticks were published while the node was down"
    );

    let expected = reference_enrichment(&cfg, &raw);
    wait_enriched(&js, expected.len(), Duration::from_secs(60)).await;
    assert_same_outputs(&expected, &enriched_outputs(&js).await);

    let (got, want) = projections_and_reference(&db, &expected, Duration::from_secs(60)).await;
    assert_eq!(got, want, "projections differ from the reference");

    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
    tracing::info!(
        raw = raw.len(),
        enriched = expected.len(),
        during,
        secs = started.elapsed().as_secs_f64(),
        "cluster run complete"
    );
    drop(client);
    cluster.stop();
}
