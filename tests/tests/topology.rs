//! `topology apply` brings streams created before a declaration changed (e.g.
//! without S2 compression, as releases before it did) to what `nats/` declares,
//! in place, and is idempotent.

use async_nats::jetstream::stream::Compression;
use ds_runtime::topology::{self, ApplyOptions, Outcome};
use ds_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_without_compression_are_updated_in_place() {
    let (env, cfg) = TestEnv::start_small_day().await;
    feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 3).await;
    let before = stream_len(&env.js, "MD_RAW").await;
    let mut raw = env.js.get_stream("MD_RAW").await.expect("stream");
    let mut old = raw.info().await.expect("info").config.clone();
    old.compression = Some(Compression::None);
    env.js.update_stream(&old).await.expect("uncompressed");

    let done = topology::apply(&env.js, ApplyOptions::default())
        .await
        .expect("applies");
    assert!(
        done.contains(&("MD_RAW".to_owned(), Outcome::Updated)),
        "{done:?}"
    );
    let info = raw.info().await.expect("info").clone();
    assert_eq!(info.config.compression, Some(Compression::S2));
    assert_eq!(info.state.messages, before, "no message lost");
    let again = topology::apply(&env.js, ApplyOptions::default())
        .await
        .expect("applies");
    assert!(
        again.iter().all(|(_, o)| *o == Outcome::Unchanged),
        "{again:?}"
    );
}
