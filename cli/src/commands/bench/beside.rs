//! Section 4b: live latency while a replay runs beside it. Windows of the same
//! live traffic alternate: a control with no replay, then one into which a
//! replay starts as an operator runs it (capped while live enrichment is active, the
//! default), [`BESIDE_PAIRS`] times; each side's windows are pooled, so one
//! stall of the host does not decide the verdict (a single window's p99 varies
//! by tens of per cent between identical controls here). The replays of earlier
//! pairs are stopped (as Ctrl-C) at their window's end; the last one runs to
//! the end of the day, for its duration. Then, for contrast, one window with a
//! replay that does not yield (`--no-yield`, capped at --max-rate).

use super::env::Env;
use super::live::{paced_latency, Latency, LiveTraffic};
use super::report::Report;
use super::DAY;
use std::time::{Duration, Instant};

/// `--max-rate` of the `--no-yield` replay run beside live traffic for contrast (msgs/s).
const REPLAY_BESIDE_LIVE_RATE: f64 = 5_000.0;
/// Control and replay windows of the replay-beside-live-traffic section.
const BESIDE_PAIRS: usize = 5;

/// What the windows measured.
struct Windows {
    /// Seconds per window.
    secs: u64,
    /// Control and yielding windows.
    pairs: usize,
    controls: Vec<Latency>,
    yieldings: Vec<Latency>,
    /// Wall time of the last yielding replay, run to its end.
    yielding_secs: f64,
    greedy: Latency,
    greedy_secs: f64,
}

/// Measures the windows and reports them.
///
/// # Errors
/// When live traffic fails or a replay process fails.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    let (secs, pairs) = if env.quick {
        (5, 1)
    } else {
        (10, BESIDE_PAIRS)
    };
    let mut controls = Vec::new();
    let mut yieldings = Vec::new();
    let mut yielding_secs = 0.0;
    for pair in 1..=pairs {
        let (control, yielding, took) = one_pair(env, secs, pair, pairs).await?;
        controls.push(control);
        yieldings.push(yielding);
        yielding_secs = took;
    }
    env.settle().await;
    let rate = REPLAY_BESIDE_LIVE_RATE.to_string();
    env.progress.line(&format!(
        "replay beside live traffic: {secs} s paced at 1,000 msgs/s while the day replays with --no-yield --max-rate {rate}"
    ));
    let (greedy, greedy_secs) = beside_live(
        env,
        secs,
        "deltastream_bench_replay_greedy",
        &["--no-yield", "--max-rate", &rate],
        true,
    )
    .await?;
    let w = Windows {
        secs,
        pairs,
        controls,
        yieldings,
        yielding_secs,
        greedy,
        greedy_secs,
    };
    latency_rows(&mut env.report, &w);
    ratio_rows(&mut env.report, &w);
    Ok(())
}

/// A control window, then one with a replay starting into it; the replay
/// runs to its end (for its wall time) in the last pair.
async fn one_pair(
    env: &Env,
    secs: u64,
    pair: usize,
    pairs: usize,
) -> anyhow::Result<(Latency, Latency, f64)> {
    env.settle().await;
    env.progress.line(&format!(
        "replay beside live traffic ({pair}/{pairs}): control, {secs} s paced at 1,000 msgs/s with no replay"
    ));
    let control = paced_latency(env, secs).await?;
    env.settle().await;
    let last = pair == pairs;
    env.progress.line(&format!(
        "replay beside live traffic ({pair}/{pairs}): {secs} s paced at 1,000 msgs/s while the day replays (default: 500 msgs/s cap while live enrichment is active){}",
        if last { "" } else { "; stopped after it" }
    ));
    let (yielding, took) = beside_live(
        env,
        secs,
        &format!("deltastream_bench_replay_beside{pair}"),
        &[],
        last,
    )
    .await?;
    Ok((control, yielding, took))
}

/// p50, p90 and p99 of the pooled controls, the pooled yielding windows and
/// the `--no-yield` window.
fn latency_rows(report: &mut Report, w: &Windows) {
    let control = Latency::pooled(&w.controls);
    let yielding = Latency::pooled(&w.yieldings);
    let pooled = format!("{} × {} s", w.pairs, w.secs);
    for (what, l) in [
        (format!("control (no replay; {pooled})"), &control),
        (
            format!("while a replay runs (default, live-aware cap; {pooled})"),
            &yielding,
        ),
        (
            format!("while a replay runs with --no-yield ({} s)", w.secs),
            &w.greedy,
        ),
    ] {
        report.info(
            "replay",
            format!("live raw → enriched p50, {what}"),
            l.p50,
            "ms",
        );
        report.info(
            "replay",
            format!("live raw → enriched p90, {what}"),
            l.percentile(90.0),
            "ms",
        );
        report.info(
            "replay",
            format!("live raw → enriched p99, {what}"),
            l.p99,
            "ms",
        );
    }
}

/// The windows against the controls, the controls' own spread, and the
/// replays' durations.
fn ratio_rows(report: &mut Report, w: &Windows) {
    let control = Latency::pooled(&w.controls);
    let yielding = Latency::pooled(&w.yieldings);
    let (lowest, highest) = w
        .controls
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), l| {
            (lo.min(l.p99), hi.max(l.p99))
        });
    if w.pairs > 1 {
        report.info(
            "replay",
            "control windows' p99, highest ÷ lowest (the host's own variation)",
            highest / lowest.max(1e-9),
            "×",
        );
    }
    report.at_most(
        "replay",
        "live p99 while a replay runs (default) ÷ control p99",
        yielding.p99 / control.p99.max(1e-9),
        "×",
        1.5,
    );
    report.info(
        "replay",
        "live p90 while a replay runs (default) ÷ control p90",
        yielding.percentile(90.0) / control.percentile(90.0).max(1e-9),
        "×",
    );
    report.info(
        "replay",
        "live p99 while a --no-yield replay runs ÷ control p99",
        w.greedy.p99 / control.p99.max(1e-9),
        "×",
    );
    report.info(
        "replay",
        format!(
            "replay duration beside {} s of live traffic (default, live-aware cap)",
            w.secs
        ),
        w.yielding_secs,
        "s",
    );
    report.info(
        "replay",
        format!(
            "replay duration beside {} s of live traffic (--no-yield)",
            w.secs
        ),
        w.greedy_secs,
        "s",
    );
}

/// Live latency over `secs` of paced traffic while `deltastream replay` of the
/// bench day runs beside it as a separate process (as an operator runs it: it
/// shares the machine with the live processes but not this process's runtime).
/// The replay starts into live traffic that is already flowing, when the
/// measured window opens. With `to_end`, waits for the replay to finish and
/// returns its wall time; otherwise stops it (as Ctrl-C) when the window closes.
async fn beside_live(
    env: &Env,
    secs: u64,
    target_db: &str,
    extra: &[&str],
    to_end: bool,
) -> anyhow::Result<(Latency, f64)> {
    let mut args = vec!["--date", DAY, "--target-db", target_db];
    args.extend_from_slice(extra);
    let live = LiveTraffic::start(env, secs).await?;
    let started = Instant::now();
    let mut replay = env.spawn_with("replay", &args, &[])?;
    let during = live.finish().await;
    if !to_end {
        replay.stop();
        return Ok((during?, started.elapsed().as_secs_f64()));
    }
    let exit = loop {
        match replay.child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => break None,
        }
    };
    let took = started.elapsed().as_secs_f64();
    let during = during?;
    if !exit.is_some_and(|s| s.success()) {
        anyhow::bail!("the replay beside live traffic ({args:?}) failed ({exit:?})");
    }
    Ok((during, took))
}
