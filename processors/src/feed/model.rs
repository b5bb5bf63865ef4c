//! One product's synthetic market: the underlying process and its option chains,
//! stepped by event time. Pure: the caller supplies timestamps and publishes.

use super::rng::Rng;
use super::underlying::UnderlyingModel;
use ds_analytics::market::ProductSpec;
use ds_runtime::config::FeedConfig;
use ds_schemas::{OptionChain, UnderlyingTick};
use std::collections::BTreeMap;

/// What a product's feed published last (read back from `MD_RAW` on start), so a
/// restarted or back-filling feed continues sequences and prices instead of
/// reusing ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// The last underlying tick's `seq` and `price`.
    pub last_tick: Option<(u64, f64)>,
    /// The last chain `seq` per expiry (ISO date).
    pub chain_seqs: BTreeMap<String, u64>,
}

/// A message the feed publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// On `md.raw.<P>.underlying`.
    Tick(UnderlyingTick),
    /// On `md.raw.<P>.chain.<EXPIRY>`.
    Chain(OptionChain),
}

impl FeedEvent {
    /// The subject it is published on.
    pub fn subject(&self) -> String {
        match self {
            FeedEvent::Tick(t) => ds_schemas::subjects::raw_underlying(&t.product),
            FeedEvent::Chain(c) => ds_schemas::subjects::raw_chain(&c.product, &c.expiry),
        }
    }

    /// Its deterministic `Nats-Msg-Id` (SPEC §2).
    pub fn msg_id(&self) -> String {
        match self {
            FeedEvent::Tick(t) => format!("{}:underlying:{}", t.product, t.seq),
            FeedEvent::Chain(c) => format!("{}:chain:{}:{}", c.product, c.expiry, c.seq),
        }
    }
}

/// One product's feed state.
#[derive(Debug, Clone)]
pub struct ProductFeed {
    spec: ProductSpec,
    rng: Rng,
    underlying: UnderlyingModel,
    tick_seq: u64,
    ticks: u64,
    chain_every: u64,
    chains: super::chains::ChainModel,
}

impl ProductFeed {
    /// A feed for `spec` seeded by `seed`, continuing from `resume`.
    pub fn new(spec: &ProductSpec, cfg: &FeedConfig, seed: u64, resume: &Resume) -> Self {
        let (tick_seq, start) = resume.last_tick.unwrap_or((0, spec.spot));
        let mut rng = Rng::derive(seed, &spec.name);
        let chains = super::chains::ChainModel::new(spec, cfg, &resume.chain_seqs, &mut rng);
        Self {
            underlying: UnderlyingModel::new(spec, start, cfg.tick_interval_ms),
            spec: spec.clone(),
            rng,
            tick_seq,
            ticks: 0,
            chain_every: u64::from(cfg.chain_every_ticks.max(1)),
            chains,
        }
    }

    /// Shifts the ticks that carry chains by `phase` (live mode: products with
    /// different phases publish their chains on different ticks, as a market's
    /// snapshots are not all taken at one instant).
    pub fn with_chain_phase(mut self, phase: u64) -> Self {
        self.ticks = phase % self.chain_every;
        self
    }

    /// The product's name.
    pub fn product(&self) -> &str {
        &self.spec.name
    }

    /// The product's specification.
    pub fn spec(&self) -> &ProductSpec {
        &self.spec
    }

    /// Advances to event time `ts_unix_ns`: one tick, and on every `chain_every`-th
    /// tick a chain snapshot per expiry.
    pub fn step(&mut self, ts_unix_ns: i64, out: &mut Vec<FeedEvent>) {
        let (price, volume) = self.underlying.step(&mut self.rng);
        self.tick_seq += 1;
        self.ticks += 1;
        out.push(FeedEvent::Tick(UnderlyingTick {
            product: self.spec.name.clone(),
            price,
            ts_unix_ns,
            seq: self.tick_seq,
            volume,
        }));
        if self.ticks.is_multiple_of(self.chain_every) {
            self.chains
                .snapshots(&self.spec, price, ts_unix_ns, &mut self.rng, out);
        }
    }
}
