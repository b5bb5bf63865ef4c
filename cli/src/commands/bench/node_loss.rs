//! Section 9: losing one node of a three-node cluster. For each way a node can
//! go (a crash of the node leading `MD_RAW`, a crash of a follower, a graceful
//! stop of the leader), a fresh cluster on loopback with R3 streams takes a
//! steady stream of ticks published as the live feed publishes them (one round
//! at a time, re-sent with the same `Nats-Msg-Id` under the feed's retry policy
//! until acknowledged); the figure is the longest pause between two
//! acknowledgements. Beside it, a watcher polls the stream's leader, so the
//! report splits the pause into the server's part (until a new leader answers)
//! and the client's (from then to the next acknowledgement). Afterwards every
//! tick must be in the stream exactly once.

use super::env::Env;
use anyhow::Context as _;
use async_nats::jetstream::Context;
use ds_runtime::servers::NatsCluster;
use ds_runtime::topology::{self, ApplyOptions};
use ds_schemas::subjects::{self, STREAM_RAW};
use ds_schemas::UnderlyingTick;
use std::time::{Duration, Instant};

/// The target: the longest publish pause when one node of three dies.
const TARGET_MS: f64 = 2_000.0;
/// Ticks per second while the node goes.
const RATE: u64 = 200;

/// How the node goes.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// `kill -9` of the node leading `MD_RAW`.
    LeaderCrash,
    /// `kill -9` of a node following it.
    FollowerCrash,
    /// SIGTERM of the leader: it hands leadership over before it exits.
    LeaderStop,
}

impl Loss {
    fn describe(self) -> &'static str {
        match self {
            Loss::LeaderCrash => "kill -9 of the MD_RAW leader",
            Loss::FollowerCrash => "kill -9 of an MD_RAW follower",
            Loss::LeaderStop => "graceful stop (SIGTERM) of the MD_RAW leader",
        }
    }
}

/// What one node loss did to the publisher.
struct Pause {
    /// The longest gap between two acknowledgements.
    longest: Duration,
    /// From the node's end to the first answer naming another leader (crashes
    /// of a follower keep the leader: zero).
    to_new_leader: Duration,
    /// Ticks published, and how many the stream holds afterwards.
    sent: u64,
    stored: u64,
}

/// Runs the three node losses and reports each.
///
/// # Errors
/// When a cluster cannot start or the stream cannot be read.
pub async fn run(env: &mut Env) -> anyhow::Result<()> {
    for loss in [Loss::LeaderCrash, Loss::FollowerCrash, Loss::LeaderStop] {
        env.progress.line(&format!(
            "node loss: {} in a 3-node cluster, {RATE} ticks/s",
            loss.describe()
        ));
        let p = one(env, loss).await?;
        let section = "node loss";
        env.report.at_most(
            section,
            format!("{}: longest publish pause", loss.describe()),
            p.longest.as_secs_f64() * 1e3,
            "ms",
            TARGET_MS,
        );
        if !matches!(loss, Loss::FollowerCrash) {
            env.report.info(
                section,
                "  of which until another node leads MD_RAW (server)",
                p.to_new_leader.as_secs_f64() * 1e3,
                "ms",
            );
        }
        env.report.at_most(
            section,
            "  ticks lost or stored twice",
            p.sent.abs_diff(p.stored) as f64,
            "msgs",
            0.0,
        );
    }
    Ok(())
}

/// One fresh cluster, one node loss.
async fn one(env: &Env, loss: Loss) -> anyhow::Result<Pause> {
    let dir = tempfile::tempdir().context("temp dir")?;
    // Open servers, like the rest of the bench (see `Env::start`).
    let mut cluster = NatsCluster::start_with(
        dir.path(),
        3,
        env.nats_binary.clone(),
        ds_runtime::servers::ServerAuth::Open,
    )?;
    let client = ds_runtime::nats::connect(&cluster.urls(), "deltastream-bench-node-loss").await?;
    let js = ds_runtime::nats::jetstream(client);
    apply_r3(&js).await?;
    let leader = leader(&js).await.context("MD_RAW has no leader")?;
    let leader_idx = node_index(&leader)?;
    let victim = match loss {
        Loss::LeaderCrash | Loss::LeaderStop => leader_idx,
        Loss::FollowerCrash => (leader_idx + 1) % 3,
    };

    let steady = Duration::from_secs(if env.quick { 2 } else { 5 });
    let after = Duration::from_secs(if env.quick { 15 } else { 20 });
    let stop = Instant::now() + steady + after;
    let publisher = tokio::spawn(publish_until(js.clone(), stop));
    tokio::time::sleep(steady).await;

    let gone = Instant::now();
    match loss {
        Loss::LeaderCrash | Loss::FollowerCrash => cluster.servers[victim].kill9(),
        Loss::LeaderStop => cluster.servers[victim].stop(),
    }
    let mut to_new_leader = Duration::ZERO;
    if !matches!(loss, Loss::FollowerCrash) {
        // Short requests: one sent to the dead node (or while the JetStream
        // meta group elects too) must not hide the moment another one answers.
        let mut watcher = js.clone();
        watcher.set_timeout(Duration::from_millis(200));
        let deadline = gone + after;
        while Instant::now() < deadline {
            match self::leader(&watcher).await {
                Some(l) if l != leader => {
                    to_new_leader = gone.elapsed();
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    let (sent, longest) = publisher.await.context("publisher task")??;
    let stored = stored(&js).await?;
    cluster.stop();
    Ok(Pause {
        longest,
        to_new_leader,
        sent,
        stored,
    })
}

/// Publishes ticks at [`RATE`] until `stop`, each re-sent with its id until
/// acknowledged as the live feed does; returns how many and the longest gap
/// between two acknowledgements.
async fn publish_until(js: Context, stop: Instant) -> anyhow::Result<(u64, Duration)> {
    let mut js = js;
    js.set_timeout(ds_processors::feed::LIVE_ACK_TIMEOUT);
    let subject = subjects::raw_underlying("NODELOSS");
    let every = Duration::from_micros(1_000_000 / RATE);
    let mut last_ack = Instant::now();
    let mut longest = Duration::ZERO;
    let mut n = 0u64;
    let mut next = Instant::now();
    while Instant::now() < stop {
        let tick = UnderlyingTick {
            product: "NODELOSS".into(),
            price: 100.0 + (n % 100) as f64,
            ts_unix_ns: i64::try_from(n).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let id = format!("node-loss-{n}");
        let mut backoff = ds_processors::feed::live_retry_backoff();
        loop {
            let mut publisher = ds_runtime::publish::Publisher::new(js.clone(), 1);
            let sent = match publisher.publish(subject.clone(), &id, &tick).await {
                Ok(()) => publisher.flush().await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => break,
                Err(_) if Instant::now() < stop + Duration::from_secs(60) => {
                    backoff.sleep().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = Instant::now();
        longest = longest.max(now - last_ack);
        last_ack = now;
        n += 1;
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        } else {
            next = Instant::now();
        }
    }
    Ok((n, longest))
}

/// The name of the server leading `MD_RAW`, when one answers.
async fn leader(js: &Context) -> Option<String> {
    let mut s = js.get_stream(STREAM_RAW).await.ok()?;
    s.info().await.ok()?.cluster.as_ref()?.leader.clone()
}

/// `n<i>` → i − 1.
fn node_index(name: &str) -> anyhow::Result<usize> {
    name.trim_start_matches('n')
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .with_context(|| format!("unexpected server name {name:?}"))
}

/// Messages in `MD_RAW` once its leader answers again.
async fn stored(js: &Context) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match js.get_stream(STREAM_RAW).await {
            Ok(mut s) => match s.info().await {
                Ok(info) => return Ok(info.state.messages),
                Err(e) if Instant::now() > deadline => return Err(e.into()),
                Err(_) => {}
            },
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies the topology with three replicas once the new cluster has elected
/// its JetStream meta leader.
async fn apply_r3(js: &Context) -> anyhow::Result<()> {
    let opts = ApplyOptions {
        replicas: Some(3),
        max_age: None,
    };
    topology::apply_when_ready(js, opts, Duration::from_secs(60)).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader(js).await.is_none() {
        if Instant::now() > deadline {
            anyhow::bail!("MD_RAW elected no leader within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
