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
    /// With more than this many bytes of a room waiting for a client (its
    /// room log after its cursor), its writer takes only the newest update of
    /// each room key (latest-value conflation). 64 KiB is about 2 s of a
    /// product room: past that a client wants current values, not history.
    /// It is also about how much a writer takes per batch.
    pub conflate_after_bytes: usize,
    /// A client whose oldest waiting update of a room is older than this gets
    /// that room conflated too, however few bytes wait: under load (a writer
    /// that cannot keep up with every frame) a client gets current values
    /// rather than a growing delay. A live dashboard has no use for a price
    /// this stale when a newer one is already there.
    pub conflate_after_age: Duration,
    /// What a room's log keeps at most for members that have not read it: a
    /// client further behind gets `resync` and the room's latest values. A
    /// client whose latest values alone exceed it is disconnected
    /// ([`SLOW_CLIENT`]).
    pub max_queued_bytes: usize,
    /// A client whose writer has held frames this long without handing any to
    /// the socket is disconnected ([`SLOW_CLIENT`]).
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
            conflate_after_age: Duration::from_millis(250),
            max_queued_bytes: 4 * 1024 * 1024,
            stall_timeout: Duration::from_secs(10),
            max_resume: 20_000,
            close_timeout: Duration::from_secs(5),
            max_message_size: 64 * 1024,
        }
    }
}
