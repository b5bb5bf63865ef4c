//! Binary frames through a real gateway (`GET /ws?format=proto`): a proto
//! client gets, seq for seq, the data frames a JSON client gets, each a
//! `deltastream.v1.WsFrame` whose message is the very one on `MD_ENRICHED`;
//! control events stay JSON text; a resume reads back in binary too; delta
//! encoding and an unknown format are refused with reasons.

mod ws_support;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use ds_schemas::v1::ws_frame::Data;
use ds_schemas::WsFrame;
use ds_tests::*;
use futures::StreamExt;
use prost::Message as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use ws_support::*;

/// What a `?format=proto` client received: binary data frames, JSON control events.
#[derive(Default)]
struct Received {
    frames: Vec<(WsFrame, usize)>,
    control: Vec<Value>,
}

impl Received {
    /// The `seq`s of the data frames of `room`, in arrival order.
    fn seqs_of(&self, room: &str) -> Vec<u64> {
        self.frames
            .iter()
            .filter(|(f, _)| f.room == room)
            .map(|(f, _)| f.seq)
            .collect()
    }
}

/// Reads until nothing comes for `quiet`.
async fn read_binary(ws: &mut Ws, quiet: Duration) -> Received {
    let mut got = Received::default();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, ws.next()).await {
        match m.expect("socket") {
            Message::Binary(b) => {
                let frame = WsFrame::decode(b.clone()).expect("a WsFrame");
                got.frames.push((frame, b.len()));
            }
            Message::Text(t) => got
                .control
                .push(serde_json::from_str(t.as_str()).expect("control events are JSON")),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
    got
}

/// `seq → payload` of every message on `filter` in `MD_ENRICHED`.
async fn payloads(env: &TestEnv, filter: &str) -> HashMap<u64, Vec<u8>> {
    let stream = env.js.get_stream("MD_ENRICHED").await.expect("MD_ENRICHED");
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut out = HashMap::new();
    let mut msgs = consumer.messages().await.expect("messages");
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
        let info = m.info().expect("JetStream message");
        let (seq, left) = (info.stream_sequence, info.pending);
        out.insert(seq, m.payload.to_vec());
        if left == 0 {
            break;
        }
    }
    out
}

fn encoded(data: &Data) -> Vec<u8> {
    match data {
        Data::Underlying(m) => m.encode_to_vec(),
        Data::Chain(m) => m.encode_to_vec(),
        Data::Summary(m) => m.encode_to_vec(),
        Data::Bar(m) => m.encode_to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_carry_the_stream_messages_a_json_client_gets() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), lossless()).await;

    let mut text = connect(&addr, "").await;
    let mut binary = connect(&addr, "?format=proto").await;
    for ws in [&mut text, &mut binary] {
        send_op(ws, "subscribe", "product", "NIFTY").await;
        send_op(ws, "subscribe", "chain", "NIFTY").await;
    }
    // Asked for deltas, a binary socket says why not and stays open.
    send(
        &mut binary,
        json!({"op": "subscribe", "type": "chain", "symbol": "NIFTY", "encoding": "delta"}),
    )
    .await;

    let cfg = small_day_config(env.cfg.clone());
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 7).await;
    wait_until_enriched(&env).await;
    let json_events = read_while_flowing(&mut text, Duration::from_secs(3)).await;
    let got = read_binary(&mut binary, Duration::from_secs(3)).await;

    let subscribed: Vec<&Value> = got
        .control
        .iter()
        .filter(|e| e["event"] == "subscribed")
        .collect();
    assert_eq!(subscribed.len(), 2, "{:?}", got.control);
    let refusal = got
        .control
        .iter()
        .find(|e| e["event"] == "error")
        .expect("delta refused");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("format=proto")),
        "{refusal}"
    );

    // The same data frames, each room in the same order (rooms interleave as
    // each writer's batches fell).
    let json_data: HashMap<u64, &Value> = json_events
        .iter()
        .filter_map(|e| Some((e["seq"].as_u64()?, e)))
        .collect();
    let by_room = |frames: Vec<(String, String, u64)>| {
        let mut rooms: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        for (event, room, seq) in frames {
            rooms.entry(room).or_default().push((event, seq));
        }
        rooms
    };
    let from_json = by_room(
        json_events
            .iter()
            .filter(|e| e["seq"].is_u64())
            .map(|e| {
                (
                    e["event"].as_str().unwrap_or_default().to_owned(),
                    e["room"].as_str().unwrap_or_default().to_owned(),
                    e["seq"].as_u64().unwrap_or_default(),
                )
            })
            .collect(),
    );
    let from_binary = by_room(
        got.frames
            .iter()
            .map(|(f, _)| (f.event.clone(), f.room.clone(), f.seq))
            .collect(),
    );
    assert!(json_data.len() > 100, "{} data frames", json_data.len());
    assert_eq!(from_binary.len(), 3, "product, chain and general");
    for (room, frames) in &from_json {
        assert!(from_binary.get(room) == Some(frames), "{room} differs");
    }

    // Each message is the one on the stream, byte for byte once re-encoded,
    // and its binary frame is smaller than its JSON one.
    let stream = payloads(&env, "md.enriched.>").await;
    let mut json_bytes = 0usize;
    let mut binary_bytes = 0usize;
    for (frame, len) in &got.frames {
        let data = frame.data.as_ref().expect("a message in every data frame");
        assert_eq!(
            Some(&encoded(data)),
            stream.get(&frame.seq),
            "seq {}",
            frame.seq
        );
        let e = json_data[&frame.seq];
        let product = match data {
            Data::Underlying(m) => &m.product,
            Data::Chain(m) => &m.product,
            Data::Summary(m) => &m.product,
            Data::Bar(m) => &m.product,
        };
        assert_eq!(Some(product.as_str()), e["data"]["product"].as_str());
        binary_bytes += len;
        json_bytes += e.to_string().len();
    }
    eprintln!(
        "{} frames: binary {binary_bytes} B, JSON {json_bytes} B ({:.0}%)",
        got.frames.len(),
        binary_bytes as f64 / json_bytes as f64 * 100.0
    );
    assert!(binary_bytes < json_bytes);

    // A resume reads the room back in binary frames, from after `since_seq`.
    let underlying = got.seqs_of("product:NIFTY");
    let since = underlying[underlying.len() / 2];
    let mut resumed = connect(&addr, "?format=proto").await;
    send(
        &mut resumed,
        json!({"op": "subscribe", "type": "product", "symbol": "NIFTY", "since_seq": since}),
    )
    .await;
    let back = read_binary(&mut resumed, Duration::from_secs(3)).await;
    let expected: Vec<u64> = underlying.iter().copied().filter(|s| *s > since).collect();
    assert_eq!(back.seqs_of("product:NIFTY"), expected);

    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_format_is_closed_with_a_reason() {
    let env = TestEnv::start().await;
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), lossless()).await;
    let mut ws = connect(&addr, "?format=xml").await;
    match next(&mut ws, Duration::from_secs(10)).await {
        Got::Closed(code, reason) => {
            assert_eq!(code, 4400);
            assert!(
                reason.contains("xml") && reason.contains("proto"),
                "{reason}"
            );
        }
        other => panic!("expected a close, got {other:?}"),
    }
    gw.stop().await.expect("gateway stops");
}
