//! A market-scale universe through real servers: a closed market publishes
//! nothing live (with an injected clock, no waiting for real hours), the 205
//! products of `nse-fo` (16 groups and the guard) are shared fairly by enrichers and
//! taken over when one dies or leaves, a slice of an `nse-fo` day goes through
//! two enrichers and the projector exactly as the reference says (and its
//! replay rebuilds the same projections), and REST
//! lists the universe in pages with each product's market status.

use ds_analytics::market::{market_status, Exchange, Universe};
use ds_processors::enrich::guard;
use ds_processors::feed::hours::Hours;
use ds_processors::feed::FeedOptions;
use ds_processors::group::Member;
use ds_processors::time::Clock;
use ds_schemas::subjects::STREAM_RAW;
use ds_tests::*;
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2025-01-26 08:30 UTC: a Sunday, 14:00 in India.
const SUNDAY: i64 = 1_737_880_200_000_000_000;
/// 2025-01-27 03:50 UTC: Monday 09:20 in India (NSE open), Sunday 22:50 in New York.
const MONDAY_NSE_OPEN: i64 = 1_737_949_800_000_000_000;

/// Messages in `MD_RAW` on subjects matching `filter`.
async fn raw_messages(env: &TestEnv, filter: &str) -> u64 {
    let stream = env.js.get_stream(STREAM_RAW).await.expect("MD_RAW");
    let mut listing = stream
        .info_builder()
        .subjects(filter)
        .fetch()
        .await
        .expect("subjects");
    let mut n = 0;
    while let Some(item) = listing.next().await {
        n += item.expect("subject").1 as u64;
    }
    n
}

fn nse_fo() -> Vec<ds_analytics::market::ProductSpec> {
    Universe::by_name("nse-fo").expect("nse-fo").into_products()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_market_publishes_nothing_live() {
    let env = TestEnv::start().await;
    let mut cfg = env.cfg.clone();
    cfg.products = Universe::demo().expect("demo").into_products();
    cfg.feed.tick_interval_ms = 20;
    // The feed's clock: the time the test sets, running at the real pace.
    let base = Arc::new(AtomicI64::new(SUNDAY));
    let clock = {
        let (base, origin) = (base.clone(), Instant::now());
        Clock::from_fn(move || {
            base.load(Ordering::SeqCst) + i64::try_from(origin.elapsed().as_nanos()).unwrap_or(0)
        })
    };
    let js = env.js.clone();
    let feed = Running::spawn(move |s| async move {
        let opts = FeedOptions {
            seed: Some(3),
            hours: Hours::Exchange,
            clock,
            ..FeedOptions::default()
        };
        ds_processors::feed::run(&cfg, js, opts, s)
            .await
            .map(|_| ())
    });
    // Sunday: only the 24/7 product trades.
    eventually("BTC ticks on a Sunday", Duration::from_secs(30), || async {
        (raw_messages(&env, "md.raw.BTC.underlying").await >= 10).then_some(())
    })
    .await;
    for p in ["NIFTY", "BANKNIFTY", "AAPL", "TSLA"] {
        assert_eq!(
            raw_messages(&env, &format!("md.raw.{p}.>")).await,
            0,
            "{p} published while its market is closed"
        );
    }
    // Monday morning in India: NSE opens, New York still sleeps.
    base.store(MONDAY_NSE_OPEN, Ordering::SeqCst);
    eventually(
        "NIFTY ticks once NSE opens",
        Duration::from_secs(30),
        || async {
            (raw_messages(&env, "md.raw.NIFTY.underlying").await >= 3
                && raw_messages(&env, "md.raw.BANKNIFTY.underlying").await >= 3)
                .then_some(())
        },
    )
    .await;
    feed.stop().await.expect("feed stops");
    for p in ["AAPL", "TSLA"] {
        assert_eq!(raw_messages(&env, &format!("md.raw.{p}.>")).await, 0, "{p}");
    }
    let nifty = read_all(&env.js, STREAM_RAW, "md.raw.NIFTY.underlying").await;
    for m in nifty {
        let t: ds_schemas::UnderlyingTick =
            ds_schemas::decode(m.schema.as_deref(), &m.payload).expect("tick");
        assert!(
            market_status(Exchange::Nse, t.ts_unix_ns).open,
            "a NIFTY tick stamped outside the session: {}",
            t.ts_unix_ns
        );
    }
}

/// What the members of a group hold, checked: every partition held once, and
/// each member within its fair share (⌈partitions / members⌉).
fn shares(members: &[Member], partitions: &[String]) -> Option<Vec<usize>> {
    let mut seen = BTreeSet::new();
    let fair = partitions.len().div_ceil(members.len());
    let mut counts = Vec::new();
    for m in members {
        let held: Vec<&str> = m.held().collect();
        if held.len() > fair {
            return None;
        }
        for p in &held {
            assert!(seen.insert(p.to_string()), "{p} held twice");
        }
        counts.push(held.len());
    }
    (seen.len() == partitions.len()).then_some(counts)
}

/// Lease rounds of `members` until their shares settle (a round every 200 ms:
/// the leases live 10 s, so a member that stopped renewing drops out).
async fn settle(members: &mut [Member], partitions: &[String], what: &str) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for m in members.iter_mut() {
            m.round(partitions).await.expect("lease round");
        }
        if let Some(counts) = shares(members, partitions) {
            return counts;
        }
        assert!(Instant::now() < deadline, "shares never settled: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichers_share_205_products_fairly_and_take_over() {
    let env = TestEnv::start().await;
    let products = nse_fo();
    let partitions = ds_processors::enrich::partitions(products.iter().map(|p| p.name.as_str()));
    // 205 products in 16 groups, and the guard.
    assert_eq!(partitions.len(), 17);
    assert_eq!(
        partitions.last().map(String::as_str),
        Some(guard::PARTITION)
    );
    let mut members = Vec::new();
    for id in ["enricher-a", "enricher-b", "enricher-c"] {
        members.push(
            Member::join(&env.js, "enrich", id.to_owned())
                .await
                .expect("joins"),
        );
    }
    let counts = settle(&mut members, &partitions, "three members").await;
    assert_eq!(counts.iter().sum::<usize>(), 17);
    assert!(counts.iter().all(|n| (5..=6).contains(n)), "{counts:?}");

    // One dies (stops renewing, leases left to expire): the others take its share.
    let dead = members.pop().expect("three");
    let held_by_dead: Vec<String> = dead.held().map(str::to_owned).collect();
    drop(dead);
    let counts = settle(&mut members, &partitions, "after a member died").await;
    assert_eq!(counts.iter().sum::<usize>(), 17);
    assert!(counts.iter().all(|n| (8..=9).contains(n)), "{counts:?}");
    for p in &held_by_dead {
        assert!(
            members.iter().any(|m| m.held().any(|h| h == p)),
            "{p} of the dead member not taken over"
        );
    }

    // One leaves cleanly: the last takes everything at once (no lease expiry).
    let mut leaving = members.pop().expect("two");
    leaving.leave().await;
    let counts = settle(&mut members, &partitions, "after a member left").await;
    assert_eq!(counts, [17]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_of_an_nse_fo_day_through_two_enrichers() {
    let mut env = TestEnv::start().await;
    // The enrichers and the projector run the whole universe (17 partitions);
    // the day is a slice: the 5 indices and 7 stocks, a tick every 15 minutes.
    env.cfg.products = nse_fo();
    let mut cfg = env.cfg.clone();
    cfg.feed.tick_interval_ms = 15 * 60_000;
    let slice: Vec<&str> = cfg.products[..12].iter().map(|p| p.name.as_str()).collect();
    let report = feed_day(&env, &cfg, "2025-11-24", &slice, 19).await;
    assert_eq!(report.ticks, 12 * 26);
    let raw = read_all(&env.js, STREAM_RAW, "md.raw.>").await;
    let expected = reference_enrichment(&cfg, &raw);
    let enrichers = [enricher(&env), enricher(&env)];
    let project = projector(&env);
    wait_enriched(&env.js, expected.len(), Duration::from_secs(180)).await;
    let found = enriched_outputs(&env.js).await;
    assert_same_outputs(&expected, &found);
    // NIFTY lists 101 strikes; its far wings are marked illiquid.
    let nifty: Vec<ds_schemas::EnrichedChain> = found
        .iter()
        .filter(|(_, s, _)| s.starts_with("md.enriched.NIFTY.chain."))
        .map(
            |(_, s, p)| match ds_schemas::enriched::Enriched::decode(None, s, p) {
                Ok(ds_schemas::enriched::Enriched::Chain(c)) => c,
                other => panic!("not a chain: {other:?}"),
            },
        )
        .collect();
    assert!(!nifty.is_empty());
    assert!(nifty.iter().all(|c| c.strikes.len() == 101));
    assert!(
        nifty
            .iter()
            .flat_map(|c| c.calls.iter().chain(&c.puts))
            .any(|q| q.illiquid),
        "no illiquid wing among NIFTY's 101 strikes"
    );
    let (got, want) = projections_and_reference(&env.db, &expected, Duration::from_secs(120)).await;
    assert_eq!(got, want, "projections differ from the reference");
    // The day replayed (one reader over the universe's subjects, two workers)
    // rebuilds the same projections.
    for e in enrichers {
        e.stop().await.expect("enricher stops");
    }
    let mut opts = ds_processors::replay::ReplayOptions::new("2025-11-24".parse().expect("date"));
    opts.target = ds_processors::replay::Target::Database("nse_fo_replay".into());
    let report = run_replay(&env, &cfg, opts).await.expect("replay");
    assert_eq!(report.products.len(), slice.len());
    assert!(report.products.iter().all(|p| p.completed));
    let replayed = projection_snapshot(&env.db.client().database("nse_fo_replay")).await;
    assert_eq!(replayed, got, "the replayed day differs from the live one");
    project.stop().await.expect("projector stops");
}

/// `GET path` as JSON, asserting 200.
async fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = http_get(addr, path, &[]).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lists_the_universe_in_pages_with_market_status() {
    let mut env = TestEnv::start().await;
    let mut products = nse_fo();
    products.extend(Universe::by_name("crypto").expect("crypto").into_products());
    env.cfg.products = products.clone();
    // The last tick of NIFTY, as the live view gets it.
    let tick = ds_schemas::EnrichedUnderlying {
        product: "NIFTY".into(),
        price: 26_012.5,
        ts_unix_ns: 1_763_961_300_000_000_000,
        seq: 1,
        session_open: 26_000.0,
        session_high: 26_020.0,
        session_low: 25_990.0,
        change_pct: 0.048,
        source_seq: 1,
        ..Default::default()
    };
    let mut publisher = ds_runtime::publish::Publisher::new(env.js.clone(), 8);
    publisher
        .publish(
            "md.enriched.NIFTY.underlying".into(),
            "EnrichedUnderlying:1",
            &tick,
        )
        .await
        .expect("published");
    publisher.flush().await.expect("acked");
    let (addr, gw) = gateway(&env);
    eventually("gateway answers", Duration::from_secs(15), || async {
        tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
    })
    .await;

    // Pages of 50 follow each other in the universe's order, and end.
    let mut names = Vec::new();
    let mut path = "/api/v1/products?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let before = ds_processors::time::now_unix_ns();
        let page = get_json(&addr, &path).await;
        let after = ds_processors::time::now_unix_ns();
        pages += 1;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 50);
        for p in items {
            names.push(p["name"].as_str().expect("name").to_owned());
            let spec = products
                .iter()
                .find(|s| s.name == p["name"])
                .expect("a configured product");
            let open = p["market"]["open"].as_bool().expect("market.open");
            // The gateway read its clock between `before` and `after`.
            assert!(
                [before, after]
                    .iter()
                    .any(|t| spec.market_status(*t).open == open),
                "{p}"
            );
            assert_eq!(p["market"]["status"], if open { "open" } else { "closed" });
            assert_eq!(p["lot_size"], spec.lot_size);
            assert_eq!(p["listed_strikes"], spec.listed_strikes.expect("listed"));
            if spec.exchange == Exchange::Crypto {
                assert!(open && p["market"]["next_open"].is_null(), "{p}");
            } else if !open {
                assert!(p["market"]["next_open"].is_string(), "{p}");
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/products?limit=50&cursor={c}"),
            None => break,
        }
    }
    let want: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, want);
    assert_eq!(pages, 5);
    // A cursor past the end is an empty last page.
    let past = get_json(&addr, "/api/v1/products?cursor=500").await;
    assert_eq!(past["items"].as_array().map(Vec::len), Some(0));
    assert!(past["next_cursor"].is_null());

    // Without `limit`, the whole universe in one page (what older clients read).
    let all = get_json(&addr, "/api/v1/products").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(207));
    assert!(all["next_cursor"].is_null());
    let nifty = &all["items"][0];
    assert_eq!(nifty["name"], "NIFTY");
    assert_eq!(nifty["expiry_rule"], "weekly");
    assert_eq!(nifty["last"]["price"], 26_012.5);
    assert_eq!(nifty["last"]["ts"], "2025-11-24T05:15:00Z");
    assert!(all["items"][1]["last"].is_null());

    // Search and filter, for a picker.
    let bank = get_json(&addr, "/api/v1/products?q=bank").await;
    let bank: Vec<&str> = bank["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(bank.contains(&"BANKNIFTY") && bank.iter().all(|n| n.contains("BANK")));
    let crypto = get_json(&addr, "/api/v1/products?exchange=CRYPTO").await;
    assert_eq!(crypto["items"].as_array().map(Vec::len), Some(2));

    for bad in [
        "/api/v1/products?limit=0",
        "/api/v1/products?cursor=NIFTY",
        "/api/v1/products?exchange=LSE",
    ] {
        let (status, body) = http_get(&addr, bad, &[]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    gw.stop().await.expect("gateway stops");
}
