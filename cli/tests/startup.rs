//! A component started before its servers waits for them and works once they are
//! up (SPEC §5: a transient outage is retried, never fatal): `deltastream project`
//! started with neither NATS nor MongoDB listening yet.

use ds_runtime::auth::{Component, LocalCreds};
use ds_runtime::publish::Publisher;
use ds_runtime::servers::{free_port, Mongod, MongodOptions, NatsOptions, NatsServer, ServerAuth};
use ds_runtime::topology::{self, ApplyOptions};
use ds_tests::eventually;
use mongodb::bson::{doc, Document};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Gives `child` longer than one connection attempt lasts (it used to give up
/// after one), then checks it is still running.
async fn still_waiting(child: &mut Child, server: &str) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        child.try_wait().expect("child status").is_none(),
        "the projector gave up while {server} was away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_started_before_its_servers_works_once_they_are_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The server to come has DeltaStream's users; the projector has its seed.
    let creds = LocalCreds::ensure(&dir.path().join("creds")).expect("credentials");
    let (nats_port, mongo_port) = (free_port().expect("port"), free_port().expect("port"));
    let mut project = Command::new(env!("CARGO_BIN_EXE_deltastream"))
        .arg("project")
        .env("DS_NATS_URL", format!("nats://127.0.0.1:{nats_port}"))
        .env("DS_NATS_CREDS", creds.path(Component::Project))
        .env("DS_MONGO_URL", format!("mongodb://127.0.0.1:{mongo_port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("deltastream starts");
    still_waiting(&mut project, "NATS").await;

    let nats = NatsServer::start(NatsOptions {
        store_dir: dir.path().join("nats"),
        port: Some(nats_port),
        auth: ServerAuth::Users(creds.clone()),
        ..Default::default()
    })
    .expect("nats-server starts (run scripts/setup.sh)");
    let admin = creds.identity(Component::Admin).expect("admin credential");
    let client = ds_runtime::nats::connect_as(&nats.url, &admin)
        .await
        .expect("connect to NATS");
    let js = ds_runtime::nats::jetstream(client);
    topology::apply(&js, ApplyOptions::default())
        .await
        .expect("topology applies");
    let tick = ds_schemas::EnrichedUnderlying {
        product: "NIFTY".into(),
        price: 23_000.0,
        ts_unix_ns: 1_736_912_700_000_000_000,
        seq: 1,
        ..Default::default()
    };
    let mut publisher = Publisher::new(js.clone(), 8);
    publisher
        .publish(
            ds_schemas::subjects::enriched_underlying("NIFTY"),
            "EnrichedUnderlying:1",
            &tick,
        )
        .await
        .expect("publish");
    publisher.flush().await.expect("acked");
    still_waiting(&mut project, "MongoDB").await;

    let mongod = Mongod::start(MongodOptions {
        db_path: dir.path().join("mongo"),
        port: Some(mongo_port),
        ..Default::default()
    })
    .expect("mongod starts (run scripts/setup.sh)");
    let db = ds_runtime::mongo::connect(&mongod.url, "deltastream")
        .await
        .expect("connect to MongoDB");
    let ticks = db.collection::<Document>(ds_runtime::collections::UNDERLYING_TICKS);
    eventually("the tick projected", Duration::from_secs(120), || async {
        let n = ticks
            .count_documents(doc! {"product": "NIFTY"})
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await;
    assert!(project.try_wait().expect("child status").is_none());
    let _ = project.kill();
    let _ = project.wait();
}
