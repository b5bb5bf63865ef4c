//! Section 2b: what the day just projected costs in bytes — per chain on
//! JetStream (stored records) and in MongoDB (BSON written, files on disk,
//! against the first stored layout's BSON for the same chains), and disk per
//! day. Byte counts, not timings: the same day gives the same figures.

use super::env::Env;
use super::report::{Row, Verdict};
use ds_runtime::collections::{chain, CHAIN_LATEST, OPTION_CHAINS, PROJECTIONS};
use ds_runtime::footprint::{self, CollectionBytes};
use futures::TryStreamExt;
use mongodb::bson::{doc, RawDocumentBuf};

const SECTION: &str = "bytes";
const MIB: f64 = 1024.0 * 1024.0;
/// Chains re-encoded in the first layout to compare with.
const SAMPLE: i64 = 500;
/// The target: MongoDB bytes written per enriched chain at most a third of the
/// first layout's (issue 17).
const TARGET: f64 = 1.0 / 3.0;

/// Measures and reports.
///
/// # Errors
/// When NATS or MongoDB fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    env.progress
        .line("bytes: what a chain costs, publish to MongoDB");
    jetstream_records(env).await?;
    mongodb_bytes(env).await?;
    disk_per_day(env).await
}

/// Stored bytes per chain in the streams: the raw chain, its enriched outputs.
async fn jetstream_records(env: &mut Env) -> anyhow::Result<()> {
    let raw = footprint::records(&env.js, "MD_RAW", "md.raw.*.chain.>").await?;
    let enriched = footprint::records(&env.js, "MD_ENRICHED", "md.enriched.*.chain.>").await?;
    let summary = footprint::records(&env.js, "MD_ENRICHED", "md.enriched.*.summary").await?;
    let r = &mut env.report;
    r.info(
        SECTION,
        "JetStream record per chain: raw OptionChain",
        raw.stored_per_msg(),
        "B",
    );
    r.info(
        SECTION,
        "JetStream records per chain: EnrichedChain + ChainSummary",
        enriched.stored_per_msg() + summary.stored_per_msg(),
        "B",
    );
    Ok(())
}

/// MongoDB per chain: BSON against the first layout's, on disk, on the wire,
/// and what the day wrote to disk.
async fn mongodb_bytes(env: &mut Env) -> anyhow::Result<()> {
    let chains = env.found.day_chains.max(1) as f64;
    footprint::checkpoint(&env.db).await?;
    let io = footprint::mongo_io(&env.db)
        .await?
        .since(&env.found.mongo_io_before_day);
    let snapshots = footprint::collection(&env.db, OPTION_CHAINS).await?;
    let latest = footprint::collection(&env.db, CHAIN_LATEST).await?;
    let first = first_layout_bson(&env.db).await?;
    let now = snapshots.bson_per_doc();
    let ratio = now / first.max(1.0);
    let r = &mut env.report;
    r.info(
        SECTION,
        "MongoDB BSON per chain document, first layout",
        first,
        "B",
    );
    r.info(SECTION, "MongoDB BSON per chain document", now, "B");
    let pass = ratio <= TARGET;
    r.rows.push(Row {
        target: Some("≤ 0.33 × first layout".into()),
        verdict: Verdict::of(pass),
        note: (!pass).then(|| format!("{:.2}× the target", ratio / TARGET)),
        ..Row::info(
            SECTION,
            "MongoDB bytes written per chain ÷ first layout",
            ratio,
            "×",
        )
    });
    r.info(
        SECTION,
        "MongoDB on disk per chain (snapshots + latest, with indexes)",
        (on_disk(&snapshots) + on_disk(&latest)) as f64 / chains,
        "B",
    );
    r.info(
        SECTION,
        "MongoDB wire bytes in for the day, per chain",
        io.network_in as f64 / chains,
        "B",
    );
    r.info(
        SECTION,
        "MongoDB written to disk for the day (journal + data)",
        io.disk_written() as f64 / MIB,
        "MiB",
    );
    Ok(())
}

/// Disk per day: the MongoDB projections, and the streams' files (S2) beside
/// their uncompressed size.
async fn disk_per_day(env: &mut Env) -> anyhow::Result<()> {
    let mut mongo_disk = 0;
    for coll in PROJECTIONS {
        mongo_disk += on_disk(&footprint::collection(&env.db, coll).await?);
    }
    env.report.info(
        SECTION,
        "disk per day: MongoDB projections (data + indexes)",
        mongo_disk as f64 / MIB,
        "MiB",
    );
    if let Some(store) = env.nats_store() {
        let mut stored = 0;
        for stream in ["MD_RAW", "MD_ENRICHED"] {
            stored += env.js.get_stream(stream).await?.info().await?.state.bytes;
        }
        let files = footprint::disk_usage(&footprint::stream_dir(store, "MD_RAW"))
            + footprint::disk_usage(&footprint::stream_dir(store, "MD_ENRICHED"));
        let r = &mut env.report;
        r.info(
            SECTION,
            "disk per day: JetStream MD_RAW + MD_ENRICHED (S2 files)",
            files as f64 / MIB,
            "MiB",
        );
        r.info(
            SECTION,
            "JetStream MD_RAW + MD_ENRICHED, uncompressed",
            stored as f64 / MIB,
            "MiB",
        );
    }
    Ok(())
}

fn on_disk(c: &CollectionBytes) -> u64 {
    c.storage + c.indexes
}

/// The mean BSON size of the first [`SAMPLE`] stored chains re-encoded in the
/// first layout (an object per quote; `_id`, `ts`, lineage and `written_at` as
/// stored).
async fn first_layout_bson(db: &mongodb::Database) -> anyhow::Result<f64> {
    let docs: Vec<RawDocumentBuf> = db
        .collection::<RawDocumentBuf>(OPTION_CHAINS)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .limit(SAMPLE)
        .await?
        .try_collect()
        .await?;
    let mut total = 0usize;
    for d in &docs {
        let c = chain::decode(d)?;
        let mut first = mongodb::bson::to_document(&c)?;
        for key in ["_id", "ts", "processor_version", "written_at"] {
            if let Some(v) = d.get(key)? {
                first.insert(key, mongodb::bson::Bson::try_from(v.to_raw_bson())?);
            }
        }
        total += mongodb::bson::to_vec(&first)?.len();
    }
    Ok(total as f64 / docs.len().max(1) as f64)
}
