//! Permission violations the server reports: nats-server answers a denied
//! publish or subscription with `-ERR 'Permissions Violation for Publish to
//! "<subject>"'` and drops it, and async-nats hands that to the connection's
//! event callback only. Without more, a denied JetStream publish just times out
//! and the publisher retries forever. So every connection records what it was
//! denied here (logged once per identity and subject, with the user), and the
//! publisher and the processors' retry loops ask before retrying.
//!
//! Process-wide, keyed by the connection's inbox prefix, which names the
//! identity and the servers (`_INBOX_<name>.<bus>`): connections of one
//! identity to the same servers share its permissions, so what one was denied
//! the others are too.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::sync::watch;

/// What was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// A publish (or a request, or a JetStream API call).
    Publish,
    /// A subscription.
    Subscribe,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Publish => "publish to",
            Op::Subscribe => "subscribe to",
        })
    }
}

/// One denial, as the server reported it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// The connection's inbox prefix (which identity, on which servers).
    pub prefix: String,
    /// The user, as the component names itself.
    pub user: String,
    /// Publish or subscribe.
    pub op: Op,
    /// The subject denied.
    pub subject: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NATS user {:?} may not {} {:?} (permissions violation; see the permission table in README)",
            self.user, self.op, self.subject
        )
    }
}

struct Registry {
    any: AtomicBool,
    seen: Mutex<BTreeSet<Violation>>,
    changed: watch::Sender<u64>,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry {
        any: AtomicBool::new(false),
        seen: Mutex::new(BTreeSet::new()),
        changed: watch::channel(0).0,
    })
}

/// Reads a server error: `Some((op, subject))` for a permissions violation.
pub fn parse(error: &str) -> Option<(Op, String)> {
    let rest = error.trim().trim_matches('\'');
    let rest = rest.strip_prefix("Permissions Violation for ")?;
    let op = if rest.starts_with("Publish") {
        Op::Publish
    } else if rest.starts_with("Subscription") {
        Op::Subscribe
    } else {
        return None;
    };
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some((op, rest[start..start + len].to_owned()))
}

/// Records a server error of the identity `prefix`/`user`; a new violation is
/// logged (once) and wakes whoever waits on it. Returns whether it was one.
pub fn record(prefix: &str, user: &str, error: &str) -> bool {
    let Some((op, subject)) = parse(error) else {
        return false;
    };
    let v = Violation {
        prefix: prefix.to_owned(),
        user: user.to_owned(),
        op,
        subject,
    };
    let r = registry();
    let new = r
        .seen
        .lock()
        .map(|mut seen| seen.insert(v.clone()))
        .unwrap_or(false);
    if new {
        tracing::error!(user = %v.user, op = %v.op, subject = %v.subject, "{v}");
        r.any.store(true, Ordering::Release);
        r.changed.send_modify(|n| *n += 1);
    }
    true
}

/// The publish of identity `prefix` on `subject` that was denied, if any.
pub fn denied_publish(prefix: &str, subject: &str) -> Option<Violation> {
    let r = registry();
    if !r.any.load(Ordering::Acquire) {
        return None;
    }
    let seen = r.seen.lock().ok()?;
    seen.iter()
        .find(|v| v.prefix == prefix && v.op == Op::Publish && v.subject == subject)
        .cloned()
}

/// The first publish denied to identity `prefix` (a JetStream API call it may
/// not make fails as a timeout; this says why).
pub fn first_denied_publish(prefix: &str) -> Option<Violation> {
    let r = registry();
    if !r.any.load(Ordering::Acquire) {
        return None;
    }
    let seen = r.seen.lock().ok()?;
    seen.iter()
        .find(|v| v.prefix == prefix && v.op == Op::Publish)
        .cloned()
}

/// Resolves once a publish of identity `prefix` on `subject` is reported denied.
pub async fn wait_denied_publish(prefix: &str, subject: &str) -> Violation {
    let mut rx = registry().changed.subscribe();
    loop {
        if let Some(v) = denied_publish(prefix, subject) {
            return v;
        }
        if rx.changed().await.is_err() {
            // The registry lives as long as the process: never closed.
            std::future::pending::<()>().await;
        }
    }
}

/// The inbox prefix of `client` (its identity in this registry).
pub fn prefix_of(client: &async_nats::Client) -> String {
    let inbox = client.new_inbox();
    inbox
        .rsplit_once('.')
        .map_or(inbox.clone(), |(p, _)| p.to_owned())
}

/// The first publish `client`'s identity was denied, as an error to stop on.
pub fn check(client: &async_nats::Client) -> crate::Result<()> {
    match first_denied_publish(&prefix_of(client)) {
        Some(v) => Err(crate::Error::PermissionDenied(v)),
        None => Ok(()),
    }
}

/// `e`, or — when `client`'s identity was denied a publish — that denial: the
/// server drops a denied JetStream request, so the call failed as a timeout,
/// and the denial says why.
pub fn explain<E: From<crate::Error>>(client: &async_nats::Client, e: E) -> E {
    match check(client) {
        Err(denied) => denied.into(),
        Ok(()) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_servers_messages() {
        assert_eq!(
            parse("Permissions Violation for Publish to \"md.raw.NIFTY.underlying\""),
            Some((Op::Publish, "md.raw.NIFTY.underlying".into()))
        );
        assert_eq!(
            parse("'Permissions Violation for Subscription to \"md.raw.>\" using queue \"q\"'"),
            Some((Op::Subscribe, "md.raw.>".into()))
        );
        assert_eq!(
            parse("Permissions Violation for Publish with Reply of \"_INBOX.x\""),
            Some((Op::Publish, "_INBOX.x".into()))
        );
        assert_eq!(parse("Stale Connection"), None);
    }

    #[test]
    fn records_once_per_identity_and_subject() {
        let msg = "Permissions Violation for Publish to \"t.unit.denied\"";
        assert!(record("_INBOX_unit", "unit", msg));
        assert!(record("_INBOX_unit", "unit", msg));
        assert!(!record("_INBOX_unit", "unit", "Stale Connection"));
        let v = denied_publish("_INBOX_unit", "t.unit.denied").expect("recorded");
        assert_eq!(v.user, "unit");
        assert!(v.to_string().contains("\"t.unit.denied\""));
        assert_eq!(denied_publish("_INBOX_other", "t.unit.denied"), None);
        let seen = registry().seen.lock().expect("lock");
        assert_eq!(
            seen.iter().filter(|v| v.subject == "t.unit.denied").count(),
            1
        );
    }
}
