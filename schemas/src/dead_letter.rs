//! Dead letters (`MD_DLQ`, SPEC §2/§5): the one builder of a [`DeadLetter`]
//! from the message a processor gives up on and the reason, and the subject and
//! deterministic id it is published with, and the re-drive request and reply
//! on [`subjects::DLQ_RETRY`]. Publishing, listing and re-driving are I/O:
//! `ds_runtime::dlq`.

use crate::subjects::{self, product_or_unknown};
use crate::{DeadLetter, Schema};
use serde::{Deserialize, Serialize};

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

/// The body of a re-drive request on [`subjects::DLQ_RETRY`]: the `MD_DLQ`
/// sequence of the entry, in decimal. It names an entry, never bytes or a
/// subject, so whoever may ask can re-drive what is dead-lettered but not
/// write anything else.
pub fn retry_request(dlq_seq: u64) -> Vec<u8> {
    dlq_seq.to_string().into_bytes()
}

/// The sequence a re-drive request names (`None`: not a request).
pub fn parse_retry_request(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body).ok()?.trim().parse().ok()
}

/// The answer to a re-drive request (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetryReply {
    /// Re-published on its original subject and removed from `MD_DLQ`.
    Republished {
        /// The entry asked for.
        dlq_seq: u64,
        /// Its new sequence in the stream it was re-published on.
        republished_seq: u64,
    },
    /// No entry with that sequence.
    NotFound {
        /// The entry asked for.
        dlq_seq: u64,
    },
    /// The re-drive failed (the entry is kept), or the request was malformed.
    Failed {
        /// The entry asked for (0 for a malformed request).
        dlq_seq: u64,
        /// Why.
        error: String,
    },
}

impl RetryReply {
    /// Its JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // A plain enum of integers and strings always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an answer.
    ///
    /// # Errors
    /// When `body` is not one.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("unreadable re-drive answer: {e}"))
    }
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

    #[test]
    fn retry_requests_and_replies_round_trip() {
        assert_eq!(parse_retry_request(&retry_request(42)), Some(42));
        assert_eq!(parse_retry_request(b" 7\n"), Some(7));
        assert_eq!(parse_retry_request(b"md.raw.X.underlying"), None);
        for r in [
            RetryReply::Republished {
                dlq_seq: 1,
                republished_seq: 9,
            },
            RetryReply::NotFound { dlq_seq: 2 },
            RetryReply::Failed {
                dlq_seq: 3,
                error: "no".into(),
            },
        ] {
            assert_eq!(RetryReply::from_json(&r.to_json()), Ok(r));
        }
        assert_eq!(
            String::from_utf8(RetryReply::NotFound { dlq_seq: 2 }.to_json()).ok(),
            Some(r#"{"outcome":"not_found","dlq_seq":2}"#.to_owned())
        );
        assert!(RetryReply::from_json(b"{}").is_err());
    }
}
