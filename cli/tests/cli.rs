//! The binary as a user runs it: `up` brings everything up and back down leaving
//! no process behind, history survives a restart, and a missing server gives one
//! readable line.

use ds_tests::{eventually, http_get};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deltastream"));
    c.env_remove("DS_NATS_URL")
        .env_remove("DS_MONGO_URL")
        .env("RUST_LOG", "warn");
    c
}

/// Processes whose command line mentions `needle` (our children carry the data dir).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(needle) && !cmd.contains("cargo") {
                    found.push(cmd);
                }
            }
        }
    }
    found
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

/// The latest tick of BTC: `up`'s demo universe trades it at any hour (the
/// others only in their exchange's session).
async fn latest_seq(addr: &str) -> Option<u64> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let (status, body) = http_get(addr, "/api/v1/underlying/BTC/latest", &[]).await;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["seq"].as_u64()
}

fn start_up(data: &std::path::Path, addr: &str) -> Child {
    bin()
        .args(["up", "--http-addr", addr, "--data-dir"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deltastream up starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_prices_stops_cleanly_and_keeps_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = ds_runtime::servers::free_port().expect("port");
    let addr = format!("127.0.0.1:{port}");

    let mut first = start_up(&data, &addr);
    let seq1 = eventually(
        "a live BTC price over REST",
        Duration::from_secs(60),
        || latest_seq(&addr),
    )
    .await;
    // Let a few more ticks through, then stop with SIGTERM.
    let seq1 = eventually("more ticks", Duration::from_secs(30), || async {
        latest_seq(&addr).await.filter(|s| *s >= seq1 + 2)
    })
    .await;
    sigterm(&first);
    let status = first.wait().expect("up exits");
    assert!(status.success(), "up exited with {status}");
    let needle = data.to_string_lossy().to_string();
    assert!(
        processes_with(&needle).is_empty(),
        "left behind: {:?}",
        processes_with(&needle)
    );

    // Second run on the same data: the history is still there and sequences continue.
    let mut second = start_up(&data, &addr);
    let seq2 = eventually("BTC after restart", Duration::from_secs(60), || {
        latest_seq(&addr)
    })
    .await;
    assert!(seq2 >= seq1, "history lost: seq {seq2} after {seq1}");
    let seq3 = eventually(
        "new ticks after restart",
        Duration::from_secs(30),
        || async { latest_seq(&addr).await.filter(|s| *s > seq1) },
    )
    .await;
    assert!(seq3 > seq1);
    sigterm(&second);
    let status = second.wait().expect("up exits");
    assert!(status.success(), "up exited with {status}");
    let mut err = String::new();
    if let Some(e) = second.stderr.take() {
        for line in BufReader::new(e).lines().map_while(Result::ok) {
            err.push_str(&line);
            err.push('\n');
        }
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        processes_with(&needle).is_empty(),
        "left behind: {:?}",
        processes_with(&needle)
    );
}

#[test]
fn gateway_without_mongodb_says_so_in_one_line() {
    unreachable_server_says_so(&["gateway", "--dev", "--mongo-url"], "mongodb", "MongoDB");
}

/// `feed --date` on a day without a session fails at once, in one line naming
/// the nearest trading days (before any server is needed).
#[test]
fn feed_on_a_holiday_names_the_nearest_trading_days() {
    let port = ds_runtime::servers::free_port().expect("port");
    let run = |args: &[&str]| {
        bin()
            .env("DS_CONNECT_DEADLINE", "1")
            .args(["feed", "--nats-url"])
            .arg(format!("nats://127.0.0.1:{port}"))
            .args(args)
            .output()
            .expect("runs")
    };
    let line = one_line_failure(&run(&["--date", "2025-01-26"]));
    assert_eq!(
        line,
        "error: 2025-01-26 is not a trading day (Sunday on NSE and US); the nearest trading days are 2025-01-24 (Friday) and 2025-01-27 (Monday)"
    );
    let line = one_line_failure(&run(&["--date", "2025-02-26", "--products", "NIFTY"]));
    assert!(
        line.contains("(NSE holiday: Mahashivratri)") && line.contains("2025-02-27 (Thursday)"),
        "{line}"
    );
    let line = one_line_failure(&run(&["--universe", "nse-fo", "--date", "2025-10-02"]));
    assert!(line.contains("NSE holiday"), "{line}");
}

#[test]
fn feed_without_nats_says_so_in_one_line() {
    unreachable_server_says_so(&["feed", "--nats-url"], "nats", "NATS");
}

/// Runs `args` followed by a `scheme://` URL of a free port, with a one-second
/// start-up deadline (long-running components otherwise wait for their servers
/// forever, logging each attempt): once it passes, the run fails with one line
/// saying `<server> is not reachable` and naming the port.
fn unreachable_server_says_so(args: &[&str], scheme: &str, server: &str) {
    let port = ds_runtime::servers::free_port().expect("port");
    let out = bin()
        .env("DS_CONNECT_DEADLINE", "1")
        .env("RUST_LOG", "error")
        .args(args)
        .arg(format!("{scheme}://127.0.0.1:{port}"))
        .output()
        .expect("runs");
    let line = one_line_failure(&out);
    assert!(
        line.contains(&format!("{server} is not reachable")),
        "{line}"
    );
    assert!(line.contains(&port.to_string()), "{line}");
}

/// Asserts a failed run that printed exactly one non-empty line on stderr, no
/// panic and no backtrace, and returns that line.
fn one_line_failure(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    lines[0].to_owned()
}
