//! One trace per tick: with an OTLP/HTTP receiver started here and trace export
//! pointed at it, a tick published by the real feed yields one trace holding the
//! spans `feed.publish` → `enrich` → `project` and `ws.send`, linked by the
//! W3C context carried in the NATS headers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::post;
use ds_runtime::telemetry::{self, LogFormat, TelemetryConfig};
use ds_schemas::subjects::STREAM_RAW;
use ds_tests::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A received span, reduced to what links it.
#[derive(Debug, Clone)]
struct Got {
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    service: String,
    attrs: Vec<(String, String)>,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Received = Arc<Mutex<Vec<Got>>>;

fn text(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, as collectors take it.
async fn receive(
    State(got): State<Received>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let ct = [(header::CONTENT_TYPE, "application/x-protobuf")];
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, ct, Vec::new());
    };
    let mut out = got.lock().expect("lock");
    for rs in req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .map(|a| text(a.value.as_ref()))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(Got {
                    trace: s.trace_id,
                    id: s.span_id,
                    parent: s.parent_span_id,
                    name: s.name,
                    service: service.clone(),
                    attrs: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(a.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    (StatusCode::OK, ct, Vec::new())
}

async fn otlp_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1/traces"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tick_is_one_trace_from_feed_to_websocket() {
    let started = Instant::now();
    let (endpoint, got) = otlp_receiver().await;
    // The exporter is global: installed once, before anything logs.
    let telemetry = telemetry::init(TelemetryConfig {
        traces_endpoint: Some(endpoint),
        service_name: "deltastream-test".into(),
        sample_ratio: 1.0,
        batch_delay: Some(Duration::from_millis(100)),
        log: LogFormat::Test,
    })
    .expect("telemetry installs");
    assert!(telemetry.exporting() && telemetry::enabled());

    let env = TestEnv::start().await;
    let enrich = enricher(&env);
    let project = projector(&env);
    // The gateway, seeded before the tick, so the tick reaches the hub live.
    let (cfg, db, nats) = (
        env.cfg(),
        env.db.clone(),
        env.connect(ds_runtime::auth::Component::Gateway).await,
    );
    let (seeded_tx, seeded) = tokio::sync::oneshot::channel();
    let gw = Running::spawn(move |s| async move {
        let state = ds_gateway::AppState::new(cfg, db, nats).await?;
        let ready = state.live.wait_ready(Duration::from_secs(20)).await;
        let _ = seeded_tx.send(ready);
        ds_gateway::serve(state, s).await
    });
    assert_eq!(seeded.await.ok(), Some(true), "gateway live values seeded");

    // The real live feed, one round: a tick (and chains) of NIFTY, then stopped.
    let mut feed_cfg = env.cfg.clone();
    feed_cfg.feed.tick_interval_ms = 600_000;
    let js = env.js_as(ds_runtime::auth::Component::Feed).await;
    let feed = spawn_live_feed(feed_cfg, js, 3, &["NIFTY"]);
    eventually("the tick in MD_RAW", Duration::from_secs(20), || async {
        (stream_len(&env.js, STREAM_RAW).await > 0).then_some(())
    })
    .await;
    feed.stop().await.expect("feed stops");

    let tick_subject = "md.raw.NIFTY.underlying";
    let spans = eventually(
        "feed, enrich, project and ws.send spans",
        Duration::from_secs(30),
        || {
            let got = got.clone();
            let telemetry = &telemetry;
            async move {
                telemetry.flush().await;
                let spans = got.lock().expect("lock").clone();
                let root = spans
                    .iter()
                    .find(|s| s.name == "feed.publish" && s.attr("subject") == Some(tick_subject))?
                    .trace
                    .clone();
                let trace: Vec<Got> = spans.into_iter().filter(|s| s.trace == root).collect();
                let has = |name: &str| trace.iter().any(|s| s.name == name);
                (has("enrich") && has("project") && has("ws.send")).then_some(trace)
            }
        },
    )
    .await;

    let by_name = |name: &str| -> Vec<&Got> { spans.iter().filter(|s| s.name == name).collect() };
    let feed_spans = by_name("feed.publish");
    assert_eq!(
        feed_spans.len(),
        1,
        "one root per published message: {spans:#?}"
    );
    let root = feed_spans[0];
    assert!(root.parent.is_empty(), "the feed starts the trace");
    assert_eq!(root.service, "deltastream-test");
    assert_eq!(root.attr("product"), Some("NIFTY"));

    let enrich_spans = by_name("enrich");
    assert_eq!(enrich_spans.len(), 1, "{spans:#?}");
    let e = enrich_spans[0];
    assert_eq!(e.parent, root.id, "enrich continues the feed's span");
    assert_eq!(e.attr("product"), Some("NIFTY"));
    assert_eq!(e.attr("subject"), Some(tick_subject));
    assert!(e
        .attr("stream_seq")
        .is_some_and(|s| s.parse::<u64>().is_ok()));

    let project_spans = by_name("project");
    assert!(!project_spans.is_empty());
    for p in &project_spans {
        assert_eq!(p.parent, e.id, "project continues the enriched message");
        assert!(p
            .attr("subject")
            .is_some_and(|s| s.starts_with("md.enriched.NIFTY.")));
    }
    let ws_spans = by_name("ws.send");
    assert!(!ws_spans.is_empty());
    for w in &ws_spans {
        assert_eq!(
            w.parent, e.id,
            "the WebSocket fan-out continues the enriched message"
        );
    }
    assert!(
        spans.iter().all(|s| s.trace == root.trace),
        "one trace id throughout"
    );

    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
    telemetry.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(60));
}
