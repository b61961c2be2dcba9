//! Routes and ride history through the REST API of a whole platform. A ride's history is checked
//! on both stores, the embedded one and MongoDB (SecantusDB, a MongoDB wire-protocol server,
//! through the real `mongodb` driver, and read back with pymongo); the routes endpoints once. The
//! stores themselves have their own contract suite, without a broker, in `api/src/store/tests.rs`.

use crate::common;

use std::path::Path;

use common::{Ws, base_url, http, http_typed, path_seqs};
use events::RideStatus;
use rota::platform::Platform;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Mongo,
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Embedded).await
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Mongo).await
                }
            )*
        }
    };
}

contract!(
    a_ride_is_recorded_with_its_path_and_summary,
    a_cancelled_ride_stops_and_says_so,
    a_batch_starts_every_ride_or_none,
);

/// The REST side of routes, once: what the stores do underneath is the api's store contract suite
/// (`api/src/store/tests.rs`), on both stores.
mod catalogue {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test(super::Backend::Embedded).await
            }
        )*};
    }
    once!(
        routes_can_be_created_read_replaced_and_deleted,
        bad_routes_are_refused_naming_the_field,
        routes_import_from_geojson_gpx_and_route_files,
        titles_are_unique,
        pages_visit_every_route_once,
    );
}

/// A platform on this backend. The MongoDB URI is kept so a test can look at the documents.
async fn platform(backend: Backend, dir: &Path) -> (Platform, Option<String>) {
    let mut config = common::config(dir);
    let uri = matches!(backend, Backend::Mongo).then(common::mongodb_uri);
    config.api.as_mut().unwrap().mongodb_uri = uri.clone();
    (common::boot_with(config).await, uri)
}

fn route_body(title: &str, points: &[(f64, f64)]) -> String {
    let points: Vec<Value> = points
        .iter()
        .map(|(lat, lng)| json!({"lat": lat, "lng": lng}))
        .collect();
    json!({"title": title, "points": points}).to_string()
}

const LINE: [(f64, f64); 3] = [(-15.80, -47.90), (-15.81, -47.91), (-15.82, -47.91)];

async fn routes_can_be_created_read_replaced_and_deleted(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let base = base_url(&platform);
    let routes = format!("{base}/api/routes");

    let (status, seeded) = http("GET", &routes, None).await.unwrap();
    assert_eq!(status, 200);
    let titles: Vec<_> = seeded["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].clone())
        .collect();
    assert_eq!(
        titles,
        ["Primeiro", "Segundo", "Terceiro"],
        "seeded once with the samples"
    );
    assert!(
        seeded["items"][0].get("points").is_none(),
        "listings leave the points out"
    );

    let (status, created) = http("POST", &routes, Some(&route_body("Eixo", &LINE)))
        .await
        .unwrap();
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["startPosition"],
        json!({"lat": -15.80, "lng": -47.90})
    );
    assert_eq!(
        created["endPosition"],
        json!({"lat": -15.82, "lng": -47.91})
    );
    let line = routes::Polyline::new(
        LINE.iter()
            .map(|&(lat, lng)| routes::LatLng { lat, lng })
            .collect(),
    );
    assert_eq!(created["lengthM"], json!(line.length_m().round()));
    assert_eq!(created["pointCount"], 3);

    let one = format!("{routes}/{id}");
    let (status, fetched) = http("GET", &one, None).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(fetched, created, "GET returns what POST stored");

    let (status, replaced) = http(
        "PUT",
        &one,
        Some(&route_body("Eixo Monumental", &LINE[..2])),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["title"], "Eixo Monumental");
    assert_eq!(replaced["pointCount"], 2);
    assert_eq!(replaced["createdAt"], created["createdAt"]);
    let (_, fetched) = http("GET", &one, None).await.unwrap();
    assert_eq!(fetched["points"].as_array().unwrap().len(), 2);
    assert_eq!(fetched["title"], "Eixo Monumental");

    let (status, _) = http("DELETE", &one, None).await.unwrap();
    assert_eq!(status, 204);
    for (method, body) in [
        ("GET", None),
        ("DELETE", None),
        ("PUT", Some(route_body("x", &LINE))),
    ] {
        let (status, error) = http(method, &one, body.as_deref()).await.unwrap();
        assert_eq!(status, 404, "{method} after delete: {error}");
        assert_eq!(error["detail"]["id"], id.as_str());
    }
    let (_, after) = http("GET", &routes, None).await.unwrap();
    assert_eq!(after["items"].as_array().unwrap().len(), 3);
    platform.stop().await.unwrap();
}

async fn bad_routes_are_refused_naming_the_field(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let routes = format!("{}/api/routes", base_url(&platform));

    let cases = [
        (
            json!({"points": [{"lat": 1, "lng": 2}, {"lat": 1, "lng": 3}]}),
            "title",
        ),
        (
            json!({"title": "  ", "points": [{"lat": 1, "lng": 2}, {"lat": 1, "lng": 3}]}),
            "title",
        ),
        (
            json!({"title": "x", "points": [{"lat": 1, "lng": 2}]}),
            "points",
        ),
        (
            json!({"title": "x", "points": [{"lat": 1, "lng": 2}, {"lat": -91, "lng": 3}]}),
            "points[1].lat",
        ),
        (
            json!({"title": "x", "points": [{"lat": 1, "lng": 2}, {"lat": 1, "lng": "3"}]}),
            "points[1].lng",
        ),
        (json!({"title": 7, "points": []}), "title"),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let (status, error) = http("POST", &routes, Some(&body.to_string()))
            .await
            .unwrap();
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["detail"]["field"], field, "{body}: {error}");
    }
    let (status, error) = http("POST", &routes, Some("{\"title\":")).await.unwrap();
    assert_eq!(
        (status, &error["detail"]["field"]),
        (400, &json!("body")),
        "{error}"
    );
    let (status, error) = http_typed("POST", &routes, Some("image/png"), Some("x"))
        .await
        .unwrap();
    assert_eq!(status, 415, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("application/gpx+xml"),
        "{error}"
    );

    // Nothing was stored by any of that, and PUT checks the same way.
    let (_, list) = http("GET", &routes, None).await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let (status, error) = http(
        "PUT",
        &format!("{routes}/1"),
        Some(&route_body("x", &LINE[..1])),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, &error["detail"]["field"]),
        (400, &json!("points")),
        "{error}"
    );
    platform.stop().await.unwrap();
}

async fn routes_import_from_geojson_gpx_and_route_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let routes = format!("{}/api/routes", base_url(&platform));

    let geojson = json!({"type": "Feature", "properties": {"name": "From GeoJSON"},
        "geometry": {"type": "LineString", "coordinates": [[-47.90, -15.80], [-47.91, -15.81]]}});
    let gpx = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>From GPX</name><trkseg>
    <trkpt lat="-15.80" lon="-47.90"/><trkpt lat="-15.81" lon="-47.91"/><trkpt lat="-15.82" lon="-47.91"/>
  </trkseg></trk>
</gpx>"#;
    let imports = [
        (
            "application/geo+json",
            geojson.to_string(),
            String::new(),
            "From GeoJSON",
            2,
        ),
        (
            "application/gpx+xml",
            gpx.to_owned(),
            String::new(),
            "From GPX",
            3,
        ),
        (
            "text/plain",
            "-15.80,-47.90\n-15.81,-47.91\n".to_owned(),
            "?title=From%20a%20file".to_owned(),
            "From a file",
            2,
        ),
    ];
    for (content_type, body, query, title, points) in imports {
        let (status, route) = http_typed(
            "POST",
            &format!("{routes}{query}"),
            Some(content_type),
            Some(&body),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{content_type}: {route}");
        assert_eq!(route["title"], title);
        assert_eq!(route["points"].as_array().unwrap().len(), points);
        assert_eq!(
            route["startPosition"],
            json!({"lat": -15.80, "lng": -47.90}),
            "GeoJSON is [lng, lat]"
        );
    }

    let bad_gpx = "<gpx>\n<trk><trkseg>\n<trkpt lat=\"-15.8\" lon=\"-47.9\"/>\n<trkpt lat=\"-15.8\"/>\n</trkseg></trk>\n</gpx>";
    let bad = [
        (
            "application/gpx+xml",
            "?title=t",
            bad_gpx,
            "line 4: <trkpt>",
        ),
        (
            "application/geo+json",
            "?title=t",
            r#"{"type":"LineString","coordinates":[[0,0],[0]]}"#,
            "coordinates[1]",
        ),
        ("text/plain", "?title=t", "1,2\n3;4\n", "body"),
        ("text/plain", "", "1,2\n3,4\n", "title"),
    ];
    for (content_type, query, body, field) in bad {
        let (status, error) = http_typed(
            "POST",
            &format!("{routes}{query}"),
            Some(content_type),
            Some(body),
        )
        .await
        .unwrap();
        assert_eq!(status, 400, "{content_type}: {error}");
        assert_eq!(error["detail"]["field"], field, "{error}");
    }
    let (_, error) = http_typed(
        "POST",
        &format!("{routes}?title=t"),
        Some("text/plain"),
        Some("1,2\n3;4\n"),
    )
    .await
    .unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("body:2: no comma"),
        "{error}"
    );
    platform.stop().await.unwrap();
}

async fn titles_are_unique(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let routes = format!("{}/api/routes", base_url(&platform));

    let (status, error) = http("POST", &routes, Some(&route_body(" primeiro ", &LINE)))
        .await
        .unwrap();
    assert_eq!(
        status, 409,
        "titles compare without case or outer spaces: {error}"
    );
    assert_eq!(error["detail"]["field"], "title");
    let (status, error) = http(
        "PUT",
        &format!("{routes}/2"),
        Some(&route_body("Terceiro", &LINE)),
    )
    .await
    .unwrap();
    assert_eq!(status, 409, "{error}");
    let (status, _) = http(
        "PUT",
        &format!("{routes}/2"),
        Some(&route_body("SEGUNDO", &LINE)),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "a route keeps its own title in another case");
    let (status, _) = http("POST", &routes, Some(&route_body("Segundo", &LINE)))
        .await
        .unwrap();
    assert_eq!(status, 409, "the renamed title is still taken");
    let (status, _) = http("DELETE", &format!("{routes}/3"), None).await.unwrap();
    assert_eq!(status, 204);
    let (status, _) = http("POST", &routes, Some(&route_body("Terceiro", &LINE)))
        .await
        .unwrap();
    assert_eq!(status, 201, "a deleted route's title is free again");
    platform.stop().await.unwrap();
}

async fn pages_visit_every_route_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let routes = format!("{}/api/routes", base_url(&platform));
    for n in 0..8 {
        let (status, _) = http(
            "POST",
            &routes,
            Some(&route_body(&format!("Route {n}"), &LINE)),
        )
        .await
        .unwrap();
        assert_eq!(status, 201);
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let (status, page) = http("GET", &format!("{routes}?limit=3&cursor={cursor}"), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 4, "11 routes, 3 per page");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in id order, each once");
    assert_eq!(seen.len(), 11);
    for limit in ["0", "501", "ten"] {
        let (status, error) = http("GET", &format!("{routes}?limit={limit}"), None)
            .await
            .unwrap();
        assert_eq!(
            (status, &error["detail"]["field"]),
            (400, &json!("limit")),
            "{error}"
        );
    }
    platform.stop().await.unwrap();
}

async fn a_ride_is_recorded_with_its_path_and_summary(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, uri) = platform(backend, dir.path()).await;
    let base = base_url(&platform);

    // A route created through the API: the simulator drives it from the points in the command.
    let (_, route) = http(
        "POST",
        &format!("{base}/api/routes"),
        Some(&route_body("Created", &LINE)),
    )
    .await
    .unwrap();
    let route_id = route["id"].as_str().unwrap();
    let mut ws = Ws::connect(&platform).await;
    let ride = ws.start(route_id, None).await;
    let live = ws.positions_until_finished(&ride).await;

    let recorded = common::recorded_ride(&base, &ride).await;
    let path = recorded["path"].as_array().unwrap();
    assert_eq!(
        path_seqs(path),
        (0..live.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    for (point, shown) in path.iter().zip(&live) {
        assert_eq!(
            (point["lat"].as_f64(), point["lng"].as_f64()),
            (Some(shown.position.lat), Some(shown.position.lng))
        );
    }
    assert_eq!(recorded["status"], "finished");
    assert_eq!(recorded["routeId"], route_id);
    let summary = &recorded["summary"];
    let distance = summary["distanceM"].as_f64().unwrap();
    assert!(
        (distance - route["lengthM"].as_f64().unwrap()).abs() < 1.0,
        "{summary}"
    );
    assert_eq!(summary["maxSpeedKmh"], json!(common::TEST_SPEED_KMH));
    let duration = summary["durationS"].as_f64().unwrap();
    assert!(duration > 0.0, "{summary}");
    let average = summary["averageSpeedKmh"].as_f64().unwrap();
    assert!(
        (average - distance / duration * 3.6).abs() < 1e-6,
        "{summary}"
    );
    let (started, finished) = (
        recorded["startedAt"].as_i64().unwrap(),
        recorded["finishedAt"].as_i64().unwrap(),
    );
    assert_eq!(finished - started, (duration * 1000.0).round() as i64);

    let list = |query: String| {
        let base = base.clone();
        async move {
            let (status, page) = http("GET", &format!("{base}/api/rides?{query}"), None)
                .await
                .unwrap();
            assert_eq!(status, 200, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(format!("routeId={route_id}&status=finished")).await,
        [ride.as_str()]
    );
    assert!(list("status=driving".into()).await.is_empty());
    assert!(list("routeId=1".into()).await.is_empty());
    let (status, error) = http("GET", &format!("{base}/api/rides?status=parked"), None)
        .await
        .unwrap();
    assert_eq!(
        (status, &error["detail"]["field"]),
        (400, &json!("status")),
        "{error}"
    );

    if let Some(uri) = uri {
        // Another client reads what the documents look like on disk.
        let output = std::process::Command::new(common::python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mongo_shape.py"))
            .args([&uri, &ride, route_id])
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "pymongo shape check failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    platform.stop().await.unwrap();
}

async fn a_cancelled_ride_stops_and_says_so(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let base = base_url(&platform);

    // Slow enough (about 1 m per position) to be cancelled long before the end of route 1.
    let body = json!({"routeId": "1", "speedKmh": 200}).to_string();
    let (status, started) = http("POST", &format!("{base}/api/rides"), Some(&body))
        .await
        .unwrap();
    assert_eq!(status, 202);
    let ride = started["rideId"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(&platform).await;
    ws.watch(&ride).await;
    for _ in 0..3 {
        ws.next_position().await;
    }
    let (status, cancelling) = http("DELETE", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    assert_eq!(status, 202, "{cancelling}");
    let positions = ws.positions_until_finished(&ride).await;
    let last = positions.last().unwrap();
    assert_eq!(last.status, Some(RideStatus::Cancelled));
    assert!(last.finished);
    assert!(last.progress < 0.5, "stopped early: {last:?}");
    assert_eq!(ws.finished().await, (ride.clone(), RideStatus::Cancelled));

    let recorded = common::recorded_ride(&base, &ride).await;
    assert_eq!(recorded["status"], "cancelled");
    assert!(
        recorded["summary"]["distanceM"].as_f64().unwrap() > 0.0,
        "{recorded}"
    );
    let path = recorded["path"].as_array().unwrap();
    assert_eq!(path_seqs(path), (0..path.len() as u64).collect::<Vec<_>>());

    let (status, error) = http("DELETE", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    assert_eq!(status, 409, "already over: {error}");
    let (status, _) = http("DELETE", &format!("{base}/api/rides/nope"), None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    platform.stop().await.unwrap();
}

async fn a_batch_starts_every_ride_or_none(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = platform(backend, dir.path()).await;
    let base = base_url(&platform);
    let batch = format!("{base}/api/rides/batch");
    let rides_now = || async {
        let (status, page) = http("GET", &format!("{base}/api/rides?limit=100"), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().len()
    };

    // Nothing starts unless every ride can: the error names the ride at fault.
    let refused = [
        (json!({"rides": []}), 400, "rides"),
        (
            json!({"rides": [{"routeId": "1"}, {"routeId": "nope"}]}),
            404,
            "rides[1].routeId",
        ),
        (
            json!({"rides": [{"routeId": "1"}, {"routeId": "2"}, {"routeId": "3", "speedKmh": -1}]}),
            400,
            "rides[2].speedKmh",
        ),
        (
            json!({"rides": vec![json!({"routeId": "1"}); api::MAX_BATCH_RIDES + 1]}),
            400,
            "rides",
        ),
    ];
    for (body, expected, field) in refused {
        let (status, error) = http("POST", &batch, Some(&body.to_string())).await.unwrap();
        assert_eq!(
            (status, error["detail"]["field"].as_str()),
            (expected, Some(field)),
            "{error}"
        );
    }
    assert_eq!(rides_now().await, 0, "a refused batch starts nothing");

    let asked: Vec<&str> = ["1", "2", "3"].into_iter().cycle().take(12).collect();
    let body = json!({
        "rides": asked.iter().map(|route| json!({"routeId": route, "speedKmh": 20000})).collect::<Vec<_>>()
    });
    let (status, started) = http("POST", &batch, Some(&body.to_string())).await.unwrap();
    assert_eq!(status, 202, "{started}");
    let started = started["started"].as_array().unwrap();
    let routes: Vec<&str> = started
        .iter()
        .map(|r| r["routeId"].as_str().unwrap())
        .collect();
    assert_eq!(routes, asked, "one ride per request, in order");
    let ids: std::collections::BTreeSet<&str> = started
        .iter()
        .map(|r| r["rideId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), asked.len(), "distinct ride ids");
    assert_eq!(
        rides_now().await,
        asked.len(),
        "every ride recorded at once"
    );
    // Each one is driven by the simulator to its end and recorded whole.
    for ride in started {
        let recorded = common::recorded_ride(&base, ride["rideId"].as_str().unwrap()).await;
        assert_eq!(
            (&recorded["status"], &recorded["routeId"]),
            (&json!("finished"), &ride["routeId"]),
            "{recorded}"
        );
        let path = recorded["path"].as_array().unwrap();
        assert_eq!(path_seqs(path), (0..path.len() as u64).collect::<Vec<_>>());
    }
    platform.stop().await.unwrap();
}
