//! The WebSocket bridge's limits, with their defaults.

use std::time::Duration;

/// Limits of the WebSocket bridge.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// Outside development mode, a socket not authenticated within this is
    /// closed with 4401.
    pub auth_timeout: Duration,
    /// With this many frames pending for a client, a new update replaces the
    /// pending one of the same key (latest-value conflation).
    pub conflate_after: usize,
    /// A client with more frames pending is disconnected (1008).
    pub max_pending: usize,
    /// A client whose writer made no progress for this long while frames wait
    /// is disconnected (1008).
    pub stall_timeout: Duration,
    /// A resume (`since_seq`) needing more messages than this gets `resync` +
    /// snapshot.
    pub max_resume: u64,
    /// How long sending a close frame may take.
    pub close_timeout: Duration,
    /// Largest message a client may send.
    pub max_message_size: usize,
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(5),
            conflate_after: 64,
            max_pending: 1000,
            stall_timeout: Duration::from_secs(10),
            max_resume: 20_000,
            close_timeout: Duration::from_secs(5),
            max_message_size: 64 * 1024,
        }
    }
}
