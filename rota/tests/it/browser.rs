//! The web map in a real browser: headless Chromium driven by playwright-core (both installed by
//! scripts/test-setup) against the running platform. Each test runs one scenario of
//! `browser/e2e.cjs`, which reports what the page showed, and checks it against the API.
//! Screenshots land in target/test-artifacts/.

use crate::common;

use std::{
    path::Path,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{base_url, boot, boot_with, config, eventually, free_port, http, start_ride};
use rota::platform::PlatformConfig;
use serde_json::{Value, json};

/// Runs `scenario` against the platform at `base` and returns what the page reported.
async fn scenario(name: &str, base: &str, arg: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let node_modules = std::env::var("ROTA_TEST_NODE_MODULES").unwrap_or_else(|_| {
        root.join(".test-env/node/node_modules")
            .display()
            .to_string()
    });
    let mut command = Command::new("node");
    command
        .arg(root.join("rota/tests/browser/e2e.cjs"))
        .args([name, base, &artifacts.display().to_string(), arg])
        .env("NODE_PATH", node_modules);
    let seen = common::json_output(command, &format!("browser scenario {name}")).await;
    assert_eq!(seen["errors"], json!([]), "no script errors: {seen}");
    seen
}

async fn ride(base: &str, id: &str) -> Value {
    let (status, ride) = http("GET", &format!("{base}/api/rides/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{ride}");
    ride
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rides_move_the_fleet_shows_rest_rides_and_a_refresh_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let seen = scenario("live", &base, "").await;

    assert_eq!(seen["routes"], json!(["Primeiro", "Segundo", "Terceiro"]));
    for detail in seen["routeDetails"].as_array().unwrap() {
        let detail = detail.as_str().unwrap();
        assert!(
            detail.contains(" km · ") && detail.ends_with(" points"),
            "{detail}"
        );
    }
    // The two rides started in the page are the platform's rides on routes 1 and 2, at the speed
    // picked in the page, each with its own colour and its own moving, heading-turned marker.
    let [first, second] = [0, 1].map(|i| seen["rides"][i].as_str().unwrap().to_owned());
    assert_eq!(ride(&base, &first).await["routeId"], "1");
    assert_eq!(ride(&base, &second).await["routeId"], "2");
    assert_eq!(ride(&base, &first).await["maxSpeedKmh"], 250.0);
    assert_ne!(seen["colors"][0], seen["colors"][1]);
    assert!(seen["markers"].as_u64().unwrap() >= 2, "{seen}");
    assert_eq!(seen["selected"], json!({"rows": [first], "marker": first}));
    for i in 0..2 {
        let (start, moved) = (&seen["startMarkers"][i], &seen["movedMarkers"][i]);
        assert_ne!(
            (&start["lat"], &start["lng"]),
            (&moved["lat"], &moved["lng"])
        );
        let heading = moved["heading"].as_f64().unwrap();
        assert!((0.0..=360.0).contains(&heading) && moved["heading"] == moved["rideHeading"]);
    }
    for line in seen["statusLines"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        assert!(
            line.contains("% · ") && line.contains(" left · ETA "),
            "{line}"
        );
    }
    // After the refresh the page had the whole path so far, and at the end every position once.
    assert!(seen["pathAfterRefresh"].as_u64() >= seen["pathBeforeRefresh"].as_u64());
    let elsewhere = ride(&base, seen["elsewhere"].as_str().unwrap()).await;
    assert_eq!(elsewhere["status"], "finished");
    assert_eq!(seen["finished"]["status"], "finished");
    assert_eq!(seen["finished"]["path"], elsewhere["positions"]);
    assert_eq!(
        seen["finished"]["path"],
        elsewhere["path"].as_array().unwrap().len()
    );
    assert_eq!(seen["toast"], "Ride on Terceiro finished");
    // The REST ride reached the page through the batched `fleet` frames (it then watched it).
    assert!(seen["fleetFrames"].as_u64().unwrap() > 10, "{seen}");
    assert!(
        seen["refused"].as_u64().unwrap() > 0,
        "tiles were asked for"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_ride_replays_with_its_summary_speed_and_scrubber() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let body = json!({"routeId": "2", "speedKmh": 500}).to_string();
    let (_, started) = http("POST", &format!("{base}/api/rides"), Some(&body))
        .await
        .unwrap();
    let id = started["rideId"].as_str().unwrap().to_owned();
    // 21 quick rides after it put it on History's second page.
    let quick: Vec<String> =
        futures::future::join_all((0..21).map(|_| start_ride(&base, "1"))).await;
    for quick in &quick {
        while ride(&base, quick).await["status"] != "finished" {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let recorded = common::recorded_ride(&base, &id).await;
    let seen = scenario("replay", &base, &id).await;

    assert_eq!(
        (&seen["firstPage"], &seen["bothPages"]),
        (&json!(20), &json!(22))
    );
    assert_eq!(seen["moreHidden"], true);
    let summary = &recorded["summary"];
    let km = summary["distanceM"].as_f64().unwrap() / 1000.0;
    assert_eq!(seen["summary"]["Distance"], format!("{km:.2} km"));
    assert!(
        seen["listed"]
            .as_str()
            .unwrap()
            .contains(&format!("{km:.2} km"))
    );
    let secs = summary["durationS"].as_f64().unwrap().round() as u64;
    assert_eq!(
        seen["summary"]["Duration"],
        format!("{}:{:02}", secs / 60, secs % 60)
    );
    for (label, field) in [
        ("Average speed", "averageSpeedKmh"),
        ("Max speed", "maxSpeedKmh"),
    ] {
        let kmh = summary[field].as_f64().unwrap().round();
        assert_eq!(seen["summary"][label], format!("{kmh} km/h"));
    }

    // The scrubber puts the vehicle where the recorded path says it was at that moment.
    let path = recorded["path"].as_array().unwrap();
    let t0 = path[0]["timestamp"].as_f64().unwrap();
    let duration = path.last().unwrap()["timestamp"].as_f64().unwrap() - t0;
    assert_eq!(seen["atEnd"]["duration"], duration);
    let at = |t: f64| {
        let i = path
            .iter()
            .rposition(|p| p["timestamp"].as_f64().unwrap() <= t0 + t)
            .unwrap();
        let (a, b) = (&path[i], &path[(i + 1).min(path.len() - 1)]);
        let (ta, tb) = (
            a["timestamp"].as_f64().unwrap(),
            b["timestamp"].as_f64().unwrap(),
        );
        let f = if tb > ta {
            (t0 + t - ta) / (tb - ta)
        } else {
            0.0
        };
        let lerp = |k: &str| {
            a[k].as_f64().unwrap() + (b[k].as_f64().unwrap() - a[k].as_f64().unwrap()) * f
        };
        (lerp("lat"), lerp("lng"))
    };
    // The scrubber snaps to its step (a thousandth of the ride), so compare where it landed.
    for (state, asked) in [
        ("atStart", 0.0),
        ("atHalf", duration / 2.0),
        ("atEnd", duration),
    ] {
        let t = seen[state]["t"].as_f64().unwrap();
        assert!(
            (t - asked).abs() <= duration / 500.0,
            "{state}: {t} vs {asked}"
        );
        let shown = &seen[state]["position"];
        let (lat, lng) = at(t);
        assert!(
            (shown["lat"].as_f64().unwrap() - lat).abs() < 1e-9,
            "{state}: {shown} vs {lat}"
        );
        assert!(
            (shown["lng"].as_f64().unwrap() - lng).abs() < 1e-9,
            "{state}: {shown} vs {lng}"
        );
    }
    assert_eq!(seen["atStart"]["t"], 0.0);
    assert_eq!(seen["atEnd"]["t"], duration);
    // Playing at 10× moves on quickly; pausing holds; playing again (20×) reaches the end and stops.
    let t = |state: &str| seen[state]["t"].as_f64().unwrap();
    assert!(t("playing") > 1000.0, "{seen}");
    assert_eq!(seen["paused"]["playing"], false);
    assert_eq!(t("paused"), t("stillPaused"));
    assert_eq!(t("ended"), duration);
    assert_eq!(seen["closed"], true);
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tiles_unreachable_the_page_works_on_a_phone_sized_screen() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let closed = free_port(); // nothing listens there
    config.api.as_mut().unwrap().map.tiles_url = format!("http://{closed}/{{z}}/{{x}}/{{y}}.png");
    let platform = boot_with(config).await;
    let seen = scenario("offline", &base_url(&platform), "").await;

    assert!(seen["tileRequests"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["notice"], true, "the page says the tiles are missing");
    assert!(
        seen["drawnPixels"].as_u64().unwrap() > 200,
        "routes drawn: {seen}"
    );
    let (map, panel) = (&seen["map"], &seen["panel"]);
    assert!(map["width"].as_f64().unwrap() <= 390.0 && map["height"].as_f64().unwrap() > 300.0);
    assert!(
        panel["y"].as_f64().unwrap()
            >= map["y"].as_f64().unwrap() + map["height"].as_f64().unwrap() - 1.0
    );
    assert_ne!(seen["first"], seen["moved"], "the vehicle moved");
    // Cancelled from the page: the platform stopped it, and the page says so.
    let base = base_url(&platform);
    assert_eq!(
        ride(&base, seen["ride"].as_str().unwrap()).await["status"],
        "cancelled"
    );
    assert!(
        seen["cancelled"]
            .as_str()
            .unwrap()
            .starts_with("cancelled · "),
        "{seen}"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_come_from_the_configured_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // The test serves the tiles on a port it holds from the start (a port picked free and bound
    // later by the page's script could be taken meanwhile), and records what is asked of it.
    let (tiles, requests) = tile_server().await;
    let map = &mut config.api.as_mut().unwrap().map;
    map.tiles_url = format!("http://{tiles}/tiles/{{z}}/{{x}}/{{y}}.png");
    map.tiles_attribution = "Test tiles".to_owned();
    let platform = boot_with(config).await;
    let seen = scenario("tiles", &base_url(&platform), "").await;

    let requests = requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "{seen}");
    assert!(
        requests.iter().all(|r| r.starts_with("/tiles/")),
        "{requests:?}"
    );
    assert!(seen["loaded"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["notice"], false, "{seen}");
    assert!(seen["attribution"].as_str().unwrap().contains("Test tiles"));
    platform.stop().await.unwrap();
}

/// An HTTP server answering every path with a PNG, and the paths it was asked for.
async fn tile_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../web/assets/vendor/leaflet/images/layers.png"),
    )
    .unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback({
        let requests = requests.clone();
        move |uri: axum::http::Uri| async move {
            requests.lock().unwrap().push(uri.path().to_owned());
            ([(axum::http::header::CONTENT_TYPE, "image/png")], png)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_fleet_is_watched_through_the_maps_viewport() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // Three rides make a big fleet here: the page must ask for the rides in its view.
    config.api.as_mut().unwrap().map.viewport_above = 1;
    let platform = boot_with(config).await;
    let seen = scenario("viewport", &base_url(&platform), "").await;

    let all_in_view = json!({"stats": "3 driving · 3 in view", "markers": 3});
    assert_eq!(seen["atStart"], all_in_view, "{seen}");
    assert_eq!(
        seen["away"],
        json!({"stats": "3 driving · 0 in view", "markers": 0}),
        "panned away, the rides leave the map: {seen}"
    );
    assert_eq!(seen["back"], all_in_view, "and come back with the view");
    // The page sent its view each time: around the routes, then around (10, 10), then back.
    let bounds = seen["bounds"].as_array().unwrap();
    let around = |b: &Value, lat: f64, lng: f64| {
        let at = |k: &str| b[k].as_f64().unwrap();
        at("south") < lat && lat < at("north") && at("west") < lng && lng < at("east")
    };
    // Route 1's first point.
    let (lat, lng) = (-15.82594, -47.92923);
    assert!(bounds.len() >= 3, "{seen}");
    assert!(around(&bounds[0], lat, lng), "{seen}");
    assert!(bounds.iter().any(|b| around(b, 10.0, 10.0)), "{seen}");
    assert!(around(bounds.last().unwrap(), lat, lng), "{seen}");
    assert_eq!(
        seen["watchedInView"], 0,
        "no ride watched one by one once the page watches its view: {seen}"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_fleet_lists_its_first_200_rides_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // 250 rides at the simulator's usual tick: 500 positions a second.
    config.simulator.as_mut().unwrap().tick = Duration::from_millis(500);
    let platform = boot_with(config).await;
    let seen = scenario("bigList", &base_url(&platform), "").await;

    assert_eq!(
        seen["all"],
        json!({"markers": 250, "rows": 200, "more": "50 more on the map, not listed"}),
        "{seen}"
    );
    // The vehicle of a ride without a row, clicked: the ride gets its row, selected.
    assert_eq!(seen["afterClick"]["rows"], 201, "{seen}");
    assert_eq!(seen["afterClick"]["more"], "49 more on the map, not listed");
    assert_eq!(seen["selectedRow"], json!([seen["unlisted"]]));
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_lost_its_connection_catches_up_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let seen = scenario("reconnect", &base_url(&platform), "").await;

    assert!(
        seen["status"]
            .as_str()
            .unwrap()
            .starts_with("reconnecting in ")
    );
    assert!(seen["connections"].as_u64().unwrap() >= 2, "{seen}");
    // The ride finished while the page was away; it has the whole path and the end now.
    assert!(
        seen["pathWhenDropped"].as_u64() < seen["positions"].as_u64(),
        "{seen}"
    );
    assert_eq!(seen["caughtUp"]["path"], seen["positions"]);
    assert!(seen["item"].as_str().unwrap().starts_with("finished · "));
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_page_shows_the_flow_lag_a_rides_partition_and_its_records() {
    let dir = tempfile::tempdir().unwrap();
    // No simulator here: the page starts one while it watches the simulator group's lag.
    let platform = boot_with(PlatformConfig {
        simulator: None,
        ..config(dir.path())
    })
    .await;
    let base = base_url(&platform);
    let brokers = platform.kafka.brokers.clone();
    // The group starts at the (empty) topic's end on every partition, so every command counts.
    let mut commit = Command::new(common::python());
    commit
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/system_peer.py"))
        .args([
            "commit",
            &brokers,
            events::TOPIC_NEW_DIRECTION,
            "simulator",
            "0:0,1:0,2:0",
        ]);
    common::json_output(commit, "committing the simulator group's start").await;

    let arg = json!({ "rota": env!("CARGO_BIN_EXE_rota"), "brokers": brokers }).to_string();
    let seen = scenario("system", &base, &arg).await;
    let names = |key: &str| -> Vec<String> { serde_json::from_value(seen[key].clone()).unwrap() };
    for node in [
        "api",
        "simulator",
        events::TOPIC_NEW_DIRECTION,
        events::TOPIC_NEW_POSITION,
        events::TOPIC_RIDE_PROGRESS,
        "group simulator",
        "group rota-history",
        "api live reader",
    ] {
        assert!(names("nodes").iter().any(|n| n == node), "{node}: {seen}");
    }
    for edge in [
        "api -> route.new-direction",
        "simulator -> route.new-position",
        "simulator -> route.ride-progress",
        "route.new-direction -> group simulator",
        "route.new-position -> group rota-history",
        "route.new-position -> api live reader",
    ] {
        assert!(names("edges").iter().any(|e| e == edge), "{edge}: {seen}");
    }
    // Lag: 0, growing to 3 while three rides wait for a simulator, then back to 0.
    let lags: Vec<i64> = names("lagSeen")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(
        (lags.first(), lags.last()),
        (Some(&0), Some(&0)),
        "{lags:?}"
    );
    assert!(lags.contains(&3), "{lags:?}");
    let peak = lags.iter().position(|&l| l == 3).unwrap();
    assert!(
        lags[..=peak].windows(2).all(|w| w[0] < w[1]),
        "growing: {lags:?}"
    );
    assert!(
        lags[peak..].windows(2).all(|w| w[0] > w[1]),
        "shrinking: {lags:?}"
    );

    // The partition the page shows is where kcat, an independent client, finds the ride's key.
    let ride = seen["rideId"].as_str().unwrap();
    let kcat = Command::new("kcat")
        .args([
            "-b",
            &brokers,
            "-C",
            "-t",
            events::TOPIC_NEW_POSITION,
            "-e",
            "-q",
            "-f",
            "%k %p\\n",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8(kcat.stdout).unwrap();
    let partitions: std::collections::BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{ride} ")))
        .collect();
    assert_eq!(
        partitions.into_iter().collect::<Vec<_>>(),
        [seen["partition"].to_string()],
        "{listing}"
    );
    // The tail: that ride's records only (another ride drove alongside), on that partition, in
    // seq order; paused, it stays.
    assert!(
        seen["tailState"]
            .as_str()
            .unwrap()
            .ends_with(&format!("with key {ride}")),
        "{seen}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(seen["other"].as_str().unwrap()))
    );
    let tail = seen["tail"].as_array().unwrap();
    assert!(
        tail.iter()
            .all(|r| r["rideId"] == ride && r["partition"] == seen["partition"])
    );
    let seqs: Vec<u64> = tail.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(seen["pausedAt"], seen["stillAt"], "{seen}");
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_page_says_when_the_broker_is_gone_and_the_api_carries_on() {
    let split = common::Split::new(Vec::new());
    let broker = split.broker().await;
    let api = split.api().await;
    let base = format!("http://{}", split.http);
    let arg = json!({ "brokerPid": broker.pid() }).to_string();
    let seen = scenario("systemOutage", &base, &arg).await;
    let status = seen["status"].as_str().unwrap();
    // Which request meets the dead broker first (the metadata, or a later one while librdkafka
    // still has the metadata) depends on timing; the page names it.
    assert!(
        status.starts_with("cannot read the cluster: Kafka: ") && status.contains(" failed: "),
        "{seen}"
    );
    let cause = status.rsplit(": ").next().unwrap();
    assert_eq!(
        status.matches(cause).count(),
        1,
        "each cause once: {status}"
    );
    assert_eq!(seen["live"], 0, "{seen}");
    assert!(seen["topicsStillDrawn"].as_u64().unwrap() >= 2, "{seen}");
    broker.stop().await; // already stopping: waits for its clean exit

    // The broker comes back: so does the view, from the same api process.
    let _broker = split.broker().await;
    eventually("the cluster is read again", Duration::from_secs(30), || {
        let base = base.clone();
        async move {
            match http("GET", &format!("{base}/api/system"), None).await {
                Ok((200, system)) if system["builtIn"] == true => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    api.stop().await;
}

/// The page shows operator controls only to operators: with sign-in configured, a viewer sees no
/// Start, speed or Cancel; a wrong token and a viewer's token unlock nothing; an operator's does,
/// and its Start and Cancel work, also after a refresh, until signing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_controls_until_an_operator_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = common::Tokens::generate();
    let mut config = config(dir.path());
    config.api.as_mut().unwrap().auth.tokens = tokens.set.clone();
    let platform = boot_with(config).await;
    let base = base_url(&platform);
    let auth = common::bearer(&tokens.operator);
    let body = json!({"routeId": "2", "speedKmh": 20}).to_string();
    let headers = [
        ("content-type", "application/json"),
        (auth.0, auth.1.as_str()),
    ];
    let (status, _, started) =
        common::http_with("POST", &format!("{base}/api/rides"), &headers, Some(&body))
            .await
            .unwrap();
    assert_eq!(status, 202, "{started}");
    let ride_id = started["rideId"].as_str().unwrap();
    let arg = json!({"operator": tokens.operator, "viewer": tokens.viewer, "rideId": ride_id});
    let seen = scenario("sign-in", &base, &arg.to_string()).await;

    let none = json!({"start": 0, "speed": 0, "cancel": 0, "signIn": 1});
    assert_eq!(seen["asViewer"], none, "{seen}");
    assert_eq!(seen["wrong"], "this API token is not valid");
    assert!(
        seen["viewerNote"].as_str().unwrap().contains("viewer"),
        "{seen}"
    );
    assert_eq!(seen["asViewerToken"]["start"], 0, "{seen}");
    assert!(
        seen["whoText"].as_str().unwrap().contains("operator"),
        "{seen}"
    );
    let operator = &seen["asOperator"];
    assert_eq!(
        (&operator["start"], &operator["speed"]),
        (&json!(3), &json!(1)),
        "{seen}"
    );
    assert_eq!(
        seen["afterReload"]["start"], 3,
        "signed in for the tab's life"
    );
    assert_eq!(seen["signedOut"]["start"], 0);
    let started = seen["started"].as_str().unwrap();
    assert_eq!(ride(&base, started).await["routeId"], "3");
    assert_eq!(ride(&base, ride_id).await["status"], "cancelled");
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_sign_in_pages_of_other_sites_and_rebound_names_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let base = base_url(&platform);
    let listed = |what: &'static str| {
        let url = format!("{base}/api/{what}");
        async move {
            http("GET", &url, None).await.unwrap().1["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    let routes = listed("routes").await;
    let seen = scenario("foreign", &base, "").await;

    // The other site's post went out (its answer is opaque to the page) and was refused.
    assert_eq!(seen["crossSite"]["sent"], "opaque", "{seen}");
    let refused = r#"rota_http_request_duration_seconds_count{method="POST",route="/api/routes",status="403"}"#;
    assert_eq!(common::scrape(&base).await.get(refused), Some(&1.0));
    assert_eq!(seen["crossSite"]["socket"], "refused", "{seen}");
    // The rebound page's same-origin start was answered, with a refusal naming the reason.
    assert_eq!(seen["rebind"]["status"], 403, "{seen}");
    let why = seen["rebind"]["body"]["error"].as_str().unwrap();
    assert!(why.contains("DNS rebinding"), "{why}");
    assert_eq!(seen["rebind"]["socket"], "refused", "{seen}");

    assert_eq!(listed("routes").await, routes, "no route was created");
    assert_eq!(listed("rides").await, 0, "no ride was started");
    platform.stop().await.unwrap();
}
