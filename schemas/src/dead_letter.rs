//! Dead letters (`MD_DLQ`, SPEC §2/§5): the one builder of a [`DeadLetter`]
//! from the message a processor gives up on and the reason, and the subject and
//! deterministic id it is published with. Publishing, listing and re-driving
//! are I/O: `ds_runtime::dlq`.

use crate::subjects::{self, product_or_unknown};
use crate::{DeadLetter, Schema};

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

/// `md.dlq.<processor>.<product>` (product `_` when the original subject has none).
pub fn subject(letter: &DeadLetter) -> String {
    subjects::dlq(&letter.processor, product_or_unknown(&letter.subject))
}

/// The deterministic `Nats-Msg-Id` of `letter`, so a retried dead-lettering is
/// stored once: `DeadLetter:<processor>:<stream>:<stream_seq>`.
pub fn msg_id(letter: &DeadLetter) -> String {
    format!(
        "{}:{}:{}:{}",
        DeadLetter::SHORT,
        letter.processor,
        letter.stream,
        letter.stream_seq
    )
}

/// The `Nats-Msg-Id` of the re-drive of DLQ entry `dlq_seq`: new, so JetStream
/// does not take the original message's second publish for a duplicate.
pub fn retry_msg_id(letter: &DeadLetter, dlq_seq: u64) -> String {
    format!("retry:{}:{}:{dlq_seq}", letter.stream, letter.stream_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_routes_and_names_a_letter() {
        let l = letter(
            Source {
                processor: "enrich",
                stream: "MD_RAW",
                subject: "md.raw.nifty.underlying",
                stream_seq: 7,
                schema: None,
                payload: b"x",
            },
            "malformed subject",
            3,
            9,
        );
        assert_eq!(l.schema, "");
        assert_eq!(subject(&l), "md.dlq.enrich._");
        assert_eq!(msg_id(&l), "DeadLetter:enrich:MD_RAW:7");
        assert_eq!(retry_msg_id(&l, 4), "retry:MD_RAW:7:4");
    }
}
