//! Least privilege on the bus, against a real nats-server with DeltaStream's
//! users: no credential, no connection; the subscriber reads enriched data and
//! nothing else; the gateway cannot write raw ticks; a denied publish fails at
//! once with the user and subject, is sent once, and the feed stops on it
//! instead of retrying.

use ds_runtime::auth::{violations, Component};
use ds_runtime::publish::Publisher;
use ds_runtime::shutdown::Shutdown;
use ds_schemas::subjects::{STREAM_ENRICHED, STREAM_RAW};
use ds_schemas::UnderlyingTick;
use ds_tests::*;
use futures::StreamExt;
use prost::Message as _;
use std::time::Duration;

fn tick() -> UnderlyingTick {
    UnderlyingTick {
        product: "NIFTY".into(),
        price: 21500.0,
        ts_unix_ns: 1_736_912_700_000_000_000,
        seq: 1,
        volume: 5,
    }
}

/// Checks that the first message of a consumer's `messages` is the log's
/// first: the NIFTY tick.
async fn first_is_nifty_tick<E: std::fmt::Debug>(
    mut messages: impl futures::Stream<Item = Result<async_nats::jetstream::Message, E>> + Unpin,
) {
    let first = messages.next().await.expect("a message").expect("readable");
    assert_eq!(first.subject.as_str(), "md.enriched.NIFTY.underlying");
}

/// JetStream as `c`, with a short API timeout: a denied API request is
/// dropped by the server and only ends by timing out.
async fn js_as(env: &TestEnv, c: Component) -> async_nats::jetstream::Context {
    let mut js = env.js_as(c).await;
    js.set_timeout(Duration::from_secs(2));
    js
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_known_credential_is_refused() {
    let env = TestEnv::start().await;
    let anonymous = ds_runtime::nats::connect(&env.nats.url, "anonymous").await;
    let err = anonymous.expect_err("refused").to_string();
    assert!(err.contains("refused the credential"), "{err}");
    // A well-formed key the server does not list.
    let dir = tempfile::tempdir().expect("dir");
    let stranger = ds_runtime::auth::LocalCreds::ensure(dir.path()).expect("creds");
    let who = stranger.identity(Component::Admin).expect("identity");
    let err = ds_runtime::nats::connect_as(&env.nats.url, &who)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("refused the credential of \"admin\""), "{err}");
}

/// Publishes [`tick`] on `subject` with message id `id`, as the operator.
async fn publish_tick(env: &TestEnv, subject: &str, id: &str) {
    let h = ds_runtime::headers::for_message::<UnderlyingTick>(id);
    env.js
        .publish_with_headers(subject.to_owned(), h, tick().encode_to_vec().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_reads_enriched_data_and_nothing_else() {
    let env = TestEnv::start().await;
    env.allow_violations();
    // Something to read: one enriched message (the operator may write anything).
    publish_tick(&env, "md.enriched.NIFTY.underlying", "t:1").await;

    let sub = env.connect(Component::Subscriber).await;
    let js = js_as(&env, Component::Subscriber).await;
    // Allowed: stream info, an ordered consumer read from the start, live subjects.
    let mut live = sub.subscribe("md.enriched.>").await.expect("subscribe");
    sub.flush().await.expect("subscribed");
    let stream = js.get_stream(STREAM_ENRICHED).await.expect("stream info");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "md.enriched.>".into(),
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    first_is_nifty_tick(consumer.messages().await.expect("messages")).await;
    let push = stream
        .create_consumer(async_nats::jetstream::consumer::push::OrderedConfig {
            deliver_subject: sub.new_inbox(),
            filter_subject: "md.enriched.>".into(),
            ..Default::default()
        })
        .await
        .expect("ordered push consumer");
    first_is_nifty_tick(push.messages().await.expect("messages")).await;

    // Denied: writing the log, deleting or purging a stream, the KV buckets,
    // other streams, raw subjects, pulling the projector's work queue.
    let mut publisher = Publisher::new(js.clone(), 8);
    publisher
        .publish("md.raw.NIFTY.underlying".into(), "x:1", &tick())
        .await
        .expect("sent");
    let err = publisher.flush().await.expect_err("denied");
    match &err {
        ds_runtime::Error::PermissionDenied(v) => {
            assert_eq!(v.user, "subscriber");
            assert_eq!(v.subject, "md.raw.NIFTY.underlying");
        }
        other => panic!("not a permission error: {other}"),
    }
    assert!(!err.is_transient());
    assert!(js.delete_stream(STREAM_RAW).await.is_err());
    assert!(js.delete_stream(STREAM_ENRICHED).await.is_err());
    assert!(stream.purge().await.is_err());
    assert!(js.get_key_value("ds_checkpoints").await.is_err());
    assert!(js.get_stream(STREAM_RAW).await.is_err());
    let raw_sub = sub.subscribe("md.raw.>").await.expect("sent");
    drop(raw_sub);
    // The stream is intact and nothing was written.
    assert_eq!(stream_len(&env.js, STREAM_RAW).await, 0);
    assert_eq!(stream_len(&env.js, STREAM_ENRICHED).await, 1);
    // The server saw each denial, for this user.
    env.client.flush().await.expect("flush");
    let logged = env.violations().join("\n");
    for subject in [
        "md.raw.NIFTY.underlying",
        "$JS.API.STREAM.DELETE.MD_RAW",
        "$JS.API.STREAM.PURGE.MD_ENRICHED",
        "$JS.API.STREAM.INFO.KV_ds_checkpoints",
        "md.raw.>",
    ] {
        assert!(logged.contains(subject), "{subject} not denied:\n{logged}");
    }
    // Live messages reach the subscriber's core subscription.
    publish_tick(&env, "md.enriched.AAPL.underlying", "t:2").await;
    let m = live.next().await.expect("a live message");
    assert_eq!(m.subject.as_str(), "md.enriched.AAPL.underlying");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_cannot_publish_raw_ticks_and_a_denial_is_sent_once() {
    let env = TestEnv::start().await;
    env.allow_violations();
    let js = js_as(&env, Component::Gateway).await;
    let mut publisher = Publisher::new(js.clone(), 8);
    for attempt in 0..3 {
        let sent = publisher
            .publish("md.raw.NIFTY.underlying".into(), "gw:1", &tick())
            .await;
        let result = match sent {
            Ok(()) => publisher.flush().await,
            Err(e) => Err(e),
        };
        match result {
            Err(ds_runtime::Error::PermissionDenied(v)) => {
                assert_eq!(
                    (v.user.as_str(), v.subject.as_str()),
                    ("gateway", "md.raw.NIFTY.underlying")
                );
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert_eq!(stream_len(&env.js, STREAM_RAW).await, 0);
    // Only the first attempt reached the server: the later ones failed at once.
    env.client.flush().await.expect("flush");
    let denials: Vec<String> = env
        .violations()
        .into_iter()
        .filter(|l| l.contains("md.raw.NIFTY.underlying"))
        .collect();
    assert_eq!(denials.len(), 1, "{denials:#?}");
    assert!(violations::denied_publish(
        &violations::prefix_of(&js.client()),
        "md.raw.NIFTY.underlying"
    )
    .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_denied_its_subjects_stops_with_the_user_and_subject() {
    let env = TestEnv::start().await;
    env.allow_violations();
    // A live feed misconfigured with the replay's credential: it may read
    // MD_RAW's subjects but not write them, and must stop rather than retry.
    let who = env.identity(Component::Replay);
    let client = connect_as(&env.nats.url, &who).await;
    let mut js = ds_runtime::nats::jetstream(client);
    js.set_timeout(Duration::from_secs(2));
    let mut cfg = env.cfg.clone();
    cfg.feed.tick_interval_ms = 100;
    // It must try to publish whatever the hour.
    let opts = live_feed_options(1, &["NIFTY"]);
    let (_t, shutdown) = Shutdown::new();
    let err = ds_processors::feed::run(&cfg, js, opts, shutdown)
        .await
        .expect_err("the feed stops");
    let text = format!("{err:#}");
    assert!(
        text.contains("NATS user \"replay\" may not publish to \"md.raw.NIFTY."),
        "{text}"
    );
    assert_eq!(stream_len(&env.js, STREAM_RAW).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enricher_with_another_identity_stops_with_the_user_and_subject() {
    let env = TestEnv::start().await;
    env.allow_violations();
    // The projector's credential may not open the enrichers' leases bucket:
    // the enricher stops at once, saying so, instead of a bare timeout.
    let js = js_as(&env, Component::Project).await;
    let (_t, shutdown) = Shutdown::new();
    let err = ds_processors::enrich::run(env.cfg(), js, shutdown)
        .await
        .expect_err("the enricher stops");
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "NATS user \"project\" may not publish to \"$JS.API.STREAM.INFO.KV_ds_leases\""
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_publishing_outside_its_namespace_stops_with_the_user_and_subject() {
    let env = TestEnv::start().await;
    env.allow_violations();
    let cfg = small_day_config(env.cfg.clone());
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 3).await;
    let mut opts = ds_processors::replay::ReplayOptions::new("2025-01-15".parse().expect("date"));
    opts.products = vec!["NIFTY".into()];
    opts.scan = true;
    opts.target = ds_processors::replay::Target::None;
    opts.publish_prefix = Some("elsewhere.demo".into());
    // Slow enough that the server's refusal arrives long before the day ends.
    opts.max_rate = Some(200.0);
    let (_t, shutdown) = Shutdown::new();
    let err = ds_processors::replay::run(
        &cfg,
        &env.js_as(Component::Replay).await,
        None,
        opts,
        &|_| {},
        shutdown,
    )
    .await
    .expect_err("the replay stops");
    assert!(!err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(
            "NATS user \"replay\" may not publish to \"elsewhere.demo.md.enriched.NIFTY."
        ),
        "{text}"
    );
}
