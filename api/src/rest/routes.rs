//! `/api/routes`: the route catalogue, with create, replace, delete and imports.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use events::now_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PageQuery, page_json};
use crate::{
    SharedState,
    error::ApiError,
    route_input::{self, ACCEPTED_TYPES, Format, RouteInput},
    store::{Route, StoreError},
};

/// A route as JSON: without its points in listings, with them when fetched alone.
fn route_json(route: &Route, with_points: bool) -> Value {
    let (first, last) = route.ends();
    let mut body = json!({
        "id": route.id,
        "title": route.title,
        "startPosition": first,
        "endPosition": last,
        "lengthM": route.length_m(),
        "pointCount": route.points.len(),
        "createdAt": route.created_at,
        "updatedAt": route.updated_at,
    });
    if with_points {
        body["points"] = json!(route.points);
    }
    body
}

pub async fn list_routes(
    State(state): State<SharedState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let page = state.store.list_routes(&query.page()?).await?;
    Ok(page_json(page, |r| route_json(&r, false)).into_response())
}

pub async fn get_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let route = state
        .store
        .get_route(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("route", &id))?;
    Ok(Json(route_json(&route, true)).into_response())
}

/// `?title=` for imports whose body carries no title (or to override it).
#[derive(Debug, Deserialize)]
pub struct TitleQuery {
    title: Option<String>,
}

/// Reads a route body in whichever format its content type names.
fn read_body(
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RouteInput, ApiError> {
    let Query(TitleQuery { title }) = query?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {content_type:?} is not accepted; send {ACCEPTED_TYPES}"),
        )
    })?;
    route_input::parse(format, body, title.as_deref())
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::DuplicateTitle(title) => ApiError::new(
            StatusCode::CONFLICT,
            format!("a route titled {title:?} already exists"),
        )
        .with_detail(json!({"field": "title"})),
        e => e.into(),
    }
}

/// `POST /api/routes` → `201` with the route and its `Location`.
pub async fn create_route(
    State(state): State<SharedState>,
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input = read_body(query, &headers, &body)?;
    let now = now_ms();
    let route = Route {
        id: uuid::Uuid::now_v7().to_string(),
        title: input.title,
        points: input.points,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_route(&route).await.map_err(conflict)?;
    tracing::info!(route_id = route.id, title = route.title, "route created");
    let location = format!("/api/routes/{}", route.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(route_json(&route, true)),
    )
        .into_response())
}

/// `PUT /api/routes/{id}`: replaces the title and points of an existing route.
pub async fn replace_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input = read_body(query, &headers, &body)?;
    let old = state
        .store
        .get_route(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("route", &id))?;
    let route = Route {
        title: input.title,
        points: input.points,
        updated_at: now_ms(),
        ..old
    };
    if !state.store.replace_route(&route).await.map_err(conflict)? {
        return Err(ApiError::not_found("route", &id));
    }
    Ok(Json(route_json(&route, true)).into_response())
}

/// `DELETE /api/routes/{id}` → `204`. Rides already driving it carry its points and go on.
pub async fn delete_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.store.delete_route(&id).await? {
        return Err(ApiError::not_found("route", &id));
    }
    tracing::info!(route_id = id, "route deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
