//! The dead-letter queue (`MD_DLQ`) as I/O: publishing a dead letter (built by
//! [`ds_schemas::dead_letter::letter`]) with its metric and log line, and what
//! operators do with entries — list, inspect and re-drive them (`deltastream dlq
//! list|show|retry`, the gateway's `/api/v1/admin/dlq`).

use crate::publish::Publisher;
use anyhow::Context as _;
use async_nats::jetstream::Context;
use ds_schemas::dead_letter;
use ds_schemas::subjects;
use ds_schemas::DeadLetter;
use serde::Serialize;

/// Publishes `letter` on `md.dlq.<processor>.<product>` (product `_` when the
/// subject has none) with a deterministic id, so a retried dead-lettering is
/// stored once.
///
/// # Errors
/// When the publish fails.
pub async fn publish(publisher: &mut Publisher, letter: &DeadLetter) -> crate::Result<()> {
    let subject = dead_letter::subject(letter);
    let id = dead_letter::msg_id(letter);
    tracing::warn!(
        processor = %letter.processor,
        subject = %letter.subject,
        stream_seq = letter.stream_seq,
        error = %letter.error,
        "dead-lettered"
    );
    crate::metrics::metrics()
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
            .next_by_subject(subjects::ALL_DLQ)
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
    let letter: DeadLetter = crate::headers::decode(Some(&m.headers), &m.payload)
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
        headers.insert(crate::headers::SCHEMA_HEADER, l.schema.as_str());
    }
    headers.insert(
        crate::headers::MSG_ID_HEADER,
        dead_letter::retry_msg_id(l, dlq_seq).as_str(),
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

/// Why a re-drive request failed.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No entry with that sequence.
    #[error("no DLQ entry with sequence {0}")]
    NotFound(u64),
    /// No responder is running (it runs inside `deltastream enrich`).
    #[error("no DLQ re-drive responder is running (it runs inside `deltastream enrich`, with DS_NATS_REDRIVE_CREDS on a bus with users)")]
    NoResponder,
    /// The responder tried and failed, or could not be asked.
    #[error("re-drive failed: {0}")]
    Failed(String),
}

/// Asks a re-drive responder (on [`subjects::DLQ_RETRY`]) to re-drive the
/// entry at `dlq_seq`, for a caller that may not write the log itself (the
/// gateway); returns its new sequence.
///
/// # Errors
/// [`RetryError`], by what the caller can do about it.
pub async fn request_retry(client: &async_nats::Client, dlq_seq: u64) -> Result<u64, RetryError> {
    let answer = client
        .request(
            subjects::DLQ_RETRY,
            dead_letter::retry_request(dlq_seq).into(),
        )
        .await
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => RetryError::NoResponder,
            _ => RetryError::Failed(e.to_string()),
        })?;
    match dead_letter::RetryReply::from_json(&answer.payload).map_err(RetryError::Failed)? {
        dead_letter::RetryReply::Republished {
            republished_seq, ..
        } => Ok(republished_seq),
        dead_letter::RetryReply::NotFound { .. } => Err(RetryError::NotFound(dlq_seq)),
        dead_letter::RetryReply::Failed { error, .. } => Err(RetryError::Failed(error)),
    }
}
