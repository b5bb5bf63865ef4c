//! Exponential backoff: the one retry delay every loop that waits for a server uses.

use crate::shutdown::Shutdown;
use std::time::Duration;

/// A delay that doubles after every wait, up to a maximum (no jitter: the
/// retrying processes are few, and a predictable delay reads better in logs).
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `first` and doubles up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The delay the next wait will take (for the log line before it).
    pub fn current(&self) -> Duration {
        self.next
    }

    /// The next delay, doubling the one after it.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// Sleeps for the next delay.
    pub async fn sleep(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Sleeps for the next delay unless `shutdown` comes first.
    /// Returns `false` when it was stopped.
    pub async fn wait(&mut self, shutdown: &mut Shutdown) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            biased;
            _ = shutdown.wait() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let delays: Vec<Duration> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.reset();
        assert_eq!(b.current(), ms(100));
    }

    #[tokio::test]
    async fn a_wait_ends_at_shutdown() {
        let (trigger, mut shutdown) = Shutdown::new();
        trigger.trigger();
        let mut b = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        assert!(!b.wait(&mut shutdown).await);
    }
}
