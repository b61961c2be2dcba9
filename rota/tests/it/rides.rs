//! End to end on the built-in broker: rides started over WebSocket and REST arrive in order, follow
//! the route's geometry, and can be watched from another socket mid-ride.

use crate::common;

use api::frames::{ClientFrame, ServerFrame};
use common::{Ws, base_url, boot, http, start_ride};
use events::RideStatus;
use routes::{LatLng, Polyline, distance_m};
use serde_json::{Value, json};

fn point(v: &Value) -> LatLng {
    LatLng {
        lat: v["lat"].as_f64().unwrap(),
        lng: v["lng"].as_f64().unwrap(),
    }
}

async fn route_line(base: &str, id: &str) -> Polyline {
    let (status, route) = http("GET", &format!("{base}/api/routes/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{route}");
    Polyline::new(
        route["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(point)
            .collect(),
    )
}

/// The path is complete and in order, starts and ends on the route's ends, never leaves the route,
/// and moves forward.
fn assert_follows(line: &Polyline, positions: &[LatLng], progress: &[f64]) {
    let start = line.at(0.0).0;
    let end = line.at(line.length_m()).0;
    assert!(
        distance_m(positions[0], start) < 0.5,
        "starts at the route's start"
    );
    assert!(
        distance_m(*positions.last().unwrap(), end) < 0.5,
        "ends at the route's end"
    );
    for p in positions {
        assert!(line.distance_to(*p) < 1.0, "{p:?} is off the route");
    }
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    assert_eq!(*progress.last().unwrap(), 1.0);
    // 3,000 km/h every 20 ms is 16.7 m a step: the count follows from the route's length.
    let expected = (line.length_m() / (common::TEST_SPEED_KMH / 3.6 * 0.02)).ceil() as usize + 1;
    assert_eq!(positions.len(), expected, "one position per tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rides_started_over_websocket_and_rest_follow_their_routes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);

    let (status, routes) = http("GET", &format!("{base}/api/routes"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let routes = &routes["items"];
    let ids: Vec<_> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("1"), json!("2"), json!("3")],
        "seeded with the sample routes"
    );
    assert_eq!(
        routes[0]["startPosition"],
        json!({"lat": -15.82594, "lng": -47.92923})
    );
    assert!(routes[0]["endPosition"]["lat"].is_number());

    // Over WebSocket: the starter gets `started` and then every position of its ride.
    let mut starter = Ws::connect(&platform).await;
    starter
        .send(&ClientFrame::Start {
            route_id: "1".into(),
            speed_kmh: None,
        })
        .await;
    let (ws_ride, route_id) = starter.started().await;
    assert_eq!(route_id, "1");

    // Over REST, with a second socket watching that ride mid-flight, as after a page refresh.
    let rest_ride = start_ride(&base, "2").await;
    // Join mid-ride, as a refreshed page would.
    let url = format!("{base}/api/rides/{rest_ride}");
    let what = "the ride has driven 3 positions";
    let ride = common::eventually(what, std::time::Duration::from_secs(20), || async {
        let (_, ride) = http("GET", &url, None).await.unwrap();
        if ride["positions"].as_u64().unwrap() >= 3 {
            Ok(ride)
        } else {
            Err(ride)
        }
    })
    .await;
    assert_eq!(
        ride["status"], "driving",
        "joined too late to test a mid-ride watch"
    );
    let mut watcher = Ws::connect(&platform).await;
    let mut path: Vec<LatLng> = watcher.watch(&rest_ride).await;
    assert!(!path.is_empty(), "a mid-ride watcher gets the path so far");

    let ws_positions = starter.positions_until_finished(&ws_ride).await;
    let seqs = common::seqs(&ws_positions);
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "every position, in order"
    );
    assert_follows(
        &route_line(&base, "1").await,
        &ws_positions.iter().map(|p| p.position).collect::<Vec<_>>(),
        &ws_positions.iter().map(|p| p.progress).collect::<Vec<_>>(),
    );
    assert_eq!(starter.finished().await, (ws_ride, RideStatus::Finished));

    // The watcher's snapshot plus live positions is the whole ride: no gap, no repeat.
    let live = watcher.positions_until_finished(&rest_ride).await;
    assert_eq!(
        live[0].seq,
        path.len() as u64,
        "live picks up after the snapshot"
    );
    path.extend(live.iter().map(|p| p.position));
    let mut progress = vec![0.0; path.len() - live.len()];
    progress.extend(live.iter().map(|p| p.progress));
    assert_follows(&route_line(&base, "2").await, &path, &progress);

    let (status, ride) = http("GET", &format!("{base}/api/rides/{rest_ride}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(ride["status"], "finished");
    assert_eq!(ride["progress"], 1.0);
    assert_eq!(ride["routeId"], "2");
    assert_eq!(ride["positions"].as_u64().unwrap(), path.len() as u64);
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_sees_rides_it_did_not_start_and_reference_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let mut fleet = Ws::connect(&platform).await;
    assert_eq!(fleet.watch_fleet().await, []);

    // What the reference system's backend sends: no ride id, no points, no speed.
    let producer = platform.kafka.producer().unwrap().get();
    let command = r#"{"routeId":"3","clientId":"reference-client"}"#;
    producer
        .send(
            rdkafka::producer::FutureRecord::to(events::TOPIC_NEW_DIRECTION)
                .key("reference-client")
                .payload(command),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    // A fleet frame lists it; watching it gives every later position.
    let moved = fleet.next_fleet().await;
    assert_eq!(moved[0].route_id(), "3");
    let ride = moved[0].ride_id().to_owned();
    fleet.watch(&ride).await;
    let rest = fleet.positions_until_finished(&ride).await;
    assert_eq!(
        (rest[0].client_id.as_str(), rest[0].route_id.as_str()),
        ("reference-client", "3")
    );
    let base = base_url(&platform);
    let line = route_line(&base, "3").await;
    let last = rest.last().unwrap().position;
    assert!(
        distance_m(last, line.at(line.length_m()).0) < 0.5,
        "drove the seed route 3 to its end"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_nothing_else_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let rides = format!("{base}/api/rides");

    let (status, body) = http("POST", &rides, Some(r#"{"routeId":"99"}"#))
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["error"], r#"route "99" not found"#);
    let (status, body) = http("GET", &format!("{base}/api/routes/99"), None)
        .await
        .unwrap();
    assert_eq!((status, body["detail"]["id"].clone()), (404, json!("99")));
    let (status, body) = http("GET", &format!("{base}/api/rides/nope"), None)
        .await
        .unwrap();
    assert_eq!(status, 404, "{body}");

    let (status, body) = http("POST", &rides, Some(r#"{"routeId": "1""#))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("EOF"), "{body}");
    let (status, body) = http("POST", &rides, Some(r#"{"route":"1"}"#))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `routeId`"),
        "{body}"
    );
    let (status, body) = http("POST", &rides, Some(r#"{"routeId":"1","speedKmh":-5}"#))
        .await
        .unwrap();
    assert_eq!(
        (status, body["detail"]["field"].clone()),
        (400, json!("speedKmh")),
        "{body}"
    );
    let (status, body) = http("GET", &format!("{base}/no/such/page"), None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(body["error"].is_string());

    // A malformed frame gets an error frame and the socket keeps working.
    let mut ws = Ws::connect(&platform).await;
    let error = |frame| match frame {
        ServerFrame::Error { error, .. } => error.into_owned(),
        other => panic!("not an error frame: {other:?}"),
    };
    ws.send_text("this is not json").await;
    let refused = error(ws.next().await);
    assert!(refused.starts_with("invalid frame"), "{refused}");
    ws.send_text(r#"{"type":"teleport"}"#).await;
    let refused = error(ws.next().await);
    assert!(refused.contains("unknown variant `teleport`"), "{refused}");
    ws.send_text(r#"{"type":"start","routeId":"99"}"#).await;
    assert_eq!(error(ws.next().await), r#"route "99" not found"#);
    // A frame many times the socket's read buffer (under the frame limit) is still read whole.
    let long_id = "r".repeat(30_000);
    ws.send_text(&format!(r#"{{"type":"start","routeId":"{long_id}"}}"#))
        .await;
    assert_eq!(
        error(ws.next().await),
        format!(
            "routeId must be at most {} bytes, got 30000",
            events::MAX_ID_BYTES
        )
    );
    let upside_down = r#"{"type":"watch-fleet","bounds":{"south":1,"west":0,"north":0,"east":1}}"#;
    ws.send_text(upside_down).await;
    assert_eq!(
        error(ws.next().await),
        "bounds need south <= north and west <= east"
    );
    let ride = ws.start("2", None).await;
    let positions = ws.positions_until_finished(&ride).await;
    assert!(
        positions.len() > 10,
        "the socket still works after bad frames"
    );

    // A malformed Kafka command is skipped; the next good one still drives.
    let producer = platform.kafka.producer().unwrap().get();
    for payload in [
        "{not json",
        r#"{"routeId":"1","clientId":"x","points":[[0,0],[0,95]]}"#,
    ] {
        producer
            .send(
                rdkafka::producer::FutureRecord::<str, str>::to(events::TOPIC_NEW_DIRECTION)
                    .payload(payload),
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let ride = ws.start("2", None).await;
    let positions = ws.positions_until_finished(&ride).await;
    assert!(positions.last().unwrap().finished);
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_the_web_map_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let (status, body) = http("GET", &format!("{base}/healthz"), None).await.unwrap();
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    let (status, body) = http("GET", &format!("{base}/readyz"), None).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body["checks"],
        json!({"broker": "ok", "store": "ok", "positions": "ok", "topics": "ok"})
    );
    let (status, page) = http("GET", &format!("{base}/"), None).await.unwrap();
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("leaflet.js"));
    let (status, _) = http("GET", &format!("{base}/vendor/leaflet/leaflet.js"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    platform.stop().await.unwrap();
}

/// A stray admin client deletes Rota's command and position topics mid-ride. Within seconds they
/// are back with Rota's own settings (not the broker's defaults), the producer whose sequence
/// numbers the broker no longer knows is made anew, and a new ride starts and streams whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_topics_come_back_with_their_settings_and_rides_start_again() {
    use rdkafka::{
        admin::{AdminClient, AdminOptions},
        client::DefaultClientContext,
        consumer::{BaseConsumer, Consumer},
    };
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let mut ws = Ws::connect(&platform).await;
    let before = ws.start_long_ride().await;
    ws.watch(&before).await;
    ws.next_position().await;

    let deleted = [events::TOPIC_NEW_DIRECTION, events::TOPIC_NEW_POSITION];
    let admin: AdminClient<DefaultClientContext> =
        events::KafkaConfig::new(&platform.kafka.brokers)
            .client()
            .create()
            .unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.delete_topics(&deleted, &options).await.unwrap() {
        result.unwrap();
    }

    // Back once /readyz says so, and a few seconds later: the readers look every 2 s for a
    // position past the new topic's end (README, Kafka messages). The simulator's position in the
    // first ride's partition is past it: without that look, a ride whose command lands there (one
    // in three) is never driven.
    common::eventually("the topics are back", Duration::from_secs(30), || async {
        match http("GET", &format!("{base}/readyz"), None).await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ride = common::eventually("a ride starts again", Duration::from_secs(30), || async {
        let body = json!({"routeId": "2"}).to_string();
        match http("POST", &format!("{base}/api/rides"), Some(&body)).await {
            Ok((202, started)) => Ok(started["rideId"].as_str().unwrap().to_owned()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let mut watcher = Ws::connect(&platform).await;
    watcher.watch(&ride).await;
    let delivered = watcher.positions_until_finished(&ride).await;
    let count = delivered.len() as u64;
    assert_eq!(common::seqs(&delivered), (0..count).collect::<Vec<_>>());
    assert_eq!(
        common::recorded_ride(&base, &ride).await["positions"],
        count,
        "history records the whole ride"
    );

    let consumer: BaseConsumer = platform.kafka.client().create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    for topic in deleted {
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .unwrap();
        assert_eq!(
            found.partitions().len() as i32,
            common::TEST_PARTITIONS,
            "{topic} has Rota's partitions, not the broker's default"
        );
    }
    let metrics = common::scrape(&base).await;
    assert!(
        metrics["rota_kafka_producers_renewed_total"] >= 1.0,
        "the failed producer was made anew"
    );
    let (status, ready) = http("GET", &format!("{base}/readyz"), None).await.unwrap();
    assert_eq!(
        (status, &ready["checks"]["topics"]),
        (200, &json!("ok")),
        "{ready}"
    );
    platform.stop().await.unwrap();
}
