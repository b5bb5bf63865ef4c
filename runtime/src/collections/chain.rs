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
//! costs what its values do. Most of that was the six full-precision floats of
//! IV and Greeks, which no compressor shrinks; but the five Greeks are a pure
//! function of the IV and of inputs the chain holds (SPEC §4: spot, strike,
//! time to expiry, rate, dividend yield), so a quote whose stored Greeks are
//! exactly [`ds_analytics::greeks`] of those inputs is flagged and its Greeks
//! are computed on reading instead of stored (~40 bytes a quote; any other
//! Greeks are stored as they are, so every chain reads back to the bit).

use crate::{Error, Result};
use ds_analytics::{greeks, Greeks, OptionKind};
use ds_schemas::{EnrichedChain, EnrichedQuote};
use mongodb::bson::raw::RawBinaryRef;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{self, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};

/// The value of `layout` in documents of this layout (absent in the first one).
pub const LAYOUT: i32 = 2;

/// A quote field that may be unset: its column, its mask column, its accessors,
/// and, for a Greek, its value in [`Greeks`].
struct Optional {
    name: &'static str,
    mask: &'static str,
    get: fn(&EnrichedQuote) -> Option<f64>,
    slot: fn(&mut EnrichedQuote) -> &mut Option<f64>,
    greek: Option<fn(&Greeks) -> f64>,
}

/// The [`Optional`] of quote field `$field`, its value in [`Greeks`] named
/// the same when it is a Greek.
macro_rules! optional {
    ($field:ident) => {
        optional!($field, None)
    };
    ($field:ident, greek) => {
        optional!($field, Some(|g| g.$field))
    };
    ($field:ident, $greek:expr) => {
        Optional {
            name: stringify!($field),
            mask: concat!(stringify!($field), "_set"),
            get: |q| q.$field,
            slot: |q| &mut q.$field,
            greek: $greek,
        }
    };
}

const OPTIONAL: [Optional; 6] = [
    optional!(iv),
    optional!(delta, greek),
    optional!(gamma, greek),
    optional!(theta, greek),
    optional!(vega, greek),
    optional!(rho, greek),
];

/// The column flagging the quotes whose Greeks are computed on reading.
const DERIVED: &str = "greeks_derived";

/// The column flagging the illiquid quotes (`EnrichedQuote::illiquid`; absent
/// when none is, and in documents written before the flag existed).
const ILLIQUID: &str = "illiquid";

/// The chain's inputs of the Greeks (SPEC §4), and the side's option kind.
#[derive(Clone, Copy)]
struct Pricing {
    kind: OptionKind,
    spot: f64,
    t: f64,
    rate: f64,
    dividend_yield: f64,
}

impl Pricing {
    fn of(c: &EnrichedChain, kind: OptionKind) -> Self {
        Self {
            kind,
            spot: c.spot,
            t: c.time_to_expiry_years,
            rate: c.rate,
            dividend_yield: c.dividend_yield,
        }
    }

    /// The Greeks of a quote at `strike` and volatility `iv`.
    fn greeks(&self, strike: f64, iv: f64) -> Option<Greeks> {
        greeks(
            self.kind,
            self.spot,
            strike,
            self.t,
            self.rate,
            self.dividend_yield,
            iv,
        )
    }

    /// Whether every Greek of `q` is set and exactly what its IV gives.
    fn derives(&self, q: &EnrichedQuote) -> bool {
        let Some(g) = q.iv.and_then(|iv| self.greeks(q.strike, iv)) else {
            return false;
        };
        OPTIONAL.iter().all(|o| match o.greek {
            None => true,
            Some(value) => (o.get)(q).is_some_and(|v| v.to_bits() == value(&g).to_bits()),
        })
    }
}

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
    doc.append(
        "calls",
        side(&c.calls, &c.strikes, Pricing::of(c, OptionKind::Call)),
    );
    doc.append(
        "puts",
        side(&c.puts, &c.strikes, Pricing::of(c, OptionKind::Put)),
    );
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
    let mut c = EnrichedChain {
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
        calls: Vec::new(),
        puts: Vec::new(),
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
    };
    c.calls = read_side(doc, "calls", &c.strikes, Pricing::of(&c, OptionKind::Call))?;
    c.puts = read_side(doc, "puts", &c.strikes, Pricing::of(&c, OptionKind::Put))?;
    Ok(c)
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

/// A bitmap of `n` flags: bit `i % 8` of byte `i / 8` is flag `i`.
fn bitmap(n: usize, flag: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut mask = vec![0u8; n.div_ceil(8)];
    for i in (0..n).filter(|i| flag(*i)) {
        mask[i / 8] |= 1 << (i % 8);
    }
    mask
}

/// One side's quotes as columns.
fn side(quotes: &[EnrichedQuote], strikes: &[f64], pricing: Pricing) -> RawDocumentBuf {
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
    if quotes.iter().any(|q| q.illiquid) {
        d.append_ref(
            ILLIQUID,
            binary(&bitmap(quotes.len(), |i| quotes[i].illiquid)),
        );
    }
    let derived: Vec<bool> = quotes.iter().map(|q| pricing.derives(q)).collect();
    if derived.contains(&true) {
        d.append_ref(DERIVED, binary(&bitmap(quotes.len(), |i| derived[i])));
    }
    for o in &OPTIONAL {
        let stored = quotes
            .iter()
            .zip(&derived)
            .filter(|(_, derived)| o.greek.is_none() || !**derived)
            .filter_map(|(q, _)| (o.get)(q));
        d.append_ref(o.name, binary(&doubles(stored)));
        if quotes.iter().any(|q| (o.get)(q).is_none()) {
            d.append_ref(
                o.mask,
                binary(&bitmap(quotes.len(), |i| (o.get)(&quotes[i]).is_some())),
            );
        }
    }
    d
}

/// The columns of one side (`calls` or `puts`) of a stored chain.
struct Columns<'a> {
    d: &'a RawDocument,
    key: &'static str,
    /// Quotes on the side.
    n: usize,
}

impl<'a> Columns<'a> {
    fn open(doc: &'a RawDocument, key: &'static str) -> Result<Self> {
        let d = doc.get_document(key).map_err(malformed(key))?;
        let n = d.get_i32("n").map_err(malformed("n"))?;
        let n =
            usize::try_from(n).map_err(|_| Error::Document(format!("{key}.n: {n} is negative")))?;
        Ok(Self { d, key, n })
    }

    /// A binary column, `None` when absent.
    fn col(&self, name: &'static str) -> Result<Option<&'a [u8]>> {
        match self.d.get(name).map_err(malformed(name))? {
            None => Ok(None),
            Some(RawBsonRef::Binary(b)) => Ok(Some(b.bytes)),
            Some(other) => Err(Error::Document(format!(
                "{}.{name}: {other:?} is not binary",
                self.key
            ))),
        }
    }

    /// A column that must be there.
    fn need(&self, name: &'static str) -> Result<&'a [u8]> {
        self.col(name)?
            .ok_or_else(|| Error::Document(format!("{}.{name}: missing", self.key)))
    }

    fn doubles(&self, name: &'static str) -> Result<Vec<f64>> {
        read_doubles(self.key, name, self.need(name)?, self.n)
    }

    fn varints(&self, name: &'static str) -> Result<Vec<u64>> {
        read_varints(self.key, name, self.need(name)?, self.n)
    }

    /// Flags per quote from a bitmap column (`absent` when the column is).
    fn flags(&self, name: &'static str, absent: bool) -> Result<Vec<bool>> {
        let n = self.n;
        match self.col(name)? {
            None => Ok(vec![absent; n]),
            Some(m) if m.len() == n.div_ceil(8) => {
                Ok((0..n).map(|i| m[i / 8] & (1 << (i % 8)) != 0).collect())
            }
            Some(m) => Err(Error::Document(format!(
                "{}.{name}: {} bytes for {n} quotes",
                self.key,
                m.len()
            ))),
        }
    }
}

fn read_side(
    doc: &RawDocument,
    key: &'static str,
    strikes: &[f64],
    pricing: Pricing,
) -> Result<Vec<EnrichedQuote>> {
    let c = Columns::open(doc, key)?;
    let mut quotes = required_fields(&c, strikes)?;
    for (q, illiquid) in quotes.iter_mut().zip(c.flags(ILLIQUID, false)?) {
        q.illiquid = illiquid;
    }
    let derived = c.flags(DERIVED, false)?;
    for o in &OPTIONAL {
        let set = c.flags(o.mask, true)?;
        let stored = |i: usize| set[i] && (o.greek.is_none() || !derived[i]);
        let count = (0..c.n).filter(|i| stored(*i)).count();
        let mut values = read_doubles(key, o.name, c.need(o.name)?, count)?.into_iter();
        for (i, q) in quotes.iter_mut().enumerate() {
            if stored(i) {
                *(o.slot)(q) = values.next();
            }
        }
    }
    derive_greeks(key, &mut quotes, &derived, pricing)?;
    Ok(quotes)
}

/// The quotes with the fields every quote has (strike from its column or the
/// chain's strikes, prices, volume, open interest, its change, build-up).
fn required_fields(c: &Columns<'_>, strikes: &[f64]) -> Result<Vec<EnrichedQuote>> {
    let (key, n) = (c.key, c.n);
    let strike = match c.col("strike")? {
        Some(b) => read_doubles(key, "strike", b, n)?,
        None if strikes.len() == n => strikes.to_vec(),
        None => {
            return Err(Error::Document(format!(
                "{key}: {n} quotes but {} strikes and no strike column",
                strikes.len()
            )))
        }
    };
    let (bid, ask, last) = (c.doubles("bid")?, c.doubles("ask")?, c.doubles("last")?);
    let volume = c.varints("volume")?;
    let oi = c.varints("open_interest")?;
    let oi_change = c.varints("oi_change")?;
    let buildup = c.varints("buildup")?;
    (0..n)
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
        .collect()
}

/// Fills the Greeks of the quotes flagged `derived` from their IV.
fn derive_greeks(
    key: &str,
    quotes: &mut [EnrichedQuote],
    derived: &[bool],
    pricing: Pricing,
) -> Result<()> {
    for (i, q) in quotes.iter_mut().enumerate().filter(|(i, _)| derived[*i]) {
        let g =
            q.iv.and_then(|iv| pricing.greeks(q.strike, iv))
                .ok_or_else(|| {
                    Error::Document(format!(
                        "{key}.{DERIVED}: quote {i} has no Greeks to compute"
                    ))
                })?;
        for o in &OPTIONAL {
            if let Some(value) = o.greek {
                *(o.slot)(q) = Some(value(&g));
            }
        }
    }
    Ok(())
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

    /// A chain shaped like the enricher's: Black–Scholes Greeks of each quote's
    /// IV, but on the last strike, illiquid, none; `exotic` quotes carry Greeks
    /// that no IV gives.
    fn sample(n: usize, exotic: &[usize]) -> EnrichedChain {
        let strikes: Vec<f64> = (0..n).map(|i| 21_000.0 + 50.0 * i as f64).collect();
        let (spot, t, rate) = (21_510.45, 0.041_095_890_410_958_9, 0.065);
        let quote = |i: usize, kind: OptionKind| {
            let k = strikes[i];
            let x = (i as f64 + 1.0) * 0.731_234_567_891;
            let iv = (i + 1 < n).then_some(0.12 + x / 1e3);
            let mut g = iv.and_then(|iv| greeks(kind, spot, k, t, rate, 0.0, iv));
            if exotic.contains(&i) {
                g = g.map(|g| Greeks {
                    rho: g.rho * 1.5,
                    ..g
                });
            }
            EnrichedQuote {
                strike: k,
                bid: 100.0 / x + 0.123_456_789,
                ask: 100.0 / x + 0.623_456_789,
                last: (100.0 / x * 20.0).round() / 20.0,
                volume: 1_000 + 37 * i as u64,
                open_interest: 150_000 + 1_234 * i as u64,
                iv,
                delta: g.map(|g| g.delta),
                gamma: g.map(|g| g.gamma),
                theta: g.map(|g| g.theta),
                vega: g.map(|g| g.vega),
                rho: g.map(|g| g.rho),
                oi_change: if i.is_multiple_of(2) { -150 } else { 2_300 },
                buildup: (i % 5) as i32,
                illiquid: i + 1 == n,
            }
        };
        EnrichedChain {
            product: "NIFTY".into(),
            expiry: "2025-01-30".into(),
            spot,
            ts_unix_ns: 1_736_912_700_123_456_789,
            seq: 901,
            calls: (0..n).map(|i| quote(i, OptionKind::Call)).collect(),
            puts: (0..n).map(|i| quote(i, OptionKind::Put)).collect(),
            strikes,
            pcr_oi: 0.93,
            pcr_volume: 1.07,
            atm_strike: 21_500.0,
            atm_straddle: 321.5,
            max_pain_strike: 21_450.0,
            total_call_oi: 9_876_543,
            total_put_oi: 8_765_432,
            atm_iv: Some(0.134),
            rate,
            dividend_yield: 0.0,
            time_to_expiry_years: t,
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
        for (n, exotic) in [(0, &[][..]), (1, &[]), (2, &[0]), (9, &[3, 4]), (48, &[])] {
            let c = sample(n, exotic);
            assert!(same(&decode(&stored(&c)).expect("columns"), &c), "n={n}");
            assert!(
                same(&decode(&first_layout(&c)).expect("first"), &c),
                "n={n}"
            );
        }
    }

    #[test]
    fn key_fields_stay_top_level_with_their_types() {
        let c = sample(3, &[1]);
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
        // Quote 0's Greeks are computed on reading; quote 1's are stored.
        let derived = calls.get_binary_generic(DERIVED).expect("flags");
        assert_eq!(derived, &vec![0b001]);
        assert_eq!(calls.get_binary_generic("iv").map(Vec::len), Ok(16));
        assert_eq!(calls.get_binary_generic("rho").map(Vec::len), Ok(8));
        let mut none = c.clone();
        none.atm_iv = None;
        let d = stored(&none).to_document().expect("document");
        assert_eq!(d.get("atm_iv"), Some(&bson::Bson::Null));
    }

    /// What the layout saves on a chain shaped like the enricher's (the
    /// projection tests measure it on a real day).
    #[test]
    fn a_typical_chain_takes_under_a_third_of_the_bytes() {
        let c = sample(24, &[]);
        let (now, before) = (
            stored(&c).as_bytes().len(),
            first_layout(&c).as_bytes().len(),
        );
        assert!(now * 3 < before, "{now} bytes vs {before}");
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let c = sample(4, &[]);
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

    /// Stored chains flagged `greeks_derived` read their Greeks from
    /// `ds_analytics::greeks`: if it changes, so does what every such chain
    /// reads back. Then keep the old function for `layout: 2` and write a new
    /// layout (or replay the days).
    #[test]
    fn derived_greeks_are_pinned_to_the_bit() {
        let cases = [
            (
                OptionKind::Call,
                21_510.45,
                21_500.0,
                0.041_095_890_410_958_9,
                0.065,
                0.0,
                0.131_5,
            ),
            (OptionKind::Put, 187.3, 150.0, 0.5, 0.045, 0.01, 0.42),
        ];
        let bits: Vec<[u64; 5]> = cases
            .iter()
            .map(|&(kind, spot, strike, t, r, q, iv)| {
                let g = greeks(kind, spot, strike, t, r, q, iv).expect("greeks");
                [g.delta, g.gamma, g.theta, g.vega, g.rho].map(f64::to_bits)
            })
            .collect();
        assert_eq!(bits, PINNED, "{bits:#x?}");
    }

    const PINNED: [[u64; 5]; 2] = [
        [
            0x3fe1_ad5f_4845_f372,
            0x3f46_99b2_20f6_5510,
            0xc023_41d7_e305_e012,
            0x4031_3efb_09a3_a17e,
            0x4013_196e_a207_02a7,
        ],
        [
            0xbfc5_9e58_01ec_12bc,
            0x3f72_85d1_35c4_ac6f,
            0xbfa1_b56a_c2cb_35e8,
            0x3fd5_5254_25ed_6f49,
            0xbfc7_f459_1ac9_2178,
        ],
    ];

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
            oi_change in any::<i64>(), buildup in any::<i32>(), illiquid in any::<bool>(),
        ) -> EnrichedQuote {
            EnrichedQuote {
                strike, bid, ask, last, volume, open_interest,
                iv: greeks[0], delta: greeks[1], gamma: greeks[2],
                theta: greeks[3], vega: greeks[4], rho: greeks[5],
                oi_change, buildup, illiquid,
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

    prop_compose! {
        /// Chains whose Greeks are those of their IVs, at inputs anywhere.
        fn priced_chain()(
            mut c in any_chain(),
            spot in prop_oneof![any_f64(), 1.0..1e6],
            t in prop_oneof![any_f64(), 0.0..3.0],
            rate in -0.05..0.2,
        ) -> EnrichedChain {
            c.spot = spot;
            c.time_to_expiry_years = t;
            c.rate = rate;
            for (kind, side) in [(OptionKind::Call, &mut c.calls), (OptionKind::Put, &mut c.puts)] {
                for q in side.iter_mut() {
                    // Mostly volatilities a market has.
                    q.iv = q.iv.map(|v| if v.is_finite() { v.abs() % 2.0 } else { v });
                    let g = q.iv.and_then(|iv| greeks(kind, spot, q.strike, t, rate, c.dividend_yield, iv));
                    q.delta = g.map(|g| g.delta);
                    q.gamma = g.map(|g| g.gamma);
                    q.theta = g.map(|g| g.theta);
                    q.vega = g.map(|g| g.vega);
                    q.rho = g.map(|g| g.rho);
                }
            }
            c
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

        /// The same where Greeks are computed on reading.
        #[test]
        fn derived_greeks_read_back_to_the_bit(c in priced_chain()) {
            let back = decode(&stored(&c)).expect("decodes");
            prop_assert!(same(&back, &c), "{back:?} != {c:?}");
        }
    }
}
