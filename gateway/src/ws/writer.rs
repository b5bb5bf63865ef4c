//! A client's writer: the only task that writes to its socket. It drains the
//! outbox in order, sends each room's snapshot or read-back at its place in the
//! queue, never sends a frame whose sequence is not above the last one sent in
//! its room, and sends the close frame when the client is closed.

use super::options::WsOptions;
use super::outbox::{CloseReason, Entry, Outbox};
use super::protocol;
use crate::live::{follow, Event, Live};
use async_nats::jetstream::consumer::{pull, Consumer, DeliverPolicy};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use ds_runtime::metrics::metrics;
use ds_schemas::subjects::STREAM_ENRICHED;
use futures::{Sink, SinkExt, StreamExt};
use prometheus::IntCounter;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// Entries taken from the outbox per socket flush.
const BATCH: usize = 64;
/// Frames read back (resume) between two flushes.
const RESUME_FLUSH_EVERY: usize = 64;
/// A read-back that gets no message for this long is abandoned (resync).
const RESUME_IDLE: Duration = Duration::from_secs(5);

/// `deltastream_ws_messages_sent_total` by event, looked up once.
struct Sent {
    underlying: IntCounter,
    chain: IntCounter,
    summary: IntCounter,
    bar: IntCounter,
    control: IntCounter,
}

fn sent() -> &'static Sent {
    static S: OnceLock<Sent> = OnceLock::new();
    S.get_or_init(|| {
        let c = |e: &str| metrics().ws_sent.with_label_values(&[e]);
        Sent {
            underlying: c(Event::UnderlyingUpdate.name()),
            chain: c(Event::ChainUpdate.name()),
            summary: c(Event::ChainSummary.name()),
            bar: c(Event::BarUpdate.name()),
            control: c("control"),
        }
    })
}

/// Frames fed since the last flush, by event: counted into the shared metric
/// once per flush, not once per frame (the counters are shared by every
/// writer; per-frame increments would make every core fight for them).
#[derive(Default)]
struct Tally {
    underlying: u64,
    chain: u64,
    summary: u64,
    bar: u64,
    control: u64,
}

impl Tally {
    fn add(&mut self, event: Option<Event>) {
        let n = match event {
            Some(Event::UnderlyingUpdate) => &mut self.underlying,
            Some(Event::ChainUpdate) => &mut self.chain,
            Some(Event::ChainSummary) => &mut self.summary,
            Some(Event::BarUpdate) => &mut self.bar,
            None => &mut self.control,
        };
        *n += 1;
    }

    fn flush(&mut self) {
        let s = sent();
        for (counter, n) in [
            (&s.underlying, self.underlying),
            (&s.chain, self.chain),
            (&s.summary, self.summary),
            (&s.bar, self.bar),
            (&s.control, self.control),
        ] {
            if n > 0 {
                counter.inc_by(n);
            }
        }
        *self = Tally::default();
    }
}

/// Why reading a room back did not deliver it.
enum ReadBackError {
    /// The socket failed: the connection is over.
    Socket(axum::Error),
    /// The stream cannot give it: resync from the snapshot instead.
    Source(String),
}

impl From<axum::Error> for ReadBackError {
    fn from(e: axum::Error) -> Self {
        ReadBackError::Socket(e)
    }
}

fn source(e: impl std::fmt::Display) -> ReadBackError {
    ReadBackError::Source(format!("could not read MD_ENRICHED: {e}"))
}

/// How a writer ended.
pub enum Ended {
    /// The server closed the client (the close frame was sent or timed out).
    Closed(CloseReason),
    /// The socket failed.
    SocketError,
}

/// Resolves with the close reason once the outbox is closed.
pub async fn wait_closed(rx: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    match rx.wait_for(Option::is_some).await {
        Ok(r) => r.clone().unwrap_or_else(going_away),
        // The outbox is gone: the session is ending anyway.
        Err(_) => going_away(),
    }
}

fn going_away() -> CloseReason {
    CloseReason {
        code: 1001,
        reason: "server shutting down".into(),
    }
}

/// The writer of one client.
pub struct Writer<'a, S> {
    sink: &'a mut S,
    outbox: Arc<Outbox>,
    live: Live,
    opts: WsOptions,
    /// Rooms joined, with the last sequence sent in each (`general` is implicit).
    last_sent: HashMap<Arc<str>, u64>,
    /// Frames fed since the last flush.
    tally: Tally,
}

impl<'a, S> Writer<'a, S>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    /// A writer on `sink` draining `outbox`.
    pub fn new(sink: &'a mut S, outbox: Arc<Outbox>, live: Live, opts: WsOptions) -> Self {
        Self {
            sink,
            outbox,
            live,
            opts,
            last_sent: HashMap::new(),
            tally: Tally::default(),
        }
    }

    /// Writes until the client is closed or the socket fails.
    pub async fn run(mut self) -> Ended {
        let mut closed = self.outbox.closed();
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                reason = wait_closed(&mut closed) => return self.close(reason).await,
                () = self.outbox.next_batch(&mut batch, BATCH) => {}
            };
            let written = tokio::select! {
                biased;
                reason = wait_closed(&mut closed) => return self.close(reason).await,
                r = self.write_batch(&mut batch) => r,
            };
            if written.is_err() {
                return Ended::SocketError;
            }
        }
    }

    async fn close(self, reason: CloseReason) -> Ended {
        let frame = CloseFrame {
            code: reason.code,
            reason: Utf8Bytes::from(truncate(&reason.reason, 123)),
        };
        let _ = tokio::time::timeout(
            self.opts.close_timeout,
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
        Ended::Closed(reason)
    }

    async fn feed(&mut self, text: Utf8Bytes, event: Option<Event>) -> Result<(), axum::Error> {
        self.sink.feed(Message::Text(text)).await?;
        self.tally.add(event);
        Ok(())
    }

    /// Sends a live update unless the room already got it (or something newer).
    async fn feed_update(
        &mut self,
        room: &Arc<str>,
        seq: u64,
        frame: Utf8Bytes,
        event: Event,
    ) -> Result<(), axum::Error> {
        let last = match self.last_sent.get_mut(room) {
            Some(last) => last,
            // `general` needs no subscribe; any other room was left (a late frame).
            None if &**room == super::rooms::GENERAL => {
                self.last_sent.entry(room.clone()).or_insert(0)
            }
            None => return Ok(()),
        };
        if seq <= *last {
            return Ok(());
        }
        *last = seq;
        self.feed(frame, Some(event)).await
    }

    /// Feeds every entry of `batch` (leaving it empty), then flushes once.
    async fn write_batch(&mut self, batch: &mut Vec<Entry>) -> Result<(), axum::Error> {
        for e in batch.drain(..) {
            match e {
                Entry::Update(u) => {
                    self.feed_update(&u.room, u.value.seq, u.frame.clone(), u.event)
                        .await?
                }
                Entry::Text(t) => self.feed(t, None).await?,
                Entry::Snapshot(room) => self.snapshot(&room).await?,
                Entry::Joined(room) => {
                    self.last_sent.insert(room, 0);
                }
                Entry::Resume { room, since } => self.resume(&room, since).await?,
                Entry::Left(room) => {
                    self.last_sent.remove(&room);
                    self.feed(protocol::unsubscribed(&room), None).await?;
                }
            }
        }
        self.flush().await
    }

    /// Flushes the socket and records the progress.
    async fn flush(&mut self) -> Result<(), axum::Error> {
        self.sink.flush().await?;
        self.tally.flush();
        self.outbox.progress();
        Ok(())
    }

    /// The room's latest values, from scratch (the client forgot the room or
    /// is resyncing).
    async fn snapshot(&mut self, room: &Arc<str>) -> Result<(), axum::Error> {
        self.last_sent.insert(room.clone(), 0);
        for u in self.live.snapshot(room) {
            self.feed_update(room, u.value.seq, u.frame.clone(), u.event)
                .await?;
        }
        Ok(())
    }

    /// Every message of the room after `since`, or `resync` + snapshot when the
    /// stream no longer has them.
    async fn resume(&mut self, room: &Arc<str>, since: u64) -> Result<(), axum::Error> {
        self.last_sent.insert(room.clone(), since);
        let reason = match self.read_back(room, since).await {
            Ok(None) => return Ok(()),
            Ok(Some(reason)) | Err(ReadBackError::Source(reason)) => reason,
            Err(ReadBackError::Socket(e)) => return Err(e),
        };
        tracing::debug!(
            room = &**room,
            since,
            reason,
            "WebSocket resume falls back to the snapshot"
        );
        self.feed(protocol::resync(room, &reason), None).await?;
        self.snapshot(room).await
    }

    /// Reads the room back from `MD_ENRICHED`; `Some(reason)` when it cannot be
    /// resumed from `since`.
    async fn read_back(
        &mut self,
        room: &Arc<str>,
        since: u64,
    ) -> Result<Option<String>, ReadBackError> {
        let filter = protocol::room_filter(room)
            .ok_or_else(|| ReadBackError::Source(format!("unknown room {room}")))?;
        let mut stream = self
            .live
            .jetstream()
            .get_stream(STREAM_ENRICHED)
            .await
            .map_err(source)?;
        let state = stream.info().await.map_err(source)?.state.clone();
        if let Some(reason) = out_of_stream(since, state.first_sequence, state.last_sequence) {
            return Ok(Some(reason));
        }
        if since == state.last_sequence {
            return Ok(None);
        }
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: since + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(source)?;
        let pending = consumer.cached_info().num_pending;
        if pending > self.opts.max_resume {
            return Ok(Some(format!(
                "{pending} messages to resume, more than the limit of {}",
                self.opts.max_resume
            )));
        }
        if pending > 0 {
            self.send_back(room, consumer).await?;
        }
        Ok(None)
    }

    /// Sends what `consumer` reads of `room`, flushing every
    /// [`RESUME_FLUSH_EVERY`] frames, until it has nothing pending.
    async fn send_back(
        &mut self,
        room: &Arc<str>,
        consumer: Consumer<pull::OrderedConfig>,
    ) -> Result<(), ReadBackError> {
        let mut messages = consumer.messages().await.map_err(source)?;
        let mut unflushed = 0usize;
        loop {
            let next = tokio::time::timeout(RESUME_IDLE, messages.next())
                .await
                .map_err(|_| ReadBackError::Source("reading MD_ENRICHED back timed out".into()))?;
            let Some(m) = next else { break };
            let m = m.map_err(source)?;
            let (seq, left) = match m.info() {
                Ok(i) => (i.stream_sequence, i.pending),
                Err(e) => return Err(source(e)),
            };
            if let Some(u) = follow::decode(m.subject.as_str(), m.headers.as_ref(), &m.payload, seq)
            {
                self.feed_update(room, seq, u.frame, u.event).await?;
                unflushed += 1;
                if unflushed == RESUME_FLUSH_EVERY {
                    unflushed = 0;
                    self.flush().await?;
                }
            }
            if left == 0 {
                break;
            }
        }
        self.flush().await?;
        Ok(())
    }
}

/// Why a resume from `since` cannot be served by a stream holding
/// `first..=last`, if it cannot.
fn out_of_stream(since: u64, first: u64, last: u64) -> Option<String> {
    if since > last {
        return Some(format!(
            "resume point {since} is ahead of the stream (last sequence {last}); was it recreated?"
        ));
    }
    if since.saturating_add(1) < first {
        return Some(format!(
            "resume point {since} is older than the stream keeps (first sequence {first})"
        ));
    }
    None
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(super) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
