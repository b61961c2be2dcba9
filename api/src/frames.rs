//! The WebSocket protocol at `/ws`: every frame is a JSON text frame with a `type`. Positions use
//! `{lat,lng}` objects. A frame that cannot be used gets an `error` frame; the socket stays open.
//!
//! Both enums read and write: the server and the tests (or any Rust client) share one definition.
//! Server frames borrow what they send ([`Cow`]); read back, they own it.

use std::borrow::Cow;

use events::{NewPosition, RideStatus};
use routes::LatLng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ride::Ride;

/// What a browser sends.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerFrame<'a> {
    /// Your ride is queued.
    #[serde(rename_all = "camelCase")]
    Started {
        ride_id: Cow<'a, str>,
        route_id: Cow<'a, str>,
    },
    /// The ride so far (`null` if not seen yet) and its path; every later position follows, none
    /// repeated.
    #[serde(rename_all = "camelCase")]
    Watching {
        ride_id: Cow<'a, str>,
        ride: Option<Cow<'a, Ride>>,
        path: Cow<'a, [LatLng]>,
    },
    /// The rides not yet over.
    #[serde(rename_all = "camelCase")]
    WatchingFleet { rides: Vec<Cow<'a, Ride>> },
    /// A vehicle moved. A `seq` of 0 for a ride already shown means it is driven again from its
    /// start: start its trail over.
    Position(Cow<'a, NewPosition<LatLng>>),
    /// The ride is over (`finished` or `cancelled`), after its last position.
    #[serde(rename_all = "camelCase")]
    Finished {
        ride_id: Cow<'a, str>,
        route_id: Cow<'a, str>,
        status: RideStatus,
    },
    /// A frame could not be used (or a start failed); the socket stays open.
    Error {
        error: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        #[schema(value_type = Option<Object>)]
        detail: Cow<'a, Value>,
    },
}

impl ServerFrame<'_> {
    /// An `error` frame without detail.
    pub fn error(error: &str) -> ServerFrame<'_> {
        ServerFrame::Error {
            error: error.into(),
            detail: Cow::Owned(Value::Null),
        }
    }

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
                ride_id: "r".into(),
                route_id: "1".into()
            }),
            serde_json::json!({"type": "started", "rideId": "r", "routeId": "1"})
        );
        assert_eq!(
            json(ServerFrame::error("bad")),
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
        let frame = json(ServerFrame::Position(Cow::Borrowed(&position)));
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

    #[test]
    fn server_frames_read_back_as_they_were_written() {
        let ride = Ride::new("r", "1", "c");
        let path = [LatLng {
            lat: -15.8,
            lng: -47.9,
        }];
        for frame in [
            ServerFrame::Watching {
                ride_id: "r".into(),
                ride: Some(Cow::Borrowed(&ride)),
                path: Cow::Borrowed(&path),
            },
            ServerFrame::WatchingFleet {
                rides: vec![Cow::Borrowed(&ride)],
            },
            ServerFrame::Finished {
                ride_id: "r".into(),
                route_id: "1".into(),
                status: RideStatus::Cancelled,
            },
            ServerFrame::error("bad"),
        ] {
            let read: ServerFrame = serde_json::from_str(frame.text().as_str()).unwrap();
            assert_eq!(read, frame);
        }
    }
}
