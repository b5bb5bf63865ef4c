//! Where `sub` reads from: one ordered JetStream consumer per stream that
//! holds the subjects, or plain core-NATS subscriptions; merged into one
//! stream of deliveries.

use super::since::Since;
use super::subjects::filter_in;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, Context};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

/// A message as read.
#[derive(Debug)]
pub struct Delivery {
    /// Its subject.
    pub subject: String,
    /// The stream it is stored in (JetStream reads only).
    pub stream: Option<String>,
    /// Its sequence in that stream.
    pub seq: Option<u64>,
    /// Its headers.
    pub headers: Option<HeaderMap>,
    /// Its bytes.
    pub payload: Bytes,
}

/// Deliveries in the order they arrive.
pub type Deliveries = BoxStream<'static, anyhow::Result<Delivery>>;

/// Core-NATS subscriptions to `subjects` (live only).
///
/// # Errors
/// When subscribing fails.
pub async fn core(client: &async_nats::Client, subjects: &[String]) -> anyhow::Result<Deliveries> {
    let mut subs = Vec::with_capacity(subjects.len());
    for s in subjects {
        let sub = client.subscribe(s.clone()).await?;
        subs.push(sub.map(|m| {
            Ok(Delivery {
                subject: m.subject.to_string(),
                stream: None,
                seq: None,
                headers: m.headers,
                payload: m.payload,
            })
        }));
    }
    Ok(futures::stream::select_all(subs).boxed())
}

/// An ordered consumer on each stream that holds some of `subjects`, starting
/// at `since` (default: new messages only).
///
/// # Errors
/// When a subject is in no stream, or JetStream refuses a consumer.
pub async fn jetstream(
    js: &Context,
    subjects: &[String],
    since: Option<Since>,
) -> anyhow::Result<Deliveries> {
    let streams: Vec<jetstream::stream::Info> = js.streams().try_collect().await?;
    for s in subjects {
        if !streams
            .iter()
            .any(|i| !filter_in(s, &i.config.subjects).is_empty())
        {
            let names: Vec<&str> = streams.iter().map(|i| i.config.name.as_str()).collect();
            anyhow::bail!(
                "no stream holds {s} (streams: {}); for core NATS subjects use --core",
                names.join(", ")
            );
        }
    }
    let deliver_policy = deliver_policy(since)?;
    let mut reads = Vec::new();
    for info in &streams {
        let filters: Vec<String> = subjects
            .iter()
            .flat_map(|s| filter_in(s, &info.config.subjects))
            .collect();
        if !filters.is_empty() {
            reads.push(ordered(js, &info.config.name, filters, deliver_policy).await?);
        }
    }
    Ok(futures::stream::select_all(reads).boxed())
}

/// The deliver policy of `--since`.
fn deliver_policy(since: Option<Since>) -> anyhow::Result<DeliverPolicy> {
    Ok(match since {
        None => DeliverPolicy::New,
        Some(Since::Seq(start_sequence)) => DeliverPolicy::ByStartSequence { start_sequence },
        Some(Since::Time(ns)) => DeliverPolicy::ByStartTime {
            start_time: async_nats::datetime::from_nanos(i128::from(ns))
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
        },
    })
}

/// An ordered consumer on `stream` reading `filters`.
async fn ordered(
    js: &Context,
    stream: &str,
    mut filters: Vec<String>,
    deliver_policy: DeliverPolicy,
) -> anyhow::Result<Deliveries> {
    let s = js.get_stream(stream).await?;
    // One filter works on any server; several need 2.10+.
    let (filter_subject, filter_subjects) = if filters.len() == 1 {
        (filters.remove(0), Vec::new())
    } else {
        (String::new(), filters)
    };
    let messages = s
        .create_consumer(pull::OrderedConfig {
            filter_subject,
            filter_subjects,
            deliver_policy,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let stream = stream.to_owned();
    Ok(messages
        .map(move |m| {
            let m = m?;
            let seq = m.info().ok().map(|i| i.stream_sequence);
            let m = m.message;
            Ok(Delivery {
                subject: m.subject.to_string(),
                stream: Some(stream.clone()),
                seq,
                headers: m.headers,
                payload: m.payload,
            })
        })
        .boxed())
}
