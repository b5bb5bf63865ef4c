//! Replay sessions: `GET /ws?replay=<prefix>` puts a socket on the messages
//! `deltastream replay --publish-prefix <prefix>` re-publishes on core NATS
//! (`<prefix>.md.enriched.>`) instead of the live ones, with the same rooms,
//! event names and `data` JSON.
//!
//! One [`ReplayFeed`] per prefix per process, created when its first client
//! registers and dropped (unsubscribed) when its last one leaves: one core NATS
//! subscription, each message decoded and rendered once (the live
//! [`render::update`]) and fanned out to the feed's own rooms like live ones.
//! Core NATS has no stream sequence, so `seq` is a counter of the feed (1, 2, …
//! per decoded message; it starts again at 1 when the feed is re-created).
//! Nothing is stored: no snapshot on subscribe, no resume (`since_seq`); delta
//! frames (`"encoding":"delta"`) follow the session's own previous chains.

use super::options::WsOptions;
use super::rooms::{dispatch, Registry};
use crate::live::{delta, render, Event, Update};
use ds_runtime::backoff::Backoff;
use ds_schemas::enriched::Enriched;
use ds_schemas::subjects::STREAM_ENRICHED;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Aborts the feed's task when the feed is dropped.
struct TaskGuard(tokio::task::AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the feed's task shares with the hub.
pub(super) struct Shared {
    pub(super) prefix: Arc<str>,
    registry: Mutex<Registry>,
    /// The last `seq` given.
    seq: AtomicU64,
}

impl Shared {
    pub(super) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The feed of one replay session (prefix): who is in which of its rooms, and
/// the task that follows `<prefix>.md.enriched.>`.
pub(super) struct ReplayFeed {
    pub(super) shared: Arc<Shared>,
    ready: watch::Receiver<bool>,
    _task: TaskGuard,
}

impl ReplayFeed {
    /// Starts following `<prefix>.md.enriched.>` on `client` (prefix validated
    /// by the caller).
    pub(super) fn start(prefix: &str, client: async_nats::Client, opts: WsOptions) -> Self {
        let shared = Arc::new(Shared {
            prefix: Arc::from(prefix),
            registry: Mutex::new(Registry::new(&opts)),
            seq: AtomicU64::new(0),
        });
        let (ready_tx, ready) = watch::channel(false);
        let task = tokio::spawn(run(shared.clone(), client, ready_tx));
        tracing::info!(prefix, "replay session feed started");
        Self {
            shared,
            ready,
            _task: TaskGuard(task.abort_handle()),
        }
    }

    /// Waits (at most `timeout`) until the NATS subscription is in place;
    /// returns whether it is.
    pub(super) async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.clone();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for ReplayFeed {
    fn drop(&mut self) {
        tracing::info!(
            prefix = &*self.shared.prefix,
            "replay session feed stopped (no client left)"
        );
    }
}

/// Subscribes (again, with backoff, if that fails or the subscription ends)
/// and fans every message out; runs until aborted.
async fn run(shared: Arc<Shared>, client: async_nats::Client, ready: watch::Sender<bool>) {
    let subject = format!("{}.md.enriched.>", shared.prefix);
    let strip = format!("{}.", shared.prefix);
    // The last chain of each key, for delta frames.
    let mut chains: HashMap<Arc<str>, Arc<Update>> = HashMap::new();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        match client.subscribe(subject.clone()).await {
            Ok(mut sub) => {
                // Clients are told they are subscribed only once the server has
                // the SUB: `flush` only writes it, but the server handles one
                // connection's operations in order, so the answer to a request
                // sent after it (a stream info the gateway may read) proves it.
                let probe = format!("$JS.API.STREAM.INFO.{STREAM_ENRICHED}");
                if let Err(e) = client.request(probe, bytes::Bytes::new()).await {
                    tracing::debug!(error = %e, "round trip after the replay subscription");
                }
                ready.send_replace(true);
                backoff.reset();
                while let Some(m) = sub.next().await {
                    let Some(live_subject) = m.subject.as_str().strip_prefix(&strip) else {
                        continue;
                    };
                    let schema = ds_runtime::headers::schema(m.headers.as_ref());
                    let seq = shared.seq.load(Ordering::Relaxed) + 1;
                    let rendered = Enriched::decode(schema, live_subject, &m.payload)
                        .map_err(|e| e.to_string())
                        .and_then(|e| render::update(e, seq).map_err(|e| e.to_string()));
                    match rendered {
                        Ok(mut u) => {
                            shared.seq.store(seq, Ordering::Relaxed);
                            if u.event == Event::ChainUpdate {
                                u.delta = chains.get(&u.key).and_then(|p| delta::between(p, &u));
                            }
                            let u = Arc::new(u);
                            if u.event == Event::ChainUpdate {
                                chains.insert(u.key.clone(), u.clone());
                            }
                            dispatch(&shared.registry(), &u);
                        }
                        Err(e) => tracing::warn!(
                            subject = m.subject.as_str(),
                            error = %e,
                            "skipping an undecodable or unrenderable replayed message"
                        ),
                    }
                }
                tracing::warn!(subject, "replay subscription ended; resubscribing");
            }
            Err(e) => tracing::warn!(subject, error = %e, "cannot subscribe to a replay session"),
        }
        ready.send_replace(false);
        backoff.sleep().await;
    }
}
