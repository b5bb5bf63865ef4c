//! The WebSocket protocol of SPEC §8: client operations in, control events out.

use axum::extract::ws::Utf8Bytes;
use serde_json::{json, Value};

/// A room kind a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// `product:<P>`: `underlying_update`.
    Product,
    /// `chain:<P>`: `chain_update` of every expiry.
    Chain,
    /// `bars:<P>`: `bar_update` of every interval.
    Bars,
}

impl RoomKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "product" => RoomKind::Product,
            "chain" => RoomKind::Chain,
            "bars" => RoomKind::Bars,
            _ => return None,
        })
    }

    /// The room of `product`.
    pub fn room(self, product: &str) -> String {
        match self {
            RoomKind::Product => format!("product:{product}"),
            RoomKind::Chain => format!("chain:{product}"),
            RoomKind::Bars => format!("bars:{product}"),
        }
    }
}

/// Close code for a socket whose query (`?replay=`, `?format=`) is not valid.
pub const BAD_QUERY_CLOSE: u16 = 4400;

/// How a socket's data frames are sent, chosen when it connects (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON text frames (the default).
    #[default]
    Json,
    /// Binary `deltastream.v1.WsFrame` protobuf frames; control events
    /// (`subscribed`, `error`, `resync`, …) stay JSON text frames.
    Proto,
}

impl Format {
    /// The format `?format=` asks for (`json` when absent).
    ///
    /// # Errors
    /// A reason for the client when it names no format.
    pub fn parse(asked: Option<&str>) -> Result<Self, String> {
        match asked.map(str::trim) {
            None | Some("" | "json") => Ok(Format::Json),
            Some("proto") => Ok(Format::Proto),
            Some(other) => Err(format!(
                "format {other:?} is not one of json, proto (?format=proto for binary \
                 deltastream.v1.WsFrame frames)"
            )),
        }
    }
}

/// How a subscription's `chain_update` frames are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Every frame whole (the default).
    #[default]
    Full,
    /// Only the quotes changed since the client's previous frame of the same
    /// chain (see [`crate::live::delta`]); other events stay whole.
    Delta,
}

/// The subject filter that reads a room back from `MD_ENRICHED` (one filter per
/// consumer: nats-server 2.9 has no multi-filter consumers).
pub fn room_filter(room: &str) -> Option<String> {
    Some(match room.split_once(':') {
        Some(("product", p)) => format!("md.enriched.{p}.underlying"),
        Some(("chain", p)) => format!("md.enriched.{p}.chain.*"),
        Some(("bars", p)) => format!("md.enriched.{p}.bar.*"),
        None if room == "general" => "md.enriched.*.summary".to_owned(),
        _ => return None,
    })
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `{"op":"auth","token":…}`
    Auth(String),
    /// `{"op":"subscribe","type":…,"symbol":…,"since_seq"?:N}`
    Subscribe {
        /// The room kind.
        kind: RoomKind,
        /// The product.
        symbol: String,
        /// Resume after this `MD_ENRICHED` sequence.
        since_seq: Option<u64>,
        /// `"replay": "<prefix>"`: must name the socket's replay session (a
        /// socket follows one source, chosen with `GET /ws?replay=<prefix>`).
        replay: Option<String>,
        /// `"encoding": "full" | "delta"`.
        encoding: Encoding,
    },
    /// `{"op":"resync","type":…,"symbol":…}`: the room's latest values again,
    /// whole (a client that found a gap in its delta frames).
    Resync {
        /// The room kind.
        kind: RoomKind,
        /// The product.
        symbol: String,
    },
    /// `{"op":"unsubscribe","type":…,"symbol":…}`
    Unsubscribe {
        /// The room kind.
        kind: RoomKind,
        /// The product.
        symbol: String,
    },
    /// `{"op":"ping"}`
    Ping,
}

/// Parses a text frame; the error is the message of the `error` event to send.
pub fn parse(text: &str) -> Result<Op, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Some(obj) = v.as_object() else {
        return Err("expected a JSON object like {\"op\":\"subscribe\",\"type\":\"product\",\"symbol\":\"NIFTY\"}".into());
    };
    let op = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or("missing \"op\" (auth, subscribe, unsubscribe, resync or ping)")?;
    let room = || -> Result<(RoomKind, String), String> {
        let t = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or("missing \"type\" (product, chain or bars)")?;
        let kind = RoomKind::parse(t)
            .ok_or_else(|| format!("unknown type {t:?}; expected product, chain or bars"))?;
        let symbol = obj
            .get("symbol")
            .and_then(Value::as_str)
            .ok_or("missing \"symbol\" (a product such as NIFTY)")?;
        Ok((kind, symbol.to_owned()))
    };
    match op {
        "ping" => Ok(Op::Ping),
        "auth" => {
            let token = obj
                .get("token")
                .and_then(Value::as_str)
                .ok_or("auth without a \"token\" string")?;
            Ok(Op::Auth(token.to_owned()))
        }
        "subscribe" => {
            let (kind, symbol) = room()?;
            let since_seq = match obj.get("since_seq") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .ok_or("\"since_seq\" must be a non-negative integer")?,
                ),
            };
            let replay = match obj.get("replay") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_str()
                        .ok_or("\"replay\" must be a string (a replay prefix)")?
                        .to_owned(),
                ),
            };
            let encoding = match obj.get("encoding") {
                None | Some(Value::Null) => Encoding::Full,
                Some(v) => match v.as_str() {
                    Some("full") => Encoding::Full,
                    Some("delta") => Encoding::Delta,
                    _ => return Err("\"encoding\" must be \"full\" or \"delta\"".into()),
                },
            };
            Ok(Op::Subscribe {
                kind,
                symbol,
                since_seq,
                replay,
                encoding,
            })
        }
        "resync" => {
            let (kind, symbol) = room()?;
            Ok(Op::Resync { kind, symbol })
        }
        "unsubscribe" => {
            let (kind, symbol) = room()?;
            Ok(Op::Unsubscribe { kind, symbol })
        }
        other => Err(format!(
            "unknown op {other:?}; expected auth, subscribe, unsubscribe, resync or ping"
        )),
    }
}

fn text(v: Value) -> Utf8Bytes {
    Utf8Bytes::from(v.to_string())
}

/// `{"event":"error","message":…}`
pub fn error(message: &str) -> Utf8Bytes {
    text(json!({"event": "error", "message": message}))
}

/// `{"event":"pong"}`
pub fn pong() -> Utf8Bytes {
    Utf8Bytes::from_static("{\"event\":\"pong\"}")
}

/// `{"event":"authenticated"}` (with the role when known).
pub fn authenticated(role: Option<&str>) -> Utf8Bytes {
    text(json!({"event": "authenticated", "role": role}))
}

/// `{"event":"subscribed","room":…}`; with delta encoding also
/// `"encoding":"delta"` and the order of a quote row's values (`quote_fields`).
pub fn subscribed(room: &str, encoding: Encoding) -> Utf8Bytes {
    match encoding {
        Encoding::Full => text(json!({"event": "subscribed", "room": room})),
        Encoding::Delta => text(json!({
            "event": "subscribed",
            "room": room,
            "encoding": "delta",
            "quote_fields": crate::live::delta::QUOTE_FIELDS,
        })),
    }
}

/// `{"event":"unsubscribed","room":…}`
pub fn unsubscribed(room: &str) -> Utf8Bytes {
    text(json!({"event": "unsubscribed", "room": room}))
}

/// `{"event":"resync","room":…,"recovered":false,"reason":…}`: the resume point
/// is gone; the latest snapshot follows.
pub fn resync(room: &str, reason: &str) -> Utf8Bytes {
    text(json!({"event": "resync", "room": room, "recovered": false, "reason": reason}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ops() {
        assert_eq!(parse(r#"{"op":"ping"}"#), Ok(Op::Ping));
        assert_eq!(
            parse(r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","since_seq":12}"#),
            Ok(Op::Subscribe {
                kind: RoomKind::Chain,
                symbol: "NIFTY".into(),
                since_seq: Some(12),
                replay: None,
                encoding: Encoding::Full,
            })
        );
        assert_eq!(
            parse(r#"{"op":"subscribe","type":"product","symbol":"NIFTY","replay":"replay.x"}"#),
            Ok(Op::Subscribe {
                kind: RoomKind::Product,
                symbol: "NIFTY".into(),
                since_seq: None,
                replay: Some("replay.x".into()),
                encoding: Encoding::Full,
            })
        );
        assert_eq!(
            parse(r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","encoding":"delta"}"#),
            Ok(Op::Subscribe {
                kind: RoomKind::Chain,
                symbol: "NIFTY".into(),
                since_seq: None,
                replay: None,
                encoding: Encoding::Delta,
            })
        );
        assert_eq!(
            parse(r#"{"op":"resync","type":"chain","symbol":"NIFTY"}"#),
            Ok(Op::Resync {
                kind: RoomKind::Chain,
                symbol: "NIFTY".into(),
            })
        );
        assert_eq!(
            parse(r#"{"op":"unsubscribe","type":"bars","symbol":"AAPL"}"#),
            Ok(Op::Unsubscribe {
                kind: RoomKind::Bars,
                symbol: "AAPL".into()
            })
        );
        assert_eq!(
            parse(r#"{"op":"auth","token":"t"}"#),
            Ok(Op::Auth("t".into()))
        );
        for bad in [
            "nope",
            "[]",
            r#"{"op":"dance"}"#,
            r#"{"op":"subscribe","type":"x","symbol":"NIFTY"}"#,
            r#"{"op":"subscribe","type":"chain"}"#,
            r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","since_seq":-1}"#,
            r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","replay":1}"#,
            r#"{"op":"subscribe","type":"chain","symbol":"NIFTY","encoding":"zip"}"#,
            r#"{"op":"resync","type":"chain"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters() {
        assert_eq!(
            room_filter("chain:NIFTY").as_deref(),
            Some("md.enriched.NIFTY.chain.*")
        );
        assert_eq!(
            room_filter("general").as_deref(),
            Some("md.enriched.*.summary")
        );
        assert_eq!(room_filter("x:Y"), None);
    }
}
