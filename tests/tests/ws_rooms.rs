//! WebSocket rooms through real servers: each room gets exactly its messages
//! (compared with the stream), bad frames get `error` events and never a
//! disconnect, a fresh subscribe starts with the latest values, and a graceful
//! shutdown sends 1001.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_tests::*;
use futures::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use ws_support::*;

fn data_events(events: &[Value]) -> impl Iterator<Item = &Value> {
    events.iter().filter(|e| e["seq"].is_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_get_only_their_messages() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), lossless()).await;

    let rooms = [("product", "NIFTY"), ("chain", "AAPL"), ("bars", "NIFTY")];
    let mut clients = Vec::new();
    for (kind, symbol) in rooms {
        let mut ws = connect(&addr, "").await;
        send_op(&mut ws, "subscribe", kind, symbol).await;
        let room = format!("{kind}:{symbol}");
        let first = read_until_event(&mut ws, Duration::from_secs(10), "subscribed").await;
        assert_eq!(first.last().map(|e| e["room"].clone()), Some(json!(room)));
        clients.push((room, ws));
    }

    let cfg = small_day_config(env.cfg.clone());
    let report = feed_day(&env, &cfg, "2025-01-15", &["NIFTY", "AAPL"], 7).await;
    assert_eq!(report.ticks, 376 + 391);

    wait_until_enriched(&env).await;
    let mut got = Vec::new();
    for (room, ws) in &mut clients {
        let events = read_while_flowing(ws, Duration::from_secs(3)).await;
        got.push((room.clone(), events));
    }

    let expected_general: Vec<u64> = stream_messages(&env, "md.enriched.*.summary", 0)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(!expected_general.is_empty());
    for (room, events) in &got {
        let (kind, symbol) = room.split_once(':').expect("room");
        let (event, filter) = match kind {
            "product" => (
                "underlying_update",
                format!("md.enriched.{symbol}.underlying"),
            ),
            "chain" => ("chain_update", format!("md.enriched.{symbol}.chain.*")),
            _ => ("bar_update", format!("md.enriched.{symbol}.bar.*")),
        };
        for e in data_events(events) {
            if e["room"] == "general" {
                assert_eq!(e["event"], "chain_summary", "{e}");
                continue;
            }
            assert_eq!(e["room"], room.as_str(), "{room} got {e}");
            assert_eq!(e["event"], event, "{room} got {e}");
            assert_eq!(e["data"]["product"], symbol, "{room} got {e}");
        }
        let expected: Vec<u64> = stream_messages(&env, &filter, 0)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert!(!expected.is_empty(), "{filter}");
        assert_eq!(
            seqs_of(events, room),
            expected,
            "{room}: every message of the room, in order, once"
        );
        // Clients that missed nothing of `general` (they connected before the feed).
        assert_eq!(
            seqs_of(events, "general"),
            expected_general,
            "{room}: general"
        );
        eprintln!(
            "{room}: {} room messages, {} general",
            expected.len(),
            expected_general.len()
        );
    }

    // A fresh subscriber starts with the latest values, in sequence order.
    let mut late = connect(&addr, "").await;
    send_op(&mut late, "subscribe", "chain", "NIFTY").await;
    send_op(&mut late, "subscribe", "product", "NIFTY").await;
    let events = read_until_event(&mut late, Duration::from_secs(10), "underlying_update").await;
    let chain_seqs = seqs_of(&events, "chain:NIFTY");
    assert_eq!(
        chain_seqs.len(),
        cfg.feed.expiries,
        "one chain per quoted expiry: {chain_seqs:?}"
    );
    assert!(chain_seqs.windows(2).all(|w| w[0] < w[1]));
    let last = events.last().expect("event");
    assert_eq!(last["data"]["seq"], 376);
    assert_eq!(last["data"]["ts"], "2025-01-15T10:00:00Z");
    assert!(
        seqs_of(&events, "general").len() >= 2,
        "latest summaries of both products"
    );

    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_errors_not_disconnects_and_shutdown_says_going_away() {
    let env = TestEnv::start().await;
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), WsOptions::default()).await;
    let mut ws = connect(&addr, "").await;
    let bad = [
        "nope",
        "[1,2]",
        r#"{"no":"op"}"#,
        r#"{"op":"dance"}"#,
        r#"{"op":"subscribe","type":"planet","symbol":"NIFTY"}"#,
        r#"{"op":"subscribe","type":"chain","symbol":"NOPE"}"#,
        r#"{"op":"subscribe","type":"chain"}"#,
        r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","since_seq":"x"}"#,
    ];
    for b in bad {
        ws.send(Message::Text(b.into())).await.expect("send");
    }
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .expect("send");
    send(&mut ws, json!({"op": "ping"})).await;
    let events = read_until_event(&mut ws, Duration::from_secs(10), "pong").await;
    let errors: Vec<&Value> = events.iter().filter(|e| e["event"] == "error").collect();
    assert_eq!(errors.len(), bad.len() + 1, "{events:?}");
    for e in &errors {
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    assert!(
        errors[5]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NOPE")),
        "{}",
        errors[5]
    );

    // Still connected and working.
    send_op(&mut ws, "subscribe", "product", "NIFTY").await;
    let events = read_until_event(&mut ws, Duration::from_secs(10), "subscribed").await;
    assert_eq!(
        events.last().map(|e| e["room"].clone()),
        Some(json!("product:NIFTY"))
    );
    send_op(&mut ws, "unsubscribe", "product", "NIFTY").await;
    read_until_event(&mut ws, Duration::from_secs(10), "unsubscribed").await;

    assert!(metric(&addr, "deltastream_ws_clients").await >= 1.0);
    let stop = tokio::spawn(gw.stop());
    match next(&mut ws, Duration::from_secs(10)).await {
        Got::Closed(code, reason) => {
            assert_eq!(code, 1001, "{reason}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    stop.await.expect("join").expect("gateway stops");
}
