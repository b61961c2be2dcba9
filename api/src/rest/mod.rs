//! REST handlers, probes and the web map's files.

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
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    SharedState,
    error::ApiError,
    ops,
    store::{Page, PageRequest},
};

/// The process can serve: the broker answers, the store answers, and positions are flowing in.
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let broker = ops::broker_answers(&state.producer).await;
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
        Err("catching up with the positions topic".to_owned())
    };
    let mut checks = vec![
        ("broker", broker),
        ("store", store),
        ("positions", positions),
    ];
    checks.extend(state.checks.iter().map(ops::ReadyCheck::run));
    ops::readiness(&checks)
}

/// Prometheus figures of this process: the hub's, the HTTP latencies, and those of the other parts
/// running in it.
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let own: [&dyn events::Metered; 2] = [state.hub.as_ref(), state.http.as_ref()];
    let others = state.metered.iter().map(|part| part.as_ref());
    ops::metrics_page(own.into_iter().chain(others))
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
