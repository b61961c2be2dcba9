//! The JSON messages on Rota's topics.
//!
//! Kafka messages carry coordinates as `[longitude, latitude]` (GeoJSON and Elasticsearch
//! `geo_point` order); everything a browser receives uses [`LatLng`] objects instead.

use std::time::{SystemTime, UNIX_EPOCH};

use routes::LatLng;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Where a ride is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RideStatus {
    /// Asked for; no position seen yet.
    Starting,
    Driving,
    Finished,
    /// Stopped on request (`DELETE /api/rides/{id}`) before the end of its route.
    Cancelled,
}

impl RideStatus {
    pub const ALL: [Self; 4] = [
        Self::Starting,
        Self::Driving,
        Self::Finished,
        Self::Cancelled,
    ];

    /// Finished or cancelled: no more positions will come.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Finished | Self::Cancelled)
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Driving => "driving",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Longest id (route, client or ride) a command, a position or a WebSocket frame may carry, in
/// bytes. Rota's ids are UUIDs (36), the reference system's client ids socket.io's (20). Every
/// position repeats its ride's ids, so an unbounded one makes records the broker refuses.
pub const MAX_ID_BYTES: usize = 100;
/// Slowest speed a ride may ask for, in km/h: a walk takes a sample route's two kilometres in
/// under an hour and a half, where one at 1e-300 km/h would never move.
pub const MIN_SPEED_KMH: f64 = 1.0;
/// Fastest: fast enough for demos and tests, slow enough to stay a drive.
pub const MAX_SPEED_KMH: f64 = 100_000.0;

/// Why an id cannot be used, if it cannot (too long).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_BYTES {
        return Err(format!("at most {MAX_ID_BYTES} bytes, got {}", id.len()));
    }
    Ok(())
}

/// Why a ride's speed cannot be used, if it cannot.
pub fn check_speed(speed_kmh: f64) -> Result<(), String> {
    if !(MIN_SPEED_KMH..=MAX_SPEED_KMH).contains(&speed_kmh) {
        return Err(format!(
            "must be from {MIN_SPEED_KMH} to {MAX_SPEED_KMH} km/h, got {speed_kmh}"
        ));
    }
    Ok(())
}

/// The first id of `ids` (field name, value) that cannot be used, as `field: reason`.
fn check_ids<'a>(ids: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), String> {
    for (field, id) in ids {
        check_id(id).map_err(|reason| format!("{field}: {reason}"))?;
    }
    Ok(())
}

/// A `route.new-direction` command: drive a vehicle along a route.
///
/// The reference system sends only `routeId` and `clientId`; Rota's api also sends the ride id, the
/// route's points (so the simulator needs no database) and optionally a speed. A command with
/// `cancel: true` stops the running ride `rideId` instead; it is keyed by ride id like the start
/// command, so it lands on the same partition, after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewDirection {
    pub route_id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ride_id: Option<String>,
    /// The route's geometry as `[lng, lat]` pairs; absent means "look the route up by id".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub points: Option<Vec<[f64; 2]>>,
    /// Overrides the simulator's default speed for this ride (fast-forward demos and tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
}

/// A `route.new-position` event: where one vehicle is now. On Kafka `position` is `[lng, lat]`;
/// browsers get the same fields with a [`LatLng`] ([`NewPosition::for_browser`]), so the field list
/// is written once, here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(bound = "P: utoipa::ToSchema")]
pub struct NewPosition<P = [f64; 2]> {
    pub route_id: String,
    #[serde(default)]
    pub client_id: String,
    /// Absent in the reference system's messages; [`NewPosition::ride`] falls back to the client id.
    #[serde(default)]
    pub ride_id: String,
    /// `[longitude, latitude]` on Kafka.
    pub position: P,
    pub finished: bool,
    /// `driving`, `finished` or `cancelled`; absent in the reference system's messages, where
    /// [`NewPosition::status`] derives it from `finished`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RideStatus>,
    /// 0 for a ride's first position, then one more per position: gaps and reorders are visible.
    #[serde(default)]
    pub seq: u64,
    /// Share of the route's length driven so far, 0.0 to 1.0.
    #[serde(default)]
    pub progress: f64,
    /// Metres driven so far.
    #[serde(default)]
    pub distance_m: f64,
    /// The route's whole length in metres.
    #[serde(default)]
    pub route_length_m: f64,
    #[serde(default)]
    pub speed_kmh: f64,
    /// Compass bearing of travel in degrees, 0 = north, 90 = east.
    #[serde(default)]
    pub heading: f64,
    /// When the simulator published it, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: i64,
}

impl NewPosition {
    /// The id that groups this ride's positions.
    pub fn ride(&self) -> &str {
        if self.ride_id.is_empty() {
            &self.client_id
        } else {
            &self.ride_id
        }
    }

    /// Where the ride is in its life after this position.
    pub fn status(&self) -> RideStatus {
        match self.status {
            Some(status) => status,
            None if self.finished => RideStatus::Finished,
            None => RideStatus::Driving,
        }
    }

    /// The position as a browser-facing point.
    pub fn lat_lng(&self) -> LatLng {
        LatLng {
            lat: self.position[1],
            lng: self.position[0],
        }
    }

    /// The same position as browsers get it: `position` a [`LatLng`], the ride id and the status
    /// always set (the reference system's messages may lack them).
    pub fn for_browser(&self) -> NewPosition<LatLng> {
        NewPosition {
            route_id: self.route_id.clone(),
            client_id: self.client_id.clone(),
            ride_id: self.ride().to_owned(),
            position: self.lat_lng(),
            finished: self.finished,
            status: Some(self.status()),
            seq: self.seq,
            progress: self.progress,
            distance_m: self.distance_m,
            route_length_m: self.route_length_m,
            speed_kmh: self.speed_kmh,
            heading: self.heading,
            timestamp: self.timestamp,
        }
    }
}

/// A `route.ride-progress` checkpoint, keyed by ride id: a position of the ride that the broker
/// acknowledged, and where it is on `route.new-position`. A simulator taking the ride over reads
/// on from there to the ride's last position and resumes one step after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RideProgress {
    pub seq: u64,
    /// Metres driven at `seq`: the drive resumes from here, whatever the tick is now.
    pub distance_m: f64,
    /// The ride finished or was cancelled at `seq`: nothing is left to drive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over: bool,
    /// The position's partition and offset on `route.new-position`.
    pub partition: i32,
    pub offset: i64,
}

/// Milliseconds since the Unix epoch: the unit of every time on Rota's topics and in its API.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why a message on a topic could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {topic} message: {reason}")]
pub struct DecodeError {
    pub topic: &'static str,
    pub reason: String,
}

/// Parses and checks a message, naming the topic and the fault on failure.
fn decode<T: DeserializeOwned>(topic: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError {
        topic,
        reason: e.to_string(),
    })
}

impl NewDirection {
    /// The record's key: the ride id, so a ride's commands share a partition, in order.
    pub fn key(&self) -> &str {
        self.ride_id.as_deref().unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let cmd: Self = decode(crate::TOPIC_NEW_DIRECTION, bytes)?;
        let invalid = |reason: String| DecodeError {
            topic: crate::TOPIC_NEW_DIRECTION,
            reason,
        };
        if cmd.cancel && cmd.ride_id.is_none() {
            return Err(invalid("a cancel command needs a rideId".into()));
        }
        if cmd.route_id.is_empty() {
            return Err(invalid("routeId is empty".into()));
        }
        let ride_id = cmd.ride_id.as_deref().unwrap_or_default();
        check_ids([
            ("routeId", cmd.route_id.as_str()),
            ("clientId", &cmd.client_id),
            ("rideId", ride_id),
        ])
        .map_err(invalid)?;
        if let Some(speed) = cmd.speed_kmh {
            check_speed(speed).map_err(|reason| invalid(format!("speedKmh {reason}")))?;
        }
        for (i, point) in cmd.points.iter().flatten().enumerate() {
            LatLng::from_lng_lat(*point).map_err(|e| invalid(format!("points[{i}]: {e}")))?;
        }
        Ok(cmd)
    }
}

impl NewPosition {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let pos: Self = decode(crate::TOPIC_NEW_POSITION, bytes)?;
        let invalid = |reason: String| DecodeError {
            topic: crate::TOPIC_NEW_POSITION,
            reason,
        };
        LatLng::from_lng_lat(pos.position).map_err(|e| invalid(format!("position: {e}")))?;
        check_ids([
            ("routeId", pos.route_id.as_str()),
            ("clientId", &pos.client_id),
            ("rideId", &pos.ride_id),
        ])
        .map_err(invalid)?;
        Ok(pos)
    }
}

impl RideProgress {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(crate::TOPIC_RIDE_PROGRESS, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_systems_command() {
        let cmd = NewDirection::decode(br#"{"routeId":"1","clientId":"abc"}"#).unwrap();
        assert_eq!(cmd.route_id, "1");
        assert_eq!(cmd.client_id, "abc");
        assert_eq!(cmd.ride_id, None);
        assert_eq!(cmd.points, None);
    }

    #[test]
    fn a_rides_start_and_cancel_share_its_id_as_key() {
        let start = NewDirection::decode(br#"{"routeId":"1","rideId":"r-7"}"#).unwrap();
        let cancel = NewDirection::decode(br#"{"routeId":"1","rideId":"r-7","cancel":true}"#);
        assert_eq!(start.key(), "r-7");
        assert_eq!(cancel.unwrap().key(), start.key());
        let reference = NewDirection::decode(br#"{"routeId":"1","clientId":"abc"}"#).unwrap();
        assert_eq!(reference.key(), "", "without a ride id, an empty key");
    }

    #[test]
    fn position_is_longitude_first_on_the_wire() {
        let pos = NewPosition::decode(
            br#"{"routeId":"1","clientId":"c","position":[-47.9,-15.8],"finished":false}"#,
        )
        .unwrap();
        assert_eq!(
            pos.lat_lng(),
            LatLng {
                lat: -15.8,
                lng: -47.9
            }
        );
        assert_eq!(pos.ride(), "c", "reference messages have no rideId");
        assert_eq!(pos.status(), RideStatus::Driving, "nor a status");
        let json = serde_json::to_value(&pos).unwrap();
        assert_eq!(json["position"], serde_json::json!([-47.9, -15.8]));
    }

    #[test]
    fn rejects_bad_commands_with_the_reason() {
        let err = NewDirection::decode(br#"{"clientId":"c"}"#).unwrap_err();
        assert!(err.to_string().contains("routeId"), "{err}");
        let err = NewDirection::decode(br#"{"routeId":"1","speedKmh":-3}"#).unwrap_err();
        assert!(err.to_string().contains("speedKmh"), "{err}");
        let err = NewDirection::decode(br#"{"routeId":"1","speedKmh":1e-300}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("speedKmh must be from 1 to 100000 km/h"),
            "{err}"
        );
        let long = "c".repeat(MAX_ID_BYTES + 1);
        let command = format!(r#"{{"routeId":"1","clientId":"{long}"}}"#);
        let err = NewDirection::decode(command.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("clientId: at most 100 bytes, got 101"),
            "{err}"
        );
        let position =
            format!(r#"{{"routeId":"1","rideId":"{long}","position":[0,0],"finished":false}}"#);
        let err = NewPosition::decode(position.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("rideId: at most 100"), "{err}");
        let err = NewDirection::decode(br#"{"routeId":"1","points":[[0,0],[0,95]]}"#).unwrap_err();
        assert!(err.to_string().contains("points[1]: latitude 95"), "{err}");
        let err = NewDirection::decode(br#"{"routeId":"1","cancel":true}"#).unwrap_err();
        assert!(
            err.to_string().contains("cancel command needs a rideId"),
            "{err}"
        );
    }

    #[test]
    fn rejects_positions_off_the_globe() {
        let err = NewPosition::decode(
            br#"{"routeId":"1","rideId":"r","position":[200,0],"finished":false}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("longitude 200"), "{err}");
    }
}
