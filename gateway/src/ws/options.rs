//! The WebSocket bridge's limits, with their defaults.

use std::time::Duration;

/// Close code for a client that stays too far behind (policy violation; the
/// reason says which limit).
pub const SLOW_CLIENT: u16 = 1008;

/// Limits of the WebSocket bridge.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// Outside development mode, a socket not authenticated within this is
    /// closed with 4401.
    pub auth_timeout: Duration,
    /// With this many bytes queued for a client (frames not yet handed to its
    /// socket), a new update replaces the queued one of the same room key
    /// (latest-value conflation) instead of queueing behind it. 64 KiB is
    /// about 2 s of a product room: past that a client wants current values,
    /// not history, and at 10,000 clients it bounds their queues' memory.
    pub conflate_after_bytes: usize,
    /// A client with more bytes queued, even conflated, is disconnected
    /// ([`SLOW_CLIENT`]).
    pub max_queued_bytes: usize,
    /// A client whose writer made no progress for this long while frames wait
    /// is disconnected ([`SLOW_CLIENT`]).
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
            conflate_after_bytes: 64 * 1024,
            max_queued_bytes: 4 * 1024 * 1024,
            stall_timeout: Duration::from_secs(10),
            max_resume: 20_000,
            close_timeout: Duration::from_secs(5),
            max_message_size: 64 * 1024,
        }
    }
}
