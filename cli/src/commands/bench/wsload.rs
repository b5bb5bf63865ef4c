//! The WebSocket load generator, run as its own process (`deltastream
//! bench-ws-load`, hidden) so that the CPU it burns is counted apart from the
//! server it measures: on a two-core machine it costs about as much as the
//! server, and in the bench's own process it would hide the server's cost.
//!
//! Protocol with the bench: it connects every client, prints `READY <n>`,
//! measures for `--secs`, then prints `RESULT <json>` ([`LoadResult`]) and exits.

use super::procstat;
use anyhow::Context as _;
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

/// `bench-ws-load` options.
#[derive(Args, Debug, Clone)]
pub struct WsLoadArgs {
    /// The WebSocket URL (`ws://host:port/ws`).
    #[arg(long)]
    pub url: String,
    /// Reading clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Of those, how many parse every frame to time it.
    #[arg(long, default_value_t = 50)]
    pub sampled: usize,
    /// A text frame every client sends once connected (repeatable).
    #[arg(long = "send")]
    pub send: Vec<String>,
    /// Extra clients that subscribe to every room of `--stall-products` with a
    /// tiny receive buffer and never read.
    #[arg(long, default_value_t = 0)]
    pub stalled: usize,
    /// The products the never-reading clients subscribe to.
    #[arg(long, value_delimiter = ',')]
    pub stall_products: Vec<String>,
    /// The measured window, from when every client is connected.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    /// Reading clients connected.
    pub connected: usize,
    /// Clients that could not connect (the handshake failed).
    #[serde(default)]
    pub failed: usize,
    /// The window (s).
    pub secs: f64,
    /// Text frames received by the readers in the window, by event (`event`
    /// field; `other` when there is none): `[frames, bytes]`.
    pub events: BTreeMap<String, [u64; 2]>,
    /// Event time (`data.ts_unix_ns` of `underlying_update`) → receipt, in ms,
    /// of the sampled readers' frames stamped inside the window; sorted.
    pub latencies_ms: Vec<f64>,
    /// Readers the server closed (or whose socket failed) during the window, by
    /// close code (0: no close frame).
    pub closed: BTreeMap<u16, usize>,
    /// This process's CPU seconds in the window.
    pub cpu_secs: f64,
}

impl LoadResult {
    /// Frames of every event.
    pub fn frames(&self) -> u64 {
        self.events.values().map(|[f, _]| f).sum()
    }

    /// Bytes of every event.
    pub fn bytes(&self) -> u64 {
        self.events.values().map(|[_, b]| b).sum()
    }

    /// Frames delivered per second, all readers together.
    pub fn frames_per_sec(&self) -> f64 {
        self.frames() as f64 / self.secs.max(1e-9)
    }

    /// Payload bytes per reader per second.
    pub fn bytes_per_client_sec(&self) -> f64 {
        self.bytes() as f64 / self.secs.max(1e-9) / self.connected.max(1) as f64
    }

    /// Readers closed by the server.
    pub fn dropped(&self) -> usize {
        self.closed.values().sum()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Clients in the middle of their handshake at once.
const CONNECTING: usize = 64;

/// A reader's receive buffer: the frames are small, and the library's default
/// (128 KiB, allocated up front) would be 1.25 GiB for 10,000 clients.
const READ_BUFFER: usize = 16 * 1024;

/// The measured window, once every client is connected.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Frames stamped before this are not timed.
    from_ns: i64,
    until: tokio::time::Instant,
}

/// Runs the load generator (the hidden subcommand).
///
/// # Errors
/// When no client can connect.
pub async fn main(args: WsLoadArgs) -> anyhow::Result<()> {
    ds_runtime::limits::raise_fd_limit();
    let (window_tx, window) = tokio::sync::watch::channel(None::<Window>);
    // Each reader reads from the moment it is connected (frames before the
    // window are discarded): a client left unread while thousands of others
    // connect would look stalled to the server.
    let mut connecting = futures::stream::iter(0..args.clients)
        .map(|i| {
            let (url, send) = (args.url.clone(), args.send.clone());
            async move { (i, connect(&url, &send).await) }
        })
        .buffer_unordered(CONNECTING);
    let mut tasks = Vec::with_capacity(args.clients);
    let mut failed = 0usize;
    let mut first_error = None;
    while let Some((i, r)) = connecting.next().await {
        match r {
            Ok(ws) => {
                let sample = tasks.len() < args.sampled;
                tasks.push(tokio::spawn(read(ws, sample, window.clone())));
            }
            Err(e) => {
                if failed < 5 {
                    eprintln!("bench-ws-load: client {i} cannot connect: {e:#}");
                }
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    drop(connecting);
    if tasks.is_empty() {
        let e = first_error.unwrap_or_else(|| anyhow::anyhow!("no clients asked for"));
        return Err(e.context("no client can connect"));
    }
    let mut stalled = Vec::new();
    for _ in 0..args.stalled {
        stalled.push(stalled_client(&args.url, &args.stall_products).await?);
    }
    let connected = tasks.len();
    println!("READY {connected}");
    let started = Instant::now();
    let cpu0 = procstat::read(std::process::id()).cpu_secs;
    window_tx.send_replace(Some(Window {
        from_ns: ds_processors::time::now_unix_ns(),
        until: tokio::time::Instant::now() + Duration::from_secs_f64(args.secs),
    }));
    let mut out = LoadResult {
        connected,
        failed,
        secs: args.secs,
        ..LoadResult::default()
    };
    for t in tasks {
        let Ok(r) = t.await else { continue };
        for (event, [f, b]) in r.events {
            let e = out.events.entry(event).or_default();
            e[0] += f;
            e[1] += b;
        }
        out.latencies_ms.extend(r.latencies_ms);
        if let Some(code) = r.closed {
            *out.closed.entry(code).or_default() += 1;
        }
    }
    out.cpu_secs = procstat::read(std::process::id()).cpu_secs - cpu0;
    out.secs = started.elapsed().as_secs_f64().max(args.secs);
    out.latencies_ms.sort_by(f64::total_cmp);
    drop(stalled);
    println!("RESULT {}", serde_json::to_string(&out)?);
    Ok(())
}

async fn connect(url: &str, send: &[String]) -> anyhow::Result<Ws> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    for s in send {
        ws.send(Message::text(s.clone())).await?;
    }
    Ok(ws)
}

/// A client with a 4 KiB receive buffer subscribed to every room of
/// `products`, which the caller never reads.
async fn stalled_client(url: &str, products: &[String]) -> anyhow::Result<Ws> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .context("a ws:// URL")?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(addr.parse()?).await?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await?;
    for p in products {
        for kind in ["product", "chain", "bars"] {
            let op = format!(r#"{{"op":"subscribe","type":"{kind}","symbol":"{p}"}}"#);
            ws.send(Message::text(op)).await?;
        }
    }
    Ok(ws)
}

/// One reader's window.
#[derive(Default)]
struct Read {
    events: BTreeMap<String, [u64; 2]>,
    latencies_ms: Vec<f64>,
    closed: Option<u16>,
}

/// One reader: discards what comes before the window, counts (and, when
/// `sample`, times) what comes in it. A close before or in the window counts.
async fn read(
    mut ws: Ws,
    sample: bool,
    mut window: tokio::sync::watch::Receiver<Option<Window>>,
) -> Read {
    let mut r = Read::default();
    let w = loop {
        tokio::select! {
            biased;
            w = window.wait_for(Option::is_some) => match w.ok().and_then(|w| *w) {
                Some(w) => break w,
                None => return r,
            },
            m = ws.next() => match m {
                Some(Ok(Message::Close(c))) => {
                    r.closed = Some(c.map_or(1005, |f| u16::from(f.code)));
                    return r;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    r.closed = Some(0);
                    return r;
                }
            },
        }
    };
    let (from_ns, until) = (w.from_ns, w.until);
    // Counted by event without parsing: every frame starts `{"event":"<name>"`.
    let mut counts: Vec<(Arc<str>, [u64; 2])> = Vec::new();
    loop {
        let m = match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(_)) | None) => {
                r.closed = Some(0);
                break;
            }
        };
        let text = match m {
            Message::Text(t) => t,
            Message::Close(c) => {
                r.closed = Some(c.map_or(1005, |f| u16::from(f.code)));
                break;
            }
            _ => continue,
        };
        let event = event_of(text.as_str());
        match counts.iter_mut().find(|(e, _)| &**e == event) {
            Some((_, c)) => {
                c[0] += 1;
                c[1] += text.len() as u64;
            }
            None => counts.push((Arc::from(event), [1, text.len() as u64])),
        }
        if sample && event == "underlying_update" {
            let now = ds_processors::time::now_unix_ns();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) {
                if let Some(ts) = v["data"]["ts_unix_ns"].as_i64().filter(|t| *t >= from_ns) {
                    r.latencies_ms.push((now - ts) as f64 / 1e6);
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    r.events = counts
        .into_iter()
        .map(|(e, c)| (e.to_string(), c))
        .collect();
    r
}

/// The `event` of a frame `{"event":"<name>",…}`, or `other`.
fn event_of(text: &str) -> &str {
    text.strip_prefix("{\"event\":\"")
        .and_then(|r| r.split('"').next())
        .unwrap_or("other")
}

/// Runs `deltastream bench-ws-load <args>` and `during` once its clients are
/// connected; returns what it measured.
///
/// # Errors
/// When the process cannot start, connects nobody or reports nothing.
pub async fn run<F: std::future::Future<Output = ()>>(
    args: &[String],
    during: F,
) -> anyhow::Result<LoadResult> {
    let exe = std::env::current_exe().context("locating the deltastream binary")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("bench-ws-load")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the load generator")?;
    let stdout = child.stdout.take().context("load generator stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.next_line().await?.unwrap_or_default();
    if !ready.starts_with("READY ") {
        let _ = child.wait().await;
        anyhow::bail!("the load generator did not connect its clients");
    }
    let (_, result) = tokio::join!(during, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(json) = line.strip_prefix("RESULT ") {
                return Ok(serde_json::from_str::<LoadResult>(json)?);
            }
        }
        anyhow::bail!("the load generator ended without a result")
    });
    let _ = child.wait().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_by_prefix() {
        assert_eq!(
            event_of(r#"{"event":"underlying_update","room":"product:X"}"#),
            "underlying_update"
        );
        assert_eq!(event_of(r#"{"room":"x"}"#), "other");
    }
}
