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
        delta: None,
        trace: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::{Bar, EnrichedChain, EnrichedQuote};

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
