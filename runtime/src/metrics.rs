//! Prometheus metrics of every component, named `deltastream_<noun>_<verb>_total`
//! and `_seconds`, with bounded label values (processor, product, kind, route).
//! One process-wide registry: the metrics are facts about the process.

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

/// Every metric DeltaStream exports.
pub struct Metrics {
    registry: Registry,
    /// Messages handled by a processor, by kind (underlying, chain, enriched, ...).
    pub processed: IntCounterVec,
    /// Messages a processor received more than once.
    pub redelivered: IntCounterVec,
    /// Messages sent to the DLQ, by processor and reason class.
    pub dead_lettered: IntCounterVec,
    /// Time to handle a batch of messages, per message.
    pub processing_seconds: HistogramVec,
    /// Messages a consumer has yet to receive (its `num_pending`).
    pub consumer_lag: IntGaugeVec,
    /// Consumers rebuilt by the stall watchdog.
    pub watchdog_restarts: IntCounterVec,
    /// Messages in `MD_DLQ`.
    pub dlq_size: IntGauge,
    /// Messages the feed published, by product and kind.
    pub feed_published: IntCounterVec,
    /// Event time (seconds) of the last enriched message per product.
    pub last_event_ts: IntGaugeVec,
    /// The gateway's HTTP and WebSocket metrics.
    pub gateway: GatewayMetrics,
}

/// Registers the metric `c` on `r` and returns it.
fn register<C: Collector + Clone + 'static>(r: &Registry, c: prometheus::Result<C>) -> C {
    let c = c.expect("valid metric definition");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

fn unlabelled_counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(r, IntCounter::new(name, help))
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help))
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = exponential_buckets(0.000_05, 2.0, 18).expect("valid buckets");
    register(
        r,
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels),
    )
}

/// The gateway's metrics: HTTP and WebSocket.
pub struct GatewayMetrics {
    /// HTTP requests by route and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency by route.
    pub http_seconds: HistogramVec,
    /// Connected WebSocket clients.
    pub ws_clients: IntGauge,
    /// WebSocket rooms with at least one client.
    pub ws_rooms: IntGauge,
    /// Messages sent to WebSocket clients.
    pub ws_sent: IntCounterVec,
    /// Updates replaced by a newer one before a slow client read them.
    pub ws_conflated: IntCounterVec,
    /// Clients disconnected for not reading.
    pub ws_dropped: IntCounterVec,
    /// Socket flushes of the WebSocket writers (each carries one frame or more:
    /// frames sent ÷ flushes is the batching).
    pub ws_flushes: IntCounter,
}

impl GatewayMetrics {
    fn new(r: &Registry) -> Self {
        Self {
            http_requests: counter(
                r,
                "deltastream_http_requests_total",
                "HTTP requests.",
                &["route", "status"],
            ),
            http_seconds: histogram(
                r,
                "deltastream_http_request_seconds",
                "HTTP request latency.",
                &["route"],
            ),
            ws_clients: gauge(r, "deltastream_ws_clients", "Connected WebSocket clients."),
            ws_rooms: gauge(r, "deltastream_ws_rooms", "WebSocket rooms with clients."),
            ws_sent: counter(
                r,
                "deltastream_ws_messages_sent_total",
                "Messages sent to WebSocket clients.",
                &["event"],
            ),
            ws_conflated: counter(
                r,
                "deltastream_ws_conflated_total",
                "Updates a slow client skipped: replaced by a newer one of their key, or (event `resync`) left behind in a room's log and replaced by its latest values.",
                &["event"],
            ),
            ws_dropped: counter(
                r,
                "deltastream_ws_dropped_clients_total",
                "Clients disconnected for not reading.",
                &["reason"],
            ),
            ws_flushes: unlabelled_counter(
                r,
                "deltastream_ws_flushes_total",
                "Socket flushes of the WebSocket writers (one frame or more each).",
            ),
        }
    }
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new();
        Self {
            processed: counter(
                &r,
                "deltastream_messages_processed_total",
                "Messages handled by a processor.",
                &["processor", "kind"],
            ),
            redelivered: counter(
                &r,
                "deltastream_messages_redelivered_total",
                "Messages received more than once.",
                &["processor"],
            ),
            dead_lettered: counter(
                &r,
                "deltastream_dlq_messages_total",
                "Messages sent to the DLQ.",
                &["processor", "reason"],
            ),
            processing_seconds: histogram(
                &r,
                "deltastream_processing_seconds",
                "Processing time per message.",
                &["processor"],
            ),
            consumer_lag: gauge_vec(
                &r,
                "deltastream_consumer_lag",
                "Messages a consumer has yet to receive.",
                &["consumer"],
            ),
            watchdog_restarts: counter(
                &r,
                "deltastream_consumer_watchdog_restarts_total",
                "Consumers rebuilt by the stall watchdog.",
                &["consumer"],
            ),
            dlq_size: gauge(&r, "deltastream_dlq_size", "Messages in MD_DLQ."),
            feed_published: counter(
                &r,
                "deltastream_feed_published_total",
                "Messages the feed published.",
                &["product", "kind"],
            ),
            last_event_ts: gauge_vec(
                &r,
                "deltastream_last_event_timestamp_seconds",
                "Event time of the last enriched message.",
                &["product"],
            ),
            gateway: GatewayMetrics::new(&r),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

/// Serves `/metrics`, `/health/live` and `/health/ready` for a processor on `addr`
/// until `shutdown`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(addr: &str, mut shutdown: crate::shutdown::Shutdown) -> crate::Result<()> {
    use axum::{routing::get, Router};
    let app = Router::new()
        .route("/metrics", get(|| async { metrics().render() }))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::io(format!("binding metrics address {addr}"), e))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(|e| crate::Error::io("serving metrics", e))
}
