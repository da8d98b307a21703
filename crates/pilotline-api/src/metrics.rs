//! Prometheus metrics. Names, units and labels are listed in `ops/instrumentation.md`; labels never carry
//! free-form text (the matched route template, not the path; the command, not the error).

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Instant;

use crate::AppState;

/// The API's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: prometheus::IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("pilotline".into()), None).expect("registry");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["method", "route", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency in seconds",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["method", "route"],
        )
        .expect("metric");
        let pool = prometheus::IntGaugeVec::new(
            Opts::new(
                "db_connections",
                "Pooled database connections by state (busy: lent to a request or job)",
            ),
            &["state"],
        )
        .expect("metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(m).expect("register");
        }
        Self {
            registry,
            requests,
            latency,
            pool,
        }
    }

    /// The registry, for other parts of the process (the collector) to add their metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records the pool's connections (`pilotline_db_connections{state="busy|idle"}`), read
    /// at each scrape.
    pub fn observe_pool(&self, (open, idle): (u32, usize)) {
        let idle = idle as i64;
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool
            .with_label_values(&["busy"])
            .set((i64::from(open) - idle).max(0));
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Middleware recording request counts and latency, and a tracing span per request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let elapsed = start.elapsed();
    let status = res.status().as_u16().to_string();
    state
        .metrics
        .requests
        .with_label_values(&[&method, &route, &status])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[&method, &route])
        .observe(elapsed.as_secs_f64());
    tracing::debug!(%method, %route, %status, elapsed_us = elapsed.as_micros() as u64, "request");
    res
}
