//! The feed's whole-day generation is reproducible.

use super::model::{FeedEvent, ProductFeed};
use super::session_times;
use ds_analytics::market::default_products;
use ds_runtime::config::FeedConfig;
use prost::Message;

fn day(seed: u64) -> Vec<(String, String, Vec<u8>)> {
    let cfg = FeedConfig::default();
    let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 15).expect("date");
    let mut out = Vec::new();
    for spec in default_products() {
        let mut feed = ProductFeed::new(&spec, &cfg, seed, &Default::default());
        let mut events = Vec::new();
        for ts in session_times(&spec, date, cfg.tick_interval_ms)
            .into_iter()
            .step_by(30)
        {
            feed.step(ts, &mut events);
        }
        for e in events {
            let bytes = match &e {
                FeedEvent::Tick(t) => t.encode_to_vec(),
                FeedEvent::Chain(c) => c.encode_to_vec(),
            };
            out.push((e.subject(), e.msg_id(), bytes));
        }
    }
    out
}

#[test]
fn same_seed_same_messages_other_seed_other_prices() {
    let a = day(42);
    assert_eq!(a, day(42));
    assert_ne!(a, day(43));
    assert!(a
        .iter()
        .any(|(s, _, _)| s == "md.raw.NIFTY.chain.2025-01-16"));
    assert!(a
        .iter()
        .any(|(s, _, _)| s == "md.raw.AAPL.chain.2025-01-17"));
}
