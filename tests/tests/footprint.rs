//! Bytes per chain from publish to MongoDB (issue 17, the lean data path): a
//! day of every product through the real pipeline, then the same chains
//! written in each stored form — the first layout (an object per quote) and
//! the column layout, each with snappy and zstd block compression — on the
//! same mongod, one database after the other, each followed by a checkpoint.
//! Byte counts only (no timings): BSON per document, wire bytes in, journal
//! and data bytes written, files on disk.
//!
//! `DS_FOOTPRINT_TICK_MS` sets the feed's tick interval (default 60000, one tick
//! a minute; the benchmark's quick day is 5000, its full day 1000).

use ds_processors::project::docs::{self, DocWrite};
use ds_processors::project::store::{Durability, Store};
use ds_runtime::collections::{self, CHAIN_LATEST, OPTION_CHAINS};
use ds_runtime::footprint::{self, CollectionBytes, MongoIo, Records};
use ds_schemas::enriched::Enriched;
use ds_schemas::EnrichedChain;
use ds_tests::*;
use mongodb::bson::doc;
use std::time::Duration;

/// The stored forms compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// An object per quote: the message's serde form (before layout 2).
    First,
    /// One column per quote field ([`ds_runtime::collections::chain`]).
    Columns,
}

/// The document writes of `c` in `layout`: the snapshot and the latest value.
fn chain_writes(c: &EnrichedChain, layout: Layout) -> Vec<DocWrite> {
    let e = Enriched::Chain(c.clone());
    match layout {
        Layout::First => first_layout_writes(&e),
        Layout::Columns => docs::writes(&e).expect("bson"),
    }
}

/// What one stored form cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    snapshots: CollectionBytes,
    latest: CollectionBytes,
    io: MongoIo,
}

/// Writes `chains` into a fresh database `name` whose projection collections use
/// `compressor`, in batches like the projector's; returns what it cost.
async fn write_form(
    env: &TestEnv,
    name: &str,
    chains: &[EnrichedChain],
    layout: Layout,
    compressor: &str,
) -> Cost {
    let db = env.db.client().database(name);
    for coll in collections::PROJECTIONS {
        db.create_collection(*coll)
            .storage_engine(
                doc! {"wiredTiger": {"configString": format!("block_compressor={compressor}")}},
            )
            .await
            .expect("create");
    }
    collections::ensure_indexes(&db).await.expect("indexes");
    footprint::checkpoint(&db).await.expect("checkpoint");
    let before = footprint::mongo_io(&db).await.expect("serverStatus");
    let store = Store::new(db.clone());
    for batch in chains.chunks(64) {
        let writes: Vec<DocWrite> = batch.iter().flat_map(|c| chain_writes(c, layout)).collect();
        store
            .write(&writes, Durability::EachWrite)
            .await
            .expect("written");
    }
    footprint::checkpoint(&db).await.expect("checkpoint");
    let io = footprint::mongo_io(&db)
        .await
        .expect("serverStatus")
        .since(&before);
    Cost {
        snapshots: footprint::collection(&db, OPTION_CHAINS)
            .await
            .expect("stats"),
        latest: footprint::collection(&db, CHAIN_LATEST)
            .await
            .expect("stats"),
        io,
    }
}

/// A stream's files with S2 compression (as declared) and without.
struct StreamDisk {
    name: &'static str,
    messages: u64,
    /// JetStream's own count of the messages' bytes.
    bytes: u64,
    s2: u64,
    none: u64,
}

/// The disk use of `MD_RAW` and `MD_ENRICHED` (S2, as declared in `nats/`) and
/// of an uncompressed mirror of each (the same messages in the same blocks).
async fn stream_disk(env: &TestEnv) -> Vec<StreamDisk> {
    use async_nats::jetstream::stream::{Compression, Config, Source};
    let store = env.dir().join("nats");
    let mut out = Vec::new();
    for name in ["MD_RAW", "MD_ENRICHED"] {
        let mut source = env.js.get_stream(name).await.expect("stream");
        let info = source.info().await.expect("info").clone();
        assert_eq!(info.config.compression, Some(Compression::S2));
        let plain = format!("{name}_NONE");
        env.js
            .create_stream(Config {
                name: plain.clone(),
                mirror: Some(Source {
                    name: name.into(),
                    ..Default::default()
                }),
                compression: Some(Compression::None),
                ..Default::default()
            })
            .await
            .expect("mirror");
        let messages = info.state.messages;
        eventually(
            "the mirror has every message",
            Duration::from_secs(120),
            || async {
                let mut m = env.js.get_stream(&plain).await.ok()?;
                let n = m.info().await.ok()?.state.messages;
                (n == messages).then_some(())
            },
        )
        .await;
        out.push(StreamDisk {
            name,
            messages,
            bytes: info.state.bytes,
            s2: footprint::disk_usage(&footprint::stream_dir(&store, name)),
            none: footprint::disk_usage(&footprint::stream_dir(&store, &plain)),
        });
    }
    out
}

fn per(bytes: u64, n: usize) -> f64 {
    bytes as f64 / n.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_bytes_from_publish_to_mongodb() {
    let env = TestEnv::start().await;
    let mut cfg = env.cfg.clone();
    cfg.feed.tick_interval_ms = std::env::var("DS_FOOTPRINT_TICK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let report = feed_day(&env, &cfg, "2025-01-15", &[], 7).await;
    let enrich = enricher(&env);
    let project = projector(&env);
    eventually("the day is projected", Duration::from_secs(600), || async {
        (count(&env.db, OPTION_CHAINS).await == report.chains).then_some(())
    })
    .await;
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");

    let records = |stream: &'static str, filter: &'static str| {
        let js = env.js.clone();
        async move {
            footprint::records(&js, stream, filter)
                .await
                .expect("records")
        }
    };
    let streams = stream_disk(&env).await;
    let raw: Records = records("MD_RAW", "md.raw.*.chain.>").await;
    let enriched = records("MD_ENRICHED", "md.enriched.*.chain.>").await;
    let summaries = records("MD_ENRICHED", "md.enriched.*.summary").await;
    let chains: Vec<EnrichedChain> = read_all(&env.js, "MD_ENRICHED", "md.enriched.*.chain.>")
        .await
        .into_iter()
        .map(|m| {
            match Enriched::decode(m.schema.as_deref(), &m.subject, &m.payload).expect("decodes") {
                Enriched::Chain(c) => c,
                other => panic!("not a chain: {}", other.schema()),
            }
        })
        .collect();
    let n = chains.len();
    assert_eq!(n as u64, report.chains);

    let mut rows = Vec::new();
    for (name, layout, compressor) in [
        ("first_snappy", Layout::First, "snappy"),
        ("first_zstd", Layout::First, "zstd"),
        ("columns_snappy", Layout::Columns, "snappy"),
        ("columns_zstd", Layout::Columns, "zstd"),
    ] {
        let cost = write_form(&env, name, &chains, layout, compressor).await;
        assert_eq!(cost.snapshots.count as usize, n);
        rows.push((name, cost));
    }
    let today = rows[0].1;
    println!(
        "{:<16}{:>10}{:>14}{:>14}{:>14}",
        "stream", "messages", "stored bytes", "disk, s2", "disk, none"
    );
    for s in &streams {
        println!(
            "{:<16}{:>10}{:>14}{:>14}{:>14}",
            s.name, s.messages, s.bytes, s.s2, s.none
        );
    }
    println!(
        "{n} chains of {} products; JetStream stored record per chain: raw {:.0} B, \
         enriched {:.0} B, summary {:.0} B (payloads {:.0} / {:.0} / {:.0} B)",
        cfg.products.len(),
        raw.stored_per_msg(),
        enriched.stored_per_msg(),
        summaries.stored_per_msg(),
        per(raw.payload, n),
        per(enriched.payload, n),
        per(summaries.payload, n),
    );
    println!(
        "{:<16}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}{:>10}",
        "per chain", "BSON doc", "wire in", "journal", "data", "disk", "on disk", "written÷"
    );
    for (name, c) in &rows {
        let written = c.io.disk_written() as f64 / today.io.disk_written().max(1) as f64;
        println!(
            "{:<16}{:>12.0}{:>12.0}{:>12.0}{:>12.0}{:>12.0}{:>12.0}{:>10.2}",
            name,
            c.snapshots.bson_per_doc(),
            per(c.io.network_in, n),
            per(c.io.journal_written, n),
            per(c.io.data_written, n),
            per(c.io.disk_written(), n),
            per(
                c.snapshots.storage + c.snapshots.indexes + c.latest.storage + c.latest.indexes,
                n
            ),
            written,
        );
    }
    let (first, columns) = (rows[0].1, rows[3].1);
    assert!(
        columns.snapshots.bson_per_doc() < 0.5 * first.snapshots.bson_per_doc(),
        "the column layout at most half the BSON: {:?} vs {:?}",
        columns.snapshots,
        first.snapshots
    );
    assert!(
        columns.io.network_in < first.io.network_in / 2,
        "and at most half the wire bytes"
    );
}
