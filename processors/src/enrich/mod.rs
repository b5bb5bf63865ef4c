//! The enrichers: a consumer group from `MD_RAW` to `MD_ENRICHED`.
//!
//! Partitions are groups of products ([`groups`]: one consumer reads a group in
//! stream order, so each product's order, which the stateful analytics need,
//! holds), plus the guard partition `_` for messages no product claims.
//! Instances share partitions through leases ([`crate::group`]); each owned
//! partition runs [`partition::run`] (or [`guard::run`]), restarting from its
//! checkpoints with backoff after a transient failure.

pub mod groups;
pub mod guard;
pub mod partition;
pub mod state;

use crate::group::{instance_id, Member, RENEW_EVERY};
use async_nats::jetstream::Context;
use ds_runtime::backoff::Backoff;
use ds_runtime::config::Config;
use ds_runtime::shutdown::{Shutdown, ShutdownTrigger};
use partition::Exit;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

struct Running {
    stop: ShutdownTrigger,
    task: JoinHandle<()>,
}

fn spawn_partition(js: &Context, cfg: &Arc<Config>, name: &str) -> Running {
    let (stop, mut handle) = Shutdown::new();
    let js = js.clone();
    let cfg = cfg.clone();
    let name = name.to_owned();
    let task = tokio::spawn(async move {
        let products: BTreeSet<String> = cfg.products.iter().map(|p| p.name.clone()).collect();
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        loop {
            let result = if name == guard::PARTITION {
                guard::run(&js, &products, &mut handle).await
            } else {
                let specs: Vec<_> = cfg
                    .products
                    .iter()
                    .filter(|p| groups::partition_of(&p.name) == name)
                    .collect();
                if specs.is_empty() {
                    return;
                }
                partition::run(&js, &name, &specs, &mut handle).await
            };
            match result {
                Ok(Exit::Stopped) | Ok(Exit::Fenced) => return,
                // Denied by its permissions: restarting cannot help; `run` stops.
                Err(_) if ds_runtime::auth::violations::check(&js.client()).is_err() => return,
                Err(e) => {
                    tracing::warn!(partition = %name, error = %format!("{e:#}"), backoff = ?backoff.current(), "partition failed; restarting from checkpoint");
                    if !backoff.wait(&mut handle).await {
                        return;
                    }
                }
            }
        }
    });
    Running { stop, task }
}

async fn stop_partition(running: Running) {
    running.stop.trigger();
    let _ = running.task.await;
}

/// The partitions the enricher instances share for `products`: the groups that
/// hold any of them, and the guard.
pub fn partitions<'a>(products: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut partitions: Vec<String> = groups::groups(products).into_keys().collect();
    partitions.push(guard::PARTITION.to_owned());
    partitions
}

/// Runs one enricher instance until `shutdown`.
///
/// # Errors
/// When the leases bucket is missing, or the identity is denied what it needs
/// (the error names the user and subject).
pub async fn run(cfg: Arc<Config>, js: Context, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let mut member = Member::join(&js, partition::PROCESSOR, instance_id())
        .await
        .map_err(|e| ds_runtime::auth::violations::explain(&js.client(), e))?;
    let partitions = partitions(cfg.products.iter().map(|p| p.name.as_str()));
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tracing::info!(
        member = member.id(),
        partitions = partitions.len(),
        "enricher joined"
    );
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tick.tick() => {}
        }
        // A permission violation stops the enricher with the user and subject
        // (logged once when the server reported it), rather than retry forever.
        if let Err(e) = ds_runtime::auth::violations::check(&js.client()) {
            for (_, r) in std::mem::take(&mut running) {
                stop_partition(r).await;
            }
            member.leave().await;
            return Err(e.into());
        }
        // DLQ size, for the alert on a growing DLQ (cheap: one stream info a round).
        if let Ok(mut dlq) = js.get_stream(ds_schemas::subjects::STREAM_DLQ).await {
            if let Ok(info) = dlq.info().await {
                ds_runtime::metrics::metrics()
                    .dlq_size
                    .set(i64::try_from(info.state.messages).unwrap_or(i64::MAX));
            }
        }
        match member.round(&partitions).await {
            Ok(round) => {
                for p in round.lost {
                    if let Some(r) = running.remove(&p) {
                        stop_partition(r).await;
                    }
                }
                for p in round.acquired {
                    tracing::info!(partition = %p, "partition acquired");
                    running.insert(p.clone(), spawn_partition(&js, &cfg, &p));
                }
            }
            Err(e) => tracing::warn!(error = %e, "lease round failed"),
        }
        // A partition that ended by itself (fenced) is released, to be re-balanced.
        let finished: Vec<String> = running
            .iter()
            .filter(|(_, r)| r.task.is_finished())
            .map(|(p, _)| p.clone())
            .collect();
        for p in finished {
            running.remove(&p);
            member.release(&p).await;
        }
    }
    for (_, r) in std::mem::take(&mut running) {
        stop_partition(r).await;
    }
    member.leave().await;
    Ok(())
}
