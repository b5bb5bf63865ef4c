//! What the data costs in bytes: MongoDB collection sizes and I/O counters,
//! JetStream records by subject, files on disk. Byte counts for the benchmark
//! report and the layout tests (never timings).

use crate::{Error, Result};
use async_nats::jetstream;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, Bson, Document};
use std::path::{Path, PathBuf};

/// The bytes of one MongoDB collection (`$collStats` storage statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionBytes {
    /// Documents.
    pub count: u64,
    /// Their BSON, uncompressed (what the writes carried, one version each).
    pub bson: u64,
    /// The collection's files on disk (block compressed), after a checkpoint.
    pub storage: u64,
    /// Its indexes on disk.
    pub indexes: u64,
}

impl CollectionBytes {
    /// BSON bytes per document.
    pub fn bson_per_doc(&self) -> f64 {
        self.bson as f64 / self.count.max(1) as f64
    }

    /// Data and index files per document.
    pub fn disk_per_doc(&self) -> f64 {
        (self.storage + self.indexes) as f64 / self.count.max(1) as f64
    }
}

fn number(d: &Document, key: &str) -> u64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Double(v)) if *v >= 0.0 => *v as u64,
        _ => 0,
    }
}

/// The bytes of collection `name` (zeros when it does not exist).
///
/// # Errors
/// When MongoDB fails.
pub async fn collection(db: &mongodb::Database, name: &str) -> Result<CollectionBytes> {
    let mut cursor = match db
        .collection::<Document>(name)
        .aggregate([doc! {"$collStats": {"storageStats": {}}}])
        .await
    {
        Ok(c) => c,
        // NamespaceNotFound: nothing written yet.
        Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 26) => {
            return Ok(CollectionBytes::default())
        }
        Err(e) => return Err(e.into()),
    };
    let Some(stats) = cursor.try_next().await? else {
        return Ok(CollectionBytes::default());
    };
    let s = stats
        .get_document("storageStats")
        .cloned()
        .unwrap_or_default();
    Ok(CollectionBytes {
        count: number(&s, "count"),
        bson: number(&s, "size"),
        storage: number(&s, "storageSize"),
        indexes: number(&s, "totalIndexSize"),
    })
}

/// A MongoDB server's I/O counters since it started (`serverStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MongoIo {
    /// Bytes received from clients (`network.bytesIn`): the wire.
    pub network_in: u64,
    /// Bytes WiredTiger wrote to data and index files (block manager).
    pub data_written: u64,
    /// Bytes written to the journal (WiredTiger's log).
    pub journal_written: u64,
}

impl MongoIo {
    /// The counters' growth since `before`.
    pub fn since(&self, before: &MongoIo) -> MongoIo {
        MongoIo {
            network_in: self.network_in.saturating_sub(before.network_in),
            data_written: self.data_written.saturating_sub(before.data_written),
            journal_written: self.journal_written.saturating_sub(before.journal_written),
        }
    }

    /// Bytes written to disk, data and journal.
    pub fn disk_written(&self) -> u64 {
        self.data_written + self.journal_written
    }
}

/// The I/O counters of the server `db` is on.
///
/// # Errors
/// When MongoDB fails.
pub async fn mongo_io(db: &mongodb::Database) -> Result<MongoIo> {
    let s = db
        .client()
        .database("admin")
        .run_command(doc! {"serverStatus": 1})
        .await?;
    let section = |path: &[&str]| -> Document {
        let mut d = s.clone();
        for k in path {
            d = d.get_document(k).cloned().unwrap_or_default();
        }
        d
    };
    Ok(MongoIo {
        network_in: number(&section(&["network"]), "bytesIn"),
        data_written: number(&section(&["wiredTiger", "block-manager"]), "bytes written"),
        journal_written: number(&section(&["wiredTiger", "log"]), "log bytes written"),
    })
}

/// Forces a checkpoint (`fsync`), so that collection files hold what was written.
///
/// # Errors
/// When MongoDB fails.
pub async fn checkpoint(db: &mongodb::Database) -> Result<()> {
    db.client()
        .database("admin")
        .run_command(doc! {"fsync": 1})
        .await?;
    Ok(())
}

/// Bytes the files under `path` occupy on disk (allocated blocks).
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| disk_usage(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// Where a stream's files are in a single server's JetStream store directory
/// (global account).
pub fn stream_dir(store_dir: &Path, stream: &str) -> PathBuf {
    store_dir
        .join("jetstream")
        .join("$G")
        .join("streams")
        .join(stream)
}

/// The messages of a subject filter and the bytes of their stored records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Records {
    /// Messages.
    pub messages: u64,
    /// Payload bytes.
    pub payload: u64,
    /// Record bytes: subject, headers, payload and the file store's 30 bytes of
    /// framing (22 of header, 8 of hash) per message, before block compression.
    pub stored: u64,
}

impl Records {
    /// Stored record bytes per message.
    pub fn stored_per_msg(&self) -> f64 {
        self.stored as f64 / self.messages.max(1) as f64
    }
}

/// Framing of a file store record: its header and its hash.
const RECORD_FRAMING: u64 = 22 + 8;
/// The header JetStream adds to a headers-only delivery.
const MSG_SIZE: &str = "Nats-Msg-Size";

/// The records of `stream` on subjects matching `filter`, read headers only (an
/// ordered consumer; payloads are not transferred).
///
/// # Errors
/// When JetStream fails.
pub async fn records(js: &jetstream::Context, stream: &str, filter: &str) -> Result<Records> {
    use jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let s = js.get_stream(stream).await.map_err(Error::js)?;
    let mut consumer = s
        .create_consumer(OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::All,
            headers_only: true,
            ..Default::default()
        })
        .await
        .map_err(Error::js)?;
    let mut out = Records::default();
    if consumer.info().await.map_err(Error::js)?.num_pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await.map_err(Error::js)?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(Error::js)?;
        let info = m.info().map_err(Error::js)?;
        let pending = info.pending;
        let mut payload = 0;
        let mut headers = 0;
        if let Some(h) = m.headers.as_ref() {
            for (name, values) in h.iter() {
                let name = name.to_string();
                if name == MSG_SIZE {
                    payload = values
                        .first()
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                        .unwrap_or(0);
                    continue;
                }
                for v in values {
                    // "Name: value\r\n"
                    headers += (name.len() + v.as_str().len() + 4) as u64;
                }
            }
            if headers > 0 {
                // "NATS/1.0\r\n" … "\r\n"
                headers += 12;
            }
        }
        out.messages += 1;
        out.payload += payload;
        out.stored += RECORD_FRAMING + m.subject.len() as u64 + headers + payload;
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}
