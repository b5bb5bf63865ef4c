//! The MongoDB projections of SPEC §6: collection names, how they are stored
//! (zstd block compression; chains in their own layout, [`chain`]) and the
//! indexes their queries need, created idempotently at start-up.

pub mod chain;

use crate::Result;
use mongodb::bson::doc;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// One document per tick.
pub const UNDERLYING_TICKS: &str = "underlying_ticks";
/// One document per product: the latest tick.
pub const UNDERLYING_LATEST: &str = "underlying_latest";
/// One document per product, interval and bar start.
pub const BARS: &str = "bars";
/// One document per enriched chain snapshot.
pub const OPTION_CHAINS: &str = "option_chains";
/// One document per product and expiry: the latest enriched chain.
pub const CHAIN_LATEST: &str = "chain_latest";
/// Users of the gateway.
pub const USERS: &str = "users";
/// API keys of programs.
pub const API_KEYS: &str = "api_keys";
/// Refresh tokens (hashed), revocable.
pub const REFRESH_TOKENS: &str = "refresh_tokens";
/// Last applied stream sequence per projection.
pub const PROJECTION_OFFSETS: &str = "projection_offsets";

/// The collections that are a pure function of the stream (what replay rebuilds).
pub const PROJECTIONS: &[&str] = &[
    UNDERLYING_TICKS,
    UNDERLYING_LATEST,
    BARS,
    OPTION_CHAINS,
    CHAIN_LATEST,
];

/// The shard key of each append-only collection when MongoDB is sharded
/// (deploy/README.md, "Past one replica set"): `product` hashed, then the
/// fields that order a product's documents. Only their names live here; a
/// write that upserts such a document names them in its filter, so a sharded
/// cluster routes it to one shard (MongoDB 6.0 refuses an upsert whose filter
/// lacks the shard key).
pub const SHARD_KEYS: [(&str, &[&str]); 3] = [
    (UNDERLYING_TICKS, &["product", "ts_unix_ns"]),
    (BARS, &["product", "interval", "start_unix_ns"]),
    (OPTION_CHAINS, &["product", "expiry", "ts_unix_ns"]),
];

/// The shard key fields of `collection` ([`SHARD_KEYS`]; none for the small,
/// unsharded ones).
pub fn shard_key(collection: &str) -> &'static [&'static str] {
    SHARD_KEYS
        .iter()
        .find(|(c, _)| *c == collection)
        .map_or(&[], |(_, fields)| fields)
}

/// WiredTiger configuration of the projection collections: zstd block
/// compression instead of the server's default (snappy), set when a collection
/// is created (an existing one keeps its own). Measured on a day's chains (see
/// BENCHMARKS.md, "Bytes per chain"): ~2× smaller files than snappy.
pub const PROJECTION_STORAGE: &str = "block_compressor=zstd";

/// Creates the projection collections that do not exist yet with
/// [`PROJECTION_STORAGE`].
///
/// # Errors
/// When MongoDB refuses or is unreachable.
pub async fn create_projections(db: &mongodb::Database) -> Result<()> {
    const NAMESPACE_EXISTS: i32 = 48;
    let existing = db.list_collection_names().await?;
    for name in PROJECTIONS {
        if existing.iter().any(|e| e == name) {
            continue;
        }
        let created = db
            .create_collection(*name)
            .storage_engine(doc! {"wiredTiger": {"configString": PROJECTION_STORAGE}})
            .await;
        match created {
            // Another process created it meanwhile.
            Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == NAMESPACE_EXISTS) =>
                {}
            other => other?,
        }
    }
    Ok(())
}

fn index(keys: mongodb::bson::Document, unique: bool) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(unique).build())
        .build()
}

/// Creates the projection collections ([`create_projections`]) and every index
/// (a no-op when they exist).
///
/// # Errors
/// When MongoDB refuses or is unreachable.
pub async fn ensure_indexes(db: &mongodb::Database) -> Result<()> {
    create_projections(db).await?;
    let specs: Vec<(&str, Vec<IndexModel>)> = vec![
        (
            UNDERLYING_TICKS,
            vec![index(
                doc! {"product": 1, "ts_unix_ns": -1, "_id": -1},
                false,
            )],
        ),
        (
            BARS,
            vec![index(
                doc! {"product": 1, "interval": 1, "start_unix_ns": -1},
                false,
            )],
        ),
        (
            OPTION_CHAINS,
            vec![
                index(
                    doc! {"product": 1, "expiry": 1, "ts_unix_ns": -1, "_id": -1},
                    false,
                ),
                index(doc! {"product": 1, "ts_unix_ns": -1, "_id": -1}, false),
            ],
        ),
        (
            CHAIN_LATEST,
            vec![index(doc! {"product": 1, "expiry": 1}, false)],
        ),
        (USERS, vec![index(doc! {"email": 1}, true)]),
        (
            API_KEYS,
            vec![
                index(doc! {"key_hash": 1}, true),
                index(doc! {"owner": 1}, false),
            ],
        ),
        (
            REFRESH_TOKENS,
            vec![
                index(doc! {"token_hash": 1}, true),
                index(doc! {"user_id": 1}, false),
            ],
        ),
    ];
    for (coll, models) in specs {
        db.collection::<mongodb::bson::Document>(coll)
            .create_indexes(models)
            .await?;
    }
    Ok(())
}
