//! Back-pressure through real servers: a client that never reads is conflated,
//! then disconnected with 1008 and a reason, while the other clients' latency
//! stays flat and the pipeline keeps flowing.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_tests::*;
use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use ws_support::*;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A client whose socket has a tiny receive buffer, so a server writing to it
/// blocks soon after it stops reading.
async fn tiny_buffer_client(addr: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("handshake");
    ws
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_dropped_without_slowing_the_others() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let products = ["NIFTY", "BANKNIFTY", "AAPL", "TSLA"];
    let feed = live_feed(&env, 25, &products);
    let opts = WsOptions {
        stall_timeout: Duration::from_secs(3),
        ..WsOptions::default()
    };
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), opts).await;

    // Readers: receive time − event time of every tick (feed → enricher → gateway → client).
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(&addr, "").await;
        send(
            &mut ws,
            json!({"op": "subscribe", "type": "product", "symbol": "NIFTY"}),
        )
        .await;
        send(
            &mut ws,
            json!({"op": "subscribe", "type": "chain", "symbol": "NIFTY"}),
        )
        .await;
        readers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("JSON");
                    if v["event"] == "underlying_update" {
                        let ts = v["data"]["ts_unix_ns"].as_i64().unwrap_or_default();
                        lat.push((std::time::Instant::now(), (now_ns() - ts) as f64 / 1e6));
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let slow_since = std::time::Instant::now();

    // The slow client wants everything and never reads.
    let mut slow = tiny_buffer_client(&addr).await;
    for p in products {
        for kind in ["product", "chain", "bars"] {
            send(
                &mut slow,
                json!({"op": "subscribe", "type": kind, "symbol": p}),
            )
            .await;
        }
    }
    let dropped = eventually(
        "the slow client is dropped",
        Duration::from_secs(90),
        || async {
            let n = metric(&addr, "deltastream_ws_dropped_clients_total").await;
            (n >= 1.0).then_some(n)
        },
    )
    .await;
    let dropped_after = slow_since.elapsed();
    let conflated = metric(&addr, "deltastream_ws_conflated_total").await;

    // It gets its close frame once it reads again (after what was already in flight).
    let (code, reason) = loop {
        match next(&mut slow, Duration::from_secs(20)).await {
            Got::Json(_) => continue,
            Got::Closed(code, reason) => break (code, reason),
            Got::Nothing => panic!("no close frame for the slow client"),
        }
    };
    assert_eq!(code, 1008, "{reason}");
    assert!(!reason.is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;

    feed.stop().await.expect("feed stops");
    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
    let mut before = Vec::new();
    let mut during = Vec::new();
    for r in readers {
        let lat = r.await.expect("reader");
        assert!(lat.len() > 50, "a reader kept receiving: {}", lat.len());
        for (at, ms) in lat {
            if at < slow_since {
                before.push(ms);
            } else {
                during.push(ms);
            }
        }
    }
    before.sort_by(f64::total_cmp);
    during.sort_by(f64::total_cmp);
    let (b50, b99) = (percentile(&before, 0.5), percentile(&before, 0.99));
    let (d50, d99) = (percentile(&during, 0.5), percentile(&during, 0.99));
    eprintln!(
        "slow client dropped after {dropped_after:?} ({dropped} dropped, {conflated} conflated, close {code}: {reason}); \
         tick latency of the others: before p50 {b50:.1} ms p99 {b99:.1} ms ({} ticks), with the slow client p50 {d50:.1} ms p99 {d99:.1} ms ({} ticks)",
        before.len(),
        during.len()
    );
    assert!(
        conflated >= 1.0,
        "the slow client was conflated before being dropped"
    );
    // Loose: the others stay live (the whole pipeline runs in debug on 2 cores).
    assert!(d99 < 2000.0, "p99 latency of the other clients {d99} ms");
    assert!(
        d50 < b50 * 3.0 + 100.0,
        "median latency stayed flat: {b50} → {d50} ms"
    );
}
