//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong in the analytics library.
///
/// Every variant describes a problem with the *input*: the same input always
/// gives the same error, so retrying cannot help ([`AnalyticsError::is_retryable`]
/// is always `false`). Processors dead-letter the message, except for
/// [`AnalyticsError::DuplicateTick`], which is a harmless redelivery to acknowledge
/// and skip.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    /// `strikes`, `calls` and `puts` of a chain do not have the same length.
    #[error("chain length mismatch: {strikes} strikes, {calls} calls, {puts} puts")]
    LengthMismatch {
        /// Number of strikes.
        strikes: usize,
        /// Number of call quotes.
        calls: usize,
        /// Number of put quotes.
        puts: usize,
    },
    /// A value that must be a finite number is NaN or infinite.
    #[error("{field} is not finite{}", index_suffix(*.index))]
    NonFinite {
        /// Name of the offending field, e.g. `calls.bid`.
        field: &'static str,
        /// Position in the chain, when the field belongs to a strike.
        index: Option<usize>,
    },
    /// A value that must be non-negative (or positive) is not.
    #[error("{field} is out of range{}", index_suffix(*.index))]
    OutOfRange {
        /// Name of the offending field, e.g. `spot`.
        field: &'static str,
        /// Position in the chain, when the field belongs to a strike.
        index: Option<usize>,
    },
    /// Strikes are not strictly increasing at `index` (compared with `index - 1`).
    #[error("strikes are not strictly increasing at index {index}")]
    StrikesNotIncreasing {
        /// The first index whose strike is not above the previous one.
        index: usize,
    },
    /// An interval token other than `1m`, `5m` or `15m`.
    #[error("unknown interval {0:?} (expected 1m, 5m or 15m)")]
    UnknownInterval(String),
    /// An option kind token other than `call` / `put` (or `CALL`, `PUT`, `C`, `P`).
    #[error("unknown option kind {0:?} (expected call or put)")]
    UnknownOptionKind(String),
    /// An exchange token other than `NSE`, `US` or `CRYPTO`.
    #[error("unknown exchange {0:?} (expected NSE, US or CRYPTO)")]
    UnknownExchange(String),
    /// A universe name that is not built in.
    #[error("unknown universe {0:?} (built in: default, nse-fo, crypto)")]
    UnknownUniverse(String),
    /// A universe file that cannot be read or parsed, or whose products are
    /// invalid or listed twice.
    #[error("universe {universe}: {reason}")]
    InvalidUniverse {
        /// The universe's name or file path.
        universe: String,
        /// What is wrong (the parser's message, with line and column).
        reason: String,
    },
    /// A product specification that cannot be used.
    #[error("invalid product {name:?}: {reason}")]
    InvalidProduct {
        /// Product token as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tick whose sequence number was already applied (a redelivery).
    #[error("tick seq {seq} already applied (last applied seq {last_seq})")]
    DuplicateTick {
        /// Sequence of the rejected tick.
        seq: u64,
        /// Last sequence applied.
        last_seq: u64,
    },
    /// A tick whose event time falls in a bar that is already closed, or (for
    /// session statistics, `interval` = `"session"`) in an earlier trading day.
    #[error(
        "tick at {ts_unix_ns} ns is older than the open {interval} bar or falls in a closed one"
    )]
    LateTick {
        /// Event time of the rejected tick.
        ts_unix_ns: i64,
        /// Interval whose bar it cannot join.
        interval: &'static str,
    },
    /// A tick after the session close of a trading day whose session already closed.
    #[error("tick at {ts_unix_ns} ns arrives after the session of its trading day has closed")]
    AfterSessionClose {
        /// Event time of the rejected tick.
        ts_unix_ns: i64,
    },
}

impl AnalyticsError {
    /// Whether retrying the same input could succeed: never, for a pure library.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        false
    }
}

fn index_suffix(index: Option<usize>) -> String {
    index.map_or_else(String::new, |i| format!(" at index {i}"))
}
