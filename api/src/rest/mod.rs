//! REST handlers, probes and the web map's files.

mod bodies;
mod ride_endpoints;
mod route_endpoints;
mod system_endpoints;

// Globs: each handler comes with the path description its `#[utoipa::path]` generates.
pub use ride_endpoints::*;
pub use route_endpoints::*;
pub use system_endpoints::*;

use axum::{
    Extension, Json,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    SharedState,
    auth::Caller,
    error::{ApiError, ErrorBody},
    store::PageRequest,
};

/// Whether this process can serve: the broker and the store answer, the store is prepared, the
/// position consumer has caught up, and the other parts here are ready.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready.", body = ops::Readiness),
        (status = 503, description = "Not ready; `checks` says what is missing.", body = ops::Readiness),
    ))]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let broker = ops::broker_answers(&state.producer).await;
    let store = state.store.ping().await.map_err(|e| e.chain());
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
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let own: [&dyn ops::Metered; 2] = [state.hub.as_ref(), state.http.as_ref()];
    let others = state.metered.iter().map(|part| part.as_ref());
    ops::metrics_page(own.into_iter().chain(others))
}

/// `?limit=&cursor=` of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `nextCursor` of the page before.
    cursor: Option<String>,
}

/// Items per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;

impl PageQuery {
    fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest {
            limit: limit(self.limit.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            after: self.cursor.clone().filter(|c| !c.is_empty()),
        })
    }
}

/// A `limit` parameter: `default` when absent, else a whole number from 1 to `max`.
fn limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {max}, got {raw:?}"
            ))
            .with_detail(json!({"field": "limit"}))
        })
}

/// What the web map draws under the routes (`--map-tiles-url`).
#[utoipa::path(get, path = "/api/map-config", operation_id = "mapConfig", tag = "web",
    responses((status = 200, description = "The tile server, its credit line, and the fleet size above which the map asks only for the rides in view.", body = crate::MapConfig)))]
pub async fn map_config(State(state): State<SharedState>) -> Json<crate::MapConfig> {
    Json(state.map.clone())
}

/// Who the caller is (by the token sent, if any) and how this api admits writes: the web map
/// shows operator controls only to those who may use them.
#[utoipa::path(get, path = "/api/session", operation_id = "session", tag = "web",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's role.", body = crate::auth::Session),
        (status = 401, description = "The token sent is not valid.", body = ErrorBody),
    ))]
pub async fn session(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
) -> Json<crate::auth::Session> {
    Json(state.gate.session(&caller))
}

/// This document, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openapi", tag = "web",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT.as_str(),
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
