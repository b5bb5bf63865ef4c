//! `deltastream feed`: publishes market data, live or a historical trading day,
//! for the products of the universe (`--universe`).

use crate::setup::{connect_js, spawn_metrics};
use crate::Global;
use chrono::NaiveDate;
use clap::Args;
use ds_processors::feed::hours::Hours;
use ds_processors::feed::{FeedOptions, Speed};
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;

/// `feed` options.
#[derive(Args, Debug)]
pub struct FeedArgs {
    /// Generate this trading day (YYYY-MM-DD) instead of live data.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Pace of a historical day: `max` or a factor of real time (e.g. 10).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Seed of every random choice: the same seed and options give identical messages.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only these products (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub products: Vec<String>,
    /// Live: publish every product at any hour, not only while its exchange is
    /// in session (for tests and demos; a real exchange sends nothing when closed).
    #[arg(long, conflicts_with = "date")]
    pub all_hours: bool,
}

/// `deltastream feed`.
///
/// # Errors
/// When NATS is unreachable or publishing fails.
pub async fn run(cfg: Config, g: &Global, a: FeedArgs) -> anyhow::Result<()> {
    let opts = FeedOptions {
        date: a.date,
        speed: a.speed,
        seed: a.seed,
        products: a.products,
        hours: if a.all_hours {
            Hours::Always
        } else {
            Hours::Exchange
        },
        ..FeedOptions::default()
    };
    // A day nobody trades (or an unknown product) is refused before waiting for a server.
    ds_processors::feed::products_for(&cfg, &opts)?;
    let js = connect_js(&cfg, Component::Feed, true).await?;
    let (_trigger, shutdown) = on_signal();
    spawn_metrics(g, &shutdown);

    let report = ds_processors::feed::run(&cfg, js, opts, shutdown).await?;
    let secs = report.elapsed.as_secs_f64();
    let total = report.ticks + report.chains;
    println!(
        "published {} ticks and {} chains ({} messages, {} duplicates) in {:.2} s ({:.0} msgs/s)",
        report.ticks,
        report.chains,
        total,
        report.duplicates,
        secs,
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}
