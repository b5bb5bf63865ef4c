//! `deltastream sub` and `deltastream schema` as a user runs them: decoded JSON
//! lines from every stream that holds the subjects (and from core NATS), an
//! error object for a message that does not decode, and `.proto` files and a
//! descriptor set other languages can load.

use async_nats::HeaderMap;
use bytes::Bytes;
use ds_runtime::auth::Component;
use ds_runtime::publish::Publisher;
use ds_schemas::{EnrichedUnderlying, Schema, UnderlyingTick, PROTO_FILES};
use ds_tests::{eventually, TestEnv};
use prost::Message;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn deltastream(env: &TestEnv) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deltastream"));
    // As the operator (its seed file is named admin.nk): these tests read
    // MD_RAW and MD_DLQ too, which the read-only subscriber may not.
    c.env("DS_NATS_URL", &env.nats.url)
        .env("DS_NATS_CREDS", env.creds().path(Component::Admin))
        .env("RUST_LOG", "warn");
    c
}

/// Runs `deltastream <args>` off the async runtime and returns its output.
async fn run(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = deltastream(env);
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("deltastream runs"))
        .await
        .expect("joins")
}

/// Each line of a successful run's stdout, as JSON.
fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn tick(seq: u64) -> UnderlyingTick {
    UnderlyingTick {
        product: "NIFTY".into(),
        price: 21_500.0 + seq as f64,
        ts_unix_ns: 1_736_935_200_000_000_000 + seq as i64,
        seq,
        volume: 10,
    }
}

fn enriched() -> EnrichedUnderlying {
    EnrichedUnderlying {
        product: "NIFTY".into(),
        price: 21_501.0,
        seq: 1,
        session_high: 21_502.0,
        source_seq: 1,
        ..Default::default()
    }
}

/// Two ticks and a garbled one in MD_RAW, an enriched tick in MD_ENRICHED.
async fn publish_known_messages(env: &TestEnv) {
    let mut p = Publisher::new(env.js.clone(), 16);
    for seq in [1, 2] {
        let id = format!("NIFTY:underlying:{seq}");
        p.publish("md.raw.NIFTY.underlying".into(), &id, &tick(seq))
            .await
            .expect("publishes");
    }
    let mut h = HeaderMap::new();
    h.insert("Ds-Schema", UnderlyingTick::NAME);
    h.insert("Nats-Msg-Id", "garbled");
    p.publish_raw(
        "md.raw.NIFTY.underlying".into(),
        h,
        Bytes::from_static(&[0xff, 0xff, 0xff]),
    )
    .await
    .expect("publishes");
    p.publish(
        "md.enriched.NIFTY.underlying".into(),
        "EnrichedUnderlying:1",
        &enriched(),
    )
    .await
    .expect("publishes");
    p.flush().await.expect("acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_prints_decoded_json_lines_from_every_stream_holding_the_subjects() {
    let env = TestEnv::start().await;
    publish_known_messages(&env).await;
    let out = run(
        &env,
        &[
            "sub",
            "--since",
            "1",
            "--count",
            "4",
            "-v",
            "md.raw.NIFTY.>",
            "md.enriched.NIFTY.underlying",
        ],
    )
    .await;
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let raw: Vec<&Value> = lines.iter().filter(|l| l["stream"] == "MD_RAW").collect();
    assert_eq!(raw.len(), 3, "{lines:?}");
    for (i, l) in raw.iter().enumerate() {
        assert_eq!(l["seq"], i + 1, "{l}");
        assert_eq!(l["subject"], "md.raw.NIFTY.underlying");
        assert_eq!(l["schema"], "deltastream.v1.UnderlyingTick");
    }
    for (l, seq) in raw[..2].iter().zip([1, 2]) {
        assert_eq!(l["message"]["product"], "NIFTY", "{l}");
        assert_eq!(l["message"]["seq"], seq, "{l}");
        assert_eq!(l["message"]["ts_unix_ns"], tick(seq).ts_unix_ns, "{l}");
        let id = format!("NIFTY:underlying:{seq}");
        assert_eq!(l["headers"]["Nats-Msg-Id"][0], id.as_str(), "{l}");
    }
    assert!(raw[2].get("message").is_none(), "{}", raw[2]);
    let error = raw[2]["error"].as_str().unwrap_or_default();
    assert!(error.contains("undecodable"), "{}", raw[2]);
    let e = lines
        .iter()
        .find(|l| l["stream"] == "MD_ENRICHED")
        .expect("the enriched tick");
    assert_eq!(e["seq"], 1);
    assert_eq!(e["schema"], "deltastream.v1.EnrichedUnderlying");
    assert_eq!(e["message"]["session_high"], 21_502.0);
    assert_eq!(e["message"]["change_pct"], 0.0);

    // From a time, as RFC 3339 or unix milliseconds; without -v, no headers.
    for since in ["2017-07-14T02:40:00Z", "1500000000000"] {
        let out = run(
            &env,
            &[
                "sub",
                "--since",
                since,
                "--count",
                "2",
                "md.raw.NIFTY.underlying",
            ],
        )
        .await;
        let lines = json_lines(&out);
        let seqs: Vec<&Value> = lines.iter().map(|l| &l["seq"]).collect();
        assert_eq!(seqs, [1, 2], "{lines:?}");
        assert!(lines.iter().all(|l| l.get("headers").is_none()));
    }

    // A subject wider than any stream reads each stream it spans.
    let out = run(&env, &["sub", "--since", "1", "--count", "4", "md.>"]).await;
    let mut streams: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| format!("{}:{}", l["stream"], l["seq"]))
        .collect();
    streams.sort();
    assert_eq!(
        streams,
        [
            r#""MD_ENRICHED":1"#,
            r#""MD_RAW":1"#,
            r#""MD_RAW":2"#,
            r#""MD_RAW":3"#
        ]
    );

    let out = run(&env, &["sub", "--count", "1", "no.such.subject"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no stream holds no.such.subject"), "{err}");
    assert!(err.contains("--core"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_core_prints_live_messages() {
    let env = TestEnv::start().await;
    let subject = "replay.test.md.enriched.NIFTY.underlying";
    // What a replay publishes, as the replay identity (allowed `replay.>`).
    let replay = env.connect(Component::Replay).await;
    let mut child = deltastream(&env)
        .args(["sub", "--core", "--count", "1", subject])
        .stdout(Stdio::piped())
        .spawn()
        .expect("deltastream sub starts");
    // Published until the subscriber, once subscribed, has printed one and exited.
    let payload = Bytes::from(enriched().encode_to_vec());
    eventually(
        "sub --core to print a message",
        Duration::from_secs(30),
        || {
            let mut h = HeaderMap::new();
            h.insert("Ds-Schema", EnrichedUnderlying::NAME);
            let client = replay.clone();
            let payload = payload.clone();
            let exited = child.try_wait().expect("waits").is_some();
            async move {
                if exited {
                    return Some(());
                }
                let _ = client.publish_with_headers(subject, h, payload).await;
                None
            }
        },
    )
    .await;
    let out = child.wait_with_output().expect("output");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["subject"], subject);
    assert!(lines[0]["stream"].is_null() && lines[0]["seq"].is_null());
    assert_eq!(lines[0]["message"]["product"], "NIFTY");
}

#[test]
fn schema_writes_the_proto_files_and_a_descriptor_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_deltastream");
    let status = Command::new(bin)
        .args(["schema", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("runs");
    assert!(status.success());
    for (name, source) in PROTO_FILES {
        let written = std::fs::read_to_string(dir.path().join(name)).expect(name);
        assert_eq!(&written, source, "{name}");
    }

    let file = dir.path().join("deltastream.pb");
    let status = Command::new(bin)
        .args(["schema", "--descriptor-set"])
        .arg(&file)
        .status()
        .expect("runs");
    assert!(status.success());
    let bytes = std::fs::read(&file).expect("descriptor set written");
    let set =
        prost_types::FileDescriptorSet::decode(bytes.as_slice()).expect("a FileDescriptorSet");
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    for (name, _) in PROTO_FILES {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert!(set.file.iter().all(|f| f.package() == "deltastream.v1"));
    let messages: Vec<&str> = set
        .file
        .iter()
        .flat_map(|f| f.message_type.iter().map(|m| m.name()))
        .collect();
    for m in [
        "UnderlyingTick",
        "OptionChain",
        "EnrichedChain",
        "ChainSummary",
        "Bar",
        "DeadLetter",
    ] {
        assert!(messages.contains(&m), "{m} in {messages:?}");
    }
}
