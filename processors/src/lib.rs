//! DeltaStream's stream processors, each a thin async shell around the pure
//! `ds-analytics` library:
//! - [`feed`]: the synthetic market feed publishing on `MD_RAW`;
//! - [`enrich`]: the enrichers, consumer groups from `MD_RAW` to `MD_ENRICHED`;
//! - [`project`]: the projector, from `MD_ENRICHED` into MongoDB read models;
//! - [`replay`]: re-driving a trading day from `MD_RAW` into projections or subjects;
//! - [`consumer`]: the one consumer loop the enrichers and the projector run.

pub mod checkpoint;
pub mod consumer;
pub mod day_index;
pub mod enrich;
pub mod feed;
pub mod group;
pub mod project;
pub mod redrive;
pub mod replay;
pub mod time;
