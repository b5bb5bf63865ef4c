//! Delta-encoded chains through a real gateway: a client subscribed with
//! `"encoding":"delta"` rebuilds, seq by seq, exactly the chains a whole-frame
//! client receives; a delta it drops on purpose is a gap it detects by
//! `base_seq`, and `{"op":"resync"}` brings whole frames back.

mod ws_support;

use ds_gateway::live::delta::{apply, QUOTE_FIELDS};
use ds_gateway::ws::WsOptions;
use ds_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use ws_support::*;

/// A delta client's chains: `expiry → (seq, whole chain)`.
#[derive(Default)]
struct Chains(HashMap<String, (u64, Value)>);

enum Applied {
    Whole,
    Delta,
    Gap,
}

impl Chains {
    fn take(&mut self, frame: &Value) -> Applied {
        let data = &frame["data"];
        let expiry = data["expiry"].as_str().expect("expiry").to_owned();
        let seq = frame["seq"].as_u64().expect("seq");
        if frame["encoding"] != "delta" {
            self.0.insert(expiry, (seq, data.clone()));
            return Applied::Whole;
        }
        let base = frame["base_seq"].as_u64().expect("base_seq");
        match self.0.get(&expiry) {
            Some((held, prev)) if *held == base => {
                let whole = apply(prev, data).expect("the delta applies");
                self.0.insert(expiry, (seq, whole));
                Applied::Delta
            }
            _ => {
                self.0.remove(&expiry);
                Applied::Gap
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_chains_rebuild_the_whole_ones_and_a_gap_is_resynced() {
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let feed = live_feed(&env, 100, &["NIFTY"]);
    let (addr, gw) = gateway_with(&env, env.cfg.clone(), WsOptions::default()).await;
    wait_for_messages(&env, "md.enriched.NIFTY.chain.*", 3).await;

    // The whole-frame client reads all along (a client that does not read is
    // conflated, then dropped).
    let mut whole = connect(&addr, "").await;
    send_op(&mut whole, "subscribe", "chain", "NIFTY").await;
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let whole_reader = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            tokio::select! {
                _ = stop.changed() => return got,
                g = next(&mut whole, Duration::from_secs(60)) => match g {
                    Got::Json(v) if v["event"] == "chain_update" => got.push(v),
                    Got::Json(_) => {}
                    other => panic!("the whole-frame client ended: {other:?}"),
                },
            }
        }
    });
    let mut delta = connect(&addr, "").await;
    send(
        &mut delta,
        json!({"op": "subscribe", "type": "chain", "symbol": "NIFTY", "encoding": "delta"}),
    )
    .await;
    let subscribed = read_until_event(&mut delta, Duration::from_secs(20), "subscribed").await;
    let sub = subscribed.last().expect("subscribed");
    assert_eq!(sub["encoding"], "delta");
    assert_eq!(sub["quote_fields"], json!(QUOTE_FIELDS));

    // Read the delta client: apply deltas; drop one on purpose, then resync.
    let mut chains = Chains::default();
    let mut rebuilt: HashMap<u64, Value> = HashMap::new();
    let (mut deltas, mut gaps, mut dropped, mut after_resync) = (0, 0, false, 0);
    let mut bytes = [0usize; 2];
    let mut resynced = false;
    while after_resync < 3 {
        let v = next_json(&mut delta, Duration::from_secs(60)).await;
        if v["event"] == "resync" {
            assert_eq!(v["room"], "chain:NIFTY");
            resynced = true;
            chains = Chains::default();
            continue;
        }
        if v["event"] != "chain_update" {
            continue;
        }
        bytes[0] += v.to_string().len();
        if v["encoding"] == "delta" && deltas >= 2 && !dropped {
            dropped = true; // as if lost
            continue;
        }
        match chains.take(&v) {
            Applied::Whole => {}
            Applied::Delta => {
                deltas += 1;
                if resynced {
                    after_resync += 1;
                }
            }
            Applied::Gap => {
                gaps += 1;
                if gaps == 1 {
                    send_op(&mut delta, "resync", "chain", "NIFTY").await;
                }
                continue;
            }
        }
        let expiry = v["data"]["expiry"].as_str().expect("expiry");
        let seq = v["seq"].as_u64().expect("seq");
        rebuilt.insert(seq, chains.0[expiry].1.clone());
    }
    assert!(gaps >= 1, "the dropped delta is a gap");

    // The whole-frame client's chains, seq by seq.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_tx.send(true);
    let got = whole_reader.await.expect("whole-frame reader");
    let mut compared = 0;
    for v in &got {
        assert!(
            v.get("encoding").is_none(),
            "whole frames stay as they were"
        );
        bytes[1] += v.to_string().len();
        let seq = v["seq"].as_u64().expect("seq");
        if let Some(r) = rebuilt.get(&seq) {
            assert_eq!(r, &v["data"], "chain at seq {seq}");
            compared += 1;
        }
    }
    eprintln!(
        "{deltas} deltas applied, {gaps} gap(s), {compared} chains compared; \
         bytes delta client {} vs whole client {}",
        bytes[0], bytes[1]
    );
    assert!(compared >= 5, "compared {compared}");

    // Resync on a room not joined is an error, not a disconnect.
    send_op(&mut delta, "resync", "bars", "NIFTY").await;
    let err = read_until_event(&mut delta, Duration::from_secs(20), "error").await;
    let message = err
        .last()
        .map(|v| v["message"].to_string())
        .unwrap_or_default();
    assert!(message.contains("not subscribed"), "{message}");

    feed.stop().await.expect("feed stops");
    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
}
