//! Start-up against servers that may not be up yet: every component waits for
//! NATS and MongoDB with backoff and a log line per attempt, for as long as its
//! [`Patience`] allows, and never gives up on a transient outage before that.

use crate::auth::{Component, Identity};
use crate::backoff::Backoff;
use crate::config::Config;
use crate::{Error, Result};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a one-shot command (`topology`, `dlq`, `replay`, `user`) waits for
/// its servers unless configured otherwise.
pub const ONE_SHOT_DEADLINE: Duration = Duration::from_secs(10);

/// How long a component waits for a server at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Until it answers (long-running components: enrich, project, gateway, feed).
    Forever,
    /// At most this long, then the last error is returned.
    For(Duration),
}

impl Patience {
    /// The configured deadline (`DS_CONNECT_DEADLINE`, seconds, 0 for none), or
    /// the default: forever for a `long_running` component, [`ONE_SHOT_DEADLINE`]
    /// otherwise.
    pub fn of(cfg: &Config, long_running: bool) -> Self {
        match cfg.connect_deadline_secs {
            Some(0) => Patience::Forever,
            Some(s) => Patience::For(Duration::from_secs(s)),
            None if long_running => Patience::Forever,
            None => Patience::For(ONE_SHOT_DEADLINE),
        }
    }

    fn allows(self, waited: Duration) -> bool {
        match self {
            Patience::Forever => true,
            Patience::For(d) => waited < d,
        }
    }
}

/// Connects to NATS (`cfg`'s URL and CA) as `component`, with the credential
/// `cfg` gives ([`Identity::from_config`]), waiting for it as `patience` allows.
///
/// # Errors
/// As [`crate::nats::connect_cfg`], once patience runs out (or at once for a bad
/// URL, an unreadable credential or one the server refuses).
pub async fn nats(
    cfg: &Config,
    component: Component,
    patience: Patience,
) -> Result<async_nats::Client> {
    let who = Identity::from_config(cfg, component)?;
    nats_as(cfg, &who, patience).await
}

/// As [`nats`], as `who` (`up`'s components with their own seeds, the re-drive
/// responder with its own credential).
///
/// # Errors
/// As [`nats`].
pub async fn nats_as(
    cfg: &Config,
    who: &Identity,
    patience: Patience,
) -> Result<async_nats::Client> {
    retrying("NATS", patience, || crate::nats::connect_cfg(cfg, who)).await
}

/// Connects to MongoDB (`cfg`'s URL and database), waiting for it as `patience` allows.
///
/// # Errors
/// As [`crate::mongo::connect`], once patience runs out (or at once for a bad URL).
pub async fn mongo(cfg: &Config, patience: Patience) -> Result<mongodb::Database> {
    let url = cfg.mongo_url_or_default();
    retrying("MongoDB", patience, || {
        crate::mongo::connect(url, &cfg.mongo_db)
    })
    .await
}

/// Calls `attempt` until it succeeds, fails for good, or `patience` runs out.
async fn retrying<T, F, Fut>(what: &str, patience: Patience, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    for n in 1u32.. {
        match attempt().await {
            Ok(x) => {
                if n > 1 {
                    tracing::info!(server = what, attempts = n, "connected");
                }
                return Ok(x);
            }
            Err(e)
                if e.is_transient() && patience.allows(started.elapsed() + backoff.current()) =>
            {
                tracing::warn!(
                    server = what,
                    attempt = n,
                    retry_in = ?backoff.current(),
                    error = %e,
                    "waiting for {what}"
                );
                backoff.sleep().await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Config(format!("gave up waiting for {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_running_components_wait_forever_unless_configured() {
        let mut cfg = Config::default();
        assert_eq!(Patience::of(&cfg, true), Patience::Forever);
        assert_eq!(Patience::of(&cfg, false), Patience::For(ONE_SHOT_DEADLINE));
        cfg.connect_deadline_secs = Some(3);
        assert_eq!(
            Patience::of(&cfg, true),
            Patience::For(Duration::from_secs(3))
        );
        cfg.connect_deadline_secs = Some(0);
        assert_eq!(Patience::of(&cfg, false), Patience::Forever);
    }

    #[tokio::test]
    async fn a_bad_url_fails_at_once_and_an_absent_server_when_patience_runs_out() {
        let mut cfg = Config {
            nats_url: Some("not a url ::".into()),
            ..Config::default()
        };
        let e = nats(&cfg, Component::Admin, Patience::Forever)
            .await
            .expect_err("bad URL");
        assert!(!e.is_transient(), "{e}");
        let port = crate::servers::free_port().expect("a free port");
        cfg.nats_url = Some(format!("nats://127.0.0.1:{port}"));
        let e = nats(&cfg, Component::Admin, Patience::For(Duration::ZERO))
            .await
            .expect_err("nobody listens");
        assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    }
}
