//! The latest message per room key, in memory.

use super::update::{Event, Update};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A chain (or summary) older than the product's newest one by more than this
/// belongs to an expiry that is no longer quoted.
const QUOTED_WINDOW_NS: i64 = 24 * 3600 * 1_000_000_000;

type ByName = HashMap<String, BTreeMap<String, Arc<Update>>>;

/// The latest values, and how far into `MD_ENRICHED` they reflect.
#[derive(Default)]
pub(super) struct Latest {
    underlying: HashMap<String, Arc<Update>>,
    chains: ByName,
    summaries: ByName,
    bars: ByName,
    /// Every message up to this stream sequence is reflected.
    pub(super) applied_seq: u64,
}

fn is_newer(old: Option<&Arc<Update>>, u: &Update) -> bool {
    old.is_none_or(|o| o.value.seq < u.value.seq)
}

fn insert_sub(map: &mut ByName, u: &Arc<Update>) {
    let subs = map.entry(u.product.clone()).or_default();
    if is_newer(subs.get(&u.sub), u) {
        subs.insert(u.sub.clone(), u.clone());
    }
}

/// The values of `subs` at most [`QUOTED_WINDOW_NS`] older than the newest.
fn quoted(subs: Option<&BTreeMap<String, Arc<Update>>>) -> Vec<&Arc<Update>> {
    let Some(subs) = subs else { return Vec::new() };
    let newest = subs.values().map(|u| u.value.ts_unix_ns).max().unwrap_or(0);
    subs.values()
        .filter(|u| u.value.ts_unix_ns >= newest.saturating_sub(QUOTED_WINDOW_NS))
        .collect()
}

impl Latest {
    /// Keeps `u` if it is newer than what its key holds.
    pub(super) fn apply(&mut self, u: &Arc<Update>) {
        match u.event {
            Event::UnderlyingUpdate => {
                if is_newer(self.underlying.get(&u.product), u) {
                    self.underlying.insert(u.product.clone(), u.clone());
                }
            }
            Event::ChainUpdate => insert_sub(&mut self.chains, u),
            Event::ChainSummary => insert_sub(&mut self.summaries, u),
            Event::BarUpdate => insert_sub(&mut self.bars, u),
        }
    }

    pub(super) fn underlying(&self, product: &str) -> Option<&Arc<Update>> {
        self.underlying.get(product)
    }

    pub(super) fn chain(&self, product: &str, expiry: &str) -> Option<&Arc<Update>> {
        self.chains.get(product)?.get(expiry)
    }

    pub(super) fn summary(&self, product: &str, expiry: &str) -> Option<&Arc<Update>> {
        self.summaries.get(product)?.get(expiry)
    }

    pub(super) fn bar(&self, product: &str, interval: &str) -> Option<&Arc<Update>> {
        self.bars.get(product)?.get(interval)
    }

    /// The latest chain of every expiry still quoted, by expiry.
    pub(super) fn quoted_chains(&self, product: &str) -> Vec<&Arc<Update>> {
        quoted(self.chains.get(product))
    }

    pub(super) fn products(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .underlying
            .keys()
            .chain(self.chains.keys())
            .chain(self.summaries.keys())
            .chain(self.bars.keys())
            .cloned()
            .collect();
        p.sort();
        p.dedup();
        p
    }

    /// The latest values of a WebSocket room, ordered by sequence (clients drop
    /// a frame whose sequence is not above the last they saw in the room).
    pub(super) fn snapshot(&self, room: &str) -> Vec<Arc<Update>> {
        let mut out: Vec<Arc<Update>> = match room.split_once(':') {
            None if room == "general" => self
                .summaries
                .values()
                .flat_map(|s| quoted(Some(s)))
                .cloned()
                .collect(),
            Some(("product", p)) => self.underlying.get(p).cloned().into_iter().collect(),
            Some(("chain", p)) => quoted(self.chains.get(p)).into_iter().cloned().collect(),
            Some(("bars", p)) => self
                .bars
                .get(p)
                .map(|b| b.values().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        out.sort_by_key(|u| u.value.seq);
        out
    }
}
