//! Time helpers at the I/O edge (the analytics never read the clock).

/// Now, in UTC nanoseconds since the Unix epoch.
pub fn now_unix_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}
