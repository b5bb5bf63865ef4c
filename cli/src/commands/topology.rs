//! `deltastream topology`: applies or shows the JetStream topology of `nats/`.

use crate::setup::connect_js;
use clap::Subcommand;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::topology::{self, ApplyOptions};
use std::time::Duration;

/// `topology` actions.
#[derive(Subcommand, Debug)]
pub enum TopologyAction {
    /// Create or update the streams and KV buckets of nats/ (idempotent).
    Apply {
        /// Replicas of every stream and bucket (3 in a cluster).
        #[arg(long)]
        replicas: Option<usize>,
    },
    /// Show the streams' state.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `deltastream topology`.
///
/// # Errors
/// When NATS is unreachable or refuses a change.
pub async fn run(cfg: Config, action: TopologyAction) -> anyhow::Result<()> {
    let js = connect_js(&cfg, Component::Admin, false).await?;
    match action {
        TopologyAction::Apply { replicas } => {
            let results = topology::apply(
                &js,
                ApplyOptions {
                    replicas,
                    max_age: Some(Duration::from_secs(cfg.stream_max_age_days * 86_400)),
                },
            )
            .await?;
            for (name, outcome) in results {
                println!("{name:<20} {outcome}");
            }
        }
        TopologyAction::Show { json } => {
            let streams = topology::show(&js).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&streams)?);
            } else {
                print_streams(&streams);
            }
        }
    }
    Ok(())
}

/// One row per stream, for people.
fn print_streams(streams: &[topology::StreamSummary]) {
    println!(
        "{:<12} {:<16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "stream",
        "subjects",
        "messages",
        "bytes",
        "first",
        "last",
        "consumers",
        "replicas",
        "age(d)"
    );
    for s in streams {
        println!(
            "{:<12} {:<16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>8}",
            s.name,
            s.subjects.join(","),
            s.messages,
            s.bytes,
            s.first_seq,
            s.last_seq,
            s.consumers,
            s.replicas,
            s.max_age_secs / 86_400
        );
    }
}
