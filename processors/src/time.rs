//! Time helpers at the I/O edge (the analytics never read the clock).

use std::sync::Arc;

/// Now, in UTC nanoseconds since the Unix epoch.
pub fn now_unix_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Where a live component reads the time: the system clock, or (tests, demos)
/// any function of it, so exchange hours can be exercised without waiting for
/// them.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(now_unix_ns))
    }

    /// A clock reading `now`.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// A clock that reads `start_unix_ns` now and runs at the system clock's pace.
    pub fn starting_at(start_unix_ns: i64) -> Self {
        let origin = std::time::Instant::now();
        Self::from_fn(move || {
            let elapsed = i64::try_from(origin.elapsed().as_nanos()).unwrap_or(i64::MAX);
            start_unix_ns.saturating_add(elapsed)
        })
    }

    /// The time, in UTC nanoseconds since the Unix epoch.
    pub fn now_unix_ns(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}
