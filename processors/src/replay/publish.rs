//! Re-publishing replayed enriched messages on core NATS under a prefix
//! (`<prefix>.md.enriched.<P>.…`, same payloads and headers as live), so a
//! dashboard or a backtest can consume a day as if live. Core NATS, not
//! JetStream: nothing is stored, the live streams (`md.>`) never capture these
//! subjects, and no live consumer sees them. A subscriber that falls behind may
//! lose messages (core NATS semantics); pace the replay (`--speed`) for slow ones.

use super::ReplayError;
use crate::enriched::Enriched;
use ds_runtime::headers::EnrichedHeaders as _;

/// The one replay-prefix validator of the contract (shim, removed after merge).
pub use ds_schemas::subjects::validate_replay_prefix as validate_prefix;

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
