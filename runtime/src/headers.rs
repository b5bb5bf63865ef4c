//! The headers every published message carries (SPEC §2): `Ds-Schema`,
//! `Nats-Msg-Id`, and `traceparent` when tracing is on.

use async_nats::HeaderMap;
use ds_schemas::{Schema, SCHEMA_HEADER};

/// JetStream's de-duplication header.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// Headers for a message of type `T` with the deterministic id `msg_id`.
pub fn for_message<T: Schema>(msg_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(SCHEMA_HEADER, T::NAME);
    h.insert(MSG_ID_HEADER, msg_id);
    h
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
