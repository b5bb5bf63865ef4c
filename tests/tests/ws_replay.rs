//! WebSocket replay sessions through real servers: a socket on
//! `/ws?replay=<prefix>` gets the enriched messages published on core NATS under
//! `<prefix>.md.enriched.>` (as `deltastream replay --publish-prefix` does), in
//! the same rooms and with the same event names and `data` as live, while live
//! sockets and other sessions do not; a bad prefix is closed with 4400.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_runtime::headers::EnrichedHeaders as _;
use ds_schemas::enriched::Enriched;
use ds_schemas::{Bar, ChainSummary, EnrichedUnderlying};
use ds_tests::*;
use serde_json::{json, Value};
use std::time::Duration;
use ws_support::*;

const TS: i64 = 1_736_935_200_000_000_000; // 2025-01-15T10:00:00Z

fn tick(product: &str, price: f64, i: i64) -> Enriched {
    Enriched::Underlying(EnrichedUnderlying {
        product: product.into(),
        price,
        ts_unix_ns: TS + i * 60_000_000_000,
        seq: i as u64 + 1,
        session_open: 100.0,
        change_pct: (price - 100.0),
        ..Default::default()
    })
}

/// Publishes `e` as the replay does: `<prefix>.<live subject>`, same payload and headers.
async fn publish(replay: &async_nats::Client, prefix: &str, e: &Enriched, source_seq: u64) {
    replay
        .publish_with_headers(
            format!("{prefix}.{}", e.subject()),
            e.headers(source_seq),
            e.encode(),
        )
        .await
        .expect("publish");
}

/// The subscribe message of `kind:NIFTY`.
fn nifty(kind: &str) -> Value {
    json!({"op": "subscribe", "type": kind, "symbol": "NIFTY"})
}

/// Sends the subscribe message `v` and waits until its room is subscribed.
async fn subscribe(ws: &mut Ws, v: Value) {
    let room = format!(
        "{}:{}",
        v["type"].as_str().unwrap(),
        v["symbol"].as_str().unwrap()
    );
    send(ws, v).await;
    read_until(ws, Duration::from_secs(5), |e| {
        e["event"] == "subscribed" && e["room"] == room.as_str()
    })
    .await;
}

fn data(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["seq"].is_u64()).collect()
}

async fn closed_with(addr: &str, query: &str) -> (u16, String) {
    let mut ws = connect(addr, query).await;
    match next(&mut ws, Duration::from_secs(5)).await {
        Got::Closed(code, reason) => (code, reason),
        other => panic!("{query}: expected a close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_session_gets_its_prefix_only() {
    let env = TestEnv::start().await;
    // What the replay publishes, as the replay identity (allowed `replay.>`).
    let replay = env.connect(ds_runtime::auth::Component::Replay).await;
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), WsOptions::default()).await;

    // Bad prefixes are refused with 4400 and a reason.
    for q in [
        "?replay=md.x",
        "?replay=replay.%2A",
        "?replay=replay.%3E",
        "?replay=_INBOX.x",
        "?replay=%24JS.x",
        "?replay=a..b",
        "?replay=",
    ] {
        let (code, reason) = closed_with(&addr, q).await;
        assert_eq!(code, 4400, "{q}: {reason}");
        assert!(reason.contains("replay prefix"), "{q}: {reason}");
    }

    let mut live = connect(&addr, "").await;
    subscribe(&mut live, nifty("product")).await;
    let mut other = connect(&addr, "?replay=replay.t2").await;
    subscribe(&mut other, nifty("product")).await;
    let mut rp = connect(&addr, "?replay=replay.t1").await;
    subscribe(
        &mut rp,
        json!({"op": "subscribe", "type": "product", "symbol": "NIFTY", "replay": "replay.t1"}),
    )
    .await;
    // No resume on a replay session: since_seq is explained and ignored.
    send(
        &mut rp,
        json!({"op": "subscribe", "type": "bars", "symbol": "NIFTY", "since_seq": 5}),
    )
    .await;
    let ev = read_until_event(&mut rp, Duration::from_secs(5), "error").await;
    assert!(ev.iter().any(|e| e["room"] == "bars:NIFTY"), "{ev:?}");
    assert!(
        ev.last().unwrap()["message"]
            .as_str()
            .is_some_and(|m| m.contains("since_seq")),
        "{ev:?}"
    );
    // A subscribe naming another session is refused.
    send(
        &mut rp,
        json!({"op": "subscribe", "type": "chain", "symbol": "NIFTY", "replay": "replay.t2"}),
    )
    .await;
    let ev = read_until_event(&mut rp, Duration::from_secs(5), "error").await;
    assert!(ev.iter().all(|e| e["event"] != "subscribed"), "{ev:?}");

    // What `deltastream replay --publish-prefix replay.t1` publishes.
    let prices = [101.5, 102.25, 99.75];
    for (i, p) in prices.iter().enumerate() {
        publish(
            &replay,
            "replay.t1",
            &tick("NIFTY", *p, i as i64),
            i as u64 + 10,
        )
        .await;
    }
    publish(&replay, "replay.t1", &tick("AAPL", 200.0, 0), 20).await; // room not joined
    let bar = Enriched::Bar(Bar {
        product: "NIFTY".into(),
        interval: "1m".into(),
        start_unix_ns: TS,
        open: 101.5,
        high: 102.25,
        low: 99.75,
        close: 99.75,
        ticks: 3,
        ..Default::default()
    });
    publish(&replay, "replay.t1", &bar, 21).await;
    let summary = Enriched::Summary(ChainSummary {
        product: "NIFTY".into(),
        expiry: "2025-01-30".into(),
        ts_unix_ns: TS,
        ..Default::default()
    });
    publish(&replay, "replay.t1", &summary, 22).await;
    replay.flush().await.expect("flush");

    let got = read_until_event(&mut rp, Duration::from_secs(5), "chain_summary").await;
    let got = data(&got);
    let names: Vec<&str> = got.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "underlying_update",
            "underlying_update",
            "underlying_update",
            "bar_update",
            "chain_summary"
        ],
        "{got:?}"
    );
    for (e, p) in got.iter().zip(prices) {
        assert_eq!(e["room"], "product:NIFTY");
        assert_eq!(e["data"]["product"], "NIFTY");
        assert_eq!(e["data"]["price"], p);
        assert_eq!(e["data"]["session_open"], 100.0);
    }
    assert_eq!(got[0]["data"]["ts"], "2025-01-15T10:00:00Z");
    assert_eq!(got[3]["room"], "bars:NIFTY");
    assert_eq!(got[3]["data"]["interval"], "1m");
    assert_eq!(got[3]["data"]["start"], "2025-01-15T10:00:00Z");
    assert_eq!(got[4]["room"], "general");
    assert_eq!(got[4]["data"]["expiry"], "2025-01-30");
    // seq: the session's counter (the AAPL tick, not joined, took 4).
    let seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 5, 6]);

    // Live sockets and other sessions see none of it.
    for ws in [&mut live, &mut other] {
        let ev = read_while_flowing(ws, Duration::from_millis(700)).await;
        assert!(data(&ev).is_empty(), "{ev:?}");
    }

    // The last client leaving stops the session's feed: a new one starts over.
    rp.close(None).await.expect("close");
    while let Got::Json(_) = next(&mut rp, Duration::from_secs(5)).await {}
    eventually(
        "the replay client is gone",
        Duration::from_secs(5),
        || async { (metric(&addr, "deltastream_ws_clients").await == 2.0).then_some(()) },
    )
    .await;
    let mut again = connect(&addr, "?replay=replay.t1").await;
    subscribe(&mut again, nifty("product")).await;
    publish(&replay, "replay.t1", &tick("NIFTY", 103.0, 3), 30).await;
    replay.flush().await.expect("flush");
    let ev = read_until_event(&mut again, Duration::from_secs(5), "underlying_update").await;
    let last = ev.last().unwrap();
    assert_eq!(last["data"]["price"], 103.0);
    assert_eq!(last["seq"], 1, "a fresh session feed counts from 1");

    gw.stop().await.expect("gateway stops");
}
