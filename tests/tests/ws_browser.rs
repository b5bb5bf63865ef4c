//! The dashboard in a real browser: the whole system (live feed, enricher,
//! projector, gateway) on private servers, and headless Chromium driven by
//! `tests/browser/dashboard.mjs` (playwright-core), which waits for prices and
//! the option chain to update live, for a delta chain frame lost on purpose to
//! be resynced (the rebuilt chains checked against whole frames), picks another
//! product with the picker's search, checks its market status is shown, and saves
//! `tests/artifacts/dashboard.png`.
//!
//! Needs `tests/browser/setup.sh` (Debian's chromium, playwright-core from npm).
//! Without them the test is skipped with a message, unless `DS_REQUIRE_BROWSER=1`.

mod ws_support;

use ds_tests::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use ws_support::*;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn browser_ready(root: &std::path::Path) -> Result<(), String> {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return Err("/usr/bin/chromium is missing".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core/package.json")
        .exists()
    {
        return Err("playwright-core is not installed in tests/browser/node_modules".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_prices_and_the_chain_updating_live() {
    let root = workspace_root();
    if let Err(why) = browser_ready(&root) {
        assert!(
            std::env::var("DS_REQUIRE_BROWSER").is_err(),
            "{why}: run tests/browser/setup.sh"
        );
        eprintln!("SKIPPED: {why}; run tests/browser/setup.sh");
        return;
    }
    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let project = projector(&env);
    let feed = live_feed(&env, 200, &[]);
    let (addr, gw) = gateway(&env);
    eventually("the gateway answers", Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
    })
    .await;
    wait_for_messages(&env, "md.enriched.NIFTY.chain.*", 3).await;

    let shot = root.join("tests/artifacts/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(root.join("tests/browser/dashboard.mjs"))
            .arg(format!("http://{addr}"))
            .arg(&shot)
            .current_dir(&root)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finishes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "{stdout}\n{stderr}\nbrowser run took {:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "dashboard.mjs failed: {stderr}");

    let hooks: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DS_HOOKS "))
        .and_then(|j| serde_json::from_str(j).ok())
        .expect("hooks printed");
    assert_eq!(hooks["status"], "connected");
    // Opened on NIFTY, then BANKNIFTY picked with the picker's search.
    assert_eq!(hooks["product"], "BANKNIFTY");
    assert!(hooks["marketOpen"].is_boolean(), "{hooks}");
    assert!(hooks["chainRows"].as_u64() > Some(5), "{hooks}");
    assert!(hooks["lastPrice"].as_f64() > Some(0.0), "{hooks}");
    assert!(hooks["chainUpdates"].as_u64() > Some(1), "{hooks}");
    assert_eq!(hooks["errors"], 0, "{hooks}");
    // Delta chains: applied, one dropped on purpose, the gap resynced.
    assert!(hooks["deltas"].as_u64() > Some(2), "{hooks}");
    assert!(hooks["gaps"].as_u64() >= Some(1), "{hooks}");
    assert!(hooks["resyncs"].as_u64() >= Some(1), "{hooks}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot at {} ({size} bytes)",
        shot.display()
    );

    feed.stop().await.expect("feed stops");
    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
}

/// A raw HTTP/1.1 GET: `(status, head, body bytes)`.
async fn get_raw(addr: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, head, buf[split..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_with_its_types_and_etags() {
    let env = TestEnv::start().await;
    let (addr, gw) = gateway(&env);
    eventually("the gateway answers", Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
    })
    .await;
    for (path, to) in [("/", "dashboard/"), ("/dashboard", "dashboard/")] {
        let (status, head, _) = get_raw(&addr, path, "").await;
        assert_eq!(status, 307, "{path}");
        assert_eq!(header(&head, "location"), Some(to), "{path}");
    }
    let (status, head, body) = get_raw(&addr, "/dashboard/", "").await;
    assert_eq!(status, 200);
    assert!(header(&head, "content-type").is_some_and(|t| t.starts_with("text/html")));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    assert!(String::from_utf8_lossy(&body).contains("app.js"));
    for (file, ty) in [
        ("app.js", "text/javascript"),
        ("ws.js", "text/javascript"),
        ("delta.js", "text/javascript"),
        ("vendor/uPlot.iife.min.js", "text/javascript"),
        ("app.css", "text/css"),
        ("vendor/uPlot.min.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let path = format!("/dashboard/{file}");
        let (status, head, body) = get_raw(&addr, &path, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            header(&head, "content-type").is_some_and(|t| t.starts_with(ty)),
            "{path}: {head}"
        );
        let on_disk = std::fs::read(workspace_root().join("gateway/assets/dashboard").join(file))
            .expect("asset");
        assert_eq!(body, on_disk, "{path}");
        let etag = header(&head, "etag").expect("etag").to_owned();
        let (status, _, body) = get_raw(&addr, &path, &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!((status, body.len()), (304, 0), "{path} revalidates");
    }
    let (status, _, _) = get_raw(&addr, "/dashboard/nope.js", "").await;
    assert_eq!(status, 404);
    gw.stop().await.expect("gateway stops");
}
