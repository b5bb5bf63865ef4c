//! Back-pressure through real servers: a client that never reads is
//! disconnected with 1008 and a reason, one that pauses gets the latest value
//! per key (conflated) when it reads again, and the other clients do not
//! notice. Shown side by side in one run: two gateways on the same live feed,
//! the same readers on each, one never-reading client on the second only. The
//! host's noise hits both alike, so the comparison needs no absolute timing.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_tests::*;
use futures::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use ws_support::*;

/// Readers per gateway.
const READERS: usize = 3;

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

/// Subscribes `ws` to every room of every one of `products`.
async fn subscribe_everything(ws: &mut Ws, products: &[&str]) {
    for p in products {
        for kind in ["product", "chain", "bars"] {
            send_op(ws, "subscribe", kind, p).await;
        }
    }
}

/// The value of counter `name` on the gateway at `addr` once it has counted
/// `what` (at least 1; fails after 120 s).
async fn counted(addr: &str, what: &str, name: &str) -> f64 {
    eventually(what, Duration::from_secs(120), || async {
        let n = metric(addr, name).await;
        (n >= 1.0).then_some(n)
    })
    .await
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What a reader saw: `(seq, latency ms)` of every NIFTY tick, stamped at
/// receipt, until its socket ends or `stop` fires.
type Seen = Vec<(u64, f64)>;

async fn reader(addr: String, mut stop: tokio::sync::watch::Receiver<bool>) -> Seen {
    let mut ws = connect(&addr, "").await;
    send_op(&mut ws, "subscribe", "product", "NIFTY").await;
    let mut seen = Vec::new();
    loop {
        let m = tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => m,
        };
        let Some(Ok(Message::Text(t))) = m else {
            if m.is_none() {
                break;
            }
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("JSON");
        if v["event"] == "underlying_update" {
            let ts = v["data"]["ts_unix_ns"].as_i64().unwrap_or_default();
            let seq = v["seq"].as_u64().unwrap_or_default();
            seen.push((seq, (now_ns() - ts) as f64 / 1e6));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_dropped_without_slowing_the_others() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let products = ["NIFTY", "BANKNIFTY", "AAPL", "TSLA"];
    let feed = live_feed(&env, 25, &products);
    // Small bounds so the never-reading client gets there within seconds.
    let opts = WsOptions {
        conflate_after_bytes: 32 * 1024,
        max_queued_bytes: 1024 * 1024,
        stall_timeout: Duration::from_secs(3),
        ..WsOptions::default()
    };
    let (alone, gw_alone) = gateway_with(&env, env.cfg.clone(), opts.clone()).await;
    let (beside, gw_beside) = gateway_with(&env, env.cfg.clone(), opts).await;
    wait_for_messages(&env, "md.enriched.NIFTY.underlying", 5).await;

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let spawn = |addr: &str| tokio::spawn(reader(addr.to_owned(), stop.clone()));
    let readers_alone: Vec<_> = (0..READERS).map(|_| spawn(&alone)).collect();
    let readers_beside: Vec<_> = (0..READERS).map(|_| spawn(&beside)).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window_from = last_seq(&env).await;

    // The slow client wants everything and never reads.
    let mut slow = tiny_buffer_client(&beside).await;
    subscribe_everything(&mut slow, &products).await;
    // Another stops reading for 1.5 s at a time (under the stall timeout),
    // then catches up: what came meanwhile reaches it conflated.
    let mut pausing = tiny_buffer_client(&beside).await;
    subscribe_everything(&mut pausing, &products).await;
    let pausing = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let until = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Some(Ok(_))) = tokio::time::timeout_at(until, pausing.next()).await {}
        }
    });
    let dropped = counted(
        &beside,
        "the slow client is dropped",
        "deltastream_ws_dropped_clients_total",
    )
    .await;
    // Some more ticks after the drop, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window_to = last_seq(&env).await;
    let conflated = counted(
        &beside,
        "the pausing client is conflated",
        "deltastream_ws_conflated_total",
    )
    .await;
    pausing.abort();

    // It gets its close frame once it reads again (after what was already in flight).
    let (code, reason) = loop {
        match next(&mut slow, Duration::from_secs(20)).await {
            Got::Json(_) => continue,
            Got::Closed(code, reason) => break (code, reason),
            Got::Nothing => panic!("no close frame for the slow client"),
        }
    };
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.starts_with("client too slow"), "{reason}");

    // Every reader, on either gateway, got every NIFTY tick of the window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_tx.send(true);
    let ticks: Vec<u64> = stream_messages(&env, "md.enriched.NIFTY.underlying", window_from)
        .await
        .into_iter()
        .map(|(seq, _)| seq)
        .filter(|seq| *seq <= window_to)
        .collect();
    assert!(ticks.len() > 20, "ticks in the window: {}", ticks.len());
    let mut latency = [Vec::new(), Vec::new()];
    for (side, readers) in [readers_alone, readers_beside].into_iter().enumerate() {
        for r in readers {
            let seen = r.await.expect("reader");
            let got: Vec<u64> = seen
                .iter()
                .map(|(seq, _)| *seq)
                .filter(|seq| (window_from + 1..=window_to).contains(seq))
                .collect();
            assert_eq!(got, ticks, "a reader of gateway {side} missed ticks");
            latency[side].extend(
                seen.iter()
                    .filter(|(seq, _)| (window_from + 1..=window_to).contains(seq))
                    .map(|(_, ms)| *ms),
            );
        }
    }
    for l in &mut latency {
        l.sort_by(f64::total_cmp);
    }
    let [a, b] = &latency;
    let (a50, a90, b50, b90) = (
        percentile(a, 0.5),
        percentile(a, 0.9),
        percentile(b, 0.5),
        percentile(b, 0.9),
    );
    eprintln!(
        "slow client dropped ({dropped} dropped, {conflated} conflated, close {code}: {reason}); \
         tick latency of {} readers' {} ticks: alone p50 {a50:.1} ms p90 {a90:.1} ms, \
         beside the slow client p50 {b50:.1} ms p90 {b90:.1} ms",
        READERS,
        ticks.len()
    );
    // Generous: the same feed at the same moments, so only head-of-line
    // blocking behind the slow client could open a gap this wide.
    assert!(b50 <= a50 * 3.0, "median {a50} → {b50} ms");
    assert!(b90 <= a90 * 3.0, "p90 {a90} → {b90} ms");

    feed.stop().await.expect("feed stops");
    gw_alone.stop().await.expect("gateway stops");
    gw_beside.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}
