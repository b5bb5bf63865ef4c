//! Logs and traces (SPEC §10): `tracing` logs to stderr (text or JSON), spans
//! exported over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! and the W3C trace context (`traceparent`, `tracestate`) carried in NATS
//! headers, so one trace follows a tick from the feed through enrichment and
//! projection to the WebSocket send.
//!
//! With export off, a message costs one relaxed atomic load: no span is made and
//! no header is read or written. With export on, per-message spans are made only
//! for messages whose incoming context is sampled (the feed decides, with the
//! parent-based ratio sampler), so unsampled traffic stays cheap as well.
//!
//! ```ignore
//! let span = tracing::info_span!(parent: None, "enrich", stream_seq = seq);
//! if let Some(parent) = telemetry::remote(msg.headers.as_ref()) {
//!     parent.adopt(&span);
//! }
//! let mut h = output.headers(seq);
//! telemetry::inject(&span, &mut h); // the output continues the trace
//! ```

use crate::{Error, Result};
use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use opentelemetry_sdk::Resource;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log levels when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info,async_nats=warn,mongodb=warn";
/// How long one OTLP export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The instrumentation scope of our spans.
const TRACER_NAME: &str = "deltastream";

/// Whether spans are exported (set once by [`init`]). A process-wide flag
/// because the OpenTelemetry provider behind it is process-wide too.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported, i.e. whether trace context is worth handling.
#[inline]
pub fn enabled() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Through the test harness' capture (integration tests).
    Test,
}

/// Telemetry settings, normally from the standard `OTEL_*` environment variables.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP traces URL (`…/v1/traces`); no export when `None`.
    pub traces_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Fraction of traces the feed starts that are sampled (0..=1); downstream
    /// components follow the feed's decision (parent-based).
    pub sample_ratio: f64,
    /// How long finished spans wait before they are sent; the SDK's default
    /// (`OTEL_BSP_SCHEDULE_DELAY`, 5 s) when `None`.
    pub batch_delay: Option<Duration>,
    /// Log output.
    pub log: LogFormat,
}

impl TelemetryConfig {
    /// Settings from the environment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used
    /// as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`) turns export on;
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep it off;
    /// `OTEL_SERVICE_NAME` (default `default_service`); `OTEL_TRACES_SAMPLER_ARG`
    /// the sampled ratio (default 1).
    ///
    /// # Errors
    /// [`Error::Config`] when the ratio is not a number in 0..=1.
    pub fn from_env(default_service: &str, log: LogFormat) -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let traces_endpoint = if disabled {
            None
        } else {
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
                var("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
            })
        };
        let sample_ratio = match var("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(v) => parse_ratio(&v)?,
        };
        Ok(Self {
            traces_endpoint,
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| default_service.to_owned()),
            sample_ratio,
            batch_delay: None,
            log,
        })
    }
}

fn parse_ratio(v: &str) -> Result<f64> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(Error::Config(format!(
            "OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1, got {v:?}"
        ))),
    }
}

/// The installed telemetry. Dropping it flushes and stops the exporter: drop it
/// outside async code while the Tokio runtime still runs (or use
/// [`Telemetry::shutdown`] inside it).
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every finished span now.
    pub async fn flush(&self) {
        if let Some(p) = self.provider.clone() {
            let done = tokio::task::spawn_blocking(move || p.force_flush()).await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "flushing traces failed");
            }
        }
    }

    /// Flushes and stops the exporter (from async code).
    pub async fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            EXPORTING.store(false, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || p.shutdown()).await;
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(e) = p.shutdown() {
                eprintln!("warning: flushing traces at exit failed: {e}");
            }
        }
    }
}

/// Installs the global `tracing` subscriber: logs filtered by `RUST_LOG`
/// (default [`DEFAULT_LOG_FILTER`]) and, with an endpoint, the OTLP exporter of
/// our own spans. With an endpoint it must run inside a Tokio runtime, which
/// carries the export requests.
///
/// # Errors
/// [`Error::Config`] when there is no runtime for the exporter, the exporter
/// cannot be built, or a subscriber is already installed.
pub fn init(cfg: TelemetryConfig) -> Result<Telemetry> {
    let provider = match &cfg.traces_endpoint {
        Some(url) => Some(provider(url, &cfg)?),
        None => None,
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = match cfg.log {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Test => tracing_subscriber::fmt::layer().with_test_writer().boxed(),
    }
    .with_filter(filter);
    // Spans of our own crates only, whatever RUST_LOG says about logs.
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(TRACER_NAME))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                *m.level() <= tracing::Level::INFO
                    && (m.target().starts_with("ds_") || m.target().starts_with("deltastream"))
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| Error::Config(format!("logging is already set up: {e}")))?;
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::info!(
            endpoint = cfg.traces_endpoint.as_deref().unwrap_or_default(),
            service = %cfg.service_name,
            ratio = cfg.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(Telemetry { provider })
}

fn provider(url: &str, cfg: &TelemetryConfig) -> Result<SdkTracerProvider> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::Config("trace export needs a Tokio runtime: call telemetry::init inside one".into())
    })?;
    let client = OnRuntime {
        inner: Arc::new(HyperClient::with_default_connector(EXPORT_TIMEOUT, None)),
        handle,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| Error::Config(format!("OTLP exporter for {url}: {e}")))?;
    let mut batch = BatchConfigBuilder::default();
    if let Some(d) = cfg.batch_delay {
        batch = batch.with_scheduled_delay(d);
    }
    let ratio = cfg.sample_ratio.clamp(0.0, 1.0);
    Ok(SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch.build())
                .build(),
        )
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(cfg.service_name.clone())
                .build(),
        )
        .build())
}

/// The hyper client, run on the application's Tokio runtime: the SDK's batch
/// processor exports from its own thread, which has no runtime of its own.
#[derive(Debug)]
struct OnRuntime {
    inner: Arc<HyperClient>,
    handle: tokio::runtime::Handle,
}

impl HttpClient for OnRuntime {
    fn send_bytes<'a, 'f>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Response<Bytes>, HttpError>> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        let inner = self.inner.clone();
        let task = self
            .handle
            .spawn(async move { inner.send_bytes(request).await });
        Box::pin(async move { task.await? })
    }
}

/// A sampled W3C trace context received in NATS headers.
#[derive(Debug, Clone)]
pub struct Remote(opentelemetry::Context);

impl Remote {
    /// Makes `span` a child of this context. Call it right after creating the
    /// span (with `parent: None`), before the span is entered.
    pub fn adopt(&self, span: &tracing::Span) {
        let _ = span.set_parent(self.0.clone());
    }
}

/// The sampled trace context of a message, if traces are exported and its
/// headers carry one (`traceparent`, and `tracestate` if present).
pub fn remote(headers: Option<&HeaderMap>) -> Option<Remote> {
    if !enabled() {
        return None;
    }
    let h = headers?;
    h.get(crate::headers::TRACEPARENT_HEADER)?;
    let cx = TraceContextPropagator::new().extract(&Reader(h));
    let sampled = {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid() && sc.is_sampled()
    };
    sampled.then_some(Remote(cx))
}

/// Writes the context of `span` into `headers` when it is sampled (and traces
/// are exported); returns whether it did.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) -> bool {
    if !enabled() {
        return false;
    }
    let cx = span.context();
    let sampled = {
        let s = cx.span();
        let sc = s.span_context();
        sc.is_valid() && sc.is_sampled()
    };
    if sampled {
        TraceContextPropagator::new().inject_context(&cx, &mut Writer(headers));
    }
    sampled
}

struct Writer<'a>(&'a mut HeaderMap);

impl Injector for Writer<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct Reader<'a>(&'a HeaderMap);

impl Extractor for Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_must_be_a_fraction() {
        assert_eq!(parse_ratio("0.25").ok(), Some(0.25));
        assert_eq!(parse_ratio(" 1 ").ok(), Some(1.0));
        assert!(parse_ratio("2").is_err());
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("half").is_err());
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Headers with [`TRACEPARENT`].
    fn traced() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(crate::headers::TRACEPARENT_HEADER, TRACEPARENT);
        h
    }

    #[test]
    fn headers_carry_the_w3c_context() {
        let mut h = traced();
        h.insert("tracestate", "vendor=x");
        let cx = TraceContextPropagator::new().extract(&Reader(&h));
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_valid() && sc.is_sampled() && sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut Writer(&mut out));
        assert_eq!(
            out.get("traceparent").map(|v| v.as_str()),
            Some(TRACEPARENT)
        );
        assert_eq!(out.get("tracestate").map(|v| v.as_str()), Some("vendor=x"));
    }

    #[test]
    fn off_by_default_and_free() {
        // No `init` in unit tests: nothing is read or written.
        assert!(remote(Some(&traced())).is_none());
        let mut out = HeaderMap::new();
        assert!(!inject(&tracing::Span::none(), &mut out));
        assert!(out.get("traceparent").is_none());
    }
}
