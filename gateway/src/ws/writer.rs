//! A client's writer: the only task that writes to its socket. It drains the
//! outbox in order, sends each room's snapshot or read-back at its place in the
//! queue, never sends a frame whose sequence is not above the last one sent in
//! its room, and sends the close frame when the client is closed.

use super::options::WsOptions;
use super::outbox::{CloseReason, Entry, Outbox, Start};
use super::protocol;
use super::protocol::{Encoding, Format};
use crate::live::{follow, Event, Live, Update};
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
/// Bytes fed after which the socket is flushed mid-batch: a slow reader shows
/// progress (the stall clock) at least this often, and the socket's write
/// buffer, which keeps the largest size it reached, stays about this small.
const FLUSH_AFTER: usize = 16 * 1024;
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
        let c = |e: &str| metrics().gateway.ws_sent.with_label_values(&[e]);
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

/// What a writer keeps of a room the client joined.
#[derive(Default)]
struct Room {
    /// The last sequence sent (frames at or below it are not sent again).
    last: u64,
    /// With delta encoding: the sequence of the last frame sent of each chain
    /// (room key); a delta frame goes out only on top of that one.
    chains: Option<HashMap<Arc<str>, u64>>,
}

/// The writer of one client.
pub struct Writer<'a, S> {
    sink: &'a mut S,
    outbox: Arc<Outbox>,
    live: Live,
    opts: WsOptions,
    /// Rooms joined (`general` is implicit).
    rooms: HashMap<Arc<str>, Room>,
    /// Frames fed since the last flush.
    tally: Tally,
    /// Bytes fed since the last flush.
    unflushed: usize,
    /// JSON text or binary data frames.
    format: Format,
}

impl<'a, S> Writer<'a, S>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    /// A writer on `sink` draining `outbox`, sending data frames in `format`.
    pub fn new(
        sink: &'a mut S,
        outbox: Arc<Outbox>,
        live: Live,
        opts: WsOptions,
        format: Format,
    ) -> Self {
        Self {
            sink,
            outbox,
            live,
            opts,
            rooms: HashMap::new(),
            tally: Tally::default(),
            unflushed: 0,
            format,
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
                () = self.outbox.next_batch(&mut batch, BATCH, &self.opts) => {}
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
        self.feed_message(text.len(), Message::Text(text), event)
            .await
    }

    async fn feed_message(
        &mut self,
        len: usize,
        message: Message,
        event: Option<Event>,
    ) -> Result<(), axum::Error> {
        self.unflushed += len;
        self.sink.feed(message).await?;
        self.tally.add(event);
        if self.unflushed >= FLUSH_AFTER {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends an update unless the room already got it (or something newer):
    /// its binary frame to a `?format=proto` client; else its delta frame to a
    /// client that asked for deltas and has the chain it applies to, else the
    /// whole frame.
    async fn feed_update(&mut self, u: &Update) -> Result<(), axum::Error> {
        let room = match self.rooms.get_mut(&u.room) {
            Some(room) => room,
            // `general` needs no subscribe; any other room was left (a late frame).
            None if &*u.room == super::rooms::GENERAL => {
                self.rooms.entry(u.room.clone()).or_default()
            }
            None => return Ok(()),
        };
        let seq = u.value.seq;
        if seq <= room.last {
            return Ok(());
        }
        room.last = seq;
        if self.format == Format::Proto {
            let frame = u.proto_frame();
            return self
                .feed_message(frame.len(), Message::Binary(frame), Some(u.event))
                .await;
        }
        let frame = match &mut room.chains {
            Some(chains) => {
                let had = chains.insert(u.key.clone(), seq);
                match &u.delta {
                    Some(d) if had == Some(d.base_seq) => d.frame.clone(),
                    _ => u.frame.clone(),
                }
            }
            None => u.frame.clone(),
        };
        self.feed(frame, Some(u.event)).await
    }

    /// Feeds every entry of `batch` (leaving it empty), then flushes once.
    async fn write_batch(&mut self, batch: &mut Vec<Entry>) -> Result<(), axum::Error> {
        for e in batch.drain(..) {
            match e {
                Entry::Update(u) => self.feed_update(&u).await?,
                Entry::Text(t) => self.feed(t, None).await?,
                Entry::Join {
                    room,
                    start,
                    encoding,
                    ..
                } => {
                    let chains = (encoding == Encoding::Delta).then(HashMap::new);
                    let last = match start {
                        Start::After(since) => since,
                        Start::Snapshot | Start::Live => 0,
                    };
                    self.rooms.insert(room.clone(), Room { last, chains });
                    match start {
                        Start::Snapshot => self.snapshot(&room).await?,
                        // Boxed: reading the stream back takes a large future
                        // that every writer would otherwise carry inline.
                        Start::After(since) => Box::pin(self.resume(&room, since)).await?,
                        Start::Live => {}
                    }
                }
                Entry::Resync {
                    room,
                    snapshot,
                    reason,
                } => {
                    let Some(r) = self.rooms.get_mut(&room) else {
                        continue;
                    };
                    if let Some(chains) = &mut r.chains {
                        chains.clear();
                    }
                    self.feed(protocol::resync(&room, reason), None).await?;
                    if snapshot {
                        self.snapshot(&room).await?;
                    }
                }
                Entry::Left(room) => {
                    self.rooms.remove(&room);
                    self.feed(protocol::unsubscribed(&room), None).await?;
                }
            }
        }
        self.flush().await
    }

    /// Flushes the socket and records the progress.
    async fn flush(&mut self) -> Result<(), axum::Error> {
        self.sink.flush().await?;
        self.unflushed = 0;
        metrics().gateway.ws_flushes.inc();
        self.tally.flush();
        self.outbox.progress();
        Ok(())
    }

    /// The room's latest values, from scratch (the client forgot the room or
    /// is resyncing): whole frames, whatever was sent before.
    async fn snapshot(&mut self, room: &Arc<str>) -> Result<(), axum::Error> {
        let r = self.rooms.entry(room.clone()).or_default();
        r.last = 0;
        if let Some(chains) = &mut r.chains {
            chains.clear();
        }
        for u in self.live.snapshot(room) {
            self.feed_update(&u).await?;
        }
        Ok(())
    }

    /// Every message of the room after `since`, or `resync` + snapshot when the
    /// stream no longer has them.
    async fn resume(&mut self, room: &Arc<str>, since: u64) -> Result<(), axum::Error> {
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
            self.send_back(consumer).await?;
        }
        Ok(None)
    }

    /// Sends what `consumer` reads (one room), flushing every
    /// [`RESUME_FLUSH_EVERY`] frames, until it has nothing pending.
    async fn send_back(
        &mut self,
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
                self.feed_update(&u).await?;
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
