//! The shapes of the REST API's answers, one type each. Errors are [`crate::ApiError`]'s.

use routes::LatLng;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    ride::{PathPoint, Ride},
    route::Route,
    store::Page,
};

/// One page of a listing: `{"items": [...], "nextCursor": "..." | null}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Pass it back as `cursor` for the next page; `null` on the last one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> PageBody<T> {
    pub fn of<S>(page: Page<S>, item: impl FnMut(S) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(item).collect(),
            next_cursor: page.next,
        }
    }
}

/// A route as listings show it: without its points.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSummary<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub start_position: LatLng,
    pub end_position: LatLng,
    /// Length along the points, in whole metres.
    pub length_m: f64,
    pub point_count: usize,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

impl<'a> From<&'a Route> for RouteSummary<'a> {
    fn from(route: &'a Route) -> Self {
        let (start_position, end_position) = route.ends();
        Self {
            id: &route.id,
            title: &route.title,
            start_position,
            end_position,
            length_m: route.length_m(),
            point_count: route.points.len(),
            created_at: route.created_at,
            updated_at: route.updated_at,
        }
    }
}

/// A route fetched alone: the summary and its points.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Route)]
pub struct RouteWithPoints<'a> {
    #[serde(flatten)]
    pub summary: RouteSummary<'a>,
    pub points: &'a [LatLng],
}

impl<'a> From<&'a Route> for RouteWithPoints<'a> {
    fn from(route: &'a Route) -> Self {
        Self {
            summary: route.into(),
            points: &route.points,
        }
    }
}

/// A ride fetched alone: the ride and its recorded path, for replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct RideWithPath {
    #[serde(flatten)]
    pub ride: Ride,
    pub path: Vec<PathPoint>,
}

/// `DELETE /api/rides/{id}`'s answer: the cancel command is on its way.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cancelling<'a> {
    pub ride_id: &'a str,
    /// Always `cancelling`.
    #[schema(value_type = String, example = "cancelling")]
    pub status: &'static str,
}
