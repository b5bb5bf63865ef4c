//! Re-publishing replayed enriched messages on core NATS under a prefix
//! (`<prefix>.md.enriched.<P>.…`, same payloads and headers as live), so a
//! dashboard or a backtest can consume a day as if live. Core NATS, not
//! JetStream: nothing is stored, the live streams (`md.>`) never capture these
//! subjects, and no live consumer sees them. A subscriber that falls behind may
//! lose messages (core NATS semantics); pace the replay (`--speed`) for slow ones.

use super::ReplayError;
use ds_runtime::headers::EnrichedHeaders as _;
use ds_schemas::enriched::Enriched;

/// A default prefix for `date`: `replay.<YYYYMMDD>-<unique>`.
pub fn default_prefix(date: chrono::NaiveDate, unique: u64) -> String {
    format!("replay.{}-{:x}", date.format("%Y%m%d"), unique & 0xff_ffff)
}

/// Publishes under a prefix.
#[derive(Clone)]
pub struct Publisher {
    client: async_nats::Client,
    prefix: String,
    /// The connection's identity, for its permission violations.
    identity: String,
}

impl Publisher {
    /// A publisher on `client` under `prefix` (validated by the caller).
    pub fn new(client: async_nats::Client, prefix: String) -> Self {
        let identity = ds_runtime::auth::violations::prefix_of(&client);
        Self {
            client,
            prefix,
            identity,
        }
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
        let subject = self.subject(e);
        // Core NATS has no ack: a subject the server refused (permissions) is
        // known from its error report; stop instead of publishing into the void.
        if let Some(v) = ds_runtime::auth::violations::first_denied_publish(&self.identity) {
            return Err(ReplayError::nats(v.to_string()));
        }
        self.client
            .publish_with_headers(subject, e.headers(source_seq), e.encode())
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
    fn default_prefixes_are_valid_replay_prefixes() {
        for unique in [0, 0xabc, u64::MAX] {
            let p = default_prefix(chrono::NaiveDate::MIN, unique);
            assert!(
                ds_schemas::subjects::validate_replay_prefix(&p).is_ok(),
                "{p}"
            );
        }
    }
}
