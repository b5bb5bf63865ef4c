//! The JetStream topology declared in `nats/` (streams and KV buckets, as the JSON
//! the NATS API and CLI use), applied idempotently and shown.

use crate::{Error, Result};
use async_nats::jetstream::{self, stream};
use serde::Deserialize;
use std::time::Duration;

const STREAM_FILES: &[(&str, &str)] = &[
    ("MD_RAW", include_str!("../../nats/streams/MD_RAW.json")),
    (
        "MD_ENRICHED",
        include_str!("../../nats/streams/MD_ENRICHED.json"),
    ),
    ("MD_DLQ", include_str!("../../nats/streams/MD_DLQ.json")),
];

const KV_FILES: &[(&str, &str)] = &[
    ("ds_leases", include_str!("../../nats/kv/ds_leases.json")),
    (
        "ds_checkpoints",
        include_str!("../../nats/kv/ds_checkpoints.json"),
    ),
    (
        "ds_day_index",
        include_str!("../../nats/kv/ds_day_index.json"),
    ),
];

/// A KV bucket as declared in `nats/kv/*.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvDecl {
    /// Bucket name.
    pub bucket: String,
    /// What it holds.
    pub description: String,
    /// Values kept per key.
    pub history: i64,
    /// Entry lifetime in nanoseconds (0 = forever).
    pub max_age: u64,
}

/// Everything `nats/` declares.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The streams.
    pub streams: Vec<stream::Config>,
    /// The KV buckets.
    pub kv: Vec<KvDecl>,
}

/// How to adapt the declared topology to a deployment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Stream and bucket replicas (1 on one server, 3 in a cluster); as declared when `None`.
    pub replicas: Option<usize>,
    /// Stream retention; as declared (30 days) when `None`.
    pub max_age: Option<Duration>,
}

/// What `apply` did to one stream or bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed with other settings and was updated.
    Updated,
    /// It existed as declared.
    Unchanged,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// The topology declared in `nats/`, embedded at build time.
///
/// # Errors
/// When a file does not parse (caught by the tests).
pub fn declared() -> Result<Topology> {
    let streams = STREAM_FILES
        .iter()
        .map(|(name, json)| {
            serde_json::from_str::<stream::Config>(json)
                .map_err(|e| Error::Config(format!("nats/streams/{name}.json: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let kv = KV_FILES
        .iter()
        .map(|(name, json)| {
            serde_json::from_str::<KvDecl>(json)
                .map_err(|e| Error::Config(format!("nats/kv/{name}.json: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Topology { streams, kv })
}

/// Creates or updates every declared stream and bucket; running it again changes nothing.
///
/// # Errors
/// When JetStream refuses a change (e.g. a storage type that cannot change in place).
pub async fn apply(js: &jetstream::Context, opts: ApplyOptions) -> Result<Vec<(String, Outcome)>> {
    let topo = declared()?;
    let mut out = Vec::new();
    for mut want in topo.streams {
        if let Some(r) = opts.replicas {
            want.num_replicas = r;
        }
        if let Some(age) = opts.max_age {
            want.max_age = age;
        }
        let name = want.name.clone();
        let outcome = match js.get_stream(&name).await {
            Ok(mut s) => {
                let have = s.info().await.map_err(Error::js)?.config.clone();
                if same_stream(&have, &want) {
                    Outcome::Unchanged
                } else {
                    js.update_stream(&want)
                        .await
                        .map_err(|e| Error::JetStream(format!("updating stream {name}: {e}")))?;
                    Outcome::Updated
                }
            }
            Err(_) => {
                js.create_stream(want)
                    .await
                    .map_err(|e| Error::JetStream(format!("creating stream {name}: {e}")))?;
                Outcome::Created
            }
        };
        out.push((name, outcome));
    }
    for decl in topo.kv {
        let outcome = match js.get_key_value(&decl.bucket).await {
            Ok(_) => Outcome::Unchanged,
            Err(_) => {
                // Created as its stream: async-nats' create_key_value first queries
                // the account, whose answer it cannot parse from a 2.9 server.
                js.create_stream(kv_stream_config(&decl, opts.replicas.unwrap_or(1)))
                    .await
                    .map_err(|e| {
                        Error::JetStream(format!("creating bucket {}: {e}", decl.bucket))
                    })?;
                Outcome::Created
            }
        };
        out.push((format!("KV_{}", decl.bucket), outcome));
    }
    Ok(out)
}

/// [`apply`], retried (with a backoff of 250 ms to 2 s) for at most `within`:
/// a new cluster refuses it until it has elected its JetStream meta leader.
///
/// # Errors
/// The last error of [`apply`] once `within` has passed.
pub async fn apply_when_ready(
    js: &jetstream::Context,
    opts: ApplyOptions,
    within: Duration,
) -> Result<Vec<(String, Outcome)>> {
    let deadline = std::time::Instant::now() + within;
    let mut backoff = Duration::from_millis(250);
    loop {
        match apply(js, opts).await {
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "JetStream cluster not ready yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}

/// The stream behind a KV bucket, as the NATS clients create it.
fn kv_stream_config(decl: &KvDecl, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("KV_{}", decl.bucket),
        description: Some(decl.description.clone()),
        subjects: vec![format!("$KV.{}.>", decl.bucket)],
        max_messages_per_subject: decl.history.max(1),
        max_age: Duration::from_nanos(decl.max_age),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: replicas.max(1),
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

fn same_stream(have: &stream::Config, want: &stream::Config) -> bool {
    have.subjects == want.subjects
        && have.max_age == want.max_age
        && have.max_messages == want.max_messages
        && have.max_bytes == want.max_bytes
        && have.max_message_size == want.max_message_size
        && have.duplicate_window == want.duplicate_window
        && have.num_replicas == want.num_replicas
        && have.description == want.description
        && have.discard == want.discard
        && have
            .compression
            .as_ref()
            .unwrap_or(&stream::Compression::None)
            == want
                .compression
                .as_ref()
                .unwrap_or(&stream::Compression::None)
}

/// What `topology show` prints for one stream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamSummary {
    /// Stream name.
    pub name: String,
    /// Its subjects.
    pub subjects: Vec<String>,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// First sequence kept.
    pub first_seq: u64,
    /// Last sequence stored.
    pub last_seq: u64,
    /// Consumers on it.
    pub consumers: usize,
    /// Replicas.
    pub replicas: usize,
    /// Retention in seconds.
    pub max_age_secs: u64,
}

/// The state of every declared stream (a missing one is reported as an error).
///
/// # Errors
/// When a declared stream does not exist (run `topology apply`) or JetStream fails.
pub async fn show(js: &jetstream::Context) -> Result<Vec<StreamSummary>> {
    let topo = declared()?;
    let mut out = Vec::new();
    for want in topo.streams {
        let mut s = js.get_stream(&want.name).await.map_err(|e| {
            Error::JetStream(format!(
                "stream {} is missing ({e}); run `deltastream topology apply`",
                want.name
            ))
        })?;
        let info = s.info().await.map_err(Error::js)?;
        out.push(StreamSummary {
            name: info.config.name.clone(),
            subjects: info.config.subjects.clone(),
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
            consumers: info.state.consumer_count,
            replicas: info.config.num_replicas,
            max_age_secs: info.config.max_age.as_secs(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn declared_files_parse() {
        let t = super::declared().expect("nats/ parses");
        let names: Vec<_> = t.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["MD_RAW", "MD_ENRICHED", "MD_DLQ"]);
        assert_eq!(t.streams[0].subjects, ["md.raw.>"]);
        assert_eq!(t.streams[0].max_age.as_secs(), 30 * 86_400);
        assert!(t
            .streams
            .iter()
            .all(|s| s.compression == Some(async_nats::jetstream::stream::Compression::S2)));
        assert_eq!(t.kv.len(), 3);
    }
}
