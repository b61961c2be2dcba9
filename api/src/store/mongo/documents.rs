//! The MongoDB documents, field by field: what someone who opens the database in mongosh or
//! Compass sees, and the one place that knows it. camelCase names, `_id` keys, times as BSON
//! dates, points as `{lat, lng}`, absent values left out rather than stored as nulls.

use events::RideStatus;
use mongodb::bson::DateTime;
use routes::LatLng;
use serde::{Deserialize, Serialize};

use crate::{
    ride::{PathPoint, Ride, RideSummary},
    route::Route,
};

/// `routes`: one route, with what listings show derived once, on write.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub title: String,
    /// The title lowercased and trimmed: a unique index keeps titles unique.
    pub title_key: String,
    pub points: Vec<LatLng>,
    pub start_position: LatLng,
    pub end_position: LatLng,
    pub length_m: f64,
    /// Absent in databases written before routes could be edited.
    #[serde(default)]
    pub created_at: Option<DateTime>,
    #[serde(default)]
    pub updated_at: Option<DateTime>,
}

impl From<&Route> for RouteDocument {
    fn from(route: &Route) -> Self {
        let (start_position, end_position) = route.ends();
        Self {
            id: route.id.clone(),
            title: route.title.clone(),
            title_key: route.title_key(),
            points: route.points.clone(),
            start_position,
            end_position,
            length_m: route.length_m(),
            created_at: Some(DateTime::from_millis(route.created_at)),
            updated_at: Some(DateTime::from_millis(route.updated_at)),
        }
    }
}

impl From<RouteDocument> for Route {
    fn from(doc: RouteDocument) -> Self {
        Self {
            id: doc.id,
            title: doc.title,
            points: doc.points,
            created_at: doc.created_at.map_or(0, |t| t.timestamp_millis()),
            updated_at: doc.updated_at.map_or(0, |t| t.timestamp_millis()),
        }
    }
}

/// `rides`: one ride, its state and, once over, its summary.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RideDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub route_id: String,
    pub client_id: String,
    pub status: RideStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<LatLng>,
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub distance_m: f64,
    #[serde(default)]
    pub route_length_m: f64,
    #[serde(default)]
    pub speed_kmh: f64,
    #[serde(default)]
    pub max_speed_kmh: f64,
    #[serde(default)]
    pub heading: f64,
    #[serde(default)]
    pub positions: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<RideSummary>,
    /// A new value on every write; a write lands only on the revision it read, so two api
    /// replicas recording the same ride (while a rebalance moves it) never undo each other.
    /// Absent in documents written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

fn date(ms: Option<i64>) -> Option<DateTime> {
    ms.map(DateTime::from_millis)
}

fn millis(date: Option<DateTime>) -> Option<i64> {
    date.map(|d| d.timestamp_millis())
}

impl RideDocument {
    pub fn new(ride: &Ride, revision: String) -> Self {
        Self {
            id: ride.id.clone(),
            route_id: ride.route_id.clone(),
            client_id: ride.client_id.clone(),
            status: ride.status,
            requested_at: date(ride.requested_at),
            started_at: date(ride.started_at),
            updated_at: date(ride.updated_at),
            finished_at: date(ride.finished_at),
            position: ride.position,
            progress: ride.progress,
            distance_m: ride.distance_m,
            route_length_m: ride.route_length_m,
            speed_kmh: ride.speed_kmh,
            max_speed_kmh: ride.max_speed_kmh,
            heading: ride.heading,
            positions: ride.positions as i64,
            summary: ride.summary,
            revision: Some(revision),
        }
    }
}

impl From<RideDocument> for Ride {
    fn from(doc: RideDocument) -> Self {
        let mut ride = Self {
            id: doc.id,
            route_id: doc.route_id,
            client_id: doc.client_id,
            status: doc.status,
            requested_at: millis(doc.requested_at),
            started_at: millis(doc.started_at),
            updated_at: millis(doc.updated_at),
            finished_at: millis(doc.finished_at),
            position: doc.position,
            progress: doc.progress,
            distance_m: doc.distance_m,
            route_length_m: doc.route_length_m,
            speed_kmh: doc.speed_kmh,
            max_speed_kmh: doc.max_speed_kmh,
            heading: doc.heading,
            positions: doc.positions.max(0) as u64,
            summary: doc.summary,
        };
        // Documents of earlier releases could be read between the write that ended a ride and
        // the one that summarized it.
        if ride.status.is_over() && ride.summary.is_none() {
            ride.summary = ride.summarize();
        }
        ride
    }
}

/// `ride_positions`: one recorded position. Its `_id`, `"<rideId>:<seq>"`, makes writing it twice
/// a no-op.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub ride_id: String,
    pub seq: i64,
    pub lat: f64,
    pub lng: f64,
    pub timestamp: DateTime,
    pub speed_kmh: f64,
    pub heading: f64,
    pub distance_m: f64,
    pub progress: f64,
}

impl PositionDocument {
    pub fn new(ride_id: &str, point: &PathPoint) -> Self {
        Self {
            id: format!("{ride_id}:{}", point.seq),
            ride_id: ride_id.to_owned(),
            seq: point.seq as i64,
            lat: point.lat,
            lng: point.lng,
            timestamp: DateTime::from_millis(point.timestamp),
            speed_kmh: point.speed_kmh,
            heading: point.heading,
            distance_m: point.distance_m,
            progress: point.progress,
        }
    }
}

impl From<PositionDocument> for PathPoint {
    fn from(doc: PositionDocument) -> Self {
        Self {
            seq: doc.seq.max(0) as u64,
            lat: doc.lat,
            lng: doc.lng,
            timestamp: doc.timestamp.timestamp_millis(),
            speed_kmh: doc.speed_kmh,
            heading: doc.heading,
            distance_m: doc.distance_m,
            progress: doc.progress,
        }
    }
}
