//! The headers of SPEC §2 as `async_nats::HeaderMap`s: building them for a
//! message and reading them back. The names are the contract's
//! ([`ds_schemas::headers`]); this glue stays here because it needs async-nats,
//! which the contract crate does not depend on.

use async_nats::HeaderMap;
use ds_schemas::enriched::Enriched;
pub use ds_schemas::headers::{MSG_ID_HEADER, SCHEMA_HEADER, TRACEPARENT_HEADER};
use ds_schemas::Schema;

/// Headers for a message of type `T` with the deterministic id `msg_id`.
pub fn for_message<T: Schema>(msg_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(SCHEMA_HEADER, T::NAME);
    h.insert(MSG_ID_HEADER, msg_id);
    h
}

/// The headers of an enriched message: `Ds-Schema` and its deterministic
/// `Nats-Msg-Id` (see [`Enriched::msg_id`]); with a sampled `span`, also the
/// `traceparent` continuing its trace.
pub trait EnrichedHeaders {
    /// Headers to publish it with, produced by the raw message at `source_seq`.
    fn headers(&self, source_seq: u64) -> HeaderMap;
    /// [`EnrichedHeaders::headers`] plus `traceparent` when `span` is sampled.
    fn traced_headers(&self, source_seq: u64, span: Option<&tracing::Span>) -> HeaderMap;
}

impl EnrichedHeaders for Enriched {
    fn headers(&self, source_seq: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SCHEMA_HEADER, self.schema());
        h.insert(MSG_ID_HEADER, self.msg_id(source_seq).as_str());
        h
    }

    fn traced_headers(&self, source_seq: u64, span: Option<&tracing::Span>) -> HeaderMap {
        let mut h = self.headers(source_seq);
        if let Some(span) = span {
            crate::telemetry::inject(span, &mut h);
        }
        h
    }
}

/// The `Ds-Schema` header of a message, if any.
pub fn schema(headers: Option<&HeaderMap>) -> Option<&str> {
    headers
        .and_then(|h| h.get(SCHEMA_HEADER))
        .map(|v| v.as_str())
}

/// The `Nats-Msg-Id` header of a message, if any.
pub fn msg_id(headers: Option<&HeaderMap>) -> Option<&str> {
    headers
        .and_then(|h| h.get(MSG_ID_HEADER))
        .map(|v| v.as_str())
}

/// Decodes a NATS payload as `T`, checking its `Ds-Schema` header when present.
///
/// # Errors
/// See [`ds_schemas::decode`].
pub fn decode<T: Schema>(
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<T, ds_schemas::SchemaError> {
    ds_schemas::decode::<T>(schema(headers), payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::UnderlyingTick;
    use prost::Message;

    #[test]
    fn sets_and_reads_schema_and_id() {
        let h = for_message::<UnderlyingTick>("NIFTY:underlying:7");
        assert_eq!(schema(Some(&h)), Some("deltastream.v1.UnderlyingTick"));
        assert_eq!(msg_id(Some(&h)), Some("NIFTY:underlying:7"));
        let tick = UnderlyingTick {
            product: "NIFTY".into(),
            price: 21500.5,
            ts_unix_ns: 1,
            seq: 7,
            volume: 3,
        };
        let back: UnderlyingTick = decode(Some(&h), &tick.encode_to_vec()).expect("decodes");
        assert_eq!(back, tick);
        let wrong = for_message::<ds_schemas::Bar>("x");
        assert!(decode::<UnderlyingTick>(Some(&wrong), &tick.encode_to_vec()).is_err());
    }
}
