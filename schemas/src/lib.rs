//! DeltaStream's wire contract (SPEC §2–§3): the `deltastream.v1` protobuf
//! messages, compiled from `schemas/proto` at build time; the subjects they are
//! published on; the headers (`Ds-Schema` tells any client which message a NATS
//! payload holds); the enriched messages as one type; and dead letters. Pure:
//! no client library, no I/O.

pub mod dead_letter;
pub mod enriched;
pub mod headers;
pub mod json;
mod schema;
pub mod subjects;

pub use schema::{decode, Schema, SchemaError, SCHEMA_HEADER};

/// The generated `deltastream.v1` messages.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/deltastream.v1.rs"));
}

pub use v1::{
    Bar, Buildup, ChainSummary, DeadLetter, EnrichedChain, EnrichedQuote, EnrichedUnderlying,
    OptionChain, OptionQuote, UnderlyingTick, WsFrame,
};

/// The `.proto` sources, embedded so tools (and tests) can hand them to other compilers.
pub const PROTO_FILES: &[(&str, &str)] = &[
    (
        "deltastream/v1/market.proto",
        include_str!("../proto/deltastream/v1/market.proto"),
    ),
    (
        "deltastream/v1/enriched.proto",
        include_str!("../proto/deltastream/v1/enriched.proto"),
    ),
    (
        "deltastream/v1/dlq.proto",
        include_str!("../proto/deltastream/v1/dlq.proto"),
    ),
    (
        "deltastream/v1/ws.proto",
        include_str!("../proto/deltastream/v1/ws.proto"),
    ),
];
