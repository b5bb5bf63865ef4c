//! What nats-server 2.14's consumer reset (ADR-60) does, as the enricher's
//! takeover would use it instead of deleting and recreating the product's
//! consumer at the checkpoint (issue 17). Kept as a test because the decision
//! rests on it: a reset moves delivery back to the checkpoint, but the previous
//! owner's pull stream goes on receiving messages (deleting the consumer ends it
//! with an error), so the takeover keeps delete + create; see BENCHMARKS.md.

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::Stream;
use ds_tests::*;
use futures::StreamExt;
use std::time::Duration;

fn seq(m: &async_nats::jetstream::Message) -> u64 {
    m.info().expect("info").stream_sequence
}

/// The messages of a new consumer on `stream` with `config`, one per pull request.
async fn one_per_pull(stream: &Stream, config: pull::Config) -> pull::Stream {
    let consumer: PullConsumer = stream.create_consumer(config).await.expect("consumer");
    consumer
        .stream()
        .max_messages_per_batch(1)
        .messages()
        .await
        .expect("pulls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_rewinds_delivery_but_does_not_end_the_previous_owners_pulls() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 3).await;
    let stream = env.js.get_stream("MD_RAW").await.expect("stream");
    let config = |name: &str, deliver_policy| pull::Config {
        durable_name: Some(name.into()),
        filter_subject: "md.raw.NIFTY.>".into(),
        deliver_policy,
        ack_policy: AckPolicy::All,
        ack_wait: Duration::from_secs(60),
        ..Default::default()
    };
    // One message per pull request, so what follows the reset is new pulls.
    let mut previous = one_per_pull(&stream, config("probe", DeliverPolicy::All)).await;
    for want in 1..=5 {
        let m = previous.next().await.expect("message").expect("ok");
        assert_eq!(seq(&m), want);
    }

    stream
        .reset_consumer("probe", Some(3))
        .await
        .expect("reset to the checkpoint");
    let next: PullConsumer = stream.get_consumer("probe").await.expect("consumer");
    let mut next = next.messages().await.expect("pulls");
    let first = next.next().await.expect("message").expect("ok");
    assert_eq!(seq(&first), 3, "delivery resumes at the checkpoint");
    // The previous owner is served on: nothing tells it the consumer moved on.
    for _ in 0..5 {
        let m = tokio::time::timeout(Duration::from_secs(5), previous.next())
            .await
            .expect("still pulling")
            .expect("message")
            .expect("no error");
        assert!(seq(&m) > 3);
    }

    // Deleting the consumer ends a pull stream with an error.
    let mut doomed = one_per_pull(&stream, config("doomed", DeliverPolicy::All)).await;
    doomed.next().await.expect("message").expect("ok");
    stream.delete_consumer("doomed").await.expect("deleted");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match doomed.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "a deleted consumer's pulls end");

    // A reset below a consumer's configured start is refused.
    stream
        .create_consumer(config(
            "later",
            DeliverPolicy::ByStartSequence {
                start_sequence: 100,
            },
        ))
        .await
        .expect("consumer");
    assert!(stream.reset_consumer("later", Some(50)).await.is_err());
    assert!(stream.reset_consumer("later", Some(150)).await.is_ok());
}
