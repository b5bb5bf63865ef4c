//! The messages the enrichers publish on `MD_ENRICHED`, as one type: subject,
//! deterministic `Nats-Msg-Id` (output type + source stream sequence, SPEC §2),
//! encoding and decoding by `Ds-Schema`. (The NATS header map itself is built
//! in `ds_runtime::headers`, which owns the async-nats dependency.)

use crate::subjects;
use crate::{Bar, ChainSummary, EnrichedChain, EnrichedUnderlying, Schema, SchemaError};
use bytes::Bytes;
use prost::Message;

/// One enriched message.
#[derive(Debug, Clone, PartialEq)]
pub enum Enriched {
    /// `md.enriched.<P>.underlying`
    Underlying(EnrichedUnderlying),
    /// `md.enriched.<P>.bar.<INTERVAL>` (closed bars only)
    Bar(Bar),
    /// `md.enriched.<P>.chain.<EXPIRY>`
    Chain(EnrichedChain),
    /// `md.enriched.<P>.summary`
    Summary(ChainSummary),
}

impl Enriched {
    /// The product it is about.
    pub fn product(&self) -> &str {
        match self {
            Enriched::Underlying(m) => &m.product,
            Enriched::Bar(m) => &m.product,
            Enriched::Chain(m) => &m.product,
            Enriched::Summary(m) => &m.product,
        }
    }

    /// The subject it is published on.
    pub fn subject(&self) -> String {
        match self {
            Enriched::Underlying(m) => subjects::enriched_underlying(&m.product),
            Enriched::Bar(m) => subjects::enriched_bar(&m.product, &m.interval),
            Enriched::Chain(m) => subjects::enriched_chain(&m.product, &m.expiry),
            Enriched::Summary(m) => subjects::enriched_summary(&m.product),
        }
    }

    /// `Ds-Schema` of the message.
    pub fn schema(&self) -> &'static str {
        match self {
            Enriched::Underlying(_) => EnrichedUnderlying::NAME,
            Enriched::Bar(_) => Bar::NAME,
            Enriched::Chain(_) => EnrichedChain::NAME,
            Enriched::Summary(_) => ChainSummary::NAME,
        }
    }

    /// The event time: `ts_unix_ns`, or `start_unix_ns` for a bar.
    pub fn ts_unix_ns(&self) -> i64 {
        match self {
            Enriched::Underlying(m) => m.ts_unix_ns,
            Enriched::Bar(m) => m.start_unix_ns,
            Enriched::Chain(m) => m.ts_unix_ns,
            Enriched::Summary(m) => m.ts_unix_ns,
        }
    }

    /// The deterministic id: output type + the MD_RAW sequence of the message that
    /// produced it (+ interval for bars), e.g. `EnrichedChain:5012`, `Bar:1m:5013`;
    /// a bar closed by the session-closing tick it contains is `Bar:1m:5013:close`.
    pub fn msg_id(&self, source_seq: u64) -> String {
        match self {
            Enriched::Underlying(_) => format!("{}:{source_seq}", EnrichedUnderlying::SHORT),
            // The message that closes a session closes two bars of an interval at
            // once: the one before it, and its own (which it is the last tick of).
            Enriched::Bar(b) if b.last_source_seq == source_seq => {
                format!("{}:{}:{source_seq}:close", Bar::SHORT, b.interval)
            }
            Enriched::Bar(b) => format!("{}:{}:{source_seq}", Bar::SHORT, b.interval),
            Enriched::Chain(_) => format!("{}:{source_seq}", EnrichedChain::SHORT),
            Enriched::Summary(_) => format!("{}:{source_seq}", ChainSummary::SHORT),
        }
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Bytes {
        Bytes::from(match self {
            Enriched::Underlying(m) => m.encode_to_vec(),
            Enriched::Bar(m) => m.encode_to_vec(),
            Enriched::Chain(m) => m.encode_to_vec(),
            Enriched::Summary(m) => m.encode_to_vec(),
        })
    }

    /// Decodes a message of `MD_ENRICHED` by its `Ds-Schema` header (or, without
    /// one, by its subject).
    ///
    /// # Errors
    /// When the schema is not an enriched message or the bytes do not decode.
    pub fn decode(
        schema: Option<&str>,
        subject: &str,
        payload: &[u8],
    ) -> Result<Self, SchemaError> {
        let name = match schema {
            Some(s) => s,
            None => schema_for_subject(subject).unwrap_or(""),
        };
        let undecodable = |e: prost::DecodeError, schema| SchemaError::Undecodable {
            schema,
            reason: e.to_string(),
        };
        Ok(match name {
            EnrichedUnderlying::NAME => Enriched::Underlying(
                EnrichedUnderlying::decode(payload)
                    .map_err(|e| undecodable(e, EnrichedUnderlying::NAME))?,
            ),
            Bar::NAME => {
                Enriched::Bar(Bar::decode(payload).map_err(|e| undecodable(e, Bar::NAME))?)
            }
            EnrichedChain::NAME => Enriched::Chain(
                EnrichedChain::decode(payload).map_err(|e| undecodable(e, EnrichedChain::NAME))?,
            ),
            ChainSummary::NAME => Enriched::Summary(
                ChainSummary::decode(payload).map_err(|e| undecodable(e, ChainSummary::NAME))?,
            ),
            other => {
                return Err(SchemaError::WrongSchema {
                    found: other.to_owned(),
                    expected: "an enriched message",
                })
            }
        })
    }
}

/// The schema a `md.enriched.*` subject carries.
pub fn schema_for_subject(subject: &str) -> Option<&'static str> {
    let kind = subject.split('.').nth(3)?;
    Some(match kind {
        "underlying" => EnrichedUnderlying::NAME,
        "bar" => Bar::NAME,
        "chain" => EnrichedChain::NAME,
        "summary" => ChainSummary::NAME,
        _ => return None,
    })
}
