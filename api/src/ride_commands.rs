//! Starting and cancelling rides: the one path shared by the REST API and the WebSocket `start`
//! frame. Both publish a `route.new-direction` command keyed by ride id.

use axum::http::StatusCode;
use events::{NewDirection, TOPIC_NEW_DIRECTION, now_ms};
use rdkafka::{producer::FutureRecord, util::Timeout};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{collections::HashMap, time::Duration};

use crate::{AppState, auth::Caller, error::ApiError, ride::Ride};

/// `POST /api/rides`'s body, and the WebSocket `start` frame's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRide {
    #[schema(max_length = 100)]
    pub route_id: String,
    /// Defaults to the simulator's speed (30 km/h).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000)]
    pub speed_kmh: Option<f64>,
    /// Who asked; the reference system's browsers send one. Defaults to the ride id.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub client_id: Option<String>,
}

/// A ride accepted: its command is on the way to the simulator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedRide {
    pub ride_id: String,
    pub route_id: String,
}

/// Most rides one `POST /api/rides/batch` starts.
pub const MAX_BATCH_RIDES: usize = 10_000;

/// `POST /api/rides/batch`'s body: rides to start at once.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StartRides {
    /// 1 to 10,000 rides; routes may repeat.
    #[schema(min_items = 1, max_items = 10_000)]
    pub rides: Vec<StartRide>,
}

/// Rides accepted, in the order asked for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StartedRides {
    pub started: Vec<StartedRide>,
}

/// Checks the request, records the ride and publishes its `route.new-direction` command with the
/// route's points, so the simulator needs no database.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    request: StartRide,
) -> Result<StartedRide, ApiError> {
    let mut started = launch(state, caller, vec![request], Fields::Plain).await?;
    Ok(started.remove(0))
}

/// [`start`] for many rides: every request is checked before any is started, each route is read
/// once, the commands are published together (the producer batches them) and the rides are
/// recorded in one store write.
pub async fn start_batch(
    state: &AppState,
    caller: &Caller,
    requests: Vec<StartRide>,
) -> Result<Vec<StartedRide>, ApiError> {
    if requests.is_empty() || requests.len() > MAX_BATCH_RIDES {
        return Err(ApiError::bad_request(format!(
            "rides must hold 1 to {MAX_BATCH_RIDES} rides, got {}",
            requests.len()
        ))
        .with_detail(json!({"field": "rides"})));
    }
    launch(state, caller, requests, Fields::InBatch).await
}

/// How errors name a request's field: `speedKmh`, or `rides[3].speedKmh` in a batch.
#[derive(Clone, Copy)]
enum Fields {
    Plain,
    InBatch,
}

impl Fields {
    fn name(self, index: usize, field: &str) -> String {
        match self {
            Self::Plain => field.to_owned(),
            Self::InBatch => format!("rides[{index}].{field}"),
        }
    }
}

async fn launch(
    state: &AppState,
    caller: &Caller,
    requests: Vec<StartRide>,
    fields: Fields,
) -> Result<Vec<StartedRide>, ApiError> {
    // Places are held from here: starts checked at the same time cannot both take the last one.
    let places = state.limits.rides.reserve(&caller.name, requests.len())?;
    let mut routes: HashMap<String, Vec<[f64; 2]>> = HashMap::new();
    let mut commands = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        let invalid = |field: &str, reason: String| {
            let field = fields.name(index, field);
            ApiError::bad_request(format!("{field} {reason}"))
                .with_detail(json!({ "field": field }))
        };
        if let Some(speed) = request.speed_kmh {
            events::check_speed(speed).map_err(|reason| invalid("speedKmh", reason))?;
        }
        let ids = [
            ("routeId", Some(&request.route_id)),
            ("clientId", request.client_id.as_ref()),
        ];
        for (field, id) in ids {
            if let Some(id) = id {
                events::check_id(id)
                    .map_err(|reason| invalid(field, format!("must be {reason}")))?;
            }
        }
        let points = match routes.get(&request.route_id) {
            Some(points) => points.clone(),
            None => {
                let route = state
                    .store
                    .get_route(&request.route_id)
                    .await?
                    .ok_or_else(|| {
                        let field = fields.name(index, "routeId");
                        ApiError::not_found("route", &request.route_id)
                            .with_detail(json!({ "id": request.route_id, "field": field }))
                    })?;
                let points: Vec<[f64; 2]> = route.points.iter().map(|p| p.to_lng_lat()).collect();
                routes.insert(route.id, points.clone());
                points
            }
        };
        // Time-ordered ids: listing rides by id lists them newest first.
        let ride_id = uuid::Uuid::now_v7().to_string();
        commands.push(NewDirection {
            client_id: request.client_id.unwrap_or_else(|| ride_id.clone()),
            route_id: request.route_id,
            ride_id: Some(ride_id),
            points: Some(points),
            speed_kmh: request.speed_kmh,
            cancel: false,
        });
    }

    let published = futures::future::join_all(commands.iter().map(|c| publish(state, c))).await;
    // Recorded only once queued; a first position that beats this creates the ride itself.
    let now = now_ms();
    let mut records = Vec::with_capacity(commands.len());
    let mut failure = None;
    for (command, result) in commands.iter().zip(published) {
        match result {
            Ok(()) => records.push(Ride::requested(
                command.ride_id.as_deref().unwrap_or_default(),
                &command.route_id,
                &command.client_id,
                now,
            )),
            Err(e) => failure = Some(e),
        }
    }
    state.hub.rides_requested(&records);
    places.started(records.iter().map(|ride| ride.id.as_str()));
    if let Err(e) = state.store.rides_requested(&records).await {
        // The rides run anyway, and each one's first recorded position creates its record.
        tracing::warn!(
            rides = records.len(),
            error = e.chain(),
            "could not record the ride requests"
        );
    }
    match records.as_slice() {
        [ride] => tracing::info!(
            ride_id = ride.id,
            route_id = ride.route_id,
            "ride requested"
        ),
        rides => tracing::info!(rides = rides.len(), "rides requested"),
    }
    let started: Vec<StartedRide> = records
        .into_iter()
        .map(|ride| StartedRide {
            ride_id: ride.id,
            route_id: ride.route_id,
        })
        .collect();
    match (failure, fields) {
        (None, _) => Ok(started),
        (Some(e), Fields::Plain) => Err(e),
        // Those already queued run: the error lists them so the caller can cancel or keep them.
        (Some(e), Fields::InBatch) => Err(e.with_detail(json!({ "started": started }))),
    }
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
    let key = command.key();
    let record = FutureRecord::to(TOPIC_NEW_DIRECTION)
        .key(key)
        .payload(&payload);
    state
        .producer
        .get()
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
