//! The guard partition (`_`): dead-letters raw messages that no product partition
//! receives, i.e. those whose subject names no configured product or is too short
//! to be a raw subject (`md.raw.FOO.underlying`, `md.raw.nifty.chain.x`, `md.raw.X`).
//!
//! Multi-filter consumers do not exist on nats-server 2.9, so rather than reading
//! every raw message a second time, it lists `MD_RAW`'s subjects every few seconds
//! (a handful per product) and reads only the unclaimed ones, remembering per
//! subject the last sequence it dead-lettered (checkpointed like a partition).

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::enrich::partition::{Exit, PROCESSOR};
use crate::time::now_unix_ns;
use anyhow::Context as _;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::Context;
use ds_runtime::dlq;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::dead_letter;
use ds_schemas::subjects;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The partition name of the guard.
pub const PARTITION: &str = subjects::UNKNOWN_PRODUCT;
/// How often the subjects are listed.
pub const SCAN_EVERY: Duration = Duration::from_secs(3);

/// Why no product partition takes `subject`, or `None` when one does.
pub fn unclaimed_reason(subject: &str, products: &BTreeSet<String>) -> Option<String> {
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.len() < 4 {
        return Some(format!("malformed subject {subject:?}: too few tokens"));
    }
    let product = tokens[2];
    if !subjects::is_product_token(product) {
        return Some(format!(
            "malformed subject {subject:?}: product token is not [A-Z0-9_]+"
        ));
    }
    if !products.contains(product) {
        return Some(format!("unknown product {product}"));
    }
    None
}

/// Runs the guard until stopped or fenced.
///
/// # Errors
/// Transient NATS failures (the caller retries).
pub async fn run(
    js: &Context,
    products: &BTreeSet<String>,
    stop: &mut Shutdown,
) -> anyhow::Result<Exit> {
    let key = format!("{PROCESSOR}.{PARTITION}");
    let (mut ckpt, seen) = Checkpoint::open::<BTreeMap<String, u64>>(js, &key).await?;
    let mut guard = Guard {
        stream: js
            .get_stream(subjects::STREAM_RAW)
            .await
            .context("MD_RAW is missing; run `deltastream topology apply`")?,
        publisher: Publisher::new(js.clone(), 256),
        seen: seen.unwrap_or_default(),
    };
    let mut every = tokio::time::interval(SCAN_EVERY);
    loop {
        tokio::select! {
            _ = stop.wait() => return Ok(Exit::Stopped),
            _ = every.tick() => {}
        }
        let mut changed = false;
        for (subject, reason) in guard.unclaimed(products).await? {
            changed |= guard.dead_letter(&subject, &reason).await?;
        }
        if changed {
            guard.publisher.flush().await?;
            match ckpt.save(&guard.seen).await {
                Ok(()) => {}
                Err(CheckpointError::Fenced(_)) => return Ok(Exit::Fenced),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The guard's scan state: per unclaimed subject, the last sequence dead-lettered.
struct Guard {
    stream: Stream,
    publisher: Publisher,
    seen: BTreeMap<String, u64>,
}

impl Guard {
    /// The subjects of `MD_RAW` no product partition takes, with the reason.
    async fn unclaimed(
        &self,
        products: &BTreeSet<String>,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut listing = self
            .stream
            .info_builder()
            .subjects(ds_schemas::subjects::ALL_RAW)
            .fetch()
            .await
            .context("listing MD_RAW subjects")?;
        let mut bad = Vec::new();
        while let Some(item) = listing.next().await {
            let (subject, _count) = item.context("listing MD_RAW subjects")?;
            if let Some(reason) = unclaimed_reason(&subject, products) {
                bad.push((subject, reason));
            }
        }
        Ok(bad)
    }

    /// Dead-letters the messages of `subject` not dead-lettered yet (at most
    /// 1000 a round, so a flood cannot starve the stop signal). Returns whether
    /// there were any.
    async fn dead_letter(&mut self, subject: &str, reason: &str) -> anyhow::Result<bool> {
        let mut next = self.seen.get(subject).map_or(1, |s| s + 1);
        let mut any = false;
        for _ in 0..1000 {
            let Ok(m) = self
                .stream
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(subject.to_owned())
                .send()
                .await
            else {
                break;
            };
            let schema = m
                .headers
                .get(ds_schemas::SCHEMA_HEADER)
                .map(|v| v.as_str().to_owned());
            let letter = dead_letter::letter(
                dead_letter::Source {
                    processor: PROCESSOR,
                    stream: subjects::STREAM_RAW,
                    subject,
                    stream_seq: m.sequence,
                    schema: schema.as_deref(),
                    payload: &m.payload,
                },
                reason,
                1,
                now_unix_ns(),
            );
            dlq::publish(&mut self.publisher, &letter).await?;
            self.seen.insert(subject.to_owned(), m.sequence);
            next = m.sequence + 1;
            any = true;
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims() {
        let p: BTreeSet<String> = ["NIFTY".to_string()].into();
        assert_eq!(unclaimed_reason("md.raw.NIFTY.underlying", &p), None);
        assert_eq!(unclaimed_reason("md.raw.NIFTY.whatever", &p), None);
        assert!(unclaimed_reason("md.raw.FOO.underlying", &p)
            .is_some_and(|r| r.contains("unknown product FOO")));
        assert!(unclaimed_reason("md.raw.nifty.underlying", &p)
            .is_some_and(|r| r.contains("malformed")));
        assert!(unclaimed_reason("md.raw.NIFTY", &p).is_some_and(|r| r.contains("too few")));
    }
}
