//! `/healthz` (alive) and `/readyz` (can do its job, with the failing checks named).

use std::time::Duration;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use events::SharedProducer;
use events::TOPIC_NEW_DIRECTION;
use rdkafka::producer::Producer;

/// One readiness check: `Ok` or what is missing.
pub type Check = Result<(), String>;

/// A readiness check a part of the process contributes, named on `/readyz`.
pub struct ReadyCheck {
    pub name: &'static str,
    pub check: Box<dyn Fn() -> Check + Send + Sync>,
}

impl ReadyCheck {
    /// The check's name and its result now.
    pub fn run(&self) -> (&'static str, Check) {
        (self.name, (self.check)())
    }
}

/// `/healthz`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

/// `/readyz`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    #[schema(value_type = String, example = "ready")]
    pub status: &'static str,
    /// `ok` or the problem, per part: broker, store, positions, and the other parts here.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "ops",
    responses((status = 200, description = "Alive.", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether the broker answers a metadata request within 2 s.
pub async fn broker_answers(producer: &SharedProducer) -> Check {
    let producer = producer.get();
    tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(TOPIC_NEW_DIRECTION), Duration::from_secs(2))
            .map(drop)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()))
}

/// 200 when every check passed, else 503; the body names each check's result.
pub fn readiness(checks: &[(&str, Check)]) -> Response {
    let ready = checks.iter().all(|(_, result)| result.is_ok());
    let body = Readiness {
        status: if ready { "ready" } else { "not ready" },
        checks: checks
            .iter()
            .map(|(name, result)| {
                let value = result
                    .as_ref()
                    .map_or_else(Clone::clone, |()| "ok".to_owned());
                ((*name).to_owned(), value)
            })
            .collect(),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
