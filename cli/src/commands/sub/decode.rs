//! A payload as JSON, decoded by its `Ds-Schema` header into the contract's
//! message and serialized with the proto field names (as the gateway does).

use ds_schemas::{
    Bar, ChainSummary, DeadLetter, EnrichedChain, EnrichedQuote, EnrichedUnderlying, OptionChain,
    OptionQuote, Schema, UnderlyingTick,
};
use serde_json::Value;

type Decoder = fn(&[u8]) -> Result<Value, String>;

/// Every message of the contract, by its `Ds-Schema` name.
const DECODERS: &[(&str, Decoder)] = &[
    (UnderlyingTick::NAME, json::<UnderlyingTick>),
    (OptionQuote::NAME, json::<OptionQuote>),
    (OptionChain::NAME, json::<OptionChain>),
    (EnrichedQuote::NAME, json::<EnrichedQuote>),
    (EnrichedChain::NAME, json::<EnrichedChain>),
    (ChainSummary::NAME, json::<ChainSummary>),
    (EnrichedUnderlying::NAME, json::<EnrichedUnderlying>),
    (Bar::NAME, json::<Bar>),
    (DeadLetter::NAME, json::<DeadLetter>),
];

fn json<T: Schema + serde::Serialize>(payload: &[u8]) -> Result<Value, String> {
    let msg = ds_schemas::decode::<T>(None, payload).map_err(|e| e.to_string())?;
    serde_json::to_value(&msg).map_err(|e| e.to_string())
}

/// Decodes `payload` as the message `schema` names.
///
/// # Errors
/// When there is no schema, it is not one of the contract's, or the bytes are
/// not that message (the reason, in words).
pub fn to_json(schema: Option<&str>, payload: &[u8]) -> Result<Value, String> {
    let schema = schema.ok_or("no Ds-Schema header")?;
    let decode = DECODERS
        .iter()
        .find(|(name, _)| *name == schema)
        .map(|(_, d)| d)
        .ok_or_else(|| format!("unknown schema {schema:?}"))?;
    decode(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn decodes_by_name_and_says_why_not() {
        let tick = UnderlyingTick {
            product: "NIFTY".into(),
            price: 21500.5,
            seq: 7,
            ..Default::default()
        };
        let v = to_json(Some(UnderlyingTick::NAME), &tick.encode_to_vec()).expect("decodes");
        assert_eq!(v["product"], "NIFTY");
        assert_eq!(v["seq"], 7);
        assert!(to_json(None, b"").unwrap_err().contains("no Ds-Schema"));
        assert!(to_json(Some("x.Y"), b"")
            .unwrap_err()
            .contains("unknown schema"));
        let bad = to_json(Some(UnderlyingTick::NAME), &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(bad.contains("undecodable"), "{bad}");
    }
}
