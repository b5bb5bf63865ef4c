//! The bare broadcast server (`deltastream bench-ws-bare`, hidden): this
//! machine's WebSocket fan-out ceiling. tokio and the gateway's WebSocket
//! library (axum's, on tungstenite), the same frames rendered by the
//! gateway's own renderer, and nothing else: no NATS, no rooms, no
//! conflation, no per-client state but a broadcast receiver. Each frame is
//! rendered once, stamped with the time it is broadcast (latency is measured
//! from there), and written by every client's task; a task writes all the
//! frames waiting for it, then flushes once.

use anyhow::Context as _;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use clap::Args;
use ds_gateway::live::render;
use ds_schemas::enriched::Enriched;
use ds_schemas::{ChainSummary, EnrichedUnderlying};
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Notify;

/// `bench-ws-bare` options.
#[derive(Args, Debug, Clone)]
pub struct BareArgs {
    /// Listen address (`host:port`).
    #[arg(long)]
    pub addr: String,
    /// `underlying_update` frames per second.
    #[arg(long)]
    pub underlying_rate: f64,
    /// `chain_summary` frames per second.
    #[arg(long, default_value_t = 0.0)]
    pub summary_rate: f64,
    /// Start broadcasting once this many clients are connected (as the
    /// gateway's feed starts once the load generator's clients are), so no
    /// client has a backlog when the measured window opens.
    #[arg(long, default_value_t = 0)]
    pub wait_clients: usize,
}

/// How long the broadcasts wait for `--wait-clients` at most.
const WAIT_CLIENTS_AT_MOST: Duration = Duration::from_secs(120);

/// What the handlers share.
#[derive(Clone)]
struct Shared {
    tx: broadcast::Sender<Utf8Bytes>,
    connected: Arc<AtomicUsize>,
    start: Arc<Notify>,
    wait_clients: usize,
}

/// Frames a client may fall behind before it skips some (the gateway's live
/// broadcast capacity).
const CAPACITY: usize = 16_384;

/// Runs the bare server until SIGTERM or Ctrl-C.
///
/// # Errors
/// When the address cannot be bound.
pub async fn main(args: BareArgs) -> anyhow::Result<()> {
    ds_runtime::limits::raise_fd_limit();
    let (tx, _) = broadcast::channel::<Utf8Bytes>(CAPACITY);
    let shared = Shared {
        tx: tx.clone(),
        connected: Arc::new(AtomicUsize::new(0)),
        start: Arc::new(Notify::new()),
        wait_clients: args.wait_clients,
    };
    let start = shared.start.clone();
    let wait = args.wait_clients > 0;
    tokio::spawn(async move {
        if wait {
            // Clients that cannot connect (the load generator reports them)
            // must not keep the others without frames.
            let _ = tokio::time::timeout(WAIT_CLIENTS_AT_MOST, start.notified()).await;
        }
        tokio::join!(
            broadcast_every(tx.clone(), args.underlying_rate, underlying),
            broadcast_every(tx, args.summary_rate, summary),
        );
    });
    let app = Router::new().route("/ws", get(upgrade)).with_state(shared);
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?
        .tap_io(|s| ds_gateway::ws::tune_socket(s));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(t) = term.as_mut() { t.recv().await; } } => {}
            }
        })
        .await?;
    Ok(())
}

async fn upgrade(State(s): State<Shared>, ws: WebSocketUpgrade) -> axum::response::Response {
    let rx = s.tx.subscribe();
    // A permit is kept if the broadcaster is not waiting yet.
    if s.connected.fetch_add(1, Ordering::Relaxed) + 1 == s.wait_clients {
        s.start.notify_one();
    }
    // The gateway's buffers, so memory compares like for like.
    ws.read_buffer_size(ds_gateway::ws::READ_BUFFER)
        .write_buffer_size(ds_gateway::ws::WRITE_BUFFER)
        .on_upgrade(move |socket| client(socket, rx))
}

/// Writes every broadcast frame to one client, several per flush.
async fn client(socket: WebSocket, mut rx: broadcast::Receiver<Utf8Bytes>) {
    let (mut sink, mut source) = socket.split();
    // Client frames (its subscribe) are read and ignored.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    'out: loop {
        let first = match rx.recv().await {
            Ok(f) => f,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => break,
        };
        if sink.feed(Message::Text(first)).await.is_err() {
            break;
        }
        loop {
            match rx.try_recv() {
                Ok(f) => {
                    if sink.feed(Message::Text(f)).await.is_err() {
                        break 'out;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() || reader.is_finished() {
            break;
        }
    }
    reader.abort();
}

/// Broadcasts `frame(seq)` `rate` times a second (never, at 0).
async fn broadcast_every(
    tx: broadcast::Sender<Utf8Bytes>,
    rate: f64,
    frame: fn(u64) -> Option<Utf8Bytes>,
) {
    if rate <= 0.0 {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 1.. {
        every.tick().await;
        if let Some(f) = frame(seq) {
            // No client yet is fine.
            let _ = tx.send(f);
        }
    }
}

/// A NIFTY tick stamped now, rendered as the gateway renders it.
fn underlying(seq: u64) -> Option<Utf8Bytes> {
    let price = 23_512.35 + (seq % 40) as f64 * 0.05;
    let m = EnrichedUnderlying {
        product: "NIFTY".into(),
        price,
        ts_unix_ns: ds_processors::time::now_unix_ns(),
        seq,
        session_open: 23_480.0,
        session_high: 23_561.9,
        session_low: 23_431.15,
        change_pct: (price - 23_480.0) / 23_480.0 * 100.0,
        source_seq: seq * 3,
        volume: 1_250_000 + seq,
    };
    render::update(Enriched::Underlying(m), seq)
        .ok()
        .map(|u| u.frame)
}

/// A chain summary stamped now, rendered as the gateway renders it.
fn summary(seq: u64) -> Option<Utf8Bytes> {
    let m = ChainSummary {
        product: "NIFTY".into(),
        expiry: "2025-01-16".into(),
        spot: 23_512.35,
        ts_unix_ns: ds_processors::time::now_unix_ns(),
        pcr_oi: 0.9312,
        pcr_volume: 1.0841,
        atm_strike: 23_500.0,
        atm_straddle: 212.45,
        max_pain_strike: 23_450.0,
        atm_iv: Some(0.1387),
        seq,
        source_seq: seq * 3,
    };
    render::update(Enriched::Summary(m), seq)
        .ok()
        .map(|u| u.frame)
}
