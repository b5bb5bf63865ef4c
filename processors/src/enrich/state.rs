//! One product's enrichment as a pure state machine: a raw message in, the
//! enriched messages out (or a reason to dead-letter it). No I/O, no clock: the
//! live enricher and `replay` run exactly this, so a replay is byte-identical.
//!
//! State is kept per trading day (the session date in the product's exchange time
//! zone): session statistics, bars in progress with their indicators, and the
//! previous chain snapshot per expiry all start fresh each day. A day therefore
//! depends on nothing before it, which is what makes a replay of one day equal to
//! its live run, lets a past day be back-filled while live data flows (the two
//! interleave in the stream without disturbing each other), and lets replays run
//! per day in parallel. The state is serde-serializable; the enricher checkpoints
//! it with the last applied `MD_RAW` sequence.

use chrono::NaiveDate;
use ds_analytics::bars::{BarAggregator, ClosedBar, SessionStats, Tick};
use ds_analytics::chain::{enrich_chain, ChainInput, EnrichedChainOut, Quote};
use ds_analytics::market::{time_to_expiry_years, trading_day, ProductSpec};
use ds_analytics::oi::{Buildup, ChainSnapshot};
use ds_analytics::AnalyticsError;
use ds_schemas::enriched::Enriched;
use ds_schemas::subjects::{parse_raw, RawSubject};
use ds_schemas::{OptionChain, UnderlyingTick};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A raw message as the enricher received it.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    /// The subject it was published on.
    pub subject: &'a str,
    /// Its `Ds-Schema` header, if any.
    pub schema: Option<&'a str>,
    /// Its bytes.
    pub payload: &'a [u8],
    /// Its `MD_RAW` stream sequence.
    pub stream_seq: u64,
}

/// Why a message can never be enriched (it goes to the DLQ with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Poison(pub String);

/// What applying a message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Enriched: publish these (possibly none).
    Outputs {
        /// The trading day the message belongs to.
        day: NaiveDate,
        /// The enriched messages.
        outputs: Vec<Enriched>,
    },
    /// Its sequence is at or below the last applied one: already done, skip it.
    AlreadyApplied,
}

/// Trading days kept in memory at once (today, and back-filled days in progress).
pub const MAX_OPEN_DAYS: usize = 4;

/// The analytics state of one product for one trading day.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DayState {
    session: SessionStats,
    bars: BarAggregator,
    /// The previous snapshot of each expiry, for OI change and build-up.
    chains: BTreeMap<String, ChainSnapshot>,
}

impl DayState {
    fn new(spec: &ProductSpec) -> Self {
        Self {
            session: SessionStats::new(spec.exchange),
            bars: BarAggregator::new(spec.exchange),
            chains: BTreeMap::new(),
        }
    }
}

/// The enrichment state of one product.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductState {
    /// The product.
    pub product: String,
    /// The last `MD_RAW` sequence applied (0: none).
    pub last_applied_seq: u64,
    days: BTreeMap<NaiveDate, DayState>,
}

impl ProductState {
    /// A fresh state for `spec`.
    pub fn new(spec: &ProductSpec) -> Self {
        Self {
            product: spec.name.clone(),
            last_applied_seq: 0,
            days: BTreeMap::new(),
        }
    }

    /// The state of `day`, created fresh on its first message; the oldest day is
    /// forgotten when more than [`MAX_OPEN_DAYS`] are open.
    fn day(&mut self, spec: &ProductSpec, day: NaiveDate) -> &mut DayState {
        if !self.days.contains_key(&day) && self.days.len() >= MAX_OPEN_DAYS {
            self.days.pop_first();
        }
        self.days.entry(day).or_insert_with(|| DayState::new(spec))
    }

    /// Applies one raw message of this product.
    ///
    /// # Errors
    /// [`Poison`] when the message is invalid (SPEC §5): malformed subject, another
    /// product, undecodable, non-finite or negative values, length mismatches.
    /// The state is unchanged then.
    pub fn apply(&mut self, spec: &ProductSpec, input: RawInput<'_>) -> Result<Applied, Poison> {
        if input.stream_seq <= self.last_applied_seq {
            return Ok(Applied::AlreadyApplied);
        }
        let subject = parse_raw(input.subject).map_err(|e| Poison(e.to_string()))?;
        if subject.product() != self.product {
            return Err(Poison(format!(
                "subject product {} is not {}",
                subject.product(),
                self.product
            )));
        }
        let (day, outputs) = match subject {
            RawSubject::Underlying { .. } => self.apply_tick(spec, input)?,
            RawSubject::Chain { expiry, .. } => self.apply_chain(spec, expiry, input)?,
        };
        self.last_applied_seq = input.stream_seq;
        Ok(Applied::Outputs { day, outputs })
    }

    fn apply_tick(
        &mut self,
        spec: &ProductSpec,
        input: RawInput<'_>,
    ) -> Result<(NaiveDate, Vec<Enriched>), Poison> {
        let t: UnderlyingTick =
            ds_schemas::decode(input.schema, input.payload).map_err(|e| Poison(e.to_string()))?;
        if t.product != self.product {
            return Err(Poison(format!(
                "payload product {:?} does not match subject product {}",
                t.product, self.product
            )));
        }
        positive_price("price", t.price)?;
        event_time(t.ts_unix_ns)?;
        let day = trading_day(t.ts_unix_ns, spec.exchange);
        let product = self.product.clone();
        let state = self.day(spec, day);
        // Work on copies: the state changes only if the whole message applies.
        let mut session = state.session.clone();
        let s = session
            .update(t.ts_unix_ns, t.price)
            .map_err(|e| Poison(format!("session statistics: {e}")))?;
        let mut out = Vec::with_capacity(2);
        out.push(Enriched::Underlying(ds_schemas::EnrichedUnderlying {
            product: t.product.clone(),
            price: t.price,
            ts_unix_ns: t.ts_unix_ns,
            seq: t.seq,
            session_open: s.session_open,
            session_high: s.session_high,
            session_low: s.session_low,
            change_pct: s.change_pct,
            source_seq: input.stream_seq,
            volume: t.volume,
        }));
        let tick = Tick {
            ts_unix_ns: t.ts_unix_ns,
            price: t.price,
            volume: t.volume,
            seq: input.stream_seq,
        };
        // A tick the bars cannot take (late, or after the session closed) still
        // updates the price: it just forms no bar.
        if let Ok(closed) = state.bars.update(&tick) {
            out.extend(closed.iter().map(|c| bar_message(&product, c)));
        }
        state.session = session;
        Ok((day, out))
    }

    fn apply_chain(
        &mut self,
        spec: &ProductSpec,
        expiry_token: &str,
        input: RawInput<'_>,
    ) -> Result<(NaiveDate, Vec<Enriched>), Poison> {
        let c: OptionChain =
            ds_schemas::decode(input.schema, input.payload).map_err(|e| Poison(e.to_string()))?;
        if c.product != self.product || c.expiry != expiry_token {
            return Err(Poison(format!(
                "payload {} {} does not match subject {}",
                c.product, c.expiry, input.subject
            )));
        }
        let expiry = NaiveDate::parse_from_str(&c.expiry, "%Y-%m-%d")
            .map_err(|e| Poison(format!("expiry {:?}: {e}", c.expiry)))?;
        positive_price("spot", c.spot)?;
        event_time(c.ts_unix_ns)?;
        let t = time_to_expiry_years(expiry, spec.exchange, c.ts_unix_ns);
        let day = trading_day(c.ts_unix_ns, spec.exchange);
        let product = self.product.clone();
        let state = self.day(spec, day);
        let enriched = enrich_wire_chain(
            &c,
            spec,
            t,
            spec.dividend_yield,
            state.chains.get(&c.expiry),
        )
        .map_err(|e| Poison(format!("invalid chain: {e}")))?;
        let mut out = Vec::with_capacity(4);
        // A chain's event time also advances the bars (closing those it passed).
        out.extend(
            state
                .bars
                .advance_to(c.ts_unix_ns)
                .iter()
                .map(|b| bar_message(&product, b)),
        );
        let (chain, summary) = chain_messages(&c, &enriched, spec, t, input.stream_seq);
        out.push(Enriched::Chain(chain));
        out.push(Enriched::Summary(summary));
        state.chains.insert(c.expiry.clone(), enriched.snapshot);
        Ok((day, out))
    }
}

/// Refuses a price (`what`) that is not a positive finite number.
fn positive_price(what: &str, price: f64) -> Result<(), Poison> {
    if price.is_finite() && price > 0.0 {
        Ok(())
    } else {
        Err(Poison(format!(
            "{what} {price} is not a positive finite number"
        )))
    }
}

/// Refuses an event time that is not after the epoch.
fn event_time(ts_unix_ns: i64) -> Result<(), Poison> {
    if ts_unix_ns > 0 {
        Ok(())
    } else {
        Err(Poison(format!(
            "ts_unix_ns {ts_unix_ns} is not a valid event time"
        )))
    }
}

/// `c` enriched by the analytics, `t` years before expiry, priced with
/// `spec`'s rate and `dividend_yield`, its OI change against `previous`.
pub(crate) fn enrich_wire_chain(
    c: &OptionChain,
    spec: &ProductSpec,
    t: f64,
    dividend_yield: f64,
    previous: Option<&ChainSnapshot>,
) -> Result<EnrichedChainOut, AnalyticsError> {
    let calls: Vec<Quote> = c.calls.iter().map(quote).collect();
    let puts: Vec<Quote> = c.puts.iter().map(quote).collect();
    let input = ChainInput {
        spot: c.spot,
        strikes: &c.strikes,
        calls: &calls,
        puts: &puts,
        time_to_expiry_years: t,
        rate: spec.rate,
        dividend_yield,
        min_tick: spec.min_tick,
    };
    enrich_chain(&input, previous)
}

/// A quote of the wire format as the analytics take it.
pub(crate) fn quote(q: &ds_schemas::OptionQuote) -> Quote {
    Quote {
        bid: q.bid,
        ask: q.ask,
        last: q.last,
        volume: q.volume,
        open_interest: q.open_interest,
    }
}

fn buildup(b: Buildup) -> i32 {
    (match b {
        Buildup::Neutral => ds_schemas::Buildup::Neutral,
        Buildup::LongBuildup => ds_schemas::Buildup::LongBuildup,
        Buildup::ShortBuildup => ds_schemas::Buildup::ShortBuildup,
        Buildup::ShortCovering => ds_schemas::Buildup::ShortCovering,
        Buildup::LongUnwinding => ds_schemas::Buildup::LongUnwinding,
    }) as i32
}

fn enriched_quotes(side: &[ds_analytics::chain::EnrichedQuote]) -> Vec<ds_schemas::EnrichedQuote> {
    side.iter()
        .map(|q| {
            let g = q.implied.as_ref();
            ds_schemas::EnrichedQuote {
                strike: q.strike,
                bid: q.quote.bid,
                ask: q.quote.ask,
                last: q.quote.last,
                volume: q.quote.volume,
                open_interest: q.quote.open_interest,
                iv: g.map(|i| i.iv),
                delta: g.map(|i| i.greeks.delta),
                gamma: g.map(|i| i.greeks.gamma),
                theta: g.map(|i| i.greeks.theta),
                vega: g.map(|i| i.greeks.vega),
                rho: g.map(|i| i.greeks.rho),
                oi_change: q.oi.oi_change,
                buildup: buildup(q.oi.buildup),
                illiquid: q.illiquid,
            }
        })
        .collect()
}

fn chain_messages(
    c: &OptionChain,
    e: &EnrichedChainOut,
    spec: &ProductSpec,
    t: f64,
    source_seq: u64,
) -> (ds_schemas::EnrichedChain, ds_schemas::ChainSummary) {
    let a = &e.analytics;
    let chain = ds_schemas::EnrichedChain {
        product: c.product.clone(),
        expiry: c.expiry.clone(),
        spot: c.spot,
        ts_unix_ns: c.ts_unix_ns,
        seq: c.seq,
        strikes: c.strikes.clone(),
        calls: enriched_quotes(&e.calls),
        puts: enriched_quotes(&e.puts),
        pcr_oi: a.pcr_oi,
        pcr_volume: a.pcr_volume,
        atm_strike: a.atm_strike.unwrap_or(0.0),
        atm_straddle: a.atm_straddle.unwrap_or(0.0),
        max_pain_strike: a.max_pain_strike.unwrap_or(0.0),
        total_call_oi: a.total_call_oi,
        total_put_oi: a.total_put_oi,
        atm_iv: a.atm_iv,
        rate: spec.rate,
        dividend_yield: spec.dividend_yield,
        time_to_expiry_years: t,
        source_seq,
    };
    let summary = ds_schemas::ChainSummary {
        product: c.product.clone(),
        expiry: c.expiry.clone(),
        spot: c.spot,
        ts_unix_ns: c.ts_unix_ns,
        pcr_oi: chain.pcr_oi,
        pcr_volume: chain.pcr_volume,
        atm_strike: chain.atm_strike,
        atm_straddle: chain.atm_straddle,
        max_pain_strike: chain.max_pain_strike,
        atm_iv: chain.atm_iv,
        seq: c.seq,
        source_seq,
    };
    (chain, summary)
}

fn bar_message(product: &str, c: &ClosedBar) -> Enriched {
    let i = &c.indicators;
    Enriched::Bar(ds_schemas::Bar {
        product: product.to_owned(),
        interval: c.interval.as_str().to_owned(),
        start_unix_ns: c.bar.start_unix_ns,
        open: c.bar.open,
        high: c.bar.high,
        low: c.bar.low,
        close: c.bar.close,
        volume: c.bar.volume,
        ticks: c.bar.ticks,
        sma_20: i.sma_20,
        ema_9: i.ema_9,
        ema_21: i.ema_21,
        rsi_14: i.rsi_14,
        macd: i.macd,
        macd_signal: i.macd_signal,
        macd_hist: i.macd_hist,
        bb_upper: i.bb_upper,
        bb_middle: i.bb_middle,
        bb_lower: i.bb_lower,
        first_source_seq: c.bar.first_seq,
        last_source_seq: c.bar.last_seq,
    })
}
