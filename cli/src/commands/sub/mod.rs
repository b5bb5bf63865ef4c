//! `deltastream sub SUBJECT…`: subscribe from a shell. Reads the subjects
//! through an ordered JetStream consumer on each stream that holds them (or
//! core NATS with `--core`), decodes each message by its `Ds-Schema` header
//! and prints one JSON object per line; a message that does not decode prints
//! an object with the error instead.

mod decode;
mod since;
mod source;
mod subjects;

use clap::Args;
use ds_runtime::auth::Component;
use ds_runtime::config::Config;
use ds_runtime::shutdown::on_signal;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use since::Since;
use source::Delivery;
use std::collections::BTreeMap;
use std::io::Write as _;

/// `sub` options.
#[derive(Args, Debug)]
pub struct SubArgs {
    /// Subjects to read (wildcards `*` and `>`), e.g. 'md.enriched.NIFTY.>'.
    #[arg(required = true, value_name = "SUBJECT")]
    pub subjects: Vec<String>,
    /// Start at a stream sequence (a number below 10^12, in each stream read)
    /// or at a time (RFC 3339, or unix milliseconds); default: new messages only.
    #[arg(long, value_name = "SEQ|TIME", conflicts_with = "core")]
    pub since: Option<Since>,
    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Include each message's headers.
    #[arg(short, long)]
    pub verbose: bool,
    /// Plain core-NATS subscriptions (live only, no stream sequence), for
    /// subjects no stream holds (e.g. a replay's re-published ones).
    #[arg(long)]
    pub core: bool,
}

/// One output line.
#[derive(Serialize)]
struct Line<'a> {
    subject: &'a str,
    stream: Option<&'a str>,
    seq: Option<u64>,
    schema: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<&'a str, Vec<&'a str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The JSON line of `d`.
fn render(d: &Delivery, verbose: bool) -> String {
    let schema = d
        .headers
        .as_ref()
        .and_then(|h| h.get(ds_schemas::SCHEMA_HEADER))
        .map(|v| v.as_str());
    let headers = d.headers.as_ref().filter(|_| verbose).map(|h| {
        h.iter()
            .map(|(k, vs)| (k.as_ref(), vs.iter().map(|v| v.as_str()).collect()))
            .collect()
    });
    let (message, error) = match decode::to_json(schema, &d.payload) {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    let line = Line {
        subject: &d.subject,
        stream: d.stream.as_deref(),
        seq: d.seq,
        schema,
        headers,
        message,
        error,
    };
    serde_json::to_string(&line)
        .unwrap_or_else(|e| format!(r#"{{"subject":{:?},"error":"{e}"}}"#, d.subject))
}

/// `deltastream sub`: prints until `--count` messages, Ctrl-C, or the reader
/// of stdout goes away.
///
/// # Errors
/// When NATS is unreachable, a subject is in no stream, or a read fails.
pub async fn run(cfg: Config, a: SubArgs) -> anyhow::Result<()> {
    let client = crate::setup::connect_nats(&cfg, Component::Subscriber, false).await?;
    let mut deliveries = if a.core {
        source::core(&client, &a.subjects).await?
    } else {
        let js = ds_runtime::nats::jetstream(client.clone());
        source::jetstream(&js, &a.subjects, a.since).await?
    };
    let (_trigger, mut shutdown) = on_signal();
    let mut printed = 0u64;
    while a.count.is_none_or(|n| printed < n) {
        let d = tokio::select! {
            _ = shutdown.wait() => break,
            d = deliveries.next() => d,
        };
        let Some(d) = d else { break };
        let line = render(&d?, a.verbose);
        // A closed stdout (`| head`) ends the run, not as an error.
        if writeln!(std::io::stdout(), "{line}").is_err() {
            break;
        }
        printed += 1;
    }
    Ok(())
}
