//! The JSON bodies of REST and WebSocket (SPEC §7/§8), typed: each enriched
//! message is its proto type from the contract crate (proto field names, the
//! enum's names, `null` for an unset optional) with the RFC 3339 time next to
//! its `*_unix_ns`, and lists come in one envelope. The REST handlers and the
//! WebSocket serialize these values, and the OpenAPI document derives from the
//! same types, so what is documented is what is served.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat};
use ds_schemas::enriched::Enriched;
use ds_schemas::{Bar, ChainSummary, EnrichedChain, EnrichedUnderlying};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::ToSchema;

/// `unix_ns` as RFC 3339 UTC (as many fraction digits as needed, `Z`).
pub fn rfc3339(unix_ns: i64) -> String {
    DateTime::from_timestamp_nanos(unix_ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A view of message type `$msg` with its time `$time` (RFC 3339) computed
/// from `$ns`; it borrows the message when rendering a live one.
macro_rules! view {
    ($($(#[$doc:meta])* $name:ident($msg:ident), $time:ident from $ns:ident: $time_doc:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name<'a> {
            /// The message's fields, named as in the proto.
            #[serde(flatten)]
            pub msg: Cow<'a, $msg>,
            #[doc = $time_doc]
            pub $time: String,
        }

        impl<'a> $name<'a> {
            /// The view of `msg`, its time computed.
            fn new(msg: Cow<'a, $msg>) -> Self {
                Self {
                    $time: rfc3339(msg.$ns),
                    msg,
                }
            }

            /// The view of `msg`, borrowed (rendering a live message).
            pub fn borrowed(msg: &'a $msg) -> Self {
                Self::new(Cow::Borrowed(msg))
            }
        }

        impl From<$msg> for $name<'static> {
            fn from(msg: $msg) -> Self {
                Self::new(Cow::Owned(msg))
            }
        }
    )*};
}

view! {
    /// An `EnrichedUnderlying` tick (WebSocket `underlying_update`).
    UnderlyingView(EnrichedUnderlying), ts from ts_unix_ns: "`ts_unix_ns` as RFC 3339 (UTC).";
    /// A closed `Bar` with its indicators (WebSocket `bar_update`).
    BarView(Bar), start from start_unix_ns: "`start_unix_ns` as RFC 3339 (UTC).";
    /// An `EnrichedChain` snapshot (WebSocket `chain_update`).
    ChainView(EnrichedChain), ts from ts_unix_ns: "`ts_unix_ns` as RFC 3339 (UTC).";
    /// A `ChainSummary` (WebSocket `chain_summary`, room `general`).
    SummaryView(ChainSummary), ts from ts_unix_ns: "`ts_unix_ns` as RFC 3339 (UTC).";
}

/// The JSON of an enriched message: what the WebSocket sends as `data` and the
/// REST latest-value endpoints serve.
///
/// # Errors
/// When the message holds what its JSON cannot (an unknown `buildup` number).
pub fn to_json(m: &Enriched) -> serde_json::Result<Vec<u8>> {
    match m {
        Enriched::Underlying(x) => serde_json::to_vec(&UnderlyingView::borrowed(x)),
        Enriched::Bar(x) => serde_json::to_vec(&BarView::borrowed(x)),
        Enriched::Chain(x) => serde_json::to_vec(&ChainView::borrowed(x)),
        Enriched::Summary(x) => serde_json::to_vec(&SummaryView::borrowed(x)),
    }
}

/// A JSON body serialized ahead of time (a live value's [`crate::live::LiveValue::body`]).
pub fn json_body(body: bytes::Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// One page of a list: `{"items": [...], "next_cursor": <string|null>}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A single page holding everything.
    pub fn all(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }

    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_schemas::EnrichedQuote;
    use serde_json::Value;

    #[test]
    fn views_are_the_proto_fields_and_their_time() {
        assert_eq!(rfc3339(1_736_935_200_000_000_000), "2025-01-15T10:00:00Z");
        assert_eq!(
            rfc3339(1_736_935_200_123_000_000),
            "2025-01-15T10:00:00.123Z"
        );
        let chain = EnrichedChain {
            product: "NIFTY".into(),
            ts_unix_ns: 1_736_935_200_000_000_000,
            calls: vec![EnrichedQuote {
                buildup: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = to_json(&Enriched::Chain(chain.clone())).expect("json");
        let v: Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(v["ts"], "2025-01-15T10:00:00Z");
        assert_eq!(v["calls"][0]["buildup"], "LONG_BUILDUP");
        assert_eq!(v["atm_iv"], Value::Null);
        let back: ChainView<'static> = serde_json::from_value(v).expect("reads back");
        assert_eq!(back.msg.into_owned(), chain);
        let bar = Bar {
            start_unix_ns: 1_736_935_200_000_000_000,
            ..Default::default()
        };
        let v: Value = serde_json::to_value(BarView::from(bar)).expect("json");
        assert_eq!(v["start"], "2025-01-15T10:00:00Z");
        assert!(v.get("ts").is_none());
    }
}
