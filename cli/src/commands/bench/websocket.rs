//! Section 6: WebSocket fan-out. The gateway's, to 1,000 (and 10,000) clients
//! on `product:NIFTY` while a paced live feed runs through the enricher, next
//! to this machine's own ceiling: a bare broadcast server ([`super::bare`])
//! sending the same frames at the same rates to the same number of clients,
//! measured by the same load generator ([`super::wsload`], its own process,
//! its CPU reported). Then slow-client isolation: the readers' latency with
//! and without one client that never reads.

use super::env::Env;
use super::live::publish_paced;
use super::procstat;
use super::report::{percentile, Report, Row, Verdict};
use super::wsload::{self, LoadResult};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The report section of every row here.
const S: &str = "websocket";
/// Raw messages per second of the paced live feed (every product).
const FEED_RATE: u64 = 200;
/// Readers that time every frame they get.
const SAMPLED: usize = 50;
/// Readers of the slow-client comparison (the issue's 200).
const SLOW_READERS: usize = 200;

/// What one fan-out run saw on the server side.
#[derive(Debug, Clone, Copy, Default)]
struct Server {
    /// CPU seconds in the window.
    cpu_secs: f64,
    /// Resident memory at the end of the window, clients still connected (MiB).
    rss_mib: f64,
    /// `underlying_update` frames per second per client offered.
    underlying_rate: f64,
    /// `chain_summary` frames per second per client offered.
    summary_rate: f64,
    /// Frames the server sent per socket flush (the gateway's metrics).
    frames_per_flush: Option<f64>,
}

/// One side of the comparison: the load generator's figures and the server's.
struct Run {
    load: LoadResult,
    server: Server,
}

/// Runs the section (starting the enricher and the gateway when run alone).
///
/// # Errors
/// When a process cannot start or the load generator reports nothing.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    env.ensure_enricher().await?;
    let addr = env.gateway_addr().await?;
    let url = format!("ws://{addr}/ws");
    let fds = ds_runtime::limits::raise_fd_limit();
    let sizes = match (&env.ws_clients[..], env.quick) {
        ([], true) => vec![1_000],
        ([], false) => vec![1_000, 10_000],
        (asked, _) => asked.to_vec(),
    };
    let secs = if env.quick { 5.0 } else { 10.0 };
    for n in sizes {
        // The load generator and the server each hold one descriptor per client.
        let n = n.min(fds.saturating_sub(500) as usize).max(1);
        env.progress.line(&format!(
            "websocket: {n} clients on product:NIFTY, live feed at {FEED_RATE} msgs/s, {secs} s"
        ));
        let gateway = gateway_run(env, &url, n, secs).await?;
        env.progress.line(&format!(
            "websocket: bare broadcast server, {n} clients, {:.1} + {:.1} frames/s",
            gateway.server.underlying_rate, gateway.server.summary_rate
        ));
        let bare = bare_run(env, n, secs, &gateway.server).await?;
        rows(&mut env.report, n, &gateway, &bare);
    }
    slow_client(env, &url).await?;
    delta_size(env, &addr).await
}

fn subscribe_product() -> String {
    r#"{"op":"subscribe","type":"product","symbol":"NIFTY"}"#.to_owned()
}

fn load_args(url: &str, n: usize, secs: f64, send: &[String]) -> Vec<String> {
    let mut args = vec![
        "--url".to_owned(),
        url.to_owned(),
        "--clients".to_owned(),
        n.to_string(),
        "--sampled".to_owned(),
        SAMPLED.min(n).to_string(),
        "--secs".to_owned(),
        secs.to_string(),
    ];
    for s in send {
        args.extend(["--send".to_owned(), s.clone()]);
    }
    args
}

/// `n` clients on the gateway for `secs` of paced live feed.
async fn gateway_run(env: &Env, url: &str, n: usize, secs: f64) -> anyhow::Result<Run> {
    let pid = env.gateway.as_ref().map_or(0, |(c, _)| c.pid());
    let args = load_args(url, n, secs, &[subscribe_product()]);
    let mut server = Server::default();
    let (cfg, js, client) = (env.cfg.clone(), env.js.clone(), env.client.clone());
    let addr = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let during = async {
        let sent0 = metric_sums(&addr, SENT_AND_FLUSHES).await;
        let ticks = client.subscribe("md.enriched.NIFTY.underlying").await;
        let summaries = client.subscribe("md.enriched.*.summary").await;
        let cpu0 = procstat::read(pid).cpu_secs;
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let counted = async {
            let (Ok(t), Ok(s)) = (ticks, summaries) else {
                return (0, 0);
            };
            let until = tokio::time::Instant::from_std(end);
            let t = t.take_until(tokio::time::sleep_until(until)).count();
            let s = s.take_until(tokio::time::sleep_until(until)).count();
            tokio::join!(t, s)
        };
        let (published, (t, s)) = tokio::join!(publish_paced(&cfg, &js, FEED_RATE, end), counted);
        if let Err(e) = published {
            tracing::warn!(error = %e, "the paced feed failed");
        }
        let p = procstat::read(pid);
        let sent1 = metric_sums(&addr, SENT_AND_FLUSHES).await;
        let frames_per_flush = match (sent0.as_deref(), sent1.as_deref()) {
            (Some([f0, n0]), Some([f1, n1])) if n1 > n0 => Some((f1 - f0) / (n1 - n0)),
            _ => None,
        };
        server = Server {
            cpu_secs: p.cpu_secs - cpu0,
            rss_mib: p.rss_mib,
            underlying_rate: t as f64 / secs,
            summary_rate: s as f64 / secs,
            frames_per_flush,
        };
    };
    let load = wsload::run(&args, during).await?;
    Ok(Run { load, server })
}

/// Frames sent to WebSocket clients, and the socket flushes carrying them.
const SENT_AND_FLUSHES: &[&str] = &[
    "deltastream_ws_messages_sent_total",
    "deltastream_ws_flushes_total",
];

/// Updates conflated for slow clients, and slow clients disconnected.
const CONFLATED_AND_DROPPED: &[&str] = &[
    "deltastream_ws_conflated_total",
    "deltastream_ws_dropped_clients_total",
];

/// The gateway's metrics `names` so far, each summed over its labels.
async fn metric_sums(addr: &str, names: &[&str]) -> Option<Vec<f64>> {
    let body = super::load::get_body(addr, "/metrics").await.ok()?;
    let text = String::from_utf8_lossy(&body);
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Some(names.iter().map(|n| sum(n)).collect())
}

/// `n` clients on the bare broadcast server at the rates the gateway run saw.
async fn bare_run(env: &Env, n: usize, secs: f64, rates: &Server) -> anyhow::Result<Run> {
    let port = ds_runtime::servers::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let (u, s) = (
        rates.underlying_rate.to_string(),
        rates.summary_rate.to_string(),
    );
    let clients = n.to_string();
    let bare = super::env::Component::start(
        "bench-ws-bare",
        &env.cfg,
        &[
            "--addr",
            &addr,
            "--underlying-rate",
            &u,
            "--summary-rate",
            &s,
            "--wait-clients",
            &clients,
        ],
        &[],
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the bare server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = bare.pid();
    let args = load_args(&format!("ws://{addr}/ws"), n, secs, &[subscribe_product()]);
    let mut server = Server::default();
    let during = async {
        let cpu0 = procstat::read(pid).cpu_secs;
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let p = procstat::read(pid);
        server = Server {
            cpu_secs: p.cpu_secs - cpu0,
            rss_mib: p.rss_mib,
            ..*rates
        };
    };
    let load = wsload::run(&args, during).await?;
    bare.stop();
    Ok(Run { load, server })
}

/// The rows of one fan-out of `n` clients: the gateway next to the bare server.
fn rows(report: &mut Report, n: usize, gw: &Run, bare: &Run) {
    client_rows(report, n, &gw.load);
    delivery_rows(report, n, &gw.load, &bare.load);
    cost_rows(report, n, gw, bare);
}

/// How many of the gateway's `n` clients connected and stayed to the end.
fn client_rows(report: &mut Report, n: usize, g: &LoadResult) {
    report.rows.push(Row {
        note: (g.failed > 0).then(|| format!("{} could not connect", g.failed)),
        ..Row::info(
            S,
            format!("clients connected (of {n})"),
            g.connected as f64,
            "clients",
        )
    });
    let all = g.connected >= n && g.dropped() == 0;
    report.rows.push(Row {
        target: Some(format!("all {n}, none dropped")),
        verdict: Verdict::of(all),
        note: (!all).then(|| {
            format!(
                "{} connected, {} could not, {} dropped (by close code: {:?})",
                g.connected,
                g.failed,
                g.dropped(),
                g.closed
            )
        }),
        ..Row::info(
            S,
            format!("clients kept to the end ({n})"),
            (g.connected - g.dropped().min(g.connected)) as f64,
            "clients",
        )
    });
}

/// Frames per second and latency of the gateway, next to the bare server.
fn delivery_rows(report: &mut Report, n: usize, g: &LoadResult, b: &LoadResult) {
    report.info(
        S,
        format!("bare server: frames/s delivered ({n})"),
        b.frames_per_sec(),
        "frames/s",
    );
    report.at_least_ratio(
        S,
        format!("gateway: frames/s delivered ({n})"),
        g.frames_per_sec(),
        "frames/s",
        b.frames_per_sec(),
        0.7,
    );
    let (p50, p99) = (
        percentile(&g.latencies_ms, 50.0),
        percentile(&g.latencies_ms, 99.0),
    );
    let max_p99 = if n <= 1_000 { 25.0 } else { 250.0 };
    report.info(
        S,
        format!("gateway: raw publish → client, p50 ({n})"),
        p50,
        "ms",
    );
    report.at_most(
        S,
        format!("gateway: raw publish → client, p99 ({n})"),
        p99,
        "ms",
        max_p99,
    );
    let (b50, b99) = (
        percentile(&b.latencies_ms, 50.0),
        percentile(&b.latencies_ms, 99.0),
    );
    report.info(
        S,
        format!("bare server: broadcast → client, p50 ({n})"),
        b50,
        "ms",
    );
    report.info(
        S,
        format!("bare server: broadcast → client, p99 ({n})"),
        b99,
        "ms",
    );
    report.info(
        S,
        format!("gateway p99 ÷ bare p99 ({n})"),
        p99 / b99.max(1e-3),
        "×",
    );
}

/// CPU, memory and bytes of the gateway, the bare server and the load generator.
fn cost_rows(report: &mut Report, n: usize, gw: &Run, bare: &Run) {
    let (g, b) = (&gw.load, &bare.load);
    let pct = |cpu: f64, secs: f64| cpu / secs.max(1e-9) * 100.0;
    report.info(
        S,
        format!("gateway: CPU ({n})"),
        pct(gw.server.cpu_secs, g.secs),
        "% core",
    );
    report.info(
        S,
        format!("bare server: CPU ({n})"),
        pct(bare.server.cpu_secs, b.secs),
        "% core",
    );
    report.info(
        S,
        format!("load generator: CPU, gateway run ({n})"),
        pct(g.cpu_secs, g.secs),
        "% core",
    );
    report.info(
        S,
        format!("load generator: CPU, bare run ({n})"),
        pct(b.cpu_secs, b.secs),
        "% core",
    );
    let rss = format!("gateway: RSS with {n} clients");
    if n >= 10_000 {
        report.at_most(S, rss, gw.server.rss_mib, "MiB", 300.0);
    } else {
        report.info(S, rss, gw.server.rss_mib, "MiB");
    }
    report.info(
        S,
        format!("bare server: RSS with {n} clients"),
        bare.server.rss_mib,
        "MiB",
    );
    report.info(
        S,
        format!("gateway: bytes per client per second ({n})"),
        g.bytes_per_client_sec(),
        "B/s",
    );
    if let Some(f) = gw.server.frames_per_flush {
        report.info(
            S,
            format!("gateway: frames per socket flush ({n})"),
            f,
            "frames",
        );
    }
}

/// Readers' p99 with and without one client that never reads, in alternating
/// windows (without, with, then with, without in a full run), and what the
/// gateway did with that client (its metrics over the windows with it).
async fn slow_client(env: &mut Env, url: &str) -> anyhow::Result<()> {
    let addr = env.gateway_addr().await?;
    // Long enough for the never-reading client to be conflated and then
    // dropped (stall_timeout, 10 s) inside a window.
    let secs = 12.0;
    let order: &[bool] = if env.quick {
        &[false, true]
    } else {
        &[false, true, true, false]
    };
    env.progress.line(&format!(
        "websocket: {SLOW_READERS} readers with and without a client that never reads, {} windows of {secs} s",
        order.len()
    ));
    let products: Vec<String> = env.cfg.products.iter().map(|p| p.name.clone()).collect();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut handled = [0.0; 2];
    for &stalled in order {
        let before = metric_sums(&addr, CONFLATED_AND_DROPPED).await;
        let mut args = load_args(url, SLOW_READERS, secs, &[subscribe_product()]);
        if stalled {
            args.extend([
                "--stalled".to_owned(),
                "1".to_owned(),
                "--stall-products".to_owned(),
                products.join(","),
            ]);
        }
        let (cfg, js) = (env.cfg.clone(), env.js.clone());
        let during = async move {
            let end = Instant::now() + Duration::from_secs_f64(secs);
            if let Err(e) = publish_paced(&cfg, &js, FEED_RATE, end).await {
                tracing::warn!(error = %e, "the paced feed failed");
            }
        };
        let load = wsload::run(&args, during).await?;
        let after = metric_sums(&addr, CONFLATED_AND_DROPPED).await;
        if stalled {
            with.extend(load.latencies_ms);
            if let (Some(b), Some(a)) = (before, after) {
                handled[0] += a[0] - b[0];
                handled[1] += a[1] - b[1];
            }
        } else {
            without.extend(load.latencies_ms);
        }
    }
    without.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (p_without, p_with) = (percentile(&without, 99.0), percentile(&with, 99.0));
    report_slow(&mut env.report, p_without, p_with);
    let windows = order.iter().filter(|s| **s).count();
    env.report.info(
        S,
        "never-reading client: updates conflated",
        handled[0],
        "updates",
    );
    env.report.rows.push(Row {
        note: Some(format!(
            "of {windows}, closed with {} after {} s without progress",
            ds_gateway::ws::options::SLOW_CLIENT,
            ds_gateway::ws::WsOptions::default().stall_timeout.as_secs()
        )),
        ..Row::info(
            S,
            "never-reading client: disconnected by the gateway",
            handled[1],
            "clients",
        )
    });
    Ok(())
}

fn report_slow(report: &mut Report, p_without: f64, p_with: f64) {
    report.info(
        S,
        format!("{SLOW_READERS} readers: p99 alone"),
        p_without,
        "ms",
    );
    report.info(
        S,
        format!("{SLOW_READERS} readers: p99 beside a never-reading client"),
        p_with,
        "ms",
    );
    report.at_most(
        S,
        "readers' p99 with ÷ without a never-reading client",
        p_with / p_without.max(1e-3),
        "×",
        1.2,
    );
}

/// A delta chain frame next to the whole one when a third of the quotes
/// changed: the latest NIFTY chain from the gateway, and the same chain with
/// every third quote of each side moved (prices, volume, open interest, IV and
/// Greeks), both rendered by the gateway's own code.
async fn delta_size(env: &mut Env, addr: &str) -> anyhow::Result<()> {
    use ds_gateway::live::{delta, render};
    use ds_schemas::enriched::Enriched;
    let body = super::load::get_body(addr, "/api/v1/chain/NIFTY/latest").await?;
    let view: ds_gateway::views::ChainView<'static> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            env.progress.line(&format!(
                "websocket: no NIFTY chain to measure deltas on ({e})"
            ));
            return Ok(());
        }
    };
    let before = view.msg.into_owned();
    let mut after = before.clone();
    after.ts_unix_ns += 1_000_000_000;
    for q in after
        .calls
        .iter_mut()
        .chain(after.puts.iter_mut())
        .step_by(3)
    {
        q.bid += 0.05;
        q.ask += 0.05;
        q.last += 0.05;
        q.volume += 25;
        q.open_interest += 50;
        q.oi_change += 50;
        for g in [
            &mut q.iv,
            &mut q.delta,
            &mut q.gamma,
            &mut q.theta,
            &mut q.vega,
            &mut q.rho,
        ] {
            *g = g.map(|x| x * 1.001);
        }
    }
    let quotes = before.calls.len() + before.puts.len();
    let prev = render::update(Enriched::Chain(before), 1)?;
    let next = render::update(Enriched::Chain(after), 2)?;
    let Some(d) = delta::between(&prev, &next) else {
        anyhow::bail!("no delta frame between two chains of one expiry");
    };
    let pct = d.frame.len() as f64 / next.frame.len() as f64 * 100.0;
    env.report.info(
        S,
        format!("chain_update whole frame ({quotes} quotes)"),
        next.frame.len() as f64,
        "bytes",
    );
    env.report.at_most(
        S,
        "delta frame ÷ whole, a third of the quotes changed",
        pct,
        "%",
        25.0,
    );
    env.report.info(
        S,
        "chain_update binary frame (format=proto) ÷ whole JSON",
        next.proto_frame().len() as f64 / next.frame.len() as f64 * 100.0,
        "%",
    );
    Ok(())
}
