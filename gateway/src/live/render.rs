//! Enriched messages rendered once per message for every reader: the typed
//! JSON of [`crate::views`] (the REST latest values and the WebSocket `data`),
//! the routing facts (event, room, conflation key), and the WebSocket frame
//! around it.

use super::update::{Event, LiveValue, Update};
use axum::extract::ws::Utf8Bytes;
use ds_schemas::enriched::Enriched;
use serde_json::Value;
use std::sync::Arc;

/// The routing facts of a message: event, room, conflation key, event time.
pub fn route(m: &Enriched) -> (Event, String, String, i64) {
    let p = m.product();
    match m {
        Enriched::Underlying(x) => (
            Event::UnderlyingUpdate,
            format!("product:{p}"),
            format!("{p}/underlying"),
            x.ts_unix_ns,
        ),
        Enriched::Chain(x) => (
            Event::ChainUpdate,
            format!("chain:{p}"),
            format!("{p}/chain/{}", x.expiry),
            x.ts_unix_ns,
        ),
        Enriched::Summary(x) => (
            Event::ChainSummary,
            "general".to_owned(),
            format!("{p}/summary/{}", x.expiry),
            x.ts_unix_ns,
        ),
        Enriched::Bar(x) => (
            Event::BarUpdate,
            format!("bars:{p}"),
            format!("{p}/bar/{}", x.interval),
            x.start_unix_ns,
        ),
    }
}

/// A WebSocket data frame `{"event":…,"room":…,"seq":…<extra>,"data":{…}}`
/// around `data` already serialized (for a full frame, the same bytes the REST
/// latest values serve); `extra` is more members, each starting with a comma.
pub(super) fn frame(event: Event, room: &str, seq: u64, extra: &str, data: &str) -> Utf8Bytes {
    let mut out = String::with_capacity(data.len() + extra.len() + 64);
    out.push_str("{\"event\":\"");
    out.push_str(event.name());
    out.push_str("\",\"room\":");
    // Room names are built from product tokens ([A-Z0-9_]+); serialising keeps
    // the frame valid JSON whatever they hold.
    out.push_str(&Value::String(room.to_owned()).to_string());
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(extra);
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    Utf8Bytes::from(out)
}

/// Renders one message of `MD_ENRICHED` at stream sequence `seq`.
///
/// # Errors
/// When the message has no JSON form (see [`crate::views::to_json`]).
pub fn update(m: Enriched, seq: u64) -> serde_json::Result<Update> {
    let body = String::from_utf8(crate::views::to_json(&m)?).map_err(|e| {
        serde_json::Error::io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?;
    let (event, room, key, ts_unix_ns) = route(&m);
    let frame = frame(event, &room, seq, "", &body);
    let (product, sub) = match &m {
        Enriched::Underlying(_) => (m.product().to_owned(), String::new()),
        Enriched::Chain(x) => (m.product().to_owned(), x.expiry.clone()),
        Enriched::Summary(x) => (m.product().to_owned(), x.expiry.clone()),
        Enriched::Bar(x) => (m.product().to_owned(), x.interval.clone()),
    };
    Ok(Update {
        value: LiveValue {
            seq,
            msg: Arc::new(m),
            body: bytes::Bytes::from(body),
            ts_unix_ns,
        },
        event,
        room: Arc::from(room),
        key: Arc::from(key),
        product,
        sub,
        frame,
        proto: std::sync::OnceLock::new(),
        delta: None,
        trace: None,
    })
}

/// The binary WebSocket frame of a message: a `deltastream.v1.WsFrame`
/// (event, room, seq, and in `data` the message as [`Enriched::encode`]
/// encodes it for the bus).
pub fn proto_frame(event: Event, room: &str, seq: u64, m: &Enriched) -> bytes::Bytes {
    use prost::encoding::{encode_key, encode_varint, WireType};
    fn length_delimited(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(bytes.len() as u64, buf);
        buf.extend_from_slice(bytes);
    }
    // The field numbers of `WsFrame.data` (schemas/proto/deltastream/v1/ws.proto).
    let data_tag = match m {
        Enriched::Underlying(_) => 4,
        Enriched::Chain(_) => 5,
        Enriched::Summary(_) => 6,
        Enriched::Bar(_) => 7,
    };
    let message = m.encode();
    let mut buf = Vec::with_capacity(message.len() + room.len() + 48);
    length_delimited(1, event.name().as_bytes(), &mut buf);
    length_delimited(2, room.as_bytes(), &mut buf);
    if seq != 0 {
        encode_key(3, WireType::Varint, &mut buf);
        encode_varint(seq, &mut buf);
    }
    length_delimited(data_tag, &message, &mut buf);
    bytes::Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::{Bar, EnrichedChain, EnrichedQuote};

    /// The hand-encoded binary frame is what prost encodes for the `WsFrame`
    /// holding the same message, for every kind of message.
    #[test]
    fn binary_frames_are_ws_frames() {
        use ds_schemas::v1::ws_frame::Data;
        use ds_schemas::{ChainSummary, EnrichedUnderlying, WsFrame};
        use prost::Message;
        let chain = EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            calls: vec![EnrichedQuote {
                strike: 23_500.0,
                iv: Some(0.14),
                buildup: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let cases = [
            (
                Enriched::Underlying(EnrichedUnderlying {
                    product: "NIFTY".into(),
                    price: 23_512.5,
                    ..Default::default()
                }),
                42,
            ),
            (Enriched::Chain(chain), 43),
            (
                Enriched::Summary(ChainSummary {
                    product: "AAPL".into(),
                    pcr_oi: 0.9,
                    ..Default::default()
                }),
                44,
            ),
            (
                Enriched::Bar(Bar {
                    product: "TSLA".into(),
                    interval: "5m".into(),
                    ..Default::default()
                }),
                0,
            ),
        ];
        for (m, seq) in cases {
            let u = update(m.clone(), seq).expect("renders");
            let data = match m {
                Enriched::Underlying(x) => Data::Underlying(x),
                Enriched::Chain(x) => Data::Chain(x),
                Enriched::Summary(x) => Data::Summary(x),
                Enriched::Bar(x) => Data::Bar(x),
            };
            let expected = WsFrame {
                event: u.event.name().to_owned(),
                room: u.room.to_string(),
                seq,
                data: Some(data),
            };
            let frame = u.proto_frame();
            assert_eq!(&frame[..], &expected.encode_to_vec()[..]);
            assert_eq!(WsFrame::decode(frame).expect("decodes"), expected);
            assert!(u.proto.get().is_some(), "encoded once, then kept");
        }
    }

    #[test]
    fn frames_carry_the_typed_json() {
        let chain = EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            ts_unix_ns: 1_736_935_200_000_000_000,
            calls: vec![EnrichedQuote {
                buildup: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let u = update(Enriched::Chain(chain), 42).expect("renders");
        let v: Value = serde_json::from_str(u.frame.as_str()).expect("frame is JSON");
        assert_eq!(v["event"], "chain_update");
        assert_eq!(v["room"], "chain:NIFTY");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["data"]["ts"], "2025-01-15T10:00:00Z");
        assert_eq!(v["data"]["calls"][0]["buildup"], "LONG_BUILDUP");
        assert_eq!(&*u.key, "NIFTY/chain/2025-01-30");
        let body: Value = serde_json::from_slice(&u.value.body).expect("body is JSON");
        assert_eq!(body, v["data"]);

        let bar = Bar {
            product: "NIFTY".into(),
            interval: "1m".into(),
            start_unix_ns: 1_736_935_200_000_000_000,
            ..Default::default()
        };
        let u = update(Enriched::Bar(bar), 7).expect("renders");
        assert_eq!(&*u.room, "bars:NIFTY");
        assert_eq!(u.event, Event::BarUpdate);
        let bad = EnrichedChain {
            calls: vec![EnrichedQuote {
                buildup: 99,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(update(Enriched::Chain(bad), 8).is_err());
    }
}
