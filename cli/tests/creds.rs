//! `deltastream creds` against a running server, as an operator runs it beside
//! `up`: `add` makes a read-only subscriber the server accepts after it reloads
//! its users (no restart), and `rotate` replaces a component's key (the old
//! one is refused from then on).

use ds_runtime::auth::{Component, Credential, Identity};
use ds_runtime::config::Config;
use ds_runtime::publish::Publisher;
use ds_tests::{eventually, TestEnv};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Runs `deltastream creds <args>` on the credentials of `env`'s server, with
/// the data directory its server runs in (what `up` has).
async fn creds(env: &TestEnv, args: &[&str]) -> Output {
    let store = env.nats.config_file.parent().expect("the server's store");
    let data_dir = store.parent().expect("its data directory");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deltastream"));
    cmd.arg("creds")
        .args(args)
        .arg("--dir")
        .arg(env.creds().dir())
        .env("DS_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("deltastream runs"))
        .await
        .expect("joins");
    assert!(
        out.status.success(),
        "creds {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The identity a component configured with `DS_NATS_CREDS=path` connects as.
fn identity_of(path: &Path) -> Identity {
    let cfg = Config {
        nats_creds: Some(path.to_owned()),
        ..Config::default()
    };
    Identity::from_config(&cfg, Component::Subscriber).expect("a credential")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_subscriber_connects_read_only_and_a_rotated_key_is_refused() {
    let env = TestEnv::start().await;
    env.allow_violations();

    let out = creds(&env, &["add", "--name", "analytics"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("subscriber analytics: public key U"),
        "{stdout}"
    );
    assert!(stdout.contains("reloaded its users"), "{stdout}");
    let seed = env.creds().dir().join("subscribers").join("analytics.nk");
    let who = identity_of(&seed);
    assert_eq!(who.component, Component::Subscriber);
    // The server reloads on SIGHUP, a moment after `creds add` returns.
    let client = eventually(
        "the new subscriber accepted",
        Duration::from_secs(10),
        || {
            let (url, who) = (env.nats.url.clone(), who.clone());
            async move { ds_runtime::nats::connect_as(&url, &who).await.ok() }
        },
    )
    .await;
    client.subscribe("md.enriched.>").await.expect("subscribes");
    let mut publisher = Publisher::new(ds_runtime::nats::jetstream(client), 4);
    publisher
        .publish(
            "md.raw.NIFTY.underlying".into(),
            "analytics:1",
            &ds_schemas::UnderlyingTick::default(),
        )
        .await
        .expect("sent");
    match publisher.flush().await {
        Err(ds_runtime::Error::PermissionDenied(v)) => {
            assert_eq!(v.subject, "md.raw.NIFTY.underlying");
        }
        other => panic!("the subscriber wrote md.raw: {other:?}"),
    }

    // Rotation: the feed's old key stops working once the server reloads.
    let old = env.identity(Component::Feed);
    let out = creds(&env, &["rotate", "--name", "feed"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("feed: new public key U"), "{stdout}");
    let new = env.identity(Component::Feed);
    assert_ne!(
        old.credential.as_ref().and_then(Credential::public_key),
        new.credential.as_ref().and_then(Credential::public_key)
    );
    eventually("the old key refused", Duration::from_secs(10), || {
        let (url, old) = (env.nats.url.clone(), old.clone());
        async move {
            ds_runtime::nats::connect_as(&url, &old)
                .await
                .is_err()
                .then_some(())
        }
    })
    .await;
    let err = ds_runtime::nats::connect_as(&env.nats.url, &old)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("refused the credential of \"feed\""), "{err}");
    ds_runtime::nats::connect_as(&env.nats.url, &new)
        .await
        .expect("the new key is accepted");
}
