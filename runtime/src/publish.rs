//! Asynchronous JetStream publishing with a bounded window of outstanding acks:
//! many messages in flight, not one round trip per message, and back-pressure
//! once the window is full. A publish the server refuses for this identity's
//! permissions fails at once with [`Error::PermissionDenied`] (the server
//! drops it, so its ack would only time out, and a retry cannot help).

use crate::auth::violations;
use crate::{headers, Error, Result};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::Context;
use async_nats::HeaderMap;
use bytes::Bytes;
use ds_schemas::Schema;
use std::collections::VecDeque;

/// Default number of publishes awaiting their ack.
pub const DEFAULT_WINDOW: usize = 512;

/// A publisher that keeps at most `window` acks outstanding.
pub struct Publisher {
    js: Context,
    window: usize,
    /// The identity's inbox prefix, for its permission violations.
    prefix: String,
    pending: VecDeque<(String, PublishAckFuture)>,
    published: u64,
    duplicates: u64,
}

impl Publisher {
    /// A publisher on `js` with at most `window` unacknowledged messages.
    pub fn new(js: Context, window: usize) -> Self {
        let prefix = crate::auth::violations::prefix_of(&js.client());
        Self {
            js,
            window: window.max(1),
            prefix,
            pending: VecDeque::with_capacity(window.max(1)),
            published: 0,
            duplicates: 0,
        }
    }

    /// Publishes `msg` on `subject` with `Ds-Schema` and `Nats-Msg-Id: msg_id`.
    /// Returns once the message is sent and the window has room; the ack is
    /// awaited later ([`Publisher::flush`]) or when the window is full.
    ///
    /// # Errors
    /// When sending fails or an earlier publish in the window was refused.
    pub async fn publish<T: Schema>(
        &mut self,
        subject: String,
        msg_id: &str,
        msg: &T,
    ) -> Result<()> {
        let h = headers::for_message::<T>(msg_id);
        self.publish_raw(subject, h, Bytes::from(msg.encode_to_vec()))
            .await
    }

    /// Publishes pre-encoded bytes with the given headers.
    ///
    /// # Errors
    /// As [`Publisher::publish`].
    pub async fn publish_raw(
        &mut self,
        subject: String,
        h: HeaderMap,
        payload: Bytes,
    ) -> Result<()> {
        while self.pending.len() >= self.window {
            self.await_oldest().await?;
        }
        if let Some(v) = violations::denied_publish(&self.prefix, &subject) {
            return Err(Error::PermissionDenied(v));
        }
        let fut = self
            .js
            .publish_with_headers(subject.clone(), h, payload)
            .await
            .map_err(Error::js)?;
        self.pending.push_back((subject, fut));
        Ok(())
    }

    async fn await_oldest(&mut self) -> Result<()> {
        if let Some((subject, fut)) = self.pending.pop_front() {
            let ack = tokio::select! {
                biased;
                ack = fut => ack.map_err(|e| match violations::denied_publish(&self.prefix, &subject) {
                    Some(v) => Error::PermissionDenied(v),
                    None => Error::js(e),
                })?,
                v = violations::wait_denied_publish(&self.prefix, &subject) => {
                    return Err(Error::PermissionDenied(v));
                }
            };
            self.published += 1;
            if ack.duplicate {
                self.duplicates += 1;
            }
        }
        Ok(())
    }

    /// Waits until every message published so far is acknowledged by JetStream.
    ///
    /// # Errors
    /// The first refused or timed-out publish.
    pub async fn flush(&mut self) -> Result<()> {
        while !self.pending.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }

    /// Messages acknowledged so far, and how many of them JetStream reported as duplicates.
    pub fn counts(&self) -> (u64, u64) {
        (self.published, self.duplicates)
    }
}
