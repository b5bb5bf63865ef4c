//! Connecting to NATS as one of DeltaStream's identities (its credential, its
//! own inbox prefix, permission violations recorded), with a readable error
//! when no server answers or the server refuses the credential.

use crate::auth::{violations, Component, Identity};
use crate::config::Config;
use crate::{Error, Result};
use std::path::Path;
use std::time::Duration;

/// Default NATS URL when none is configured.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

const HINT: &str =
    "Start one with `deltastream up` (embedded servers) or `nats-server -js`, or set DS_NATS_URL";

/// Connects anonymously to the comma-separated server list `urls`, as `name`
/// (for servers without users; see [`connect_as`]).
///
/// # Errors
/// As [`connect_as`].
pub async fn connect(urls: &str, name: &str) -> Result<async_nats::Client> {
    let mut who = Identity::new(Component::Admin, None);
    who.user = name.to_owned();
    connect_with(urls, &who, None, true).await
}

/// Connects to `cfg`'s URL as `who`, with `cfg`'s CA (`DS_NATS_CA`): the
/// components' connection ([`crate::connect::nats`] waits for it).
///
/// # Errors
/// As [`connect_as`].
pub async fn connect_cfg(cfg: &Config, who: &Identity) -> Result<async_nats::Client> {
    connect_with(
        cfg.nats_url_or_default(),
        who,
        cfg.nats_ca.as_deref(),
        false,
    )
    .await
}

/// Connects to `urls` (comma-separated: a cluster may list several) as `who`.
///
/// The client reconnects on its own afterwards; only the first connection must
/// succeed. Its inboxes are `_INBOX_<component>.…` (what its permissions let
/// it subscribe to), and the server's permission violations are recorded
/// ([`violations`]) and logged once.
///
/// # Errors
/// [`Error::Unreachable`] naming the URL when no server answers;
/// [`Error::Config`] when the server refuses the credential.
pub async fn connect_as(urls: &str, who: &Identity) -> Result<async_nats::Client> {
    connect_with(urls, who, None, false).await
}

async fn connect_with(
    urls: &str,
    who: &Identity,
    ca: Option<&Path>,
    default_inbox: bool,
) -> Result<async_nats::Client> {
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
    let prefix = if default_inbox {
        "_INBOX".to_owned()
    } else {
        // Under the identity's own `_INBOX_<name>.>`, one level more per bus:
        // its permission violations are recorded per identity and servers
        // (one process may talk to several buses: the tests do).
        format!("{}.{}", who.inbox_prefix(), bus_token(urls))
    };
    let user = who.user.clone();
    let mut opts = async_nats::ConnectOptions::new()
        .name(if default_inbox {
            user.clone()
        } else {
            format!("deltastream-{user}")
        })
        .custom_inbox_prefix(&prefix)
        .connection_timeout(Duration::from_secs(3))
        .ping_interval(Duration::from_secs(10))
        // A bounded client-side buffer: publishers feel back-pressure instead of
        // growing memory without limit while a server is away.
        .client_capacity(8192)
        .subscription_capacity(65536)
        .max_reconnects(None)
        .event_callback(move |event| {
            let (prefix, user) = (prefix.clone(), user.clone());
            async move { on_event(&prefix, &user, event) }
        });
    if let Some(ca) = ca {
        opts = opts.add_root_certificates(ca.to_owned()).require_tls(true);
    }
    if let Some(c) = &who.credential {
        opts = c.apply(opts).await?;
    }
    opts.connect(addrs).await.map_err(|e| {
        if e.kind() == async_nats::ConnectErrorKind::AuthorizationViolation {
            Error::Config(format!(
                "NATS at {urls} refused the credential of {:?} ({}); set DS_NATS_CREDS to \
                 the component's credential (see README, \"Permissions on the bus\")",
                who.user,
                who.credential
                    .as_ref()
                    .map_or("no credential".into(), |c| c.describe()),
            ))
        } else {
            Error::Unreachable {
                what: "NATS",
                url: urls.to_owned(),
                reason: e.to_string(),
                hint: HINT,
            }
        }
    })
}

/// A short token naming the server list `urls` within this process.
fn bus_token(urls: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    urls.hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

fn on_event(prefix: &str, user: &str, event: async_nats::Event) {
    use async_nats::{Event, ServerError};
    match event {
        Event::ServerError(ServerError::Other(msg)) if !violations::record(prefix, user, &msg) => {
            tracing::warn!(user, error = %msg, "NATS server error");
        }
        Event::ServerError(ServerError::AuthorizationViolation) => {
            tracing::error!(
                user,
                "NATS refused this connection's credential (authorization violation)"
            );
        }
        _ => {}
    }
}

/// A JetStream context on `client`.
pub fn jetstream(client: async_nats::Client) -> async_nats::jetstream::Context {
    let mut js = async_nats::jetstream::new(client);
    js.set_timeout(Duration::from_secs(10));
    js
}
