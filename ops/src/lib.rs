//! What every Rota process serves to its operators: `/healthz` (alive), `/readyz` (can do its job,
//! with the failing checks named) and `/metrics` (Prometheus). The api serves them next to its REST
//! routes; the simulator and the sink serve them alone with [`router`].

mod metrics;
mod probes;

use std::sync::Arc;

use axum::{Router, extract::State, response::Response, routing::get};

pub use metrics::{Exposition, Histogram, Metered, page as metrics_page};
pub use probes::*;

/// What a process without the api shows on its ops endpoints.
pub struct Ops {
    /// The process's producer: `/readyz` asks it whether the broker answers.
    pub producer: events::SharedProducer,
    pub checks: Vec<ReadyCheck>,
    pub metered: Vec<Arc<dyn Metered>>,
}

/// The process's producer on `/metrics`: how often it was made anew after librdkafka gave up on it.
impl Metered for events::SharedProducer {
    fn expose(&self, out: &mut Exposition) {
        out.counter(
            "rota_kafka_producers_renewed_total",
            "Times the process's Kafka producer failed for good (a fatal error) and was made anew.",
            self.renewed(),
        );
    }
}

/// `/healthz`, `/readyz` and `/metrics` alone.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ops_readyz))
        .route("/metrics", get(ops_metrics))
        .with_state(ops)
}

async fn ops_readyz(State(ops): State<Arc<Ops>>) -> Response {
    let mut checks = vec![("broker", broker_answers(&ops.producer).await)];
    checks.extend(ops.checks.iter().map(ReadyCheck::run));
    readiness(&checks)
}

async fn ops_metrics(State(ops): State<Arc<Ops>>) -> Response {
    metrics_page(ops.metered.iter().map(|part| part.as_ref()))
}
