//! `deltastream replay`: re-drives a trading day from MD_RAW through the
//! enrichment into a database and/or replay subjects, with a progress bar on a
//! terminal (plain lines otherwise) and a summary; Ctrl-C stops cleanly.

mod progress;
mod summary;

use crate::setup::{connect_js, connect_mongo};
use chrono::NaiveDate;
use clap::Args;
use ds_processors::feed::Speed;
use ds_processors::replay::{self, ReplayOptions, Target};
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;

/// `replay` options (SPEC §9).
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The trading day to replay (YYYY-MM-DD): the session date in each product's
    /// exchange time zone, selected by event time.
    #[arg(long)]
    pub date: NaiveDate,
    /// Only these products (comma-separated); default: every configured product
    /// with data that day.
    #[arg(long, value_delimiter = ',')]
    pub products: Vec<String>,
    /// Rebuild the projections into this database (default
    /// deltastream_replay_<YYYYMMDD>; with a publish option, only when given).
    #[arg(long, conflicts_with = "in_place")]
    pub target_db: Option<String>,
    /// Replace the live projections of that day (documents overwritten in place,
    /// then those the replay did not produce deleted).
    #[arg(long)]
    pub in_place: bool,
    /// Re-publish the enriched messages on core NATS under this subject prefix
    /// (`<P>.md.enriched.…`); publishing alone writes no database.
    #[arg(long)]
    pub publish_prefix: Option<String>,
    /// Re-publish under a generated prefix `replay.<YYYYMMDD>-<id>` (printed).
    #[arg(long, conflicts_with = "publish_prefix")]
    pub publish: bool,
    /// Pace by event time: `max`, or a factor of the original pace (1 = real time).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// For a product whose day is not in the day index (the enrichers never
    /// applied it), scan its subject in MD_RAW instead of failing.
    #[arg(long)]
    pub scan: bool,
    /// Workers applying products at once: one reader hands each product's
    /// messages, in order, to one of them (enrichment is CPU-bound; leave room
    /// for live processing). Paced replays give every product its own.
    #[arg(long, default_value_t = ds_processors::replay::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// At most this many MD_RAW messages per second in all, beside live traffic
    /// or not (default: 500 while live enrichers are active, i.e. MD_ENRICHED
    /// grew in the last 2 s; no cap otherwise).
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// No cap beside live traffic: read at full speed (or --max-rate) even while
    /// live enrichers are active. A paced replay (--speed other than max) keeps
    /// to its pacing and is never capped for live traffic.
    #[arg(long)]
    pub no_yield: bool,
}

impl ReplayArgs {
    /// The replay's options: where it writes and what it re-publishes.
    fn options(self, live_db: &str) -> ReplayOptions {
        let publish_prefix = match (self.publish_prefix, self.publish) {
            (Some(p), _) => Some(p),
            (None, true) => Some(replay::publish::default_prefix(
                self.date,
                ds_processors::time::now_unix_ns() as u64,
            )),
            (None, false) => None,
        };
        let target = match (self.in_place, self.target_db) {
            (true, _) => Target::InPlace(live_db.to_owned()),
            (false, Some(db)) => Target::Database(db),
            (false, None) if publish_prefix.is_some() => Target::None,
            (false, None) => Target::Database(replay::default_database(self.date)),
        };
        ReplayOptions {
            date: self.date,
            products: self.products,
            target,
            publish_prefix,
            speed: self.speed,
            concurrency: self.concurrency.max(1),
            scan: self.scan,
            max_rate: self.max_rate,
            yield_to_live: !self.no_yield,
        }
    }
}

/// The CPU priority a replay runs at (`nice`): it is background work, so live
/// processes on the same machine come first; on an idle machine it costs nothing.
const REPLAY_NICE: i32 = 10;

/// Lowers the scheduling priority of every thread of this process to `nice`
/// (Linux keeps it per thread; threads started later inherit it). Best effort.
fn lower_cpu_priority(nice: i32) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for tid in tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::id_t>().ok())
    {
        // SAFETY: setpriority(2) on a thread of this process; no memory is shared.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if r != 0 {
            tracing::debug!(tid, "could not lower the thread's CPU priority");
        }
    }
}

/// Says on stderr where the replay writes and what it re-publishes.
fn announce(opts: &ReplayOptions) {
    match &opts.target {
        Target::Database(d) => eprintln!("replaying {} into database {d}", opts.date),
        Target::InPlace(d) => {
            eprintln!(
                "replaying {} in place into the live database {d}",
                opts.date
            )
        }
        Target::None => eprintln!("replaying {}", opts.date),
    }
    if let Some(p) = &opts.publish_prefix {
        eprintln!(
            "re-publishing on {p}.md.enriched.> (speed {:?})",
            opts.speed
        );
    }
}

/// `deltastream replay`.
///
/// # Errors
/// When a server is unreachable, the options are refused, the replay fails, or
/// it was interrupted (the message says how to finish it).
pub async fn run(cfg: Config, a: ReplayArgs) -> anyhow::Result<()> {
    let opts = a.options(&cfg.mongo_db);
    let date = opts.date;
    lower_cpu_priority(REPLAY_NICE);
    let js = connect_js(&cfg, Component::Replay, false).await?;
    let db = match opts.target.database() {
        Some(_) => Some(connect_mongo(&cfg, false).await?),
        None => None,
    };
    announce(&opts);
    let (_trigger, shutdown) = on_signal();
    let display = progress::Display::new(date);
    let result = replay::run(
        &cfg,
        &js,
        db.as_ref().map(|d| d.client()),
        opts,
        &|p| display.show(p),
        shutdown,
    )
    .await;
    display.finish();
    let report = result?;
    summary::print(&report);
    if report.interrupted {
        anyhow::bail!("replay stopped before the end; re-run the same command to finish (safe: every write is idempotent)");
    }
    Ok(())
}
