//! The permission table: for each component, the exact subjects it may publish
//! and subscribe to, in NATS's own terms, and the inbox prefix its replies come
//! back on. The one place these are written; the server's `authorization`
//! block, the README table and the tests all come from here.
//!
//! How the JetStream calls map onto subjects (async-nats 0.51, nats-server 2.14):
//! a stream's info is a request on `$JS.API.STREAM.INFO.<stream>`, a message by
//! sequence or last-by-subject `$JS.API.STREAM.MSG.GET.<stream>`, a consumer is
//! created on `$JS.API.CONSUMER.CREATE.<stream>[.<name>[.<filter>]]` (no name:
//! an ephemeral one — the server refuses a durable there), pulled with
//! `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` and acknowledged on the
//! message's reply subject `$JS.ACK.<stream>.<consumer>.…`; a push consumer's
//! flow control is answered on `$JS.FC.<stream>.…`. A KV bucket `b` is the
//! stream `KV_b`: writes are publishes on `$KV.b.<key>`, reads direct gets on
//! `$JS.API.DIRECT.GET.KV_b.$KV.b.<key>`, key listings an ordered consumer.
//! Every request's reply, every publish ack and every push delivery arrives on
//! the connection's own inbox, `_INBOX_<component>.…`, so a component may
//! subscribe to its own replies and to nobody else's.

use ds_schemas::subjects::DLQ_RETRY as REDRIVE_SUBJECT;
use std::fmt;

/// Where `replay --publish-prefix` may publish and the gateway's replay
/// sessions listen (`replay.<…>.md.enriched.>`).
pub const REPLAY_NAMESPACE: &str = "replay";

/// A DeltaStream component with its own NATS identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// The market feed: writes `MD_RAW`.
    Feed,
    /// The enrichers: `MD_RAW` → `MD_ENRICHED` (+ `MD_DLQ`), with their KV buckets.
    Enrich,
    /// The projector: `MD_ENRICHED` → MongoDB (+ `MD_DLQ`).
    Project,
    /// The REST/WebSocket gateway: reads `MD_ENRICHED` and `MD_DLQ`, asks for re-drives.
    Gateway,
    /// A day's replay: reads `MD_RAW` and the day index, publishes under `replay.>`.
    Replay,
    /// The DLQ re-drive responder: the only writer of the log besides feed and enrich.
    Redrive,
    /// The operator: topology, DLQ tools, credentials.
    Admin,
    /// Outside services: read `MD_ENRICHED`, nothing else.
    Subscriber,
}

impl Component {
    /// Every component, in the order the server config lists them.
    pub const ALL: [Component; 8] = [
        Component::Feed,
        Component::Enrich,
        Component::Project,
        Component::Gateway,
        Component::Replay,
        Component::Redrive,
        Component::Admin,
        Component::Subscriber,
    ];

    /// Its name: credential file `<name>.nk`, connection name, logs.
    pub fn name(self) -> &'static str {
        match self {
            Component::Feed => "feed",
            Component::Enrich => "enrich",
            Component::Project => "project",
            Component::Gateway => "gateway",
            Component::Replay => "replay",
            Component::Redrive => "redrive",
            Component::Admin => "admin",
            Component::Subscriber => "subscriber",
        }
    }

    /// The component called `name`.
    pub fn parse(name: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Why it has its permissions (the README's permission table).
    pub fn why(self) -> &'static str {
        match self {
            Component::Feed => {
                "writes the log; resumes each product's sequence from its last message in `MD_RAW`"
            }
            Component::Enrich => {
                "its durable consumers `enrich_g00` … `enrich_g15` on `MD_RAW`, one per group of \
                 products (rebuilt from the checkpoints: deleted, created with a filter subject \
                 per product, pulled, acked; the name carries the group, which a wildcard cannot \
                 match part of, hence `*`); the guard partition lists and reads unclaimed \
                 subjects; the DLQ size gauge; its KV buckets: leases (with key listings), \
                 checkpoints, the day index"
            }
            Component::Project => {
                "its one shared durable consumer `project` on `MD_ENRICHED`; its dead letters \
                 (its offsets are in MongoDB, with the projections)"
            }
            Component::Gateway => {
                "live values (seeded by last-message gets, then an ordered push consumer), \
                 WebSocket resume (ordered pull consumers; never the projector's `project`), the \
                 admin DLQ listing; a re-drive is a *request* naming a DLQ sequence; WebSocket \
                 replay sessions. It cannot write `md.raw.>` or any stream"
            }
            Component::Replay => {
                "reads `MD_RAW` through ordered consumers, reads (never moves) the enrichers' \
                 consumers and the day index, watches whether live enrichers are active (does \
                 `MD_ENRICHED` grow?) to cap itself beside them; publishes only under `replay.>` \
                 (`--publish-prefix` must start with `replay.`)"
            }
            Component::Redrive => {
                "serves the gateway's re-drive requests: re-publishes a dead letter's original \
                 bytes on its original subject and deletes it from `MD_DLQ`"
            }
            Component::Admin => {
                "the operator: `topology apply`, `dlq list|show|retry`, `sub` on any stream, \
                 inspection, `bench --auth users` (its relay ceiling acks its own consumers); \
                 keep it off long-running services"
            }
            Component::Subscriber => {
                "outside services: live subjects and ordered consumers on `MD_ENRICHED`; no \
                 publish to `md.>`, no stream delete or purge, no KV, not the projector's consumer"
            }
        }
    }

    /// The prefix of its inboxes (`custom_inbox_prefix`): replies to it come
    /// back under `<prefix>.>`, which only it may subscribe to.
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX_{}", self.name())
    }

    /// What it may publish and subscribe to.
    pub fn permissions(self) -> Permissions {
        let mut p = Permissions {
            subscribe: vec![format!("{}.>", self.inbox_prefix())],
            ..Permissions::default()
        };
        match self {
            Component::Feed => grant_feed(&mut p),
            Component::Enrich => grant_enrich(&mut p),
            Component::Project => grant_project(&mut p),
            Component::Gateway => grant_gateway(&mut p),
            Component::Replay => grant_replay(&mut p),
            Component::Redrive => grant_redrive(&mut p),
            Component::Admin => grant_admin(&mut p),
            Component::Subscriber => grant_subscriber(&mut p),
        }
        p
    }
}

/// What `feed` may do besides reading its own inbox.
fn grant_feed(p: &mut Permissions) {
    // Its writes, and reading back the last message per product of
    // MD_RAW to resume its sequences (stream info lists the subjects).
    p.publish(["md.raw.>"]);
    p.publish(stream_reads("MD_RAW"));
}

/// What `enrich` may do besides reading its own inbox.
fn grant_enrich(p: &mut Permissions) {
    p.publish(["md.enriched.>", "md.dlq.enrich.>"]);
    // Its durable consumers enrich_gNN, one per product group (rebuilt
    // from the checkpoints: deleted, created with filters, pulled, acked);
    // the guard partition lists MD_RAW's subjects and reads the
    // unclaimed ones by sequence.
    p.publish(stream_reads("MD_RAW"));
    p.publish(named_consumers("MD_RAW"));
    p.publish(["$JS.ACK.MD_RAW.>"]);
    // The DLQ size gauge.
    p.publish(["$JS.API.STREAM.INFO.MD_DLQ"]);
    // Leases (with key listings), checkpoints, the day index.
    p.publish(kv_read_write("ds_leases"));
    p.publish(kv_listing("ds_leases"));
    p.publish(kv_read_write("ds_checkpoints"));
    p.publish(kv_read_write("ds_day_index"));
}

/// What `project` may do besides reading its own inbox.
fn grant_project(p: &mut Permissions) {
    p.publish(["md.dlq.project.>"]);
    // The one shared durable consumer `project` (no filter).
    p.publish([
        "$JS.API.STREAM.INFO.MD_ENRICHED",
        "$JS.API.CONSUMER.INFO.MD_ENRICHED.project",
        "$JS.API.CONSUMER.CREATE.MD_ENRICHED.project",
        "$JS.API.CONSUMER.CREATE.MD_ENRICHED.project.>",
        "$JS.API.CONSUMER.MSG.NEXT.MD_ENRICHED.project",
        "$JS.ACK.MD_ENRICHED.project.>",
    ]);
}

/// What `gateway` may do besides reading its own inbox.
fn grant_gateway(p: &mut Permissions) {
    // Live values: seeded by last-message gets, then an ordered
    // push consumer; WebSocket resume: ordered pull consumers.
    p.publish(stream_reads("MD_ENRICHED"));
    p.publish(ordered_consumers("MD_ENRICHED"));
    p.deny_pulling_durables("MD_ENRICHED", &["project"]);
    // Admin routes: list and show dead letters, ask for a re-drive.
    p.publish(stream_reads("MD_DLQ"));
    p.publish([REDRIVE_SUBJECT]);
    // WebSocket replay sessions.
    p.subscribe([format!("{REPLAY_NAMESPACE}.>")]);
}

/// What `replay` may do besides reading its own inbox.
fn grant_replay(p: &mut Permissions) {
    // Reads MD_RAW through ordered consumers, reads (never moves)
    // the enrichers' consumers, the day index; watches whether live
    // enrichers are active (MD_ENRICHED's info: does it grow?).
    p.publish([
        "$JS.API.STREAM.INFO.MD_RAW",
        "$JS.API.STREAM.INFO.MD_ENRICHED",
    ]);
    // (Pulling and looking up are allowed on any MD_RAW consumer:
    // ordered ones have generated names, and the enrichers' names
    // carry the product, which a subject wildcard cannot match part of.)
    p.publish(ordered_consumers("MD_RAW"));
    p.publish(kv_read("ds_day_index"));
    p.publish([format!("{REPLAY_NAMESPACE}.>")]);
}

/// What `redrive` may do besides reading its own inbox.
fn grant_redrive(p: &mut Permissions) {
    // Serves re-drive requests: reads a dead letter, re-publishes its
    // bytes on its original subject, deletes it from MD_DLQ.
    p.subscribe([REDRIVE_SUBJECT]);
    p.allow_responses = true;
    p.publish(stream_reads("MD_DLQ"));
    p.publish([
        "$JS.API.STREAM.MSG.DELETE.MD_DLQ",
        "md.raw.>",
        "md.enriched.>",
    ]);
}

/// What `admin` may do besides reading its own inbox.
fn grant_admin(p: &mut Permissions) {
    // The operator: every JetStream API call (topology apply,
    // consumer inspection, DLQ re-drive), acks on its own consumers
    // (`bench`'s relay ceiling), the log, the KV buckets; watching
    // the live and replayed subjects.
    p.publish(["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>", "md.>"]);
    p.subscribe(["md.>".to_string(), format!("{REPLAY_NAMESPACE}.>")]);
}

/// What `subscriber` may do besides reading its own inbox.
fn grant_subscriber(p: &mut Permissions) {
    p.subscribe(["md.enriched.>"]);
    p.publish(["$JS.API.STREAM.INFO.MD_ENRICHED"]);
    p.publish(ordered_consumers("MD_ENRICHED"));
    p.deny_pulling_durables("MD_ENRICHED", &["project"]);
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Publish and subscribe permissions of one identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish to.
    pub publish: Vec<String>,
    /// Subjects it may not publish to even where `publish` matches.
    pub publish_deny: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
    /// Whether it may answer requests (publish once on a request's reply subject).
    pub allow_responses: bool,
}

impl Permissions {
    fn publish<S: Into<String>>(&mut self, subjects: impl IntoIterator<Item = S>) {
        self.publish.extend(subjects.into_iter().map(Into::into));
    }

    fn subscribe<S: Into<String>>(&mut self, subjects: impl IntoIterator<Item = S>) {
        self.subscribe.extend(subjects.into_iter().map(Into::into));
    }

    /// Pulling from an ordered consumer means pulling from any consumer of the
    /// stream (its name is generated); the durables are denied, so a reader
    /// cannot take messages from a work queue such as `project`.
    fn deny_pulling_durables(&mut self, stream: &str, durables: &[&str]) {
        self.publish_deny.extend(
            durables
                .iter()
                .map(|d| format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{d}")),
        );
    }
}

/// Stream info (with its subject listing) and reading a message by sequence or
/// last-by-subject.
fn stream_reads(stream: &str) -> [String; 2] {
    [
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
    ]
}

/// Ephemeral (ordered) consumers: created without a name, pulled under their
/// generated name, recreated after a gap, their push flow control answered.
fn ordered_consumers(stream: &str) -> [String; 4] {
    [
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
        format!("$JS.API.CONSUMER.INFO.{stream}.*"),
        format!("$JS.FC.{stream}.>"),
    ]
}

/// Named consumers of one component's own: created (with a filter), looked up,
/// deleted, pulled.
fn named_consumers(stream: &str) -> [String; 5] {
    [
        format!("$JS.API.CONSUMER.CREATE.{stream}.*"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.*.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.*"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.*"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
    ]
}

/// Opening a bucket and reading keys.
fn kv_read(bucket: &str) -> [String; 2] {
    [
        format!("$JS.API.STREAM.INFO.KV_{bucket}"),
        format!("$JS.API.DIRECT.GET.KV_{bucket}.>"),
    ]
}

/// Opening, reading and writing (put, create, update, delete) a bucket.
fn kv_read_write(bucket: &str) -> [String; 3] {
    let [info, get] = kv_read(bucket);
    [info, get, format!("$KV.{bucket}.>")]
}

/// Listing a bucket's keys (an ordered push consumer on its stream).
fn kv_listing(bucket: &str) -> [String; 3] {
    [
        format!("$JS.API.CONSUMER.CREATE.KV_{bucket}"),
        format!("$JS.API.CONSUMER.CREATE.KV_{bucket}.>"),
        format!("$JS.FC.KV_{bucket}.>"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_inboxes_are_distinct() {
        let mut inboxes = std::collections::BTreeSet::new();
        for c in Component::ALL {
            let p = c.permissions();
            for list in [&p.publish, &p.publish_deny, &p.subscribe] {
                let unique: std::collections::BTreeSet<_> = list.iter().collect();
                assert_eq!(unique.len(), list.len(), "{c}: a subject listed twice");
            }
            assert_eq!(Component::parse(c.name()), Some(c));
            assert!(inboxes.insert(c.inbox_prefix()));
            assert!(c
                .permissions()
                .subscribe
                .contains(&format!("{}.>", c.inbox_prefix())));
        }
    }

    #[test]
    fn only_feed_redrive_and_admin_write_raw_data() {
        let writes_raw = |c: Component| {
            c.permissions()
                .publish
                .iter()
                .any(|s| s == "md.raw.>" || s == "md.>" || s == ">")
        };
        let writers: Vec<_> = Component::ALL
            .into_iter()
            .filter(|c| writes_raw(*c))
            .collect();
        assert_eq!(
            writers,
            [Component::Feed, Component::Redrive, Component::Admin]
        );
    }

    #[test]
    fn the_subscriber_reads_enriched_data_only() {
        let p = Component::Subscriber.permissions();
        assert!(p.publish.iter().all(|s| s.contains("MD_ENRICHED")));
        assert!(!p
            .publish
            .iter()
            .any(|s| s.contains("DELETE") || s.contains("PURGE")));
        assert_eq!(p.subscribe, ["_INBOX_subscriber.>", "md.enriched.>"]);
        assert!(p
            .publish_deny
            .contains(&"$JS.API.CONSUMER.MSG.NEXT.MD_ENRICHED.project".to_string()));
    }
}
