//! The WebSocket protocol at `/ws`: every frame is a JSON text frame with a `type`. Positions use
//! `{lat,lng}` objects. A frame that cannot be used gets an `error` frame; the socket stays open.

use events::{NewPosition, RideStatus};
use routes::LatLng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ride::Ride;

/// What a browser sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientFrame {
    /// Starts a ride and watches it: `started`, then its positions.
    #[serde(rename_all = "camelCase")]
    Start {
        route_id: String,
        speed_kmh: Option<f64>,
    },
    /// Watches one ride, also one started elsewhere or before a page refresh.
    #[serde(rename_all = "camelCase")]
    Watch { ride_id: String },
    /// Watches every ride on the platform.
    WatchFleet,
}

/// What the server sends.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerFrame<'a> {
    /// Your ride is queued.
    #[serde(rename_all = "camelCase")]
    Started { ride_id: &'a str, route_id: &'a str },
    /// The ride so far (`null` if not seen yet) and its path; every later position follows, none
    /// repeated.
    #[serde(rename_all = "camelCase")]
    Watching {
        ride_id: &'a str,
        ride: Option<&'a Ride>,
        path: &'a [LatLng],
    },
    /// The rides not yet over.
    #[serde(rename_all = "camelCase")]
    WatchingFleet { rides: Vec<&'a Ride> },
    /// A vehicle moved. A `seq` of 0 for a ride already shown means it is driven again from its
    /// start: start its trail over.
    Position(&'a NewPosition<LatLng>),
    /// The ride is over (`finished` or `cancelled`), after its last position.
    #[serde(rename_all = "camelCase")]
    Finished {
        ride_id: &'a str,
        route_id: &'a str,
        status: RideStatus,
    },
    /// A frame could not be used (or a start failed); the socket stays open.
    Error {
        error: &'a str,
        #[serde(skip_serializing_if = "Value::is_null")]
        #[schema(value_type = Option<Object>)]
        detail: &'a Value,
    },
}

impl ServerFrame<'_> {
    /// The frame as the text the socket sends.
    pub fn text(&self) -> axum::extract::ws::Utf8Bytes {
        serde_json::to_string(self)
            .expect("frames always serialize")
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_and_camel_cased() {
        let json =
            |frame: ServerFrame| -> Value { serde_json::from_str(frame.text().as_str()).unwrap() };
        assert_eq!(
            json(ServerFrame::Started {
                ride_id: "r",
                route_id: "1"
            }),
            serde_json::json!({"type": "started", "rideId": "r", "routeId": "1"})
        );
        assert_eq!(
            json(ServerFrame::Error {
                error: "bad",
                detail: &Value::Null
            }),
            serde_json::json!({"type": "error", "error": "bad"})
        );
        let position = NewPosition {
            route_id: "1".into(),
            client_id: "c".into(),
            ride_id: String::new(),
            position: [-47.9, -15.8],
            finished: false,
            status: None,
            seq: 3,
            progress: 0.5,
            distance_m: 10.0,
            route_length_m: 20.0,
            speed_kmh: 30.0,
            heading: 90.0,
            timestamp: 7,
        }
        .for_browser();
        let frame = json(ServerFrame::Position(&position));
        assert_eq!(frame["type"], "position");
        assert_eq!(
            frame["position"],
            serde_json::json!({"lat": -15.8, "lng": -47.9})
        );
        assert_eq!(
            (&frame["rideId"], &frame["status"]),
            (&serde_json::json!("c"), &serde_json::json!("driving"))
        );
        let frame: ClientFrame = serde_json::from_str(r#"{"type":"watch-fleet"}"#).unwrap();
        assert!(matches!(frame, ClientFrame::WatchFleet));
    }
}
