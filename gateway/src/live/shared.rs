//! What the [`super::Live`] handles share with the consumer task: the latest
//! values and the broadcast of every message.

use super::latest::Latest;
use super::update::Update;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::broadcast;

/// Shared between the handles and the consumer task.
pub(super) struct Shared {
    pub(super) latest: RwLock<Latest>,
    pub(super) tx: broadcast::Sender<Arc<Update>>,
}

impl Shared {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Latest> {
        // A panic while holding the lock cannot leave `Latest` half-updated in a
        // way readers care about (each insert is one map operation).
        self.latest.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Latest> {
        self.latest.write().unwrap_or_else(|p| p.into_inner())
    }
}
