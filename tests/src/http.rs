//! HTTP over real sockets for the gateway tests: raw HTTP/1.1 requests (so the
//! tests see exactly what a client sees, headers and all) and a gateway started
//! outside development mode.

use crate::{count, enricher, eventually, feed_day, projector, small_day_config, Running, TestEnv};
use ds_runtime::auth::Component;
use ds_runtime::collections::{OPTION_CHAINS, UNDERLYING_TICKS};
use ds_runtime::config::Secret;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The JWT secret of [`start`]ed gateways (≥ 32 bytes, so production rules apply).
pub const SECRET: &str = "gateway-test-secret-0123456789-abcdefghij";

/// A response: status, lower-case headers, body.
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// Body (de-chunked).
    pub body: String,
}

impl Resp {
    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// Asserts an RFC 7807 problem with `status` and a detail, and returns it.
    ///
    /// # Panics
    /// When it is not one.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.headers.get("content-type").map(String::as_str),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        let v = self.json();
        assert_eq!(v["status"], status);
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
        v
    }
}

/// The `items` of a page of strings (expiries).
///
/// # Panics
/// When `page` has no `items` array.
pub fn string_items(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

/// Sends one request on a new connection and reads the whole response.
///
/// # Panics
/// When the connection fails or the answer has no status line.
pub async fn req(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            r.push_str("Content-Type: application/json\r\n");
        }
        r.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b.as_bytes());
    }
    // The server may answer (413) before reading the whole body.
    let _ = s.write_all(&bytes).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        // Binary (gzip) bodies are only checked for their headers.
        let (Some(chunk), Some(tail)) = (rest.get(..n), rest.get(n..)) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        s = tail.trim_start_matches("\r\n");
    }
    out
}

/// Starts a gateway on `env` outside development mode (JWT secret [`SECRET`]),
/// connected as its own NATS identity (`gateway`).
///
/// # Panics
/// When it does not listen within 15 s.
pub async fn start(env: &TestEnv, settings: ds_gateway::Settings) -> (String, Running) {
    let mut cfg = env.cfg.clone();
    cfg.dev = false;
    cfg.jwt_secret = Some(Secret::new(SECRET));
    start_on(env, cfg, env.db.clone(), settings).await
}

/// Starts a gateway in development mode (anonymous reads) on database `db`.
///
/// # Panics
/// When it does not listen within 15 s.
pub async fn start_dev(env: &TestEnv, db: mongodb::Database) -> (String, Running) {
    let mut cfg = env.cfg.clone();
    cfg.dev = true;
    cfg.mongo_db = db.name().to_owned();
    start_on(env, cfg, db, no_limit()).await
}

async fn start_on(
    env: &TestEnv,
    mut cfg: ds_runtime::Config,
    db: mongodb::Database,
    settings: ds_gateway::Settings,
) -> (String, Running) {
    let port = ds_runtime::servers::free_port().expect("free port");
    let addr = format!("127.0.0.1:{port}");
    cfg.http_addr = addr.clone();
    let cfg = Arc::new(cfg);
    let (url, who) = (env.nats.url.clone(), env.identity(Component::Gateway));
    let run = Running::spawn(move |s| async move {
        let nats = crate::connect_as(&url, &who).await;
        let ws = ds_gateway::ws::WsOptions::default();
        let state = ds_gateway::AppState::build(cfg, db, nats, settings, ws).await?;
        ds_gateway::serve(state, s).await
    });
    eventually("gateway listens", Duration::from_secs(15), || async {
        tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
    })
    .await;
    (addr, run)
}

/// Gateway settings without rate limiting.
pub fn no_limit() -> ds_gateway::Settings {
    ds_gateway::Settings {
        rate_limit_rps: 0.0,
        ..ds_gateway::Settings::default()
    }
}

/// A day of NIFTY (2025-01-15, seed 11) fed, enriched and projected: what the
/// REST tests read. Returns the feed's report and the running enricher and
/// projector (stop them at the end).
///
/// # Panics
/// When the day is not projected within a minute.
pub async fn projected_day(env: &TestEnv) -> (ds_processors::feed::FeedReport, Running, Running) {
    let cfg = small_day_config(env.cfg.clone());
    let report = feed_day(env, &cfg, "2025-01-15", &["NIFTY"], 11).await;
    let enrich = enricher(env);
    let project = projector(env);
    eventually("the day is projected", Duration::from_secs(60), || async {
        (count(&env.db, UNDERLYING_TICKS).await == report.ticks
            && count(&env.db, OPTION_CHAINS).await == report.chains)
            .then_some(())
    })
    .await;
    (report, enrich, project)
}
