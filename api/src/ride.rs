//! A ride: what it is now, how it ended, and the points of its path, with the one set of rules
//! for what positions make of it. The hub folds live positions in ([`Ride::apply`]); the stores
//! merge each recorded batch into the ride they hold, and the REST API brings a recorded ride up
//! to date with the hub's live view, both with [`Ride::merge`].

use events::{NewPosition, RideStatus};
use routes::LatLng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A ride, as the REST API and the WebSocket snapshots show it. Times are milliseconds since the
/// Unix epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ride {
    /// Time-ordered (UUID v7) for rides started through the api.
    pub id: String,
    pub route_id: String,
    pub client_id: String,
    pub status: RideStatus,
    /// When the api accepted the ride (absent for rides started straight through Kafka).
    pub requested_at: Option<i64>,
    /// The first position's time.
    pub started_at: Option<i64>,
    /// The last position's time.
    pub updated_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub position: Option<LatLng>,
    /// Share of the route driven, 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    pub progress: f64,
    pub distance_m: f64,
    pub route_length_m: f64,
    pub speed_kmh: f64,
    pub max_speed_kmh: f64,
    /// Degrees, 0 = north, 90 = east.
    pub heading: f64,
    /// Positions received.
    pub positions: u64,
    /// Set once the ride is finished or cancelled.
    pub summary: Option<RideSummary>,
}

/// How a ride went, once it is over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RideSummary {
    pub distance_m: f64,
    pub duration_s: f64,
    pub average_speed_kmh: f64,
    pub max_speed_kmh: f64,
}

/// One recorded position, for replay.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathPoint {
    pub seq: u64,
    pub lat: f64,
    pub lng: f64,
    pub timestamp: i64,
    pub speed_kmh: f64,
    pub heading: f64,
    pub distance_m: f64,
    pub progress: f64,
}

impl PathPoint {
    pub fn of(p: &NewPosition) -> Self {
        let LatLng { lat, lng } = p.lat_lng();
        Self {
            seq: p.seq,
            lat,
            lng,
            timestamp: p.timestamp,
            speed_kmh: p.speed_kmh,
            heading: p.heading,
            distance_m: p.distance_m,
            progress: p.progress,
        }
    }

    pub fn lat_lng(&self) -> LatLng {
        LatLng {
            lat: self.lat,
            lng: self.lng,
        }
    }
}

impl Ride {
    /// A ride just asked for: no position yet.
    pub fn requested(id: &str, route_id: &str, client_id: &str, at: i64) -> Self {
        Self {
            requested_at: Some(at),
            ..Self::new(id, route_id, client_id)
        }
    }

    /// A ride known only by its ids, as its first position finds it.
    pub fn new(id: &str, route_id: &str, client_id: &str) -> Self {
        Self {
            id: id.to_owned(),
            route_id: route_id.to_owned(),
            client_id: client_id.to_owned(),
            status: RideStatus::Starting,
            requested_at: None,
            started_at: None,
            updated_at: None,
            finished_at: None,
            position: None,
            progress: 0.0,
            distance_m: 0.0,
            route_length_m: 0.0,
            speed_kmh: 0.0,
            max_speed_kmh: 0.0,
            heading: 0.0,
            positions: 0,
            summary: None,
        }
    }

    /// The record positions alone make, starting from nothing: what a store merges into the
    /// record it holds (see [`Ride::merge`]).
    pub fn from_positions<'a>(
        positions: impl IntoIterator<Item = &'a NewPosition>,
    ) -> Option<Self> {
        let mut positions = positions.into_iter().peekable();
        let first = positions.peek()?;
        let mut record = Self::new(first.ride(), &first.route_id, &first.client_id);
        for p in positions {
            record.apply(p);
        }
        Some(record)
    }

    /// Folds one position in. A position older than the last one applied is a replay (the api
    /// re-reads what it had not confirmed to Kafka) and changes nothing.
    pub fn apply(&mut self, p: &NewPosition) {
        if self.updated_at.is_some_and(|t| p.timestamp < t) {
            return;
        }
        self.status = p.status();
        self.started_at = Some(self.started_at.map_or(p.timestamp, |t| t.min(p.timestamp)));
        self.updated_at = Some(p.timestamp);
        self.position = Some(p.lat_lng());
        self.progress = p.progress;
        self.distance_m = p.distance_m;
        self.route_length_m = p.route_length_m;
        self.speed_kmh = p.speed_kmh;
        self.max_speed_kmh = self.max_speed_kmh.max(p.speed_kmh);
        self.heading = p.heading;
        self.positions = self.positions.max(p.seq + 1);
        if self.status.is_over() {
            self.finished_at = Some(p.timestamp);
            self.summary = self.summarize();
        }
    }

    /// Merges another view of the same ride into this one: what a batch of positions made
    /// ([`Ride::from_positions`]), the record of a request, or the hub's live view. The later view
    /// (by its last position) gives the ride's state; the earliest start, the first request, the
    /// highest speed and the most positions are kept from either. Merging an older view, or the
    /// same one twice, changes nothing, so batches can be replayed.
    pub fn merge(&mut self, other: &Ride) {
        let started_at = match (self.started_at, other.started_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let requested_at = self.requested_at.or(other.requested_at);
        let max_speed_kmh = self.max_speed_kmh.max(other.max_speed_kmh);
        let positions = self.positions.max(other.positions);
        if other.updated_at > self.updated_at {
            let (route_id, client_id) = (self.route_id.clone(), self.client_id.clone());
            *self = Self {
                route_id,
                client_id,
                ..other.clone()
            };
        }
        self.started_at = started_at;
        self.requested_at = requested_at;
        self.max_speed_kmh = max_speed_kmh;
        self.positions = positions;
        if self.status.is_over() {
            self.summary = self.summarize();
        }
    }

    /// Distance, duration and speeds of a ride that is over.
    pub fn summarize(&self) -> Option<RideSummary> {
        let (start, end) = (self.started_at?, self.finished_at?);
        let duration_s = (end - start).max(0) as f64 / 1000.0;
        let average_speed_kmh = if duration_s > 0.0 {
            self.distance_m / duration_s * 3.6
        } else {
            0.0
        };
        Some(RideSummary {
            distance_m: self.distance_m,
            duration_s,
            average_speed_kmh,
            max_speed_kmh: self.max_speed_kmh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64, t: i64, status: RideStatus) -> NewPosition {
        NewPosition {
            route_id: "1".into(),
            client_id: "c".into(),
            ride_id: "r".into(),
            position: [-47.9, -15.8],
            finished: status.is_over(),
            status: Some(status),
            seq,
            progress: seq as f64 / 10.0,
            distance_m: seq as f64 * 100.0,
            route_length_m: 1000.0,
            speed_kmh: if seq == 5 { 90.0 } else { 36.0 },
            heading: 0.0,
            timestamp: t,
        }
    }

    #[test]
    fn a_finished_ride_is_summarized_and_replays_change_nothing() {
        let positions: Vec<_> = (0..=10)
            .map(|s| {
                let status = if s == 10 {
                    RideStatus::Finished
                } else {
                    RideStatus::Driving
                };
                at(s, 1_000 + s as i64 * 10_000, status)
            })
            .collect();
        let mut one_by_one = Ride::requested("r", "1", "c", 500);
        for p in &positions {
            one_by_one.apply(p);
        }
        let summary = one_by_one.summary.expect("summarized");
        assert_eq!(summary.distance_m, 1000.0);
        assert_eq!(summary.duration_s, 100.0);
        assert_eq!(summary.average_speed_kmh, 36.0);
        assert_eq!(summary.max_speed_kmh, 90.0);
        assert_eq!(one_by_one.requested_at, Some(500));
        assert_eq!(one_by_one.positions, 11);

        // Batches merged, with the middle batch delivered twice, give the same record.
        let mut merged = Ride::requested("r", "1", "c", 500);
        for batch in [
            &positions[..4],
            &positions[4..8],
            &positions[2..6],
            &positions[8..],
        ] {
            merged.merge(&Ride::from_positions(batch).unwrap());
        }
        assert_eq!(merged, one_by_one);
        let mut replayed = one_by_one.clone();
        replayed.apply(&positions[3]);
        assert_eq!(
            replayed, one_by_one,
            "an old position does not reopen the ride"
        );
    }
}
