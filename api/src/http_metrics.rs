//! How long the api takes to answer, per route, method and status, for `/metrics`.

use std::{collections::BTreeMap, sync::Mutex, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use ops::{Exposition, Histogram, Metered};

const NAME: &str = "rota_http_request_duration_seconds";

/// Latency histograms keyed by (method, route template, status). Routes are templates such as
/// `/api/rides/{id}`, and every web-map file counts as `static`, so the series stay few.
#[derive(Debug, Default)]
pub struct HttpMetrics(Mutex<BTreeMap<(String, String, u16), Histogram>>);

impl HttpMetrics {
    fn observe(&self, key: (String, String, u16), seconds: f64) {
        let mut series = self.0.lock().unwrap_or_else(|e| e.into_inner());
        series.entry(key).or_default().observe(seconds);
    }
}

/// Middleware: times the request until its response head is ready (a WebSocket counts until the
/// upgrade is answered, not for the socket's life).
pub async fn track(
    State(metrics): State<std::sync::Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("static", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    let key = (method, route, response.status().as_u16());
    metrics.observe(key, start.elapsed().as_secs_f64());
    response
}

impl Metered for HttpMetrics {
    fn expose(&self, out: &mut Exposition) {
        out.family(
            NAME,
            "Time the api took to answer a request, by method, route and status.",
            "histogram",
        );
        let series = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, status), histogram) in series.iter() {
            let status = status.to_string();
            let labels = [
                ("method", method.as_str()),
                ("route", route),
                ("status", &status),
            ];
            histogram.expose(out, NAME, &labels);
        }
    }
}
