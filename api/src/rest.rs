//! REST handlers, probes and the web map's files.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use events::{LatLng, TOPIC_NEW_DIRECTION};
use rdkafka::producer::Producer;
use serde::Serialize;
use serde_json::{Value, json};
use simulator::motion::Polyline;

use crate::{
    SharedState,
    error::ApiError,
    rides::{self, StartRide},
    store::Route,
};

/// How a route is listed: its ends and length, not its points.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteSummary<'a> {
    id: &'a str,
    title: &'a str,
    start_position: LatLng,
    end_position: LatLng,
    length_m: f64,
}

impl<'a> RouteSummary<'a> {
    fn of(route: &'a Route) -> Self {
        Self {
            id: &route.id,
            title: &route.title,
            // Stores only hold routes of at least two points.
            start_position: route.points[0],
            end_position: route.points[route.points.len() - 1],
            length_m: Polyline::new(route.points.clone()).length_m().round(),
        }
    }
}

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

pub async fn list_routes(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let routes = state.store.list().await?;
    let summaries: Vec<_> = routes.iter().map(RouteSummary::of).collect();
    Ok(Json(summaries).into_response())
}

pub async fn get_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let route = state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("route", &id))?;
    let mut body = serde_json::to_value(RouteSummary::of(&route)).expect("summaries serialize");
    body["points"] = json!(route.points);
    Ok(Json(body).into_response())
}

/// `POST /api/rides {"routeId":"1"}` → `202 {"rideId":"…","routeId":"1"}`.
pub async fn start_ride(
    State(state): State<SharedState>,
    body: Result<Json<StartRide>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let started = rides::start(&state, request).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

pub async fn get_ride(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ride = state
        .hub
        .ride(&id)
        .ok_or_else(|| ApiError::not_found("ride", &id))?;
    Ok(Json(ride).into_response())
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
