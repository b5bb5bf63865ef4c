//! Every message survives encode → decode unchanged, and the `Ds-Schema` check
//! refuses a payload announced as another message.

use ds_schemas::*;
use proptest::prelude::*;
use prost::Message;

fn quote() -> impl Strategy<Value = OptionQuote> {
    (
        0.0..1e6f64,
        0.0..1e4f64,
        0.0..1e4f64,
        0.0..1e4f64,
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(strike, bid, ask, last, volume, open_interest)| OptionQuote {
                strike,
                bid,
                ask,
                last,
                volume,
                open_interest,
            },
        )
}

fn enriched_quote() -> impl Strategy<Value = EnrichedQuote> {
    (
        quote(),
        proptest::option::of(0.0..5.0f64),
        any::<i64>(),
        0..5i32,
        any::<bool>(),
    )
        .prop_map(|(q, iv, oi_change, buildup, illiquid)| EnrichedQuote {
            strike: q.strike,
            bid: q.bid,
            ask: q.ask,
            last: q.last,
            volume: q.volume,
            open_interest: q.open_interest,
            iv,
            delta: iv.map(|v| v / 10.0),
            gamma: iv,
            theta: iv.map(|v| -v),
            vega: iv,
            rho: iv,
            oi_change,
            buildup,
            illiquid,
        })
}

fn round_trip<T: Schema + PartialEq + std::fmt::Debug>(m: &T) {
    let bytes = m.encode_to_vec();
    let back: T = decode(Some(T::NAME), &bytes).expect("decodes");
    assert_eq!(&back, m);
    let back: T = decode(None, &bytes).expect("decodes without a header");
    assert_eq!(&back, m);
}

proptest! {
    #[test]
    fn underlying_tick(product in "[A-Z]{1,10}", price in 0.0..1e6f64, ts in any::<i64>(), seq in any::<u64>(), volume in any::<u64>()) {
        round_trip(&UnderlyingTick { product, price, ts_unix_ns: ts, seq, volume });
    }

    #[test]
    fn option_chain(spot in 1.0..1e5f64, quotes in proptest::collection::vec((quote(), quote()), 0..30)) {
        let strikes = quotes.iter().map(|(c, _)| c.strike).collect();
        let (calls, puts) = quotes.into_iter().unzip();
        round_trip(&OptionChain { product: "NIFTY".into(), expiry: "2025-01-30".into(), spot, ts_unix_ns: 1, seq: 2, strikes, calls, puts });
    }

    #[test]
    fn enriched_chain(calls in proptest::collection::vec(enriched_quote(), 0..20), atm_iv in proptest::option::of(0.0..3.0f64)) {
        let m = EnrichedChain { product: "AAPL".into(), expiry: "2025-01-17".into(), spot: 185.0, strikes: calls.iter().map(|q| q.strike).collect(), puts: calls.clone(), calls, atm_iv, pcr_oi: 1.2, source_seq: 99, ..Default::default() };
        round_trip(&m);
    }

    #[test]
    fn bar(open in 1.0..1e5f64, sma in proptest::option::of(1.0..1e5f64)) {
        round_trip(&Bar { product: "TSLA".into(), interval: "5m".into(), start_unix_ns: 60, open, high: open, low: open, close: open, volume: 3, ticks: 2, sma_20: sma, ..Default::default() });
    }

    #[test]
    fn dead_letter(payload in proptest::collection::vec(any::<u8>(), 0..256), error in ".{0,80}") {
        round_trip(&DeadLetter { processor: "enrich".into(), subject: "md.raw.X.underlying".into(), stream_seq: 5, payload, error, deliveries: 1, failed_at_unix_ns: 9, stream: "MD_RAW".into(), schema: String::new() });
    }
}

#[test]
fn summary_and_underlying() {
    round_trip(&ChainSummary {
        product: "NIFTY".into(),
        atm_iv: None,
        ..Default::default()
    });
    round_trip(&EnrichedUnderlying {
        product: "NIFTY".into(),
        price: 1.0,
        change_pct: -0.5,
        ..Default::default()
    });
}

#[test]
fn schema_header_is_checked() {
    let t = UnderlyingTick {
        product: "NIFTY".into(),
        price: 1.0,
        ..Default::default()
    };
    let err = decode::<UnderlyingTick>(Some("deltastream.v1.Bar"), &t.encode_to_vec()).unwrap_err();
    assert!(matches!(err, SchemaError::WrongSchema { .. }), "{err}");
    assert!(decode::<OptionChain>(None, &[0xff, 0xff, 0xff]).is_err());
    assert_eq!(
        <EnrichedChain as Schema>::NAME,
        "deltastream.v1.EnrichedChain"
    );
}

#[test]
fn buildup_json_uses_enum_names() {
    let q = EnrichedQuote {
        buildup: Buildup::ShortCovering as i32,
        ..Default::default()
    };
    let v = serde_json::to_value(q).expect("json");
    assert_eq!(v["buildup"], "SHORT_COVERING");
    let back: EnrichedQuote = serde_json::from_value(v).expect("parses back");
    assert_eq!(back.buildup, Buildup::ShortCovering as i32);
    assert_eq!(
        serde_json::to_value(Buildup::LongUnwinding).expect("json"),
        "LONG_UNWINDING"
    );
    let unknown = EnrichedQuote {
        buildup: 99,
        ..Default::default()
    };
    assert!(
        serde_json::to_value(unknown).is_err(),
        "an unknown class is an error, not NEUTRAL"
    );
}

/// `illiquid` came after v1's first release: a quote written before (proto
/// bytes, JSON or a stored document without the field) reads as liquid, and a
/// liquid quote's bytes are what they were.
#[test]
fn illiquid_is_backward_compatible() {
    let old = EnrichedQuote {
        strike: 100.0,
        bid: 1.0,
        ask: 1.2,
        ..Default::default()
    };
    let mut json = serde_json::to_value(old).expect("json");
    json.as_object_mut().expect("object").remove("illiquid");
    let back: EnrichedQuote = serde_json::from_value(json).expect("old JSON parses");
    assert!(!back.illiquid);
    let flagged = EnrichedQuote {
        illiquid: true,
        ..old
    };
    assert_eq!(
        flagged.encode_to_vec().len(),
        old.encode_to_vec().len() + 2,
        "field 15, varint: two bytes, and none when false"
    );
    assert!(
        !EnrichedQuote::decode(old.encode_to_vec().as_slice())
            .expect("decodes")
            .illiquid
    );
}
