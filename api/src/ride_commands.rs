//! Starting and cancelling rides: the one path shared by the REST API and the WebSocket `start`
//! frame. Both publish a `route.new-direction` command keyed by ride id.

use axum::http::StatusCode;
use events::{NewDirection, TOPIC_NEW_DIRECTION, now_ms};
use rdkafka::{producer::FutureRecord, util::Timeout};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

use crate::{AppState, error::ApiError, ride::Ride};

/// Fastest speed a ride may ask for: fast enough for demos and tests, slow enough to stay a drive.
pub const MAX_SPEED_KMH: f64 = 100_000.0;

/// `POST /api/rides`'s body, and the WebSocket `start` frame's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRide {
    pub route_id: String,
    /// Defaults to the simulator's speed (30 km/h).
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 100_000)]
    pub speed_kmh: Option<f64>,
    /// Who asked; the reference system's browsers send one. Defaults to the ride id.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// A ride accepted: its command is on the way to the simulator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedRide {
    pub ride_id: String,
    pub route_id: String,
}

/// Checks the request, records the ride and publishes its `route.new-direction` command with the
/// route's points, so the simulator needs no database.
pub async fn start(state: &AppState, request: StartRide) -> Result<StartedRide, ApiError> {
    if let Some(speed) = request.speed_kmh
        && !(speed.is_finite() && speed > 0.0 && speed <= MAX_SPEED_KMH)
    {
        return Err(ApiError::bad_request(format!(
            "speedKmh must be greater than 0 and at most {MAX_SPEED_KMH}, got {speed}"
        ))
        .with_detail(json!({"field": "speedKmh"})));
    }
    let route = state
        .store
        .get_route(&request.route_id)
        .await?
        .ok_or_else(|| ApiError::not_found("route", &request.route_id))?;

    // Time-ordered ids: listing rides by id lists them newest first.
    let ride_id = uuid::Uuid::now_v7().to_string();
    let client_id = request.client_id.unwrap_or_else(|| ride_id.clone());
    let command = NewDirection {
        route_id: route.id.clone(),
        client_id: client_id.clone(),
        ride_id: Some(ride_id.clone()),
        points: Some(route.points.iter().map(|p| p.to_lng_lat()).collect()),
        speed_kmh: request.speed_kmh,
        cancel: false,
    };
    publish(state, &command).await?;
    // Recorded only once queued; a first position that beats this creates the ride itself.
    let record = Ride::requested(&ride_id, &route.id, &client_id, now_ms());
    state.hub.ride_requested(&record);
    if let Err(e) = state.store.ride_requested(&record).await {
        // The ride runs anyway, and its first recorded position creates the record.
        tracing::warn!(
            ride_id,
            error = e.chain(),
            "could not record the ride request"
        );
    }
    tracing::info!(ride_id, route_id = route.id, "ride requested");
    Ok(StartedRide {
        ride_id,
        route_id: route.id,
    })
}

/// Asks the simulator driving `ride` to stop it; it answers with a final `cancelled` position.
pub async fn cancel(state: &AppState, ride: &Ride) -> Result<(), ApiError> {
    let command = NewDirection {
        route_id: ride.route_id.clone(),
        client_id: ride.client_id.clone(),
        ride_id: Some(ride.id.clone()),
        points: None,
        speed_kmh: None,
        cancel: true,
    };
    publish(state, &command).await?;
    tracing::info!(ride_id = ride.id, "ride cancellation requested");
    Ok(())
}

async fn publish(state: &AppState, command: &NewDirection) -> Result<(), ApiError> {
    let payload = serde_json::to_vec(command).expect("commands always serialize");
    let key = command.ride_id.as_deref().unwrap_or_default();
    let record = FutureRecord::to(TOPIC_NEW_DIRECTION)
        .key(key)
        .payload(&payload);
    state
        .producer
        .send(record, Timeout::After(Duration::from_secs(10)))
        .await
        .map(drop)
        .map_err(|(e, _)| {
            tracing::error!(error = %e, ride_id = key, "could not publish ride command");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the ride command could not be queued: {e}"),
            )
        })
}
