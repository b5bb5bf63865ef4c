//! The stored layout of an enriched chain in `option_chains` and `chain_latest`
//! (SPEC §6; README, "Stored chain layout"): the chain's scalar fields at the
//! top level as the message has them (queried and indexed), the quotes as one
//! column per field.
//!
//! One codec for every reader and writer: the projector and the replay write
//! with [`encode`], the gateway reads with [`decode`], so REST, WebSocket and
//! replay output are the message itself whatever the layout. [`decode`] also
//! reads the first layout (an object per quote), so data written before this
//! layout needs no migration.
//!
//! Why columns: an object per quote repeats its 14 keys and costs 8 bytes per
//! integer and a string per build-up class, ~230 bytes a quote; a chain of ~50
//! quotes was ~11 KB of BSON, written twice (the snapshot and the latest value).
//! As columns the keys appear once per chain, integers are varints, and a quote
//! costs what its values do (~80 bytes, most of it the six full-precision
//! floats of IV and Greeks, which nothing smaller represents exactly).

use crate::{Error, Result};
use ds_schemas::{EnrichedChain, EnrichedQuote};
use mongodb::bson::raw::RawBinaryRef;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{self, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};

/// The value of `layout` in documents of this layout (absent in the first one).
pub const LAYOUT: i32 = 2;

/// The quote fields that may be unset, their mask columns, and accessors.
type Optional = (
    &'static str,
    &'static str,
    fn(&EnrichedQuote) -> Option<f64>,
    fn(&mut EnrichedQuote) -> &mut Option<f64>,
);

const OPTIONAL: [Optional; 6] = [
    ("iv", "iv_set", |q| q.iv, |q| &mut q.iv),
    ("delta", "delta_set", |q| q.delta, |q| &mut q.delta),
    ("gamma", "gamma_set", |q| q.gamma, |q| &mut q.gamma),
    ("theta", "theta_set", |q| q.theta, |q| &mut q.theta),
    ("vega", "vega_set", |q| q.vega, |q| &mut q.vega),
    ("rho", "rho_set", |q| q.rho, |q| &mut q.rho),
];

/// Appends the stored fields of `c` to `doc` (the caller adds `_id`, `ts`,
/// lineage and `written_at`).
///
/// # Errors
/// When an unsigned integer of the chain does not fit BSON's int64 (as the
/// message's own BSON form would fail).
pub fn encode(c: &EnrichedChain, doc: &mut RawDocumentBuf) -> Result<(), bson::ser::Error> {
    doc.append("layout", LAYOUT);
    doc.append("product", c.product.as_str());
    doc.append("expiry", c.expiry.as_str());
    doc.append("spot", c.spot);
    doc.append("ts_unix_ns", c.ts_unix_ns);
    doc.append("seq", int64(c.seq)?);
    let mut strikes = RawArrayBuf::new();
    for s in &c.strikes {
        strikes.push(*s);
    }
    doc.append("strikes", strikes);
    doc.append("calls", side(&c.calls, &c.strikes));
    doc.append("puts", side(&c.puts, &c.strikes));
    doc.append("pcr_oi", c.pcr_oi);
    doc.append("pcr_volume", c.pcr_volume);
    doc.append("atm_strike", c.atm_strike);
    doc.append("atm_straddle", c.atm_straddle);
    doc.append("max_pain_strike", c.max_pain_strike);
    doc.append("total_call_oi", int64(c.total_call_oi)?);
    doc.append("total_put_oi", int64(c.total_put_oi)?);
    match c.atm_iv {
        Some(v) => doc.append("atm_iv", v),
        None => doc.append_ref("atm_iv", RawBsonRef::Null),
    }
    doc.append("rate", c.rate);
    doc.append("dividend_yield", c.dividend_yield);
    doc.append("time_to_expiry_years", c.time_to_expiry_years);
    doc.append("source_seq", int64(c.source_seq)?);
    Ok(())
}

/// The chain a stored document holds, in this layout or the first one.
///
/// # Errors
/// [`Error::Document`] naming the field that is missing or malformed.
pub fn decode(doc: &RawDocument) -> Result<EnrichedChain> {
    match doc.get("layout").map_err(malformed("layout"))? {
        None => bson::from_slice(doc.as_bytes())
            .map_err(|e| Error::Document(format!("chain in the first layout: {e}"))),
        Some(RawBsonRef::Int32(LAYOUT)) => columns(doc),
        Some(other) => Err(Error::Document(format!(
            "chain layout {other:?} is not one this version reads"
        ))),
    }
}

fn columns(doc: &RawDocument) -> Result<EnrichedChain> {
    let f64_at = |k: &'static str| doc.get_f64(k).map_err(malformed(k));
    let u64_at = |k: &'static str| uint64(k, doc.get_i64(k).map_err(malformed(k))?);
    let strikes = doc
        .get_array("strikes")
        .map_err(malformed("strikes"))?
        .into_iter()
        .map(|v| v.ok().and_then(|v| v.as_f64()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| Error::Document("strikes: not an array of doubles".into()))?;
    let calls = read_side(doc, "calls", &strikes)?;
    let puts = read_side(doc, "puts", &strikes)?;
    Ok(EnrichedChain {
        product: doc
            .get_str("product")
            .map_err(malformed("product"))?
            .to_owned(),
        expiry: doc
            .get_str("expiry")
            .map_err(malformed("expiry"))?
            .to_owned(),
        spot: f64_at("spot")?,
        ts_unix_ns: doc.get_i64("ts_unix_ns").map_err(malformed("ts_unix_ns"))?,
        seq: u64_at("seq")?,
        strikes,
        calls,
        puts,
        pcr_oi: f64_at("pcr_oi")?,
        pcr_volume: f64_at("pcr_volume")?,
        atm_strike: f64_at("atm_strike")?,
        atm_straddle: f64_at("atm_straddle")?,
        max_pain_strike: f64_at("max_pain_strike")?,
        total_call_oi: u64_at("total_call_oi")?,
        total_put_oi: u64_at("total_put_oi")?,
        atm_iv: match doc.get("atm_iv").map_err(malformed("atm_iv"))? {
            None | Some(RawBsonRef::Null) => None,
            Some(RawBsonRef::Double(v)) => Some(v),
            Some(other) => {
                return Err(Error::Document(format!(
                    "atm_iv: {other:?} is neither a double nor null"
                )))
            }
        },
        rate: f64_at("rate")?,
        dividend_yield: f64_at("dividend_yield")?,
        time_to_expiry_years: f64_at("time_to_expiry_years")?,
        source_seq: u64_at("source_seq")?,
    })
}

fn malformed<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Document(format!("{field}: {e}"))
}

fn int64(v: u64) -> Result<i64, bson::ser::Error> {
    i64::try_from(v).map_err(|_| bson::ser::Error::UnsignedIntegerExceededRange(v))
}

fn uint64(field: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Document(format!("{field}: {v} is negative")))
}

fn binary(bytes: &[u8]) -> RawBinaryRef<'_> {
    RawBinaryRef {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

/// One side's quotes as columns.
fn side(quotes: &[EnrichedQuote], strikes: &[f64]) -> RawDocumentBuf {
    let mut d = RawDocumentBuf::new();
    // A message holds far fewer quotes than i32::MAX (its size is bounded).
    d.append("n", i32::try_from(quotes.len()).unwrap_or(i32::MAX));
    let same_strikes = quotes.len() == strikes.len()
        && quotes
            .iter()
            .zip(strikes)
            .all(|(q, s)| q.strike.to_bits() == s.to_bits());
    if !same_strikes {
        d.append_ref("strike", binary(&doubles(quotes.iter().map(|q| q.strike))));
    }
    d.append_ref("bid", binary(&doubles(quotes.iter().map(|q| q.bid))));
    d.append_ref("ask", binary(&doubles(quotes.iter().map(|q| q.ask))));
    d.append_ref("last", binary(&doubles(quotes.iter().map(|q| q.last))));
    d.append_ref("volume", binary(&varints(quotes.iter().map(|q| q.volume))));
    d.append_ref(
        "open_interest",
        binary(&varints(quotes.iter().map(|q| q.open_interest))),
    );
    d.append_ref(
        "oi_change",
        binary(&varints(quotes.iter().map(|q| zigzag(q.oi_change)))),
    );
    d.append_ref(
        "buildup",
        binary(&varints(quotes.iter().map(|q| zigzag(q.buildup.into())))),
    );
    for (name, mask_name, get, _) in OPTIONAL {
        d.append_ref(name, binary(&doubles(quotes.iter().filter_map(get))));
        if quotes.iter().any(|q| get(q).is_none()) {
            let mut mask = vec![0u8; quotes.len().div_ceil(8)];
            for (i, q) in quotes.iter().enumerate() {
                if get(q).is_some() {
                    mask[i / 8] |= 1 << (i % 8);
                }
            }
            d.append_ref(mask_name, binary(&mask));
        }
    }
    d
}

fn read_side(doc: &RawDocument, key: &'static str, strikes: &[f64]) -> Result<Vec<EnrichedQuote>> {
    let d = doc.get_document(key).map_err(malformed(key))?;
    let n = d.get_i32("n").map_err(malformed("n"))?;
    let n = usize::try_from(n).map_err(|_| Error::Document(format!("{key}.n: {n} is negative")))?;
    let col = |name: &'static str| -> Result<Option<&[u8]>> {
        match d.get(name).map_err(malformed(name))? {
            None => Ok(None),
            Some(RawBsonRef::Binary(b)) => Ok(Some(b.bytes)),
            Some(other) => Err(Error::Document(format!(
                "{key}.{name}: {other:?} is not binary"
            ))),
        }
    };
    let need = |name: &'static str| {
        col(name)?.ok_or_else(|| Error::Document(format!("{key}.{name}: missing")))
    };
    let strike = match col("strike")? {
        Some(b) => read_doubles(key, "strike", b, n)?,
        None if strikes.len() == n => strikes.to_vec(),
        None => {
            return Err(Error::Document(format!(
                "{key}: {n} quotes but {} strikes and no strike column",
                strikes.len()
            )))
        }
    };
    let bid = read_doubles(key, "bid", need("bid")?, n)?;
    let ask = read_doubles(key, "ask", need("ask")?, n)?;
    let last = read_doubles(key, "last", need("last")?, n)?;
    let volume = read_varints(key, "volume", need("volume")?, n)?;
    let oi = read_varints(key, "open_interest", need("open_interest")?, n)?;
    let oi_change = read_varints(key, "oi_change", need("oi_change")?, n)?;
    let buildup = read_varints(key, "buildup", need("buildup")?, n)?;
    let mut quotes: Vec<EnrichedQuote> = (0..n)
        .map(|i| {
            let buildup = i32::try_from(unzigzag(buildup[i])).map_err(|_| {
                Error::Document(format!("{key}.buildup: {} is not an i32", buildup[i]))
            })?;
            Ok(EnrichedQuote {
                strike: strike[i],
                bid: bid[i],
                ask: ask[i],
                last: last[i],
                volume: volume[i],
                open_interest: oi[i],
                oi_change: unzigzag(oi_change[i]),
                buildup,
                ..Default::default()
            })
        })
        .collect::<Result<_>>()?;
    for (name, mask_name, _, slot) in OPTIONAL {
        let mask = col(mask_name)?;
        if let Some(m) = mask {
            if m.len() != n.div_ceil(8) {
                return Err(Error::Document(format!(
                    "{key}.{mask_name}: {} bytes for {n} quotes",
                    m.len()
                )));
            }
        }
        let set = |i: usize| mask.is_none_or(|m| m[i / 8] & (1 << (i % 8)) != 0);
        let count = (0..n).filter(|i| set(*i)).count();
        let mut values = read_doubles(key, name, need(name)?, count)?.into_iter();
        for (i, q) in quotes.iter_mut().enumerate() {
            if set(i) {
                *slot(q) = values.next();
            }
        }
    }
    Ok(quotes)
}

fn doubles(values: impl Iterator<Item = f64>) -> Vec<u8> {
    values.flat_map(f64::to_le_bytes).collect()
}

fn read_doubles(key: &str, name: &str, bytes: &[u8], n: usize) -> Result<Vec<f64>> {
    if bytes.len() != n * 8 {
        return Err(Error::Document(format!(
            "{key}.{name}: {} bytes for {n} doubles",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

/// Unsigned LEB128, as protobuf varints.
fn varints(values: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in values {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out
}

fn read_varints(key: &str, name: &str, bytes: &[u8], n: usize) -> Result<Vec<u64>> {
    let bad = |why: &str| Error::Document(format!("{key}.{name}: {why}"));
    let mut out = Vec::with_capacity(n);
    let mut it = bytes.iter();
    while out.len() < n {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *it.next().ok_or_else(|| bad("fewer values than quotes"))?;
            if shift == 63 && b > 1 {
                return Err(bad("a varint beyond 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(bad("a varint beyond 64 bits"));
            }
        }
        out.push(v);
    }
    if it.next().is_some() {
        return Err(bad("more values than quotes"));
    }
    Ok(out)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, DateTime};
    use proptest::prelude::*;
    use prost::Message as _;

    /// A chain shaped like the enricher's: set Greeks, one illiquid quote.
    fn sample(n: usize) -> EnrichedChain {
        let strikes: Vec<f64> = (0..n).map(|i| 21_000.0 + 50.0 * i as f64).collect();
        let quote = |i: usize, call: bool| {
            let k = strikes[i];
            let x = (i as f64 + 1.0) * 0.731_234_567_891;
            let liquid = i + 1 < n;
            let g = |v: f64| liquid.then_some(v);
            EnrichedQuote {
                strike: k,
                bid: 100.0 / x + 0.123_456_789,
                ask: 100.0 / x + 0.623_456_789,
                last: (100.0 / x * 20.0).round() / 20.0,
                volume: 1_000 + 37 * i as u64,
                open_interest: 150_000 + 1_234 * i as u64,
                iv: g(0.12 + x / 1e3),
                delta: g(if call { 0.9 - x / 50.0 } else { x / 50.0 - 0.9 }),
                gamma: g(x / 7e4),
                theta: g(-x / 3.3),
                vega: g(x / 1.7),
                rho: g(x / 9.1),
                oi_change: if i % 2 == 0 { -150 } else { 2_300 },
                buildup: (i % 5) as i32,
            }
        };
        EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            spot: 21_510.45,
            ts_unix_ns: 1_736_912_700_123_456_789,
            seq: 901,
            calls: (0..n).map(|i| quote(i, true)).collect(),
            puts: (0..n).map(|i| quote(i, false)).collect(),
            strikes,
            pcr_oi: 0.93,
            pcr_volume: 1.07,
            atm_strike: 21_500.0,
            atm_straddle: 321.5,
            max_pain_strike: 21_450.0,
            total_call_oi: 9_876_543,
            total_put_oi: 8_765_432,
            atm_iv: Some(0.134),
            rate: 0.065,
            dividend_yield: 0.0,
            time_to_expiry_years: 0.041_095_890_410_958_9,
            source_seq: 12_345,
        }
    }

    fn stored(c: &EnrichedChain) -> RawDocumentBuf {
        let mut d = RawDocumentBuf::new();
        d.append("_id", "NIFTY:2025-01-30:901");
        encode(c, &mut d).expect("encodes");
        d.append("written_at", DateTime::from_millis(7));
        d
    }

    /// The first layout: the message's serde form (an object per quote).
    fn first_layout(c: &EnrichedChain) -> RawDocumentBuf {
        let mut d = doc! {"_id": "NIFTY:2025-01-30:901"};
        d.extend(bson::to_document(c).expect("bson"));
        d.insert("written_at", DateTime::from_millis(7));
        RawDocumentBuf::from_document(&d).expect("raw")
    }

    /// Equal to the bit: the protobuf encoding compares every double's bits.
    fn same(a: &EnrichedChain, b: &EnrichedChain) -> bool {
        a.encode_to_vec() == b.encode_to_vec()
    }

    #[test]
    fn both_layouts_read_back_as_the_chain() {
        for n in [0, 1, 2, 9, 48] {
            let c = sample(n);
            assert!(same(&decode(&stored(&c)).expect("columns"), &c), "n={n}");
            assert!(
                same(&decode(&first_layout(&c)).expect("first"), &c),
                "n={n}"
            );
        }
    }

    #[test]
    fn key_fields_stay_top_level_with_their_types() {
        let c = sample(3);
        let d = stored(&c).to_document().expect("document");
        assert_eq!(d.get_str("product"), Ok("NIFTY"));
        assert_eq!(d.get_str("expiry"), Ok("2025-01-30"));
        assert_eq!(d.get_i64("ts_unix_ns"), Ok(c.ts_unix_ns));
        assert_eq!(d.get_i64("seq"), Ok(901));
        assert_eq!(d.get_i64("source_seq"), Ok(12_345));
        assert_eq!(d.get_i64("total_call_oi"), Ok(9_876_543));
        assert_eq!(d.get_f64("pcr_oi"), Ok(0.93));
        assert_eq!(d.get_f64("atm_iv"), Ok(0.134));
        assert_eq!(d.get_array("strikes").map(|a| a.len()), Ok(3));
        let calls = d.get_document("calls").expect("calls");
        assert_eq!(calls.get_i32("n"), Ok(3));
        assert!(
            calls.get("strike").is_none(),
            "the strikes are not repeated"
        );
        assert!(calls.contains_key("iv_set"), "the illiquid quote has no IV");
        let mut none = c.clone();
        none.atm_iv = None;
        let d = stored(&none).to_document().expect("document");
        assert_eq!(d.get("atm_iv"), Some(&bson::Bson::Null));
    }

    /// What the layout saves on a chain shaped like the enricher's (the
    /// projection tests measure it on a real day).
    #[test]
    fn a_typical_chain_takes_under_half_the_bytes() {
        let c = sample(48);
        let (now, before) = (
            stored(&c).as_bytes().len(),
            first_layout(&c).as_bytes().len(),
        );
        eprintln!("typical chain: {now} bytes stored vs {before} in the first layout");
        assert!(now * 100 < before * 45, "{now} bytes vs {before}");
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let c = sample(4);
        let mut d = stored(&c).to_document().expect("document");
        let mut calls = d.get_document("calls").expect("calls").clone();
        calls.insert(
            "bid",
            bson::Binary {
                subtype: BinarySubtype::Generic,
                bytes: vec![0; 7],
            },
        );
        d.insert("calls", calls);
        let e = decode(&RawDocumentBuf::from_document(&d).expect("raw")).expect_err("bad");
        assert!(e.to_string().contains("calls.bid"), "{e}");
        d.insert("layout", 3);
        let e = decode(&RawDocumentBuf::from_document(&d).expect("raw")).expect_err("bad");
        assert!(e.to_string().contains("layout"), "{e}");
        let mut d = stored(&c).to_document().expect("document");
        d.insert("seq", -1_i64);
        let e = decode(&RawDocumentBuf::from_document(&d).expect("raw")).expect_err("bad");
        assert!(e.to_string().contains("seq"), "{e}");
        let big = EnrichedChain { seq: u64::MAX, ..c };
        assert!(encode(&big, &mut RawDocumentBuf::new()).is_err());
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        let v = [0, 1, 127, 128, 300, u64::MAX / 2, u64::MAX];
        let b = varints(v.iter().copied());
        assert_eq!(read_varints("k", "v", &b, v.len()).expect("reads"), v);
        assert!(read_varints("k", "v", &b, v.len() + 1).is_err());
        assert!(read_varints("k", "v", &b, v.len() - 1).is_err());
        assert!(read_varints("k", "v", &[0xff; 11], 1).is_err());
        for i in [0, 1, -1, i64::MIN, i64::MAX, -150] {
            assert_eq!(unzigzag(zigzag(i)), i);
        }
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(-0.0),
            Just(f64::NAN),
            (0u32..100_000).prop_map(|k| f64::from(k) * 0.05),
        ]
    }

    prop_compose! {
        fn any_quote()(
            strike in any_f64(), bid in any_f64(), ask in any_f64(), last in any_f64(),
            volume in any::<u64>(), open_interest in any::<u64>(),
            greeks in proptest::collection::vec(proptest::option::of(any_f64()), 6),
            oi_change in any::<i64>(), buildup in any::<i32>(),
        ) -> EnrichedQuote {
            EnrichedQuote {
                strike, bid, ask, last, volume, open_interest,
                iv: greeks[0], delta: greeks[1], gamma: greeks[2],
                theta: greeks[3], vega: greeks[4], rho: greeks[5],
                oi_change, buildup,
            }
        }
    }

    prop_compose! {
        fn any_chain()(
            calls in proptest::collection::vec(any_quote(), 0..12),
            puts in proptest::collection::vec(any_quote(), 0..12),
            own_strikes in any::<bool>(),
            extra in proptest::collection::vec(any_f64(), 0..3),
            scalars in proptest::collection::vec(any_f64(), 9),
            ints in proptest::collection::vec(0..=i64::MAX as u64, 4),
            ts_unix_ns in any::<i64>(),
            atm_iv in proptest::option::of(any_f64()),
            product in "[A-Z0-9_]{0,8}", expiry in "[0-9-]{0,10}",
        ) -> EnrichedChain {
            // Usually the strikes are the quotes' (the enricher's chains);
            // sometimes anything, of another length.
            let strikes = if own_strikes {
                calls.iter().map(|q| q.strike).collect()
            } else {
                extra
            };
            EnrichedChain {
                product, expiry, ts_unix_ns, strikes, calls, puts, atm_iv,
                spot: scalars[0], pcr_oi: scalars[1], pcr_volume: scalars[2],
                atm_strike: scalars[3], atm_straddle: scalars[4],
                max_pain_strike: scalars[5], rate: scalars[6],
                dividend_yield: scalars[7], time_to_expiry_years: scalars[8],
                seq: ints[0], total_call_oi: ints[1], total_put_oi: ints[2],
                source_seq: ints[3],
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// The law the readers rely on: what is stored reads back as the chain,
        /// to the bit, whatever its values.
        #[test]
        fn stored_chains_read_back_to_the_bit(c in any_chain()) {
            let back = decode(&stored(&c)).expect("decodes");
            prop_assert!(same(&back, &c), "{back:?} != {c:?}");
        }
    }
}
