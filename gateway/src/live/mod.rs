//! The live view of `MD_ENRICHED` shared by the whole gateway process: one
//! ordered JetStream consumer over `md.enriched.>`, the latest value per room key
//! (rendered once as JSON), and a broadcast of every message to the WebSocket hub.
//!
//! For REST handlers, a [`LiveValue`] holds the typed message and its JSON,
//! serialized once from [`crate::views`]: the same bytes the WebSocket sends as
//! `data` (proto field names, an RFC 3339 `ts` next to `ts_unix_ns`, `start`
//! next to `start_unix_ns` for bars).

pub mod delta;
pub(crate) mod follow;
mod latest;
pub mod render;
mod shared;
mod update;

use latest::Latest;
use shared::Shared;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub use update::{Event, LiveValue, Update};

/// Messages the hub may fall behind the live feed before it loses some.
const BROADCAST_CAPACITY: usize = 16_384;

/// Aborts a background task when dropped: held in an `Arc` by a cheap-to-clone
/// handle, the task stops with the last handle (the consumer task of [`Live`],
/// the fan-out task of the WebSocket hub).
pub(crate) struct TaskGuard(pub(crate) tokio::task::AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The live feed of `MD_ENRICHED` (cheap to clone; the consumer stops when the
/// last clone is dropped).
#[derive(Clone)]
pub struct Live {
    shared: Arc<Shared>,
    js: async_nats::jetstream::Context,
    ready: watch::Receiver<bool>,
    _task: Arc<TaskGuard>,
}

impl Live {
    /// Starts following `MD_ENRICHED` on `js`: seeds the latest values from the
    /// stream (the last message of every subject), then consumes new messages.
    /// Never fails: while NATS or the stream is unavailable it retries with
    /// backoff, and the getters return what is known (possibly nothing).
    pub fn start(js: async_nats::jetstream::Context) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let shared = Arc::new(Shared {
            latest: RwLock::new(Latest::default()),
            tx,
        });
        let (ready_tx, ready) = watch::channel(false);
        let task = tokio::spawn(follow::run(shared.clone(), js.clone(), ready_tx));
        Self {
            shared,
            js,
            ready,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        }
    }

    /// Waits until the latest values are seeded from the stream, at most `timeout`;
    /// returns whether they are.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.clone();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The latest `EnrichedUnderlying` of `product`.
    pub fn latest_underlying(&self, product: &str) -> Option<LiveValue> {
        self.shared
            .read()
            .underlying(product)
            .map(|u| u.value.clone())
    }

    /// The latest `EnrichedChain` of `product` and `expiry`.
    pub fn latest_chain(&self, product: &str, expiry: &str) -> Option<LiveValue> {
        self.shared
            .read()
            .chain(product, expiry)
            .map(|u| u.value.clone())
    }

    /// The latest `ChainSummary` of `product` and `expiry`.
    pub fn latest_summary(&self, product: &str, expiry: &str) -> Option<LiveValue> {
        self.shared
            .read()
            .summary(product, expiry)
            .map(|u| u.value.clone())
    }

    /// The latest closed `Bar` of `product` and `interval` (`1m`, `5m`, `15m`).
    pub fn latest_bar(&self, product: &str, interval: &str) -> Option<LiveValue> {
        self.shared
            .read()
            .bar(product, interval)
            .map(|u| u.value.clone())
    }

    /// The latest chain of every expiry of `product` that is still quoted,
    /// ordered by expiry.
    pub fn latest_chains(&self, product: &str) -> Vec<(String, LiveValue)> {
        self.shared
            .read()
            .quoted_chains(product)
            .into_iter()
            .map(|u| (u.sub.clone(), u.value.clone()))
            .collect()
    }

    /// The expiries of `product` still quoted, ascending (ISO dates): those whose
    /// latest chain is at most a day older than the product's newest chain, so
    /// expiries that stopped trading drop out.
    pub fn expiries(&self, product: &str) -> Vec<String> {
        self.shared
            .read()
            .quoted_chains(product)
            .into_iter()
            .map(|u| u.sub.clone())
            .collect()
    }

    /// Products with any live value, ascending.
    pub fn products(&self) -> Vec<String> {
        self.shared.read().products()
    }

    /// The highest `MD_ENRICHED` sequence reflected in the latest values.
    pub fn applied_seq(&self) -> u64 {
        self.shared.read().applied_seq
    }

    /// The latest values of a WebSocket room, ordered by sequence.
    pub(crate) fn snapshot(&self, room: &str) -> Vec<Arc<Update>> {
        self.shared.read().snapshot(room)
    }

    /// Every message from now on, as rendered once.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.shared.tx.subscribe()
    }

    /// JetStream, for reading `MD_ENRICHED` back (WebSocket resume).
    pub(crate) fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.js
    }
}
