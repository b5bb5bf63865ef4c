//! The stored chain layout changes no byte a client reads: one day of NIFTY
//! (MD_RAW, enriched in-process so the gateways' live view is empty and every
//! chain comes from MongoDB) projected twice — with today's column layout, and
//! in the first layout (an object per quote) as the projector wrote it before —
//! then every REST endpoint that reads chains, asked of a gateway on each
//! database, answers the same bytes; and the chains served are the enriched
//! messages themselves.

use ds_gateway::views::ChainView;
use ds_processors::project::store::{Durability, Store};
use ds_schemas::enriched::Enriched;
use ds_tests::http::{req, start_dev, string_items};
use ds_tests::*;
use serde_json::Value;

async fn get(addr: &str, path: &str) -> String {
    let r = req(addr, "GET", path, &[], None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_the_same_bytes_from_either_layout() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 11).await;
    let raw = read_all(&env.js, "MD_RAW", "md.raw.>").await;
    let outputs = reference_enrichment(&cfg, &raw);
    let messages: Vec<Enriched> = outputs
        .iter()
        .map(|(_, subject, payload)| Enriched::decode(None, subject, payload).expect("decodes"))
        .collect();

    // Today's layout through the projector's code; the first through its form.
    project_reference(&env.db, &outputs).await;
    let first = env.db.client().database("first_layout");
    ds_runtime::collections::ensure_indexes(&first)
        .await
        .expect("indexes");
    let writes: Vec<_> = messages.iter().flat_map(first_layout_writes).collect();
    Store::new(first.clone())
        .write(&writes, Durability::EachWrite)
        .await
        .expect("written");

    let (now, _a) = start_dev(&env, env.db.clone()).await;
    let (before, _b) = start_dev(&env, first).await;

    let expiries: Value =
        serde_json::from_str(&get(&now, "/api/v1/products/NIFTY/expiries").await).expect("JSON");
    let expiries = string_items(&expiries);
    assert_eq!(expiries.len(), 3, "{expiries:?}");
    let mut paths: Vec<String> = vec![
        "/api/v1/products/NIFTY/expiries".into(),
        "/api/v1/chain/NIFTY/latest".into(),
        "/api/v1/chain/NIFTY/history?limit=1000".into(),
        "/api/v1/chain/NIFTY/history?order=asc&limit=7".into(),
        "/api/v1/analytics/NIFTY/pcr?limit=1000".into(),
        "/api/v1/analytics/NIFTY/iv-surface".into(),
        "/api/data/chain/NIFTY".into(),
        "/api/analytics/pcr/NIFTY".into(),
        "/api/analytics/volatility-surface/NIFTY".into(),
    ];
    for e in &expiries {
        paths.push(format!("/api/v1/chain/NIFTY/latest?expiry={e}"));
        paths.push(format!("/api/v1/chain/NIFTY/history?expiry={e}&limit=50"));
        paths.push(format!("/api/v1/analytics/NIFTY/max-pain?expiry={e}"));
        paths.push(format!("/api/v1/analytics/NIFTY/oi-buildup?expiry={e}"));
    }
    for path in &paths {
        let (a, b) = (get(&now, path).await, get(&before, path).await);
        assert!(a == b, "{path} differs:\n{a}\n---\n{b}");
    }

    // And what is served is the enriched messages, to the byte of their JSON.
    let body = get(&now, "/api/v1/chain/NIFTY/history?order=asc&limit=1000").await;
    let served: Value = serde_json::from_str(&body).expect("JSON");
    let served = served["items"].as_array().expect("items");
    let chains: Vec<Value> = messages
        .iter()
        .filter_map(|m| match m {
            Enriched::Chain(c) => Some(serde_json::to_value(ChainView::borrowed(c)).expect("json")),
            _ => None,
        })
        .collect();
    assert_eq!(served.len(), chains.len());
    let by_seq = |v: &Value| (v["expiry"].to_string(), v["seq"].as_u64());
    let mut served = served.clone();
    let mut chains = chains;
    served.sort_by_key(by_seq);
    chains.sort_by_key(by_seq);
    for (s, c) in served.iter().zip(&chains) {
        assert!(s == c, "served {s}\nexpected {c}");
    }
    assert!(
        served.iter().any(|c| c["calls"][0]["delta"].is_f64()),
        "Greeks are served"
    );
}
