//! `/api/rides`: start, list, fetch (summary and path, for replay) and cancel rides.

use axum::{
    Extension, Json,
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
use utoipa::IntoParams;

use super::{
    PageQuery,
    bodies::{Cancelling, PageBody, RideWithPath},
};
use crate::{
    SharedState,
    auth::Caller,
    error::{ApiError, ErrorBody},
    ride::Ride,
    ride_commands::{self, StartRide, StartRides, StartedRide, StartedRides},
    store::RideFilter,
};

/// Starts a ride on a route: the api publishes its `route.new-direction` command.
#[utoipa::path(post, path = "/api/rides", operation_id = "startRide", tag = "rides",
    request_body = StartRide,
    responses(
        (status = 202, description = "The ride is queued.", body = StartedRide),
        (status = 400, description = "Malformed body or speed.", body = ErrorBody),
        (status = 404, description = "No such route.", body = ErrorBody),
        (status = 415, description = "Not JSON.", body = ErrorBody),
        (status = 503, description = "The command could not be queued.", body = ErrorBody),
    ))]
pub async fn start_ride(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<StartRide>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let started = ride_commands::start(&state, &caller, request).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// Starts many rides at once: every ride is checked before any starts, and all are recorded in one
/// store write. A 503 may come after some were queued: its `detail.started` lists those, running.
#[utoipa::path(post, path = "/api/rides/batch", operation_id = "startRides", tag = "rides",
    request_body = StartRides,
    responses(
        (status = 202, description = "The rides are queued.", body = StartedRides),
        (status = 400, description = "Malformed body, no rides or too many, or a bad speed; `detail.field` names it.", body = ErrorBody),
        (status = 404, description = "No such route; `detail.field` names the ride asking for it.", body = ErrorBody),
        (status = 415, description = "Not JSON.", body = ErrorBody),
        (status = 503, description = "Some commands could not be queued.", body = ErrorBody),
    ))]
pub async fn start_rides(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<StartRides>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let started = ride_commands::start_batch(&state, &caller, request.rides).await?;
    Ok((StatusCode::ACCEPTED, Json(StartedRides { started })).into_response())
}

/// Which rides `GET /api/rides` lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RideQuery {
    /// Only rides in this state.
    #[param(value_type = Option<RideStatus>)]
    status: Option<String>,
    /// Only rides on this route.
    route_id: Option<String>,
}

/// Rides, newest first, without their paths.
#[utoipa::path(get, path = "/api/rides", operation_id = "listRides", tag = "rides",
    params(RideQuery, PageQuery),
    responses(
        (status = 200, description = "A page of rides.", body = PageBody<Ride>),
        (status = 400, description = "A parameter is malformed.", body = ErrorBody),
    ))]
pub async fn list_rides(
    State(state): State<SharedState>,
    query: Result<Query<RideQuery>, QueryRejection>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let Query(page) = page?;
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
    let page = state.store.list_rides(&filter, &page.page()?).await?;
    Ok(Json(PageBody::of(page, |ride| live(&state, ride))).into_response())
}

/// The ride with its summary (once over) and its recorded path, for replay.
#[utoipa::path(get, path = "/api/rides/{id}", operation_id = "getRide", tag = "rides",
    params(("id" = String, Path, description = "The ride's id.")),
    responses(
        (status = 200, description = "The ride.", body = RideWithPath),
        (status = 404, description = "No such ride.", body = ErrorBody),
    ))]
pub async fn get_ride(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ride = find(&state, &id).await?;
    let path = state.store.ride_path(&id).await?;
    Ok(Json(RideWithPath { ride, path }).into_response())
}

/// Cancels a running ride: the simulator stops it and publishes its last, `cancelled` position.
#[utoipa::path(delete, path = "/api/rides/{id}", operation_id = "cancelRide", tag = "rides",
    params(("id" = String, Path, description = "The ride's id.")),
    responses(
        (status = 202, description = "The cancel command is on its way.", body = Cancelling),
        (status = 404, description = "No such ride.", body = ErrorBody),
        (status = 409, description = "The ride is already over.", body = ErrorBody),
        (status = 503, description = "The command could not be queued.", body = ErrorBody),
    ))]
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
    ride_commands::cancel(&state, &ride).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Cancelling {
            ride_id: &id,
            status: "cancelling",
        }),
    )
        .into_response())
}

/// A ride as the store recorded it, brought up to date by the hub: the store lags the live
/// stream by up to one recording batch.
async fn find(state: &SharedState, id: &str) -> Result<Ride, ApiError> {
    match state.store.get_ride(id).await? {
        Some(ride) => Ok(live(state, ride)),
        None => state
            .hub
            .ride(id)
            .ok_or_else(|| ApiError::not_found("ride", id)),
    }
}

fn live(state: &SharedState, mut recorded: Ride) -> Ride {
    if let Some(live) = state.hub.ride(&recorded.id) {
        recorded.merge(&live);
    }
    recorded
}
