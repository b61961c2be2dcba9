//! `/api/routes`: the route catalogue, with create, replace, delete and imports.

use axum::{
    Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use events::now_ms;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::{
    PageQuery,
    bodies::{PageBody, RouteSummary, RouteWithPoints},
};
use crate::{
    SharedState,
    error::{ApiError, ErrorBody},
    route::Route,
    route_formats::{self, ACCEPTED_TYPES, Format, RouteInput},
    store::StoreError,
};

/// Routes ordered by id, without their points.
#[utoipa::path(get, path = "/api/routes", operation_id = "listRoutes", tag = "routes",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of routes.", body = PageBody<RouteSummary>),
        (status = 400, description = "A parameter is malformed.", body = ErrorBody),
    ))]
pub async fn list_routes(
    State(state): State<SharedState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let page = state.store.list_routes(&query.page()?).await?;
    let body = PageBody {
        items: page.items.iter().map(RouteSummary::from).collect(),
        next_cursor: page.next,
    };
    Ok(Json(body).into_response())
}

/// One route, with its points.
#[utoipa::path(get, path = "/api/routes/{id}", operation_id = "getRoute", tag = "routes",
    params(("id" = String, Path, description = "The route's id.")),
    responses(
        (status = 200, description = "The route.", body = RouteWithPoints),
        (status = 404, description = "No such route.", body = ErrorBody),
    ))]
pub async fn get_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let route = state
        .store
        .get_route(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("route", &id))?;
    Ok(Json(RouteWithPoints::from(&route)).into_response())
}

/// `?title=` for imports whose body carries no title (or to override it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TitleQuery {
    /// The route's title: needed for route files, else it overrides the body's.
    title: Option<String>,
}

/// Reads a route body in whichever format its content type names.
async fn read_body(
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Bytes,
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
    route_formats::parse_off_workers(format, body, title).await
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

/// Creates a route from a body in any of the accepted formats.
#[utoipa::path(post, path = "/api/routes", operation_id = "createRoute", tag = "routes",
    params(TitleQuery),
    request_body(description = "A route: Rota's JSON, a GeoJSON LineString (or a Feature or FeatureCollection with one), a GPX track or route, or a route file (`lat,lng` per line).", content(
        (RouteInput = "application/json"),
        (Object = "application/geo+json"),
        (String = "application/gpx+xml"),
        (String = "text/plain"),
    )),
    responses(
        (status = 201, description = "Created.", body = RouteWithPoints,
            headers(("Location" = String, description = "The new route's URL."))),
        (status = 400, description = "Invalid; `detail.field` names the field, element or line.", body = ErrorBody),
        (status = 409, description = "The title is taken.", body = ErrorBody),
        (status = 415, description = "Not an accepted content type.", body = ErrorBody),
    ))]
pub async fn create_route(
    State(state): State<SharedState>,
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = read_body(query, &headers, body?).await?;
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
        Json(RouteWithPoints::from(&route)),
    )
        .into_response())
}

/// Replaces a route's title and points.
#[utoipa::path(put, path = "/api/routes/{id}", operation_id = "replaceRoute", tag = "routes",
    params(("id" = String, Path, description = "The route's id."), TitleQuery),
    request_body(description = "The route, in any format `POST /api/routes` accepts.", content(
        (RouteInput = "application/json"),
        (Object = "application/geo+json"),
        (String = "application/gpx+xml"),
        (String = "text/plain"),
    )),
    responses(
        (status = 200, description = "Replaced.", body = RouteWithPoints),
        (status = 400, description = "Invalid; `detail.field` names the field, element or line.", body = ErrorBody),
        (status = 404, description = "No such route.", body = ErrorBody),
        (status = 409, description = "The title is taken.", body = ErrorBody),
        (status = 415, description = "Not an accepted content type.", body = ErrorBody),
    ))]
pub async fn replace_route(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    query: Result<Query<TitleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = read_body(query, &headers, body?).await?;
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
    Ok(Json(RouteWithPoints::from(&route)).into_response())
}

/// Deletes a route. Rides already driving it carry its points and go on; their history stays.
#[utoipa::path(delete, path = "/api/routes/{id}", operation_id = "deleteRoute", tag = "routes",
    params(("id" = String, Path, description = "The route's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such route.", body = ErrorBody),
    ))]
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
