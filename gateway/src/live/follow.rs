//! The one consumer of `MD_ENRICHED` per gateway process: seeds the latest values
//! from the stream, then follows new messages with an ordered push consumer,
//! rebuilding it with backoff when NATS or the stream goes away.

use super::delta;
use super::render;
use super::shared::Shared;
use super::update::{Event, Update};
use async_nats::jetstream::consumer::{push, DeliverPolicy};
use async_nats::jetstream::stream::Stream as JsStream;
use async_nats::jetstream::Context;
use ds_runtime::backoff::Backoff;
use ds_schemas::enriched::Enriched;
use ds_schemas::subjects::{ALL_ENRICHED, STREAM_ENRICHED};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Last-message look-ups in flight while seeding.
const SEED_CONCURRENCY: usize = 16;

/// Decodes a message of `MD_ENRICHED`; `None` (logged) when it is not one.
pub(crate) fn decode(
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
    seq: u64,
) -> Option<Update> {
    let rendered = Enriched::decode(ds_runtime::headers::schema(headers), subject, payload)
        .map_err(|e| e.to_string())
        .and_then(|m| render::update(m, seq).map_err(|e| e.to_string()));
    match rendered {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!(subject, seq, error = %e, "skipping an undecodable or unrenderable message of MD_ENRICHED");
            None
        }
    }
}

/// Runs until aborted (when the last `Live` handle is dropped).
pub(super) async fn run(shared: Arc<Shared>, js: Context, ready: watch::Sender<bool>) {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut seeded = false;
    loop {
        let result = follow(&shared, &js, &mut seeded, &ready, &mut backoff).await;
        match result {
            Ok(()) => tracing::warn!("live feed of MD_ENRICHED ended; resubscribing"),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.current().as_millis() as u64, "live feed of MD_ENRICHED failed; retrying")
            }
        }
        backoff.sleep().await;
    }
}

async fn follow(
    shared: &Shared,
    js: &Context,
    seeded: &mut bool,
    ready: &watch::Sender<bool>,
    backoff: &mut Backoff,
) -> anyhow::Result<()> {
    let stream = js.get_stream(STREAM_ENRICHED).await?;
    if !*seeded {
        let n = seed(shared, &stream).await?;
        *seeded = true;
        let _ = ready.send(true);
        tracing::info!(
            values = n,
            applied_seq = shared.read().applied_seq,
            "live values seeded from MD_ENRICHED"
        );
    }
    let start = shared.read().applied_seq + 1;
    let consumer = stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: ALL_ENRICHED.into(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    backoff.reset();
    while let Some(m) = messages.next().await {
        let m = m?;
        let seq = match m.info() {
            Ok(i) => i.stream_sequence,
            Err(e) => {
                tracing::warn!(error = %e, "message of MD_ENRICHED without JetStream metadata");
                continue;
            }
        };
        if seq <= shared.read().applied_seq {
            continue; // already reflected (a consumer reset re-delivers)
        }
        let update =
            decode(m.subject.as_str(), m.headers.as_ref(), &m.payload, seq).map(|mut u| {
                u.trace = ds_runtime::telemetry::remote(m.headers.as_ref());
                if u.event == Event::ChainUpdate {
                    // Only this task writes the latest values: the previous
                    // chain read here is still the latest when this one lands.
                    let prev = shared.read().chain(&u.product, &u.sub).cloned();
                    u.delta = prev.and_then(|p| delta::between(&p, &u));
                }
                Arc::new(u)
            });
        {
            let mut latest = shared.write();
            if let Some(u) = &update {
                latest.apply(u);
            }
            latest.applied_seq = seq;
        }
        if let Some(u) = update {
            // No receiver (no WebSocket hub yet) is fine.
            let _ = shared.tx.send(u);
        }
    }
    Ok(())
}

/// Loads the last message of every enriched subject (and the summary that
/// follows each latest chain) as of the stream's current last sequence, which
/// becomes `applied_seq`. Values newer than that cut are left to the consumer,
/// so the latest values always reflect a prefix of the stream.
async fn seed(shared: &Shared, stream: &JsStream) -> anyhow::Result<usize> {
    let mut info = stream.info_with_subjects(ALL_ENRICHED).await?;
    let cut = info.info.state.last_sequence;
    let mut subjects = Vec::new();
    while let Some((subject, _count)) = info.try_next().await? {
        subjects.push(subject);
    }
    let lasts: Vec<Update> = futures::stream::iter(subjects)
        .map(|subject| async move { last_of(stream, &subject, None).await })
        .buffer_unordered(SEED_CONCURRENCY)
        .filter_map(|u| async move { u.filter(|u| u.value.seq <= cut) })
        .collect()
        .await;
    // A subject's last summary is only for one expiry: take the summary published
    // right after each latest chain for the others.
    let chains: Vec<(String, String, u64)> = lasts
        .iter()
        .filter(|u| u.event == Event::ChainUpdate)
        .map(|u| (u.product.clone(), u.sub.clone(), u.value.seq))
        .collect();
    let summaries: Vec<Update> = futures::stream::iter(chains)
        .map(|(product, expiry, seq)| async move {
            let subject = ds_schemas::subjects::enriched_summary(&product);
            last_of(stream, &subject, Some(seq + 1))
                .await
                .filter(|u| u.sub == expiry && u.value.seq <= cut)
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .filter_map(|u| async move { u })
        .collect()
        .await;
    let mut latest = shared.write();
    let n = lasts.len() + summaries.len();
    for u in lasts.into_iter().chain(summaries) {
        latest.apply(&Arc::new(u));
    }
    latest.applied_seq = latest.applied_seq.max(cut);
    Ok(n)
}

/// The last message on `subject`, or with `from`, the first at or after that
/// sequence; `None` when there is none or it cannot be read (logged).
async fn last_of(stream: &JsStream, subject: &str, from: Option<u64>) -> Option<Update> {
    let req = stream.raw_message_builder();
    let req = match from {
        Some(seq) => req.sequence(seq).next_by_subject(subject),
        None => req.last_by_subject(subject),
    };
    match req.send().await {
        Ok(m) => decode(m.subject.as_str(), Some(&m.headers), &m.payload, m.sequence),
        Err(e) => {
            if e.kind() != async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound {
                tracing::warn!(subject, error = %e, "cannot read the last message of a subject");
            }
            None
        }
    }
}
