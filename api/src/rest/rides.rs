//! `/api/rides`: start, list, fetch (summary and path, for replay) and cancel rides.

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use events::RideStatus;
use serde::Deserialize;
use serde_json::json;

use super::{PageQuery, page_json};
use crate::{
    SharedState,
    error::ApiError,
    rides::{self, StartRide},
    store::{RideFilter, RideRecord},
};

/// `POST /api/rides {"routeId":"1"}` → `202 {"rideId":"…","routeId":"1"}`.
pub async fn start_ride(
    State(state): State<SharedState>,
    body: Result<Json<StartRide>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let started = rides::start(&state, request).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RideQuery {
    status: Option<String>,
    route_id: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

/// `GET /api/rides?status=&routeId=&limit=&cursor=`: newest first, without paths.
pub async fn list_rides(
    State(state): State<SharedState>,
    query: Result<Query<RideQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            RideStatus::ALL
                .into_iter()
                .find(|status| status.as_str() == s)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "status must be starting, driving, finished or cancelled, got {s:?}"
                    ))
                    .with_detail(json!({"field": "status"}))
                })
        })
        .transpose()?;
    let filter = RideFilter {
        status,
        route_id: query.route_id,
    };
    let page = state.store.list_rides(&filter, &query.page.page()?).await?;
    Ok(page_json(page, |ride| json!(live(&state, ride))).into_response())
}

/// `GET /api/rides/{id}`: the ride with its summary (once over) and its recorded path.
pub async fn get_ride(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ride = find(&state, &id).await?;
    let path = state.store.ride_path(&id).await?;
    let mut body = json!(ride);
    body["path"] = json!(path);
    Ok(Json(body).into_response())
}

/// `DELETE /api/rides/{id}` → `202`: the simulator stops the ride and publishes its last,
/// `cancelled` position. `409` if the ride is already over.
pub async fn cancel_ride(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ride = find(&state, &id).await?;
    if ride.status.is_over() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("ride {id:?} is already {}", ride.status.as_str()),
        )
        .with_detail(json!({"id": id, "status": ride.status})));
    }
    rides::cancel(&state, &ride).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"rideId": id, "status": "cancelling"})),
    )
        .into_response())
}

/// A ride as the store recorded it, brought up to date by the hub: the store lags the live
/// stream by up to one recording batch.
async fn find(state: &SharedState, id: &str) -> Result<RideRecord, ApiError> {
    match state.store.get_ride(id).await? {
        Some(ride) => Ok(live(state, ride)),
        None => state
            .hub
            .ride(id)
            .ok_or_else(|| ApiError::not_found("ride", id)),
    }
}

fn live(state: &SharedState, recorded: RideRecord) -> RideRecord {
    match state.hub.ride(&recorded.id) {
        Some(mut live) if live.updated_at > recorded.updated_at => {
            live.requested_at = live.requested_at.or(recorded.requested_at);
            live.started_at = recorded.started_at.or(live.started_at);
            live.max_speed_kmh = live.max_speed_kmh.max(recorded.max_speed_kmh);
            live.summary = live.summarize();
            live
        }
        _ => recorded,
    }
}
