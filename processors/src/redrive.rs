//! The DLQ re-drive responder: the internet-facing gateway may not write the
//! log, so it asks on [`DLQ_RETRY`] (the request names only an `MD_DLQ`
//! sequence; `ds_runtime::dlq::request_retry`) and this responder, under its
//! own narrow `redrive` identity (read and delete `MD_DLQ`, publish `md.raw.>`
//! and `md.enriched.>`), re-drives that entry: the gateway can re-drive what
//! is in the DLQ but cannot inject prices. It runs inside `deltastream enrich`
//! (always deployed, two or more replicas) as a queue group, so one instance
//! answers each request.

use ds_runtime::auth::{Component, Credential, Identity};
use ds_runtime::config::Config;
use ds_runtime::connect::{self, Patience};
use ds_runtime::dlq;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::dead_letter::{parse_retry_request, RetryReply};
use ds_schemas::subjects::DLQ_RETRY;
use futures::StreamExt;

/// The queue group of the responders.
pub const QUEUE: &str = "redrive";

/// Connects the responder of `deltastream enrich`, waiting for NATS like the
/// enricher: with `DS_NATS_REDRIVE_CREDS` when set; anonymously on a bus
/// without users (the enricher has no credential either); `None` (with a
/// warning) when the enricher has a credential but the responder has none.
///
/// # Errors
/// When the credential cannot be read or the server refuses it.
pub async fn connect(cfg: &Config) -> anyhow::Result<Option<async_nats::Client>> {
    let credential = match &cfg.nats_redrive_creds {
        Some(path) => Some(Credential::from_file(path)?),
        None if cfg.nats_creds.is_none() && cfg.nats_user.is_none() => None,
        None => {
            tracing::warn!(
                "DS_NATS_REDRIVE_CREDS is not set: this instance does not serve DLQ re-drive requests"
            );
            return Ok(None);
        }
    };
    let who = Identity::new(Component::Redrive, credential);
    Ok(Some(
        connect::nats_as(cfg, &who, Patience::of(cfg, true)).await?,
    ))
}

/// Serves re-drive requests on `client` (the `redrive` identity) until `shutdown`.
///
/// # Errors
/// When the subscription cannot be made.
pub async fn serve(client: async_nats::Client, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let js = ds_runtime::nats::jetstream(client.clone());
    let mut requests = client.queue_subscribe(DLQ_RETRY, QUEUE.into()).await?;
    tracing::info!(subject = DLQ_RETRY, "DLQ re-drive responder ready");
    loop {
        let msg = tokio::select! {
            _ = shutdown.wait() => break,
            m = requests.next() => match m {
                Some(m) => m,
                None => break,
            },
        };
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let answer = answer(&js, &msg.payload).await;
        if let Err(e) = client.publish(reply_to, answer.to_json().into()).await {
            tracing::warn!(error = %e, "answering a re-drive request");
        }
    }
    let _ = requests.unsubscribe().await;
    Ok(())
}

async fn answer(js: &async_nats::jetstream::Context, body: &[u8]) -> RetryReply {
    let Some(dlq_seq) = parse_retry_request(body) else {
        return RetryReply::Failed {
            dlq_seq: 0,
            error: "the request body must be an MD_DLQ sequence".into(),
        };
    };
    if dlq::show(js, dlq_seq).await.is_err() {
        return RetryReply::NotFound { dlq_seq };
    }
    match dlq::retry(js, dlq_seq).await {
        Ok(republished_seq) => {
            tracing::info!(dlq_seq, republished_seq, "DLQ entry re-driven on request");
            RetryReply::Republished {
                dlq_seq,
                republished_seq,
            }
        }
        Err(e) => RetryReply::Failed {
            dlq_seq,
            error: format!("{e:#}"),
        },
    }
}
