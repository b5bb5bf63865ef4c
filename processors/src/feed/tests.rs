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

/// FNV-1a over every subject, id and payload of `day(seed)`.
fn digest(seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (subject, id, bytes) in day(seed) {
        for b in subject.bytes().chain(id.bytes()).chain(bytes) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// `--seed` is byte-identical from run to run, machine to machine and build to
/// build: a change in the rand crates' values (allowed in their minor releases,
/// hence pinned by Cargo.lock) fails here rather than silently.
#[test]
fn a_seeded_day_is_pinned() {
    assert_eq!(format!("{:016x}", digest(42)), "89997cc67b4c4dfd");
}
