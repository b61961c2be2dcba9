//! REST handlers, probes and the web map's files.

use std::time::Duration;

mod rides;
mod routes;

pub use rides::{cancel_ride, get_ride, list_rides, start_ride};
pub use routes::{create_route, delete_route, get_route, list_routes, replace_route};

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use events::TOPIC_NEW_DIRECTION;
use rdkafka::producer::Producer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    SharedState,
    error::ApiError,
    store::{Page, PageRequest},
};

/// The process is alive.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the broker answers, the store answers, and positions are flowing in.
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let producer = state.producer.clone();
    let broker = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(TOPIC_NEW_DIRECTION), Duration::from_secs(2))
            .map(drop)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    let store = state.store.ping().await.map_err(|e| e.to_string());
    let store = store.and_then(|()| {
        if state.store_prepared() {
            Ok(())
        } else {
            Err("preparing: indexes and sample routes".to_owned())
        }
    });
    let positions = if state.positions_ready() {
        Ok(())
    } else {
        Err("not assigned yet".to_owned())
    };
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let ready = broker.is_ok() && store.is_ok() && positions.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {"broker": check(&broker), "store": check(&store), "positions": check(&positions)},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus figures of this process: the hub's and those of the other parts running in it.
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let mut out = events::Exposition::default();
    events::Metered::expose(state.hub.as_ref(), &mut out);
    for part in &state.metered {
        part.expose(&mut out);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out.finish(),
    )
        .into_response()
}

/// `?limit=&cursor=` of a listing.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// Items per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;

impl PageQuery {
    fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match &self.limit {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got {raw:?}"
                    ))
                    .with_detail(json!({"field": "limit"}))
                })?,
        };
        Ok(PageRequest {
            limit,
            after: self.cursor.clone().filter(|c| !c.is_empty()),
        })
    }
}

/// A page as JSON: `{"items": [...], "nextCursor": "..." | null}`.
fn page_json<T>(page: Page<T>, item: impl Fn(T) -> Value) -> Json<Value> {
    let items: Vec<Value> = page.items.into_iter().map(item).collect();
    Json(json!({"items": items, "nextCursor": page.next}))
}

/// What the web map draws under the routes (`--map-tiles-url`).
pub async fn map_config(State(state): State<SharedState>) -> Json<crate::MapConfig> {
    Json(state.map.clone())
}

/// The OpenAPI document describing this API.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

/// The web map's files; anything else under `/api` or elsewhere is a JSON 404.
pub async fn web_asset(uri: Uri) -> Response {
    let path = uri.path();
    match web::asset(path) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            asset.body,
        )
            .into_response(),
        None => {
            ApiError::new(StatusCode::NOT_FOUND, format!("no such path: {path}")).into_response()
        }
    }
}
