//! One message of `MD_ENRICHED` as every reader gets it: the typed message, its
//! JSON and WebSocket frame (rendered once, see [`super::render`]), its room
//! and conflation key.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// The latest value of something, as of an `MD_ENRICHED` stream sequence.
#[derive(Debug, Clone)]
pub struct LiveValue {
    /// `MD_ENRICHED` stream sequence of the message.
    pub seq: u64,
    /// The message.
    pub msg: Arc<ds_schemas::enriched::Enriched>,
    /// Its JSON ([`crate::views::to_json`]), the WebSocket `data` payload,
    /// served as is by the REST latest-value endpoints.
    pub body: bytes::Bytes,
    /// Event time of the message (`ts_unix_ns`, or `start_unix_ns` of a bar).
    pub ts_unix_ns: i64,
}

/// The WebSocket event a message is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `EnrichedUnderlying`, room `product:<P>`.
    UnderlyingUpdate,
    /// `EnrichedChain`, room `chain:<P>`.
    ChainUpdate,
    /// `ChainSummary`, room `general`.
    ChainSummary,
    /// A closed `Bar`, room `bars:<P>`.
    BarUpdate,
}

impl Event {
    /// The event name on the wire (the older design's names).
    pub fn name(self) -> &'static str {
        match self {
            Event::UnderlyingUpdate => "underlying_update",
            Event::ChainUpdate => "chain_update",
            Event::ChainSummary => "chain_summary",
            Event::BarUpdate => "bar_update",
        }
    }
}

/// One message of `MD_ENRICHED`, rendered once for every reader.
#[derive(Debug)]
pub struct Update {
    /// Sequence and JSON.
    pub value: LiveValue,
    /// The WebSocket event.
    pub event: Event,
    /// The WebSocket room (`product:NIFTY`, `chain:NIFTY`, `bars:NIFTY`, `general`).
    pub room: Arc<str>,
    /// What a newer message replaces: `<P>/underlying`, `<P>/chain/<EXPIRY>`,
    /// `<P>/summary/<EXPIRY>`, `<P>/bar/<INTERVAL>`.
    pub key: Arc<str>,
    /// The product.
    pub product: String,
    /// Expiry (chain, summary), interval (bar), or empty (underlying).
    pub sub: String,
    /// The complete WebSocket frame `{"event","room","seq","data"}`.
    pub frame: Utf8Bytes,
    /// The binary frame (`WsFrame`, `GET /ws?format=proto`), encoded on first
    /// use: see [`Update::proto_frame`].
    pub proto: OnceLock<Bytes>,
    /// For a chain, its delta frame after the previous chain of its key (see
    /// [`super::delta`]), for clients that asked for deltas and have that one.
    pub delta: Option<super::delta::Delta>,
    /// The sampled trace the message belongs to (only with trace export on).
    pub trace: Option<ds_runtime::telemetry::Remote>,
}

impl Update {
    /// The binary frame of the message, a `deltastream.v1.WsFrame`: encoded
    /// once, by the first writer of a `?format=proto` socket that sends it (a
    /// gateway whose clients all read JSON never encodes one).
    pub fn proto_frame(&self) -> Bytes {
        self.proto
            .get_or_init(|| {
                super::render::proto_frame(self.event, &self.room, self.value.seq, &self.value.msg)
            })
            .clone()
    }
}
