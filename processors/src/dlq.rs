//! The dead-letter queue (`MD_DLQ`): what a processor cannot handle goes there as a
//! `DeadLetter` with the reason and the original bytes; operators list, inspect and
//! re-drive entries (`deltastream dlq list|show|retry`).

use anyhow::Context as _;
use async_nats::jetstream::Context;
use ds_runtime::publish::Publisher;
use ds_runtime::subjects::{self, product_or_unknown};
use ds_schemas::{DeadLetter, Schema};
use serde::Serialize;

/// Where a message a processor gives up on came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The processor giving up (`enrich`, `project`).
    pub processor: &'a str,
    /// The stream it was read from.
    pub stream: &'a str,
    /// Its subject.
    pub subject: &'a str,
    /// Its stream sequence.
    pub stream_seq: u64,
    /// Its `Ds-Schema` header, if any.
    pub schema: Option<&'a str>,
    /// Its bytes.
    pub payload: &'a [u8],
}

/// Builds the dead letter for `source`, failed for `error` after `deliveries`.
pub fn letter(
    source: Source<'_>,
    error: &str,
    deliveries: u64,
    failed_at_unix_ns: i64,
) -> DeadLetter {
    DeadLetter {
        processor: source.processor.to_owned(),
        subject: source.subject.to_owned(),
        stream_seq: source.stream_seq,
        payload: source.payload.to_vec(),
        error: error.to_owned(),
        deliveries,
        failed_at_unix_ns,
        stream: source.stream.to_owned(),
        schema: source.schema.unwrap_or_default().to_owned(),
    }
}

/// Publishes `letter` on `md.dlq.<processor>.<product>` (product `_` when the
/// subject has none) with a deterministic id, so a retried dead-lettering is
/// stored once.
///
/// # Errors
/// When the publish fails.
pub async fn publish(publisher: &mut Publisher, letter: &DeadLetter) -> ds_runtime::Result<()> {
    let subject = subjects::dlq(&letter.processor, product_or_unknown(&letter.subject));
    let id = format!(
        "{}:{}:{}:{}",
        DeadLetter::SHORT,
        letter.processor,
        letter.stream,
        letter.stream_seq
    );
    tracing::warn!(
        processor = %letter.processor,
        subject = %letter.subject,
        stream_seq = letter.stream_seq,
        error = %letter.error,
        "dead-lettered"
    );
    ds_runtime::metrics::metrics()
        .dead_lettered
        .with_label_values(&[&letter.processor, reason_class(&letter.error)])
        .inc();
    publisher.publish(subject, &id, letter).await
}

/// A bounded label for the metrics: the first word class of the reason.
fn reason_class(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("undecodable") || e.contains("ds-schema") {
        "undecodable"
    } else if e.contains("malformed subject") {
        "subject"
    } else if e.contains("unknown product") {
        "unknown_product"
    } else if e.contains("mismatch") || e.contains("length") {
        "length_mismatch"
    } else if e.contains("finite")
        || e.contains("range")
        || e.contains("negative")
        || e.contains("positive")
    {
        "invalid_value"
    } else if e.contains("failed") {
        "retries_exhausted"
    } else {
        "other"
    }
}

/// One DLQ entry as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its sequence in `MD_DLQ` (what `show` and `retry` take).
    pub dlq_seq: u64,
    /// The DLQ subject.
    pub dlq_subject: String,
    /// The dead letter.
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// Every entry of `MD_DLQ`, oldest first, at most `limit`.
///
/// # Errors
/// When `MD_DLQ` is missing or an entry does not decode.
pub async fn list(js: &Context, limit: usize) -> anyhow::Result<Vec<Entry>> {
    let mut stream = js
        .get_stream(subjects::STREAM_DLQ)
        .await
        .context("MD_DLQ is missing; run `deltastream topology apply`")?;
    let info = stream.info().await.context("MD_DLQ info")?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    let mut seq = first;
    while seq <= last && out.len() < limit {
        match stream
            .raw_message_builder()
            .next_by_subject("md.dlq.>")
            .sequence(seq)
            .send()
            .await
        {
            Ok(m) => {
                seq = m.sequence + 1;
                out.push(decode_entry(m)?);
            }
            Err(_) => break,
        }
    }
    Ok(out)
}

fn decode_entry(m: async_nats::jetstream::message::StreamMessage) -> anyhow::Result<Entry> {
    let letter: DeadLetter = ds_runtime::headers::decode(Some(&m.headers), &m.payload)
        .with_context(|| format!("DLQ entry {}", m.sequence))?;
    Ok(Entry {
        dlq_seq: m.sequence,
        dlq_subject: m.subject.to_string(),
        letter,
    })
}

/// The entry at `dlq_seq`.
///
/// # Errors
/// When there is none.
pub async fn show(js: &Context, dlq_seq: u64) -> anyhow::Result<Entry> {
    let stream = js
        .get_stream(subjects::STREAM_DLQ)
        .await
        .context("MD_DLQ is missing; run `deltastream topology apply`")?;
    let m = stream
        .get_raw_message(dlq_seq)
        .await
        .with_context(|| format!("no DLQ entry with sequence {dlq_seq}"))?;
    decode_entry(m)
}

/// Re-drives the entry at `dlq_seq`: publishes its original bytes again on its
/// original subject (with a new `Nats-Msg-Id`, so it is not taken for a duplicate),
/// then removes it from the DLQ. Returns the new stream sequence.
///
/// # Errors
/// When there is no such entry or the publish fails (the entry is kept then).
pub async fn retry(js: &Context, dlq_seq: u64) -> anyhow::Result<u64> {
    let entry = show(js, dlq_seq).await?;
    let l = &entry.letter;
    let mut headers = async_nats::HeaderMap::new();
    if !l.schema.is_empty() {
        headers.insert(ds_schemas::SCHEMA_HEADER, l.schema.as_str());
    }
    headers.insert(
        ds_runtime::headers::MSG_ID_HEADER,
        format!("retry:{}:{}:{dlq_seq}", l.stream, l.stream_seq).as_str(),
    );
    let ack = js
        .publish_with_headers(l.subject.clone(), headers, l.payload.clone().into())
        .await
        .context("re-publishing")?
        .await
        .context("re-publishing")?;
    let stream = js
        .get_stream(subjects::STREAM_DLQ)
        .await
        .context("MD_DLQ is missing")?;
    stream.delete_message(dlq_seq).await.with_context(|| {
        format!(
            "re-driven as {} seq {}, but removing DLQ entry {dlq_seq} failed",
            ack.stream, ack.sequence
        )
    })?;
    Ok(ack.sequence)
}
