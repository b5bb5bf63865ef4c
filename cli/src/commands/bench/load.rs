//! Load generators for the gateway: keep-alive HTTP/1.1 over raw sockets (so the
//! client costs little next to the server it measures), and WebSocket clients.

use super::report::percentile;
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Requests per second and latency percentiles (ms) of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpLoad {
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50: f64,
    /// 99th percentile latency.
    pub p99: f64,
    /// Responses that were not 200.
    pub errors: u64,
}

async fn one_connection(
    addr: String,
    path: String,
    until: Instant,
) -> std::io::Result<(Vec<f64>, u64)> {
    let stream = tokio::net::TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut line = String::new();
    let mut body = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        w.write_all(req.as_bytes()).await?;
        line.clear();
        r.read_line(&mut line).await?;
        let ok = line.split_whitespace().nth(1) == Some("200");
        let mut len = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok((lat, errors));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if !ok {
            errors += 1;
        }
    }
    Ok((lat, errors))
}

/// `connections` keep-alive connections requesting `path` for `secs` seconds.
pub async fn http(addr: &str, path: &str, connections: usize, secs: f64) -> HttpLoad {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(one_connection(addr.to_owned(), path.to_owned(), until)))
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok(Ok((l, e))) = t.await {
            lat.extend(l);
            errors += e;
        } else {
            errors += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    HttpLoad {
        rps: lat.len() as f64 / elapsed,
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        errors,
    }
}

/// The body of `GET path` when it answers 200.
///
/// # Errors
/// When the request fails or the answer is not 200.
pub async fn get_body(addr: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP head from {addr}{path}"))?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    anyhow::ensure!(status == "200", "GET {path}: {status}");
    Ok(buf[split + 4..].to_vec())
}

/// What the WebSocket fan-out measured.
#[derive(Debug, Clone, Default)]
pub struct WsLoad {
    /// Clients connected and subscribed at once.
    pub connected: usize,
    /// Raw publish → WebSocket receive latencies (ms) seen by the sampled clients.
    pub latencies: Vec<f64>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, product: &str) -> Option<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let sub = format!(r#"{{"op":"subscribe","type":"product","symbol":"{product}"}}"#);
    ws.send(tokio_tungstenite::tungstenite::Message::text(sub))
        .await
        .ok()?;
    Some(ws)
}

/// Opens `clients` sockets, client `i` subscribed to `product:<products[i % n]>`;
/// `sampled` of them record the latency from each update's event time (stamped
/// at raw publish) to receipt. Runs `during` while all are connected, then returns.
pub async fn websocket<F: std::future::Future<Output = ()>>(
    url: &str,
    products: &[String],
    clients: usize,
    sampled: usize,
    during: F,
) -> WsLoad {
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        let Some(product) = products.get(i % products.len().max(1)) else {
            break;
        };
        match connect(url, product).await {
            Some(ws) => sockets.push(ws),
            None => break,
        }
    }
    let connected = sockets.len();
    // The snapshot a subscription starts with may be old (a previous day): only
    // updates stamped from now on are latencies of this run.
    let since = ds_processors::time::now_unix_ns();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::with_capacity(connected);
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let mut stop = stop_rx.clone();
        let sample = i < sampled;
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let msg = tokio::select! {
                    _ = stop.changed() => break,
                    m = ws.next() => m,
                };
                let Some(Ok(m)) = msg else { break };
                if !sample {
                    continue;
                }
                if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                    let now = ds_processors::time::now_unix_ns();
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) {
                        if v["event"] == "underlying_update" {
                            if let Some(ts) =
                                v["data"]["ts_unix_ns"].as_i64().filter(|ts| *ts >= since)
                            {
                                lat.push((now - ts) as f64 / 1e6);
                            }
                        }
                    }
                }
            }
            let _ = ws.close(None).await;
            lat
        }));
    }
    during.await;
    let _ = stop_tx.send(true);
    let mut latencies = Vec::new();
    for h in handles {
        if let Ok(l) = h.await {
            latencies.extend(l);
        }
    }
    latencies.sort_by(f64::total_cmp);
    WsLoad {
        connected,
        latencies,
    }
}
