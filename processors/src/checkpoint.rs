//! Processor checkpoints in the `ds_checkpoints` KV bucket: a partition's state and
//! the last stream sequence it applied, written with compare-and-set on the KV
//! revision, which fences an owner that lost its lease without noticing.

use async_nats::jetstream::kv::{Store, UpdateErrorKind};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

/// The checkpoint bucket (declared in `nats/kv/ds_checkpoints.json`).
pub const BUCKET: &str = "ds_checkpoints";

/// Why a checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Someone else wrote it since we read it: we are no longer the owner.
    #[error("checkpoint {0} was written by another instance")]
    Fenced(String),
    /// NATS could not be reached or refused; retry.
    #[error("checkpoint {key}: {reason}")]
    Transient {
        /// The key.
        key: String,
        /// The cause.
        reason: String,
    },
    /// The stored value is not a valid checkpoint.
    #[error("checkpoint {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// The cause.
        reason: String,
    },
}

/// One partition's checkpoint slot.
pub struct Checkpoint {
    kv: Store,
    key: String,
    revision: u64,
}

impl Checkpoint {
    /// Opens the slot `key` and reads its current value.
    ///
    /// # Errors
    /// When the bucket is missing, unreachable, or the value does not parse.
    pub async fn open<T: DeserializeOwned>(
        js: &async_nats::jetstream::Context,
        key: &str,
    ) -> Result<(Self, Option<T>), CheckpointError> {
        let transient = |reason: String| CheckpointError::Transient {
            key: key.to_owned(),
            reason,
        };
        let kv = js.get_key_value(BUCKET).await.map_err(|e| {
            transient(format!(
                "bucket {BUCKET}: {e}; run `deltastream topology apply`"
            ))
        })?;
        let entry = kv.entry(key).await.map_err(|e| transient(e.to_string()))?;
        let (revision, value) = match entry {
            Some(e) if e.operation == async_nats::jetstream::kv::Operation::Put => {
                let v = serde_json::from_slice::<T>(&e.value).map_err(|err| {
                    CheckpointError::Corrupt {
                        key: key.to_owned(),
                        reason: err.to_string(),
                    }
                })?;
                (e.revision, Some(v))
            }
            Some(e) => (e.revision, None),
            None => (0, None),
        };
        Ok((
            Self {
                kv,
                key: key.to_owned(),
                revision,
            },
            value,
        ))
    }

    /// Writes `value` if nobody else wrote since our last read or write.
    ///
    /// # Errors
    /// [`CheckpointError::Fenced`] when another instance wrote in between.
    pub async fn save<T: Serialize>(&mut self, value: &T) -> Result<(), CheckpointError> {
        let bytes = self.encode(value)?;
        self.save_encoded(bytes).await
    }

    /// `value` as this slot stores it, to be written later ([`Checkpoint::save_encoded`]).
    ///
    /// # Errors
    /// When `value` does not serialize.
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Bytes, CheckpointError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| CheckpointError::Corrupt {
                key: self.key.clone(),
                reason: e.to_string(),
            })
    }

    /// Writes a value [`Checkpoint::encode`]d, as [`Checkpoint::save`] does.
    ///
    /// # Errors
    /// As [`Checkpoint::save`].
    pub async fn save_encoded(&mut self, bytes: Bytes) -> Result<(), CheckpointError> {
        let result = if self.revision == 0 {
            self.kv.create(&self.key, bytes).await.map_err(|e| {
                if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists {
                    CheckpointError::Fenced(self.key.clone())
                } else {
                    CheckpointError::Transient {
                        key: self.key.clone(),
                        reason: e.to_string(),
                    }
                }
            })
        } else {
            self.kv
                .update(&self.key, bytes, self.revision)
                .await
                .map_err(|e| {
                    if e.kind() == UpdateErrorKind::WrongLastRevision {
                        CheckpointError::Fenced(self.key.clone())
                    } else {
                        CheckpointError::Transient {
                            key: self.key.clone(),
                            reason: e.to_string(),
                        }
                    }
                })
        };
        self.revision = result?;
        Ok(())
    }
}
