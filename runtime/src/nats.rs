//! Connecting to NATS, with a readable error when no server answers.

use crate::{Error, Result};
use std::time::Duration;

/// Default NATS URL when none is configured.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

const HINT: &str =
    "Start one with `deltastream up` (embedded servers) or `nats-server -js`, or set DS_NATS_URL";

/// Connects to the comma-separated server list `urls` (a cluster may list several).
///
/// The client reconnects on its own afterwards; only the first connection must succeed.
///
/// # Errors
/// [`Error::Unreachable`] naming the URL when no server answers.
pub async fn connect(urls: &str, name: &str) -> Result<async_nats::Client> {
    let addrs: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| Error::Config(format!("bad NATS URL {u:?}: {e}")))
        })
        .collect::<Result<_>>()?;
    if addrs.is_empty() {
        return Err(Error::Config("empty NATS URL".into()));
    }
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(3))
        .ping_interval(Duration::from_secs(10))
        // A bounded client-side buffer: publishers feel back-pressure instead of
        // growing memory without limit while a server is away.
        .client_capacity(8192)
        .subscription_capacity(65536)
        .max_reconnects(None)
        .connect(addrs)
        .await
        .map_err(|e| Error::Unreachable {
            what: "NATS",
            url: urls.to_owned(),
            reason: e.to_string(),
            hint: HINT,
        })
}

/// A JetStream context on `client`.
pub fn jetstream(client: async_nats::Client) -> async_nats::jetstream::Context {
    let mut js = async_nats::jetstream::new(client);
    js.set_timeout(Duration::from_secs(10));
    js
}
