//! `deltastream dlq`: lists, shows and re-drives dead letters.

use crate::setup::connect_js;
use anyhow::Context as _;
use clap::Subcommand;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::dlq;

/// `dlq` actions.
#[derive(Subcommand, Debug)]
pub enum DlqAction {
    /// List dead letters, oldest first.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter with its payload.
    Show {
        /// Its MD_DLQ sequence.
        seq: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Re-publish a dead letter's original message on its original subject.
    Retry {
        /// Its MD_DLQ sequence.
        seq: u64,
    },
}

/// `deltastream dlq`.
///
/// # Errors
/// When NATS is unreachable or the entry does not exist.
pub async fn run(cfg: Config, action: DlqAction) -> anyhow::Result<()> {
    let js = connect_js(&cfg, Component::Admin, false).await?;
    match action {
        DlqAction::List { json, limit } => {
            let entries = dlq::list(&js, limit).await?;
            output(json, entries.as_slice(), print_list)?;
        }
        DlqAction::Show { seq, json } => output(json, &dlq::show(&js, seq).await?, print_entry)?,
        DlqAction::Retry { seq } => {
            let new_seq = dlq::retry(&js, seq)
                .await
                .with_context(|| format!("retrying DLQ entry {seq}"))?;
            println!(
                "re-drove DLQ entry {seq} as stream sequence {new_seq}; removed it from MD_DLQ"
            );
        }
    }
    Ok(())
}

/// Prints `value` as JSON for scripts, or with `for_people`.
fn output<T: serde::Serialize + ?Sized>(
    json: bool,
    value: &T,
    for_people: fn(&T),
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        for_people(value);
    }
    Ok(())
}

/// One line per dead letter, for people.
fn print_list(entries: &[dlq::Entry]) {
    if entries.is_empty() {
        println!("MD_DLQ is empty");
        return;
    }
    println!(
        "{:>8}  {:<10} {:<36} {:>10}  error",
        "dlq_seq", "processor", "subject", "src_seq"
    );
    for e in entries {
        println!(
            "{:>8}  {:<10} {:<36} {:>10}  {}",
            e.dlq_seq, e.letter.processor, e.letter.subject, e.letter.stream_seq, e.letter.error
        );
    }
}

/// One dead letter, a field a line.
fn print_entry(e: &dlq::Entry) {
    let l = &e.letter;
    println!("dlq_seq:    {}", e.dlq_seq);
    println!("processor:  {}", l.processor);
    println!("subject:    {}", l.subject);
    println!("stream:     {} seq {}", l.stream, l.stream_seq);
    println!("schema:     {}", l.schema);
    println!("error:      {}", l.error);
    println!("deliveries: {}", l.deliveries);
    println!(
        "failed_at:  {}",
        chrono::DateTime::from_timestamp_nanos(l.failed_at_unix_ns).to_rfc3339()
    );
    println!("payload:    {} bytes", l.payload.len());
}
