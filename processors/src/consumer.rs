//! The one consumer loop: pull from a durable JetStream consumer, drain what has
//! arrived into a batch, hand it to a [`Handler`], rebuild a stalled consumer, and
//! stop first when asked.
//!
//! Handlers return what became of each message ([`Outcome`]); [`Unsettled`] turns
//! it, in one place, into an ack, a nak with a delay, or a dead letter and a term,
//! and sends those only when the handler says its effects are durable.

use crate::time::now_unix_ns;
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, PullConsumer};
use async_nats::jetstream::{AckKind, Message};
use ds_runtime::dlq;
use ds_runtime::metrics::metrics;
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::dead_letter;
use futures::{FutureExt, StreamExt};
use std::future::Future;
use std::time::Duration;
use tokio::time::{interval, Interval};

/// With messages pending and none received for this long, the consumer is rebuilt.
pub const STALL_AFTER: Duration = Duration::from_secs(15);

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled: acknowledged once the handler's effects are durable.
    Done,
    /// Not now (a server away): redelivered after this delay.
    RetryLater(Duration),
    /// Never: dead-lettered with the reason, then terminated.
    Poison(String),
}

/// How a handler goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep consuming.
    Continue,
    /// Another instance owns the work now (its checkpoint fenced this one): stop.
    Fenced,
}

/// How a consumer loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop.
    Stopped,
    /// Another instance took the work over (checkpoint fenced).
    Fenced,
}

/// How the consumer acknowledges (its `AckPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `Explicit`: every message on its own.
    Each,
    /// `All`: an ack covers every message before it, so only the last is sent.
    UpTo,
}

/// Where a processor's messages come from, as its dead letters name it.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The processor (`enrich`, `project`).
    pub processor: &'static str,
    /// The stream it reads.
    pub stream: &'static str,
}

/// What is sent to the consumer for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    Ack,
    Nak(Duration),
    Term,
}

/// Handled messages whose acks wait until the handler's effects are durable.
pub struct Unsettled {
    acks: Acks,
    origin: Origin,
    each: Vec<(Message, Settle)>,
    last: Option<Message>,
    count: usize,
}

impl Unsettled {
    /// Nothing recorded yet.
    pub fn new(acks: Acks, origin: Origin) -> Self {
        Self {
            acks,
            origin,
            each: Vec::new(),
            last: None,
            count: 0,
        }
    }

    /// Messages recorded since the last [`Unsettled::settle`].
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing waits to be settled.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records what became of `msg`: the one place an outcome becomes an action.
    /// Done → ack; retry later → nak with the delay; poison → a dead letter,
    /// published now on `publisher` (durable at its next flush, which the handler
    /// awaits before settling), then a term. Nothing reaches the consumer before
    /// [`Unsettled::settle`].
    ///
    /// # Errors
    /// When the dead letter cannot be published, or a retry is asked of an
    /// ack-all consumer (whose next ack would cover it: it restarts from its
    /// checkpoint instead).
    pub async fn record(
        &mut self,
        msg: Message,
        outcome: Outcome,
        publisher: &mut Publisher,
    ) -> anyhow::Result<()> {
        let settle = match outcome {
            Outcome::Done => Settle::Ack,
            Outcome::RetryLater(delay) => Settle::Nak(delay),
            Outcome::Poison(reason) => {
                dead_letter(self.origin, &msg, &reason, publisher).await?;
                Settle::Term
            }
        };
        match (self.acks, settle) {
            (Acks::Each, s) => self.each.push((msg, s)),
            (Acks::UpTo, Settle::Nak(_)) => {
                anyhow::bail!("{}: an ack-all consumer cannot redeliver one message; restarting from the checkpoint", self.origin.processor)
            }
            // A term is an ack to an ack-all consumer, so the last message covers both.
            (Acks::UpTo, _) => self.last = Some(msg),
        }
        self.count += 1;
        Ok(())
    }

    /// Sends the acks, naks and terms recorded. Call it only once every effect of
    /// those messages (outputs, dead letters, checkpoint) is durable: acks come last.
    ///
    /// # Errors
    /// When the consumer cannot be told (the messages are redelivered then).
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        for (msg, s) in self.each.drain(..) {
            let kind = match s {
                Settle::Ack => AckKind::Ack,
                Settle::Nak(delay) => AckKind::Nak(Some(delay)),
                Settle::Term => AckKind::Term,
            };
            msg.ack_with(kind)
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        if let Some(last) = self.last.take() {
            last.ack_with(AckKind::Ack)
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        self.count = 0;
        Ok(())
    }
}

/// Publishes the dead letter of `msg` (durable once `publisher` is flushed).
async fn dead_letter(
    origin: Origin,
    msg: &Message,
    reason: &str,
    publisher: &mut Publisher,
) -> anyhow::Result<()> {
    let info = msg
        .info()
        .map_err(|e| anyhow::anyhow!("message info: {e}"))?;
    let letter = dead_letter::letter(
        dead_letter::Source {
            processor: origin.processor,
            stream: origin.stream,
            subject: msg.subject.as_str(),
            stream_seq: info.stream_sequence,
            schema: ds_runtime::headers::schema(msg.headers.as_ref()),
            payload: &msg.payload,
        },
        reason,
        info.delivered.max(1) as u64,
        now_unix_ns(),
    );
    dlq::publish(publisher, &letter).await?;
    Ok(())
}

/// A processor's side of the loop. Every method is called from the loop's one
/// task, never two at once.
pub trait Handler: Send {
    /// What [`Handler::ready`] resolves to.
    type Ready: Send;

    /// How many more messages the handler takes now (0: none until it is ready).
    fn room(&self) -> usize;

    /// Handles messages just pulled, in stream order: records each one's outcome
    /// (or keeps it for later work).
    fn handle(&mut self, batch: Vec<Message>) -> impl Future<Output = anyhow::Result<Flow>> + Send;

    /// Resolves when deferred work is due (a timer, a write that finished).
    /// Cancel-safe: it only waits; the work happens in [`Handler::on_ready`].
    fn ready(&mut self) -> impl Future<Output = Self::Ready> + Send;

    /// Does the work that became due.
    fn on_ready(&mut self, ready: Self::Ready)
        -> impl Future<Output = anyhow::Result<Flow>> + Send;

    /// Stopping: makes what was handled durable and settles it.
    fn stop(&mut self) -> impl Future<Output = anyhow::Result<Flow>> + Send;
}

/// A pulling durable consumer.
pub struct Source {
    name: String,
    processor: &'static str,
    consumer: PullConsumer,
    messages: pull::Stream,
    watchdog: Interval,
    received_since_check: usize,
}

impl Source {
    /// Starts pulling from `consumer` (named `name`) in batches of `max_batch`.
    ///
    /// # Errors
    /// When the pull cannot start.
    pub async fn open(
        consumer: PullConsumer,
        name: &str,
        processor: &'static str,
        max_batch: usize,
    ) -> anyhow::Result<Self> {
        let messages = consumer
            .stream()
            .max_messages_per_batch(max_batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .with_context(|| format!("pulling from {name}"))?;
        let mut watchdog = interval(STALL_AFTER);
        watchdog.tick().await;
        Ok(Self {
            name: name.to_owned(),
            processor,
            consumer,
            messages,
            watchdog,
            received_since_check: 0,
        })
    }

    /// `first` and what else has already arrived, up to `room` messages.
    fn drain(
        &mut self,
        first: Option<Result<Message, pull::MessagesError>>,
        room: usize,
    ) -> anyhow::Result<Vec<Message>> {
        let name = &self.name;
        let mut batch = match first {
            Some(Ok(msg)) => vec![msg],
            Some(Err(e)) => anyhow::bail!("consumer {name}: {e}"),
            None => anyhow::bail!("consumer {name} ended"),
        };
        while batch.len() < room {
            match self.messages.next().now_or_never() {
                Some(Some(Ok(msg))) => batch.push(msg),
                Some(Some(Err(e))) => anyhow::bail!("consumer {name}: {e}"),
                _ => break,
            }
        }
        self.received_since_check += batch.len();
        let redelivered = metrics().redelivered.with_label_values(&[self.processor]);
        for msg in &batch {
            if msg.info().is_ok_and(|i| i.delivered > 1) {
                redelivered.inc();
            }
        }
        Ok(batch)
    }

    /// Reports the lag; fails when messages are pending and none arrived since
    /// the last check (the caller rebuilds the consumer).
    async fn check_stall(&mut self) -> anyhow::Result<()> {
        let info = self.consumer.info().await.context("consumer info")?;
        let m = metrics();
        m.consumer_lag
            .with_label_values(&[&self.name])
            .set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
        if self.received_since_check == 0 && info.num_pending > 0 {
            m.watchdog_restarts.with_label_values(&[&self.name]).inc();
            anyhow::bail!(
                "consumer {} stalled with {} pending; rebuilding",
                self.name,
                info.num_pending
            );
        }
        self.received_since_check = 0;
        Ok(())
    }
}

/// A consumer this process no longer pulls from reports no lag here: another
/// instance (or none) owns it now, and a stale value would keep a scaler, which
/// sums the lag of every consumer, scaled up.
impl Drop for Source {
    fn drop(&mut self) {
        let _ = metrics().consumer_lag.remove_label_values(&[&self.name]);
    }
}

/// Runs `handler` on `source` until stopped or fenced. Shutdown comes first, then
/// the handler's due work, the watchdog, and new messages.
///
/// # Errors
/// Transient failures (NATS away, consumer stalled): the caller rebuilds the
/// consumer with backoff.
pub async fn run<H: Handler>(
    mut source: Source,
    handler: &mut H,
    stop: &mut Shutdown,
) -> anyhow::Result<Exit> {
    let exit = |flow| match flow {
        Flow::Continue => None,
        Flow::Fenced => Some(Exit::Fenced),
    };
    loop {
        let room = handler.room();
        let flow = tokio::select! {
            biased;
            _ = stop.wait() => {
                return Ok(exit(handler.stop().await?).unwrap_or(Exit::Stopped));
            }
            ready = handler.ready() => handler.on_ready(ready).await?,
            _ = source.watchdog.tick() => {
                source.check_stall().await?;
                Flow::Continue
            }
            next = source.messages.next(), if room > 0 => {
                let batch = source.drain(next, room)?;
                handler.handle(batch).await?
            }
        };
        if let Some(e) = exit(flow) {
            return Ok(e);
        }
    }
}
