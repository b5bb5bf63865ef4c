//! The client examples run against a live pipeline, so they cannot rot: the
//! Python subscriber generates its classes from schemas/ with plain protoc and
//! decodes live EnrichedChain and ChainSummary messages.

use ds_runtime::auth::Component;
use ds_tests::*;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_subscriber_decodes_live_chains_and_summaries() {
    let env = TestEnv::start().await;
    let mut cfg = env.cfg.clone();
    cfg.feed.tick_interval_ms = 100;
    cfg.feed.chain_every_ticks = 2;
    let js = env.js_as(Component::Feed).await;
    let feed = spawn_live_feed(cfg.clone(), js, 1, &["NIFTY", "AAPL"]);
    let enrich = enricher(&env);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".tools/pyenv/bin/python");
    assert!(
        python.is_file(),
        "run scripts/setup.sh first ({} missing)",
        python.display()
    );
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(&python)
            .arg(root.join("examples/python/subscribe.py"))
            .args([
                "--server",
                &env.nats.url,
                // The read-only credential `deltastream creds add` hands out.
                "--creds",
                &env.creds()
                    .path(Component::Subscriber)
                    .display()
                    .to_string(),
                "--count",
                "12",
                "--timeout",
                "60",
            ])
            .output(),
    )
    .await
    .expect("the example finishes")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("EnrichedChain NIFTY") && l.contains("calls_with_iv=")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ChainSummary ")),
        "{stdout}"
    );
    // The feed prices with a smile: most calls have an implied volatility.
    let with_iv = stdout
        .lines()
        .filter(|l| l.starts_with("EnrichedChain"))
        .filter_map(|l| {
            l.split("calls_with_iv=")
                .nth(1)?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    assert!(with_iv >= 15, "{stdout}");

    feed.stop().await.expect("feed stops");
    enrich.stop().await.expect("enricher stops");
}
