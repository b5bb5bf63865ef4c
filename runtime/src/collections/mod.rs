//! The MongoDB projections of SPEC §6: collection names and the indexes their
//! queries need, created idempotently at start-up.

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

fn index(keys: mongodb::bson::Document, unique: bool) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(unique).build())
        .build()
}

/// Creates every index (a no-op when they exist).
///
/// # Errors
/// When MongoDB refuses or is unreachable.
pub async fn ensure_indexes(db: &mongodb::Database) -> Result<()> {
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
