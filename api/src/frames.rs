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
    /// Watches the fleet: a `fleet` frame with every running ride (in `bounds`, if given), then one
    /// `fleet` frame per batch interval with the rides that moved. Sent again, it moves the
    /// viewport (the map panned) and answers with a new full `fleet` frame.
    WatchFleet {
        #[serde(default)]
        bounds: Option<Bounds>,
    },
}

/// A map viewport in degrees: `south` ≤ `north`, `west` ≤ `east`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Bounds {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl Bounds {
    /// Why these bounds cannot be used, if they cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        let Self {
            south,
            west,
            north,
            east,
        } = *self;
        if ![south, west, north, east].iter().all(|v| v.is_finite()) {
            Some("bounds must be numbers")
        } else if south > north || west > east {
            Some("bounds need south <= north and west <= east")
        } else {
            None
        }
    }

    pub fn contains(&self, at: LatLng) -> bool {
        (self.south..=self.north).contains(&at.lat) && (self.west..=self.east).contains(&at.lng)
    }
}

/// A ride that moved, in a `fleet` frame: the fields of a `position` frame as one array, in the
/// order of [`FleetMove::FIELDS`] (ten thousand rides make twenty thousand of these a second).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetMove(
    pub String,
    pub String,
    pub f64,
    pub f64,
    pub f64,
    pub f64,
    pub f64,
    pub f64,
    pub f64,
    pub u64,
    pub i64,
);

impl utoipa::PartialSchema for FleetMove {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, Type};
        let field = |(name, kind): &(&str, Type)| {
            ObjectBuilder::new()
                .schema_type(kind.clone())
                .title(Some(*name))
                .build()
        };
        ArrayBuilder::new()
            .description(Some(
                "A ride that moved: the fields of a `position` frame as one array, in the order \
                 of the items' titles.",
            ))
            .prefix_items(FleetMove::FIELDS.iter().map(field))
            .items(ArrayItems::False)
            .min_items(Some(FleetMove::FIELDS.len()))
            .build()
            .into()
    }
}

impl ToSchema for FleetMove {}

impl FleetMove {
    /// The array's items: the `position` frame's field names and their types.
    pub const FIELDS: [(&'static str, utoipa::openapi::schema::Type); 11] = {
        use utoipa::openapi::schema::Type::{Integer, Number, String};
        [
            ("rideId", String),
            ("routeId", String),
            ("lat", Number),
            ("lng", Number),
            ("heading", Number),
            ("speedKmh", Number),
            ("progress", Number),
            ("distanceM", Number),
            ("routeLengthM", Number),
            ("seq", Integer),
            ("timestamp", Integer),
        ]
    };

    pub fn ride_id(&self) -> &str {
        &self.0
    }

    pub fn route_id(&self) -> &str {
        &self.1
    }

    pub fn lat_lng(&self) -> LatLng {
        LatLng {
            lat: self.2,
            lng: self.3,
        }
    }

    pub fn seq(&self) -> u64 {
        self.9
    }

    /// When the simulator published it, in milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.10
    }
}

/// A ride over since the last `fleet` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetOver {
    pub ride_id: String,
    pub route_id: String,
    pub status: RideStatus,
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
    /// The fleet, for `watch-fleet`. `full`: `moved` holds every running ride in view with its
    /// latest position, and a ride shown in view but not listed is gone. Otherwise `moved` holds
    /// each ride that moved since the last frame, once, at its latest position; `left` the rides that
    /// moved out of the viewport; `over` the rides that ended (their last position is in `moved`).
    /// `running` counts the rides not over on the platform, `inView` those in the viewport.
    #[serde(rename_all = "camelCase")]
    Fleet {
        full: bool,
        running: usize,
        in_view: usize,
        moved: Cow<'a, [FleetMove]>,
        #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
        left: Cow<'a, [String]>,
        #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
        over: Cow<'a, [FleetOver]>,
    },
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
        assert!(matches!(frame, ClientFrame::WatchFleet { bounds: None }));
    }

    #[test]
    fn bounds_say_what_is_wrong_with_them_and_hold_their_edges() {
        let box_ = |south, west, north, east| Bounds {
            south,
            west,
            north,
            east,
        };
        assert_eq!(box_(-16.0, -48.0, -15.0, -47.0).invalid(), None);
        assert!(
            box_(-15.0, -48.0, -16.0, -47.0)
                .invalid()
                .unwrap()
                .contains("south")
        );
        assert!(box_(f64::NAN, -48.0, -15.0, -47.0).invalid().is_some());
        let inside = box_(-16.0, -48.0, -15.0, -47.0);
        assert!(
            inside.contains(LatLng {
                lat: -15.0,
                lng: -48.0
            }),
            "edges are in"
        );
        assert!(!inside.contains(LatLng {
            lat: -14.9,
            lng: -47.5
        }));
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type":"watch-fleet","bounds":{"south":-16,"west":-48,"north":-15,"east":-47}}"#,
        )
        .unwrap();
        assert!(matches!(frame, ClientFrame::WatchFleet { bounds: Some(b) } if b == inside));
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
            ServerFrame::Fleet {
                full: false,
                running: 2,
                in_view: 1,
                moved: Cow::Owned(vec![FleetMove(
                    "r".into(),
                    "1".into(),
                    -15.8,
                    -47.9,
                    90.0,
                    30.0,
                    0.5,
                    10.0,
                    20.0,
                    3,
                    7,
                )]),
                left: Cow::Owned(vec!["q".into()]),
                over: Cow::Owned(vec![FleetOver {
                    ride_id: "p".into(),
                    route_id: "2".into(),
                    status: RideStatus::Finished,
                }]),
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
