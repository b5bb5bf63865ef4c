//! Shared by the WebSocket tests: a gateway with chosen WebSocket limits, a
//! real WebSocket client (tokio-tungstenite), a live feed, and the messages of a
//! room read straight from `MD_ENRICHED` to compare with.
#![allow(dead_code)]

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use ds_gateway::ws::WsOptions;
use ds_runtime::config::Config;
use ds_tests::{connect_as, Running, TestEnv};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a gateway on `cfg` (pointing at `env`) with WebSocket limits `opts`;
/// returns its address once it accepts connections.
pub async fn gateway_with(env: &TestEnv, mut cfg: Config, opts: WsOptions) -> (String, Running) {
    let port = ds_runtime::servers::free_port().expect("free port");
    let addr = format!("127.0.0.1:{port}");
    cfg.http_addr = addr.clone();
    let (db, nats) = (
        env.db.clone(),
        env.connect(ds_runtime::auth::Component::Gateway).await,
    );
    let cfg = Arc::new(cfg);
    let run = Running::spawn(move |s| async move {
        let settings = ds_gateway::Settings::from_env();
        let state = ds_gateway::AppState::build(cfg, db, nats, settings, opts).await?;
        ds_gateway::serve(state, s).await
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (addr, run)
}

/// Runs the live feed (wall-clock ticks every `tick_ms`) for `products`.
pub fn live_feed(env: &TestEnv, tick_ms: u64, products: &[&str]) -> Running {
    let mut cfg = env.cfg.clone();
    cfg.feed.tick_interval_ms = tick_ms;
    let (url, who) = (
        env.nats.url.clone(),
        env.identity(ds_runtime::auth::Component::Feed),
    );
    let opts = ds_tests::live_feed_options(11, products);
    Running::spawn(move |s| async move {
        let js = ds_runtime::nats::jetstream(connect_as(&url, &who).await);
        ds_processors::feed::run(&cfg, js, opts, s)
            .await
            .map(|_| ())
    })
}

/// Opens `ws://addr/ws<query>`.
pub async fn connect(addr: &str, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .expect("WebSocket connects");
    ws
}

/// Sends a JSON text frame.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Sends `{"op": op, "type": kind, "symbol": symbol}` (subscribe, unsubscribe, resync).
pub async fn send_op(ws: &mut Ws, op: &str, kind: &str, symbol: &str) {
    send(ws, json!({"op": op, "type": kind, "symbol": symbol})).await;
}

/// Limits so high nothing is conflated: for the tests that compare every message.
pub fn lossless() -> WsOptions {
    WsOptions {
        conflate_after_bytes: usize::MAX / 2,
        conflate_after_age: Duration::from_secs(3600),
        max_queued_bytes: usize::MAX / 2,
        stall_timeout: Duration::from_secs(600),
        ..WsOptions::default()
    }
}

/// What a client can receive.
#[derive(Debug)]
pub enum Got {
    /// A JSON text frame.
    Json(Value),
    /// A close frame: code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame, or nothing came in time.
    Nothing,
}

/// The next event (JSON text frame or close), skipping pings, within `within`.
pub async fn next(ws: &mut Ws, within: Duration) -> Got {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => return Got::Nothing,
            Ok(Some(Ok(Message::Text(t)))) => {
                return Got::Json(serde_json::from_str(t.as_str()).expect("server sends JSON"))
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                return match c {
                    Some(f) => Got::Closed(u16::from(f.code), f.reason.to_string()),
                    None => Got::Closed(u16::from(CloseCode::Status), String::new()),
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The next JSON event within `within`.
///
/// # Panics
/// When none comes.
pub async fn next_json(ws: &mut Ws, within: Duration) -> Value {
    match next(ws, within).await {
        Got::Json(v) => v,
        other => panic!("expected a JSON event, got {other:?}"),
    }
}

/// Reads events until `stop` says so (or panics after `within`), returning them all.
pub async fn read_until(
    ws: &mut Ws,
    within: Duration,
    mut stop: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out; got {} events, last {:?}",
            out.len(),
            out.last()
        );
        let v = next_json(ws, left).await;
        let done = stop(&v);
        out.push(v);
        if done {
            return out;
        }
    }
}

/// Reads events until one whose `event` is `event` (or panics after `within`),
/// returning them all.
pub async fn read_until_event(ws: &mut Ws, within: Duration, event: &str) -> Vec<Value> {
    read_until(ws, within, |e| e["event"] == event).await
}

/// Reads every event arriving within `quiet` of the previous one.
pub async fn read_while_flowing(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Got::Json(v) = next(ws, quiet).await {
        out.push(v);
    }
    out
}

/// `(seq, subject)` of every message on `filter` in `MD_ENRICHED` after `after`.
pub async fn stream_messages(env: &TestEnv, filter: &str, after: u64) -> Vec<(u64, String)> {
    let stream = env.js.get_stream("MD_ENRICHED").await.expect("MD_ENRICHED");
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return out;
    }
    let mut msgs = consumer.messages().await.expect("messages");
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
        let info = m.info().expect("JetStream message");
        out.push((info.stream_sequence, m.subject.to_string()));
        if info.pending == 0 {
            break;
        }
    }
    out
}

/// Waits (at most 60 s) until `MD_ENRICHED` holds `n` messages on `filter`.
pub async fn wait_for_messages(env: &TestEnv, filter: &str, n: usize) {
    let what = format!("{n} messages on {filter}");
    ds_tests::eventually(&what, Duration::from_secs(60), || async {
        (stream_messages(env, filter, 0).await.len() >= n).then_some(())
    })
    .await;
}

/// The last sequence of `MD_ENRICHED`.
pub async fn last_seq(env: &TestEnv) -> u64 {
    let mut s = env.js.get_stream("MD_ENRICHED").await.expect("MD_ENRICHED");
    s.info().await.expect("stream info").state.last_sequence
}

/// Data events of `room` (their `seq`s), in arrival order.
pub fn seqs_of(events: &[Value], room: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["room"] == room && e["seq"].is_u64())
        .map(|e| e["seq"].as_u64().unwrap_or_default())
        .collect()
}

/// A metric's value summed over its label sets, from `/metrics`.
pub async fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = ds_tests::http_get(addr, "/metrics", &[]).await;
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `MD_ENRICHED` has not grown for 2 s (the enricher is done).
pub async fn wait_until_enriched(env: &TestEnv) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = (0, Instant::now());
    loop {
        let n = last_seq(env).await;
        if n != last.0 {
            last = (n, Instant::now());
        } else if n > 0 && last.1.elapsed() > Duration::from_secs(2) {
            return;
        }
        assert!(Instant::now() < deadline, "MD_ENRICHED keeps growing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
