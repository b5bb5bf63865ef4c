//! Delta frames of `chain_update` (SPEC §8, `"encoding":"delta"`): what changed
//! since the previous chain of the same expiry, computed once per message for
//! every client that has that previous chain (a client that does not gets the
//! full frame instead, see the WebSocket writer).
//!
//! A delta frame is a full frame's envelope plus `"encoding":"delta"` and
//! `"base_seq"` (the `seq` of the chain it applies to), and its `data` holds:
//! every field of the chain but `strikes`, `calls` and `puts`; `strikes` only
//! when the strike list changed; `calls` and `puts` as rows, one per quote
//! that changed or is new, each the quote's values in [`QUOTE_FIELDS`] order
//! (the same JSON values as in a full frame). The chain it stands for: the
//! previous chain's top-level fields replaced by the delta's, its quotes whose
//! strike is still listed, replaced or joined by the rows, in `strikes` order.

use super::update::{Event, Update};
use axum::extract::ws::Utf8Bytes;
use ds_schemas::enriched::Enriched;
use ds_schemas::{EnrichedChain, EnrichedQuote};
use serde_json::{Map, Value};

/// The order of a row's values: the `EnrichedQuote` fields, as in the proto.
pub const QUOTE_FIELDS: [&str; 15] = [
    "strike",
    "bid",
    "ask",
    "last",
    "volume",
    "open_interest",
    "iv",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "oi_change",
    "buildup",
    "illiquid",
];

/// A delta frame and the frame it applies to.
#[derive(Debug, Clone)]
pub struct Delta {
    /// The `seq` of the previous chain of the same expiry.
    pub base_seq: u64,
    /// The complete WebSocket frame.
    pub frame: Utf8Bytes,
}

fn chain(u: &Update) -> Option<&EnrichedChain> {
    match &*u.value.msg {
        Enriched::Chain(c) if u.event == Event::ChainUpdate => Some(c),
        _ => None,
    }
}

/// The delta frame of `next` after `prev` (the previous chain of its key);
/// `None` when they are not chains of one key or the delta cannot be rendered.
pub fn between(prev: &Update, next: &Update) -> Option<Delta> {
    let (a, b) = (chain(prev)?, chain(next)?);
    if prev.key != next.key || prev.value.seq >= next.value.seq {
        return None;
    }
    let data = match data(a, b) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(key = &*next.key, error = %e, "cannot render a delta frame");
            return None;
        }
    };
    let extra = format!(",\"encoding\":\"delta\",\"base_seq\":{}", prev.value.seq);
    let frame = super::render::frame(next.event, &next.room, next.value.seq, &extra, &data);
    Some(Delta {
        base_seq: prev.value.seq,
        frame,
    })
}

/// The `data` of the delta from `a` to `b`.
fn data(a: &EnrichedChain, b: &EnrichedChain) -> serde_json::Result<String> {
    let strikes_changed = a.strikes != b.strikes;
    let head = EnrichedChain {
        strikes: Vec::new(),
        calls: Vec::new(),
        puts: Vec::new(),
        ..b.clone()
    };
    let Value::Object(mut out) = serde_json::to_value(crate::views::ChainView::borrowed(&head))?
    else {
        return Err(serde::ser::Error::custom("a chain is a JSON object"));
    };
    if strikes_changed {
        out.insert("strikes".into(), serde_json::to_value(&b.strikes)?);
    } else {
        out.remove("strikes");
    }
    out.insert("calls".into(), rows(&a.calls, &b.calls)?);
    out.insert("puts".into(), rows(&a.puts, &b.puts)?);
    serde_json::to_string(&out)
}

/// The quotes of `b` that are not in `a` as they are, as rows.
fn rows(a: &[EnrichedQuote], b: &[EnrichedQuote]) -> serde_json::Result<Value> {
    let changed = b.iter().enumerate().filter(|(i, q)| {
        // Quotes usually keep their place; look further only when they moved.
        let same_place = a.get(*i).filter(|p| p.strike == q.strike);
        let before = same_place.or_else(|| a.iter().find(|p| p.strike == q.strike));
        before != Some(q)
    });
    changed
        .map(|(_, q)| row(q))
        .collect::<serde_json::Result<Vec<Value>>>()
        .map(Value::Array)
}

/// A quote's values in [`QUOTE_FIELDS`] order.
fn row(q: &EnrichedQuote) -> serde_json::Result<Value> {
    let Value::Object(mut fields) = serde_json::to_value(q)? else {
        return Err(serde::ser::Error::custom("a quote is a JSON object"));
    };
    Ok(Value::Array(
        QUOTE_FIELDS
            .iter()
            .map(|f| fields.remove(*f).unwrap_or(Value::Null))
            .collect(),
    ))
}

/// The full chain JSON that `delta` (a delta frame's `data`) stands for after
/// `prev` (a full frame's `data`): what a client does, written once here for
/// the tests and as the reference for other clients.
pub fn apply(prev: &Value, delta: &Value) -> Option<Value> {
    let (prev, delta) = (prev.as_object()?, delta.as_object()?);
    let mut out: Map<String, Value> = prev.clone();
    for (k, v) in delta {
        if k != "calls" && k != "puts" {
            out.insert(k.clone(), v.clone());
        }
    }
    let strikes: Vec<f64> = out
        .get("strikes")?
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    for side in ["calls", "puts"] {
        let mut quotes: Vec<Value> = prev.get(side)?.as_array()?.clone();
        for r in delta.get(side)?.as_array()? {
            let r = r.as_array()?;
            let q: Map<String, Value> = QUOTE_FIELDS
                .iter()
                .zip(r)
                .map(|(f, v)| ((*f).to_owned(), v.clone()))
                .collect();
            let strike = q.get("strike")?.as_f64()?;
            quotes.retain(|p| p["strike"].as_f64() != Some(strike));
            quotes.push(Value::Object(q));
        }
        let at = |q: &Value| {
            let s = q["strike"].as_f64();
            strikes.iter().position(|k| Some(*k) == s)
        };
        quotes.retain(|q| at(q).is_some());
        quotes.sort_by_key(|q| at(q));
        out.insert(side.to_owned(), Value::Array(quotes));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::render;
    use ds_schemas::EnrichedQuote;

    fn quote(strike: f64, px: f64) -> EnrichedQuote {
        EnrichedQuote {
            strike,
            bid: px - 0.5,
            ask: px + 0.5,
            last: px,
            volume: 1_000 + strike as u64,
            open_interest: 20_000,
            iv: Some(0.15),
            delta: Some(0.5),
            gamma: Some(0.001),
            theta: Some(-5.0),
            vega: Some(12.0),
            rho: Some(3.0),
            oi_change: 10,
            buildup: 1,
            illiquid: false,
        }
    }

    fn chain(strikes: &[f64], px: impl Fn(usize) -> f64) -> EnrichedChain {
        EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            spot: 23_500.0,
            ts_unix_ns: 1_736_935_200_000_000_000,
            strikes: strikes.to_vec(),
            calls: strikes
                .iter()
                .enumerate()
                .map(|(i, k)| quote(*k, px(i)))
                .collect(),
            puts: strikes
                .iter()
                .enumerate()
                .map(|(i, k)| quote(*k, 2.0 * px(i)))
                .collect(),
            atm_iv: Some(0.15),
            ..Default::default()
        }
    }

    fn rendered(c: EnrichedChain, seq: u64) -> Update {
        render::update(Enriched::Chain(c), seq).expect("renders")
    }

    fn json(frame: &str) -> Value {
        serde_json::from_str(frame).expect("JSON")
    }

    #[test]
    fn rows_follow_the_quote_fields() {
        let Value::Object(q) = serde_json::to_value(quote(100.0, 1.0)).expect("json") else {
            panic!("object")
        };
        let mut names: Vec<&str> = q.keys().map(String::as_str).collect();
        let mut ours = QUOTE_FIELDS.to_vec();
        names.sort_unstable();
        ours.sort_unstable();
        assert_eq!(names, ours, "QUOTE_FIELDS lists every EnrichedQuote field");
    }

    #[test]
    fn a_delta_applied_to_the_previous_chain_is_the_next_one() {
        let strikes: Vec<f64> = (0..21).map(|i| 23_000.0 + 50.0 * i as f64).collect();
        let a = chain(&strikes, |i| 100.0 + i as f64);
        // A third of the quotes change, and the spot.
        let mut b = chain(&strikes, |i| {
            100.0 + i as f64 + if i % 3 == 0 { 0.35 } else { 0.0 }
        });
        b.spot = 23_512.0;
        b.ts_unix_ns += 1_000_000_000;
        // The strike list moves up one step: a strike out, a new one in.
        let mut shifted = strikes[1..].to_vec();
        shifted.push(24_050.0);
        let c = chain(&shifted, |i| 200.0 + i as f64);
        let (ua, ub, uc) = (rendered(a, 10), rendered(b, 14), rendered(c, 20));
        for (prev, next, changed) in [(&ua, &ub, 14), (&ub, &uc, 42)] {
            let d = between(prev, next).expect("a delta");
            assert_eq!(d.base_seq, prev.value.seq);
            let frame = json(d.frame.as_str());
            assert_eq!(frame["encoding"], "delta");
            assert_eq!(frame["base_seq"], prev.value.seq);
            assert_eq!(frame["seq"], next.value.seq);
            assert_eq!(frame["room"], "chain:NIFTY");
            let data = &frame["data"];
            let rows = data["calls"].as_array().map_or(0, Vec::len)
                + data["puts"].as_array().map_or(0, Vec::len);
            assert_eq!(rows, changed);
            let full = |u: &Update| json(u.frame.as_str())["data"].clone();
            assert_eq!(apply(&full(prev), data), Some(full(next)));
        }
        let d = between(&ua, &ub).expect("a delta");
        assert!(json(d.frame.as_str())["data"].get("strikes").is_none());
        let ratio = d.frame.len() as f64 / ub.frame.len() as f64;
        assert!(ratio < 0.25, "a third changed: delta/full = {ratio:.3}");
    }

    #[test]
    fn only_chains_of_one_key_going_forward() {
        let s = [100.0, 110.0];
        let a = rendered(chain(&s, |_| 1.0), 5);
        let b = rendered(chain(&s, |_| 2.0), 3);
        assert!(between(&a, &b).is_none(), "backwards");
        let mut other = chain(&s, |_| 1.0);
        other.expiry = "2025-02-27".into();
        assert!(between(&a, &rendered(other, 9)).is_none(), "another expiry");
    }
}
