//! Subscribe to enriched chain summaries from Rust and print them.
//!
//! ```sh
//! DS_NATS_CREDS=.deltastream/creds/subscriber.nk \
//!   cargo run -p deltastream --example subscribe -- nats://127.0.0.1:4222
//! ```
//!
//! `DS_NATS_CREDS` is a read-only subscriber credential (an nkey seed from
//! `deltastream creds add`, or a `.creds` file); its replies come back under
//! the subscriber's inbox prefix, the only inbox it may subscribe to.
//!
//! Live messages come from a core NATS subscription; to resume from a point,
//! create a JetStream consumer on `MD_ENRICHED` with `DeliverPolicy::ByStartSequence`
//! (see README, "Subscribing directly").

use futures::StreamExt;
use prost::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let mut opts = async_nats::ConnectOptions::new().custom_inbox_prefix("_INBOX_subscriber");
    if let Ok(path) = std::env::var("DS_NATS_CREDS") {
        let text = std::fs::read_to_string(&path)?;
        opts = if text.contains("BEGIN NATS USER JWT") {
            opts.credentials_file(&path).await?
        } else {
            opts.nkey(text.trim().to_owned())
        };
    }
    let client = opts.connect(url).await?;
    let mut sub = client.subscribe("md.enriched.*.summary").await?;
    while let Some(msg) = sub.next().await {
        let schema = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Ds-Schema"))
            .map(|v| v.as_str().to_owned());
        if schema.as_deref() != Some("deltastream.v1.ChainSummary") {
            continue;
        }
        let s = ds_schemas::ChainSummary::decode(msg.payload)?;
        println!(
            "{} {} spot {:.2} pcr {:.3} max pain {} ATM {} straddle {:.2} ATM IV {}",
            s.product,
            s.expiry,
            s.spot,
            s.pcr_oi,
            s.max_pain_strike,
            s.atm_strike,
            s.atm_straddle,
            s.atm_iv
                .map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
        );
    }
    Ok(())
}
