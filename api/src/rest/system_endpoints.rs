//! `/api/system`: the cluster as the System page shows it, a topic's newest records, and where a
//! ride's key landed (see [`crate::system`]).

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use events::cluster::Record;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::{
    SharedState,
    auth::Caller,
    error::{ApiError, ErrorBody},
    hub::RideRecord,
    limits::Rate,
    system::{SCANS, System, TailError, Unreadable},
};

/// Most records `…/records` returns.
const MAX_RECORDS: usize = 200;
const DEFAULT_RECORDS: usize = 50;

impl From<Unreadable> for ApiError {
    fn from(e: Unreadable) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("Kafka: {}", e.0))
    }
}

/// Brokers, topics with each partition's offsets and rate, consumer groups with their members,
/// committed offsets and lag (and its last minutes), and the rides on each partition. Read at most
/// once a second, however many ask; a value the broker does not report is `null`.
#[utoipa::path(get, path = "/api/system", operation_id = "getSystem", tag = "system",
    responses(
        (status = 200, description = "The cluster now.", body = System),
        (status = 503, description = "The cluster cannot be read.", body = ErrorBody),
    ))]
pub async fn get_system(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let system = state.system.read().await?;
    Ok(Json(&*system).into_response())
}

/// Which records `…/records` returns.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// Only records with this key (a ride id, on Rota's topics).
    key: Option<String>,
    /// How many of the newest records, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A topic's newest records, oldest first (for one key: in offset order), with partition, offset,
/// key, timestamp, headers and value. Read without joining a group.
#[utoipa::path(get, path = "/api/system/topics/{topic}/records", operation_id = "getRecords",
    tag = "system",
    params(("topic" = String, Path, description = "The topic's name."), RecordQuery),
    responses(
        (status = 200, description = "The newest records.", body = Vec<Record>),
        (status = 400, description = "A parameter is malformed.", body = ErrorBody),
        (status = 404, description = "No such topic.", body = ErrorBody),
        (status = 429, description = "Too many tails that scan the topic; `Retry-After` says when to ask again.", body = ErrorBody),
        (status = 503, description = "The cluster cannot be read.", body = ErrorBody),
    ))]
pub async fn get_records(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(topic): Path<String>,
    query: Result<Query<RecordQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let limit = super::limit(query.limit.as_deref(), DEFAULT_RECORDS, MAX_RECORDS)?;
    let records = state
        .system
        .tail(&topic, query.key.as_deref(), limit, &caller.name)
        .await
        .map_err(|e| match e {
            TailError::UnknownTopic(_) => ApiError::not_found("topic", &topic),
            TailError::Unreadable(e) => e.into(),
            TailError::TooManyScans(wait) => {
                let Rate { per_second, burst } = SCANS;
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many new tails: each scans the topic, at most {per_second} a second \
                         (bursts of {burst}); a tail already asked for is answered at once"
                    ),
                )
                .with_detail(json!({ "limit": "scans", "perSecond": per_second, "burst": burst }))
                .with_header(header::RETRY_AFTER, crate::limits::retry_after(wait))
            }
        })?;
    Ok(Json(&*records).into_response())
}

/// Where a ride's latest position is in `route.new-position`: its key, partition and offset, as
/// this api process read it.
#[utoipa::path(get, path = "/api/system/rides/{id}", operation_id = "getRideRecord",
    tag = "system",
    params(("id" = String, Path, description = "The ride's id.")),
    responses(
        (status = 200, description = "Where the ride's latest position is.", body = RideRecord),
        (status = 404, description = "No position of this ride was read here.", body = ErrorBody),
    ))]
pub async fn get_ride_record(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state
        .system
        .ride(&id)
        .ok_or_else(|| ApiError::not_found("ride", &id))?;
    Ok(Json(record).into_response())
}
