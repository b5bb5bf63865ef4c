//! WebSocket resume through real servers: a client that reconnects with
//! `since_seq` gets every message of its rooms it missed, then live, with no gap
//! and no duplicate (compared with the stream); a resume point the stream no
//! longer has gives `resync` (recovered: false) and the latest snapshot.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use ws_support::*;

const ROOMS: [(&str, &str, &str); 2] = [
    ("chain", "chain:NIFTY", "md.enriched.NIFTY.chain.*"),
    ("product", "product:NIFTY", "md.enriched.NIFTY.underlying"),
];

async fn subscribe_since(ws: &mut Ws, since: &HashMap<&str, u64>) {
    for (kind, room, _) in ROOMS {
        send(
            ws,
            json!({"op": "subscribe", "type": kind, "symbol": "NIFTY", "since_seq": since[room]}),
        )
        .await;
    }
}

/// Reads for `d`, returning the events.
async fn read_for(ws: &mut Ws, d: Duration) -> Vec<Value> {
    let end = Instant::now() + d;
    let mut out = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match next(ws, left).await {
            Got::Json(v) => out.push(v),
            Got::Nothing => break,
            Got::Closed(c, r) => panic!("closed {c}: {r}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_disconnect_has_no_gap_and_no_duplicate() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let feed = live_feed(&env, 50, &["NIFTY"]);
    eventually(
        "enriched messages flow",
        Duration::from_secs(60),
        || async { (last_seq(&env).await > 100).then_some(()) },
    )
    .await;
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), lossless()).await;

    // Resume from "now": everything after it, replayed then live.
    let start = last_seq(&env).await;
    let mut since: HashMap<&str, u64> = ROOMS.iter().map(|(_, r, _)| (*r, start)).collect();
    let mut ws = connect(&addr, "").await;
    subscribe_since(&mut ws, &since).await;
    let first = read_for(&mut ws, Duration::from_secs(2)).await;
    drop(ws); // an abrupt disconnect, no close handshake
    for (_, room, _) in ROOMS {
        let s = seqs_of(&first, room);
        assert!(!s.is_empty(), "{room} got live messages");
        since.insert(room, *s.last().unwrap_or(&start));
    }
    assert!(!first.iter().any(|e| e["event"] == "resync"), "{first:?}");

    // Messages flow while the client is away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ws = connect(&addr, "").await;
    subscribe_since(&mut ws, &since).await;
    let mut second = read_for(&mut ws, Duration::from_secs(2)).await;
    feed.stop().await.expect("feed stops");
    wait_until_enriched(&env).await;
    second.extend(read_while_flowing(&mut ws, Duration::from_secs(2)).await);
    assert!(!second.iter().any(|e| e["event"] == "resync"), "{second:?}");

    for (_, room, filter) in ROOMS {
        let mut got = seqs_of(&first, room);
        let resumed = seqs_of(&second, room);
        let away: Vec<u64> = stream_messages(&env, filter, since[room])
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert!(
            away.len() > 5,
            "{room}: messages arrived while away: {}",
            away.len()
        );
        got.extend(resumed);
        let expected: Vec<u64> = stream_messages(&env, filter, start)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(got, expected, "{room}: no gap, no duplicate");
        eprintln!(
            "{room}: {} messages, {} of them resumed",
            expected.len(),
            away.len()
        );
    }
    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_the_stream_no_longer_has_gives_resync_and_the_snapshot() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 3).await;
    let enrich = enricher(&env);
    wait_until_enriched(&env).await;
    // Retention removed the oldest messages.
    let last = last_seq(&env).await;
    let stream = env.js.get_stream("MD_ENRICHED").await.expect("stream");
    stream.purge().sequence(last / 2).await.expect("purge");
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), WsOptions::default()).await;
    let latest_tick = stream_messages(&env, "md.enriched.NIFTY.underlying", 0)
        .await
        .last()
        .expect("a tick")
        .0;

    for since in [1, last + 1000] {
        let mut ws = connect(&addr, "").await;
        send(
            &mut ws,
            json!({"op": "subscribe", "type": "product", "symbol": "NIFTY", "since_seq": since}),
        )
        .await;
        let events = read_until_event(&mut ws, Duration::from_secs(10), "underlying_update").await;
        let i = events
            .iter()
            .position(|e| e["event"] == "subscribed")
            .expect("subscribed");
        let resync = &events[i + 1];
        assert_eq!(resync["event"], "resync", "{events:?}");
        assert_eq!(resync["room"], "product:NIFTY");
        assert_eq!(resync["recovered"], false);
        let snap = events.last().expect("snapshot");
        assert_eq!(snap["seq"], latest_tick, "the latest value follows");
        assert_eq!(snap["data"]["seq"], 376);
    }

    // From a point still kept: exactly the messages after it.
    let kept = stream_messages(&env, "md.enriched.NIFTY.underlying", last / 2 + 10).await;
    let mut ws = connect(&addr, "").await;
    send(&mut ws, json!({"op": "subscribe", "type": "product", "symbol": "NIFTY", "since_seq": last / 2 + 10})).await;
    let events = read_until(&mut ws, Duration::from_secs(20), |e| {
        e["seq"] == latest_tick
    })
    .await;
    let expected: Vec<u64> = kept.into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs_of(&events, "product:NIFTY"), expected);
    assert!(!events.iter().any(|e| e["event"] == "resync"));

    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}
