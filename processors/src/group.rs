//! Consumer groups over JetStream KV: instances of a processor share a set of
//! partitions (here: products) through leases in the `ds_leases` bucket.
//!
//! Each instance heartbeats `<group>.member.<id>`; every round it renews the
//! leases it holds (`<group>.owner.<partition>`, compare-and-set on the revision),
//! takes free partitions up to its fair share (⌈partitions / members⌉) and
//! releases what exceeds it. Entries expire after the bucket's max age (10 s), so
//! the partitions of an instance that dies are taken over within seconds. A lease
//! is only a hint for who should work: correctness never depends on it alone (the
//! partition's checkpoint is written with compare-and-set, which fences a
//! superseded owner).

use async_nats::jetstream::kv::Store;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// The leases bucket (declared in `nats/kv/ds_leases.json`).
pub const BUCKET: &str = "ds_leases";
/// How often leases are renewed (well inside the bucket's 10 s max age).
pub const RENEW_EVERY: Duration = Duration::from_secs(2);

/// A member of a consumer group.
pub struct Member {
    kv: Store,
    group: String,
    id: String,
    held: BTreeMap<String, u64>,
}

/// What a round decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Partitions newly acquired: start working on them.
    pub acquired: Vec<String>,
    /// Partitions lost (renewal failed) or to release: stop working on them.
    pub lost: Vec<String>,
}

/// A unique-enough instance id: host, pid and start time.
pub fn instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let clean: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{clean}-{}-{}",
        std::process::id(),
        crate::time::now_unix_ns() % 1_000_000_000
    )
}

impl Member {
    /// Joins `group` on the leases bucket.
    ///
    /// # Errors
    /// When the bucket is missing (run `topology apply`).
    pub async fn join(
        js: &async_nats::jetstream::Context,
        group: &str,
        id: String,
    ) -> anyhow::Result<Self> {
        let kv = js.get_key_value(BUCKET).await.map_err(|e| {
            anyhow::anyhow!("KV bucket {BUCKET} is missing ({e}); run `deltastream topology apply`")
        })?;
        Ok(Self {
            kv,
            group: group.to_owned(),
            id,
            held: BTreeMap::new(),
        })
    }

    /// This member's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The partitions this member holds (as of its last round), ascending.
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.held.keys().map(String::as_str)
    }

    fn owner_key(&self, partition: &str) -> String {
        format!("{}.owner.{}", self.group, partition)
    }

    /// One round: heartbeat, renew, rebalance. `partitions` is the full set.
    ///
    /// # Errors
    /// When the KV bucket cannot be reached (the caller retries next round; leases
    /// it cannot renew expire and are reported lost then).
    pub async fn round(&mut self, partitions: &[String]) -> anyhow::Result<Round> {
        let mut round = Round::default();
        self.kv
            .put(
                format!("{}.member.{}", self.group, self.id),
                Bytes::from_static(b"1"),
            )
            .await?;
        // Renew what we hold.
        let held: Vec<(String, u64)> = self.held.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (p, rev) in held {
            match self
                .kv
                .update(self.owner_key(&p), Bytes::from(self.id.clone()), rev)
                .await
            {
                Ok(new_rev) => {
                    self.held.insert(p, new_rev);
                }
                Err(e) => {
                    tracing::warn!(group = %self.group, partition = %p, error = %e, "lease lost");
                    self.held.remove(&p);
                    round.lost.push(p);
                }
            }
        }
        let members = self.count_members().await?.max(1);
        let fair = partitions.len().div_ceil(members);
        // Release the excess (the highest-named first, deterministically).
        while self.held.len() > fair {
            let Some((p, rev)) = self.held.pop_last() else {
                break;
            };
            let _ = self
                .kv
                .delete_expect_revision(self.owner_key(&p), Some(rev))
                .await;
            round.lost.push(p);
        }
        // Take free partitions up to the fair share, starting at an offset derived
        // from our id so that members starting together spread out.
        if self.held.len() < fair && !partitions.is_empty() {
            let start = self
                .id
                .bytes()
                .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize))
                % partitions.len();
            for i in 0..partitions.len() {
                if self.held.len() >= fair {
                    break;
                }
                let p = &partitions[(start + i) % partitions.len()];
                if self.held.contains_key(p) {
                    continue;
                }
                if let Ok(rev) = self
                    .kv
                    .create(self.owner_key(p), Bytes::from(self.id.clone()))
                    .await
                {
                    self.held.insert(p.clone(), rev);
                    round.acquired.push(p.clone());
                }
            }
        }
        Ok(round)
    }

    async fn count_members(&self) -> anyhow::Result<usize> {
        let prefix = format!("{}.member.", self.group);
        let mut keys = self.kv.keys().await?;
        let mut n = 0;
        while let Some(k) = keys.next().await {
            if k?.starts_with(&prefix) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Gives up one partition (e.g. after its worker was fenced), for re-balancing.
    pub async fn release(&mut self, partition: &str) {
        if let Some(rev) = self.held.remove(partition) {
            let _ = self
                .kv
                .delete_expect_revision(self.owner_key(partition), Some(rev))
                .await;
        }
    }

    /// Leaves the group: releases every lease and the membership at once, so the
    /// others take over without waiting for expiry.
    pub async fn leave(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (p, rev) in held {
            let _ = self
                .kv
                .delete_expect_revision(self.owner_key(&p), Some(rev))
                .await;
        }
        let _ = self
            .kv
            .delete(format!("{}.member.{}", self.group, self.id))
            .await;
    }
}
