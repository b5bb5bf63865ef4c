//! Re-publishing replayed enriched messages on core NATS under a prefix
//! (`<prefix>.md.enriched.<P>.…`, same payloads and headers as live), so a
//! dashboard or a backtest can consume a day as if live. Core NATS, not
//! JetStream: nothing is stored, the live streams (`md.>`) never capture these
//! subjects, and no live consumer sees them. A subscriber that falls behind may
//! lose messages (core NATS semantics); pace the replay (`--speed`) for slow ones.

use super::ReplayError;
use crate::enriched::Enriched;

/// Checks that `prefix` is a literal subject outside the live namespace.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("publish prefix {prefix:?} {why}"));
    if prefix.is_empty() {
        return bad("is empty");
    }
    for token in prefix.split('.') {
        if token.is_empty() {
            return bad("has an empty token");
        }
        if token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        {
            return bad("must be a literal subject (no spaces or wildcards)");
        }
    }
    let first = prefix.split('.').next().unwrap_or("");
    if first == "md" || first.starts_with('$') || first == "_INBOX" {
        return bad("would land in the live or system namespace (md.*, $*, _INBOX.*)");
    }
    Ok(())
}

/// A default prefix for `date`: `replay.<YYYYMMDD>-<unique>`.
pub fn default_prefix(date: chrono::NaiveDate, unique: u64) -> String {
    format!("replay.{}-{:x}", date.format("%Y%m%d"), unique & 0xff_ffff)
}

/// Publishes under a prefix.
#[derive(Clone)]
pub struct Publisher {
    client: async_nats::Client,
    prefix: String,
}

impl Publisher {
    /// A publisher on `client` under `prefix` (validated by the caller).
    pub fn new(client: async_nats::Client, prefix: String) -> Self {
        Self { client, prefix }
    }

    /// The subject `e` is re-published on.
    pub fn subject(&self, e: &Enriched) -> String {
        format!("{}.{}", self.prefix, e.subject())
    }

    /// Publishes `e` (produced by the raw message at `source_seq`) with its
    /// `Ds-Schema` and `Nats-Msg-Id` headers.
    ///
    /// # Errors
    /// When the client cannot send.
    pub async fn publish(&self, e: &Enriched, source_seq: u64) -> Result<(), ReplayError> {
        self.client
            .publish_with_headers(self.subject(e), e.headers(source_seq), e.encode())
            .await
            .map_err(|err| ReplayError::nats(format!("publishing replay: {err}")))
    }

    /// Waits until everything published has reached the server.
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn flush(&self) -> Result<(), ReplayError> {
        self.client
            .flush()
            .await
            .map_err(|e| ReplayError::nats(format!("flushing replay: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(validate_prefix("replay.demo").is_ok());
        assert!(validate_prefix(&default_prefix(chrono::NaiveDate::MIN, 0xabc)).is_ok());
        for p in [
            "",
            "md.x",
            "replay..x",
            "replay.*",
            "replay.>",
            "a b",
            "$JS.x",
            "_INBOX.y",
        ] {
            assert!(validate_prefix(p).is_err(), "{p}");
        }
    }
}
