//! Enriched messages as the JSON of SPEC §7/§8: proto field names, integers as
//! numbers, an RFC 3339 `ts` next to `ts_unix_ns` (`start` next to
//! `start_unix_ns` for bars), and the WebSocket frame around it — rendered once
//! per message, shared by every reader.

use super::{Event, LiveValue, Update};
use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, SecondsFormat};
use ds_schemas::enriched::Enriched;
use serde_json::{Map, Value};
use std::sync::Arc;

/// `unix_ns` as RFC 3339 UTC (as many fraction digits as needed, `Z`).
pub fn rfc3339(unix_ns: i64) -> String {
    DateTime::from_timestamp_nanos(unix_ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The `data` JSON of a message.
pub fn data_json(m: &Enriched) -> Value {
    let (v, ns_field, str_field, ns) = match m {
        Enriched::Underlying(x) => (serde_json::to_value(x), "ts_unix_ns", "ts", x.ts_unix_ns),
        Enriched::Chain(x) => (serde_json::to_value(x), "ts_unix_ns", "ts", x.ts_unix_ns),
        Enriched::Summary(x) => (serde_json::to_value(x), "ts_unix_ns", "ts", x.ts_unix_ns),
        Enriched::Bar(x) => (
            serde_json::to_value(x),
            "start_unix_ns",
            "start",
            x.start_unix_ns,
        ),
    };
    // The generated types hold only numbers, strings and lists: serialising them
    // cannot fail, but an empty object beats a panic if that ever changes.
    let mut obj = match v {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if obj.contains_key(ns_field) {
        obj.insert(str_field.to_owned(), Value::String(rfc3339(ns)));
    }
    Value::Object(obj)
}

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

/// A WebSocket data frame `{"event":…,"room":…,"seq":…,"data":{…}}` around
/// `data` already serialized (the same bytes the REST latest values serve).
fn frame_with_body(event: Event, room: &str, seq: u64, data: &str) -> Utf8Bytes {
    let mut out = String::with_capacity(256);
    out.push_str("{\"event\":\"");
    out.push_str(event.name());
    out.push_str("\",\"room\":");
    // Room names are built from product tokens ([A-Z0-9_]+); serialising keeps
    // the frame valid JSON whatever they hold.
    out.push_str(&Value::String(room.to_owned()).to_string());
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    Utf8Bytes::from(out)
}

/// Renders one message of `MD_ENRICHED` at stream sequence `seq`.
pub fn update(m: &Enriched, seq: u64) -> Update {
    let data = data_json(m);
    let (event, room, key, ts_unix_ns) = route(m);
    let body = data.to_string();
    let frame = frame_with_body(event, &room, seq, &body);
    let (product, sub) = match m {
        Enriched::Underlying(_) => (m.product().to_owned(), String::new()),
        Enriched::Chain(x) => (m.product().to_owned(), x.expiry.clone()),
        Enriched::Summary(x) => (m.product().to_owned(), x.expiry.clone()),
        Enriched::Bar(x) => (m.product().to_owned(), x.interval.clone()),
    };
    Update {
        value: LiveValue {
            seq,
            json: Arc::new(data),
            body: bytes::Bytes::from(body),
            ts_unix_ns,
        },
        event,
        room: Arc::from(room),
        key: Arc::from(key),
        product,
        sub,
        frame,
        trace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::{Bar, EnrichedChain, EnrichedQuote};

    #[test]
    fn timestamps_and_frames() {
        assert_eq!(rfc3339(1_736_935_200_000_000_000), "2025-01-15T10:00:00Z");
        assert_eq!(
            rfc3339(1_736_935_200_123_000_000),
            "2025-01-15T10:00:00.123Z"
        );
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
        let u = update(&Enriched::Chain(chain), 42);
        let v: Value = serde_json::from_str(u.frame.as_str()).expect("frame is JSON");
        assert_eq!(v["event"], "chain_update");
        assert_eq!(v["room"], "chain:NIFTY");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["data"]["ts"], "2025-01-15T10:00:00Z");
        assert_eq!(v["data"]["calls"][0]["buildup"], "LONG_BUILDUP");
        assert_eq!(&*u.key, "NIFTY/chain/2025-01-30");

        let bar = Bar {
            product: "NIFTY".into(),
            interval: "1m".into(),
            start_unix_ns: 1_736_935_200_000_000_000,
            ..Default::default()
        };
        let u = update(&Enriched::Bar(bar), 7);
        assert_eq!(u.value.json["start"], "2025-01-15T10:00:00Z");
        assert_eq!(&*u.room, "bars:NIFTY");
        assert_eq!(u.event, Event::BarUpdate);
    }
}
