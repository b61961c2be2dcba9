//! What one caller may take, over real sockets: the caps on running rides (per caller and for the
//! platform) and the write rate answer 429 and disturb nothing already running; an oversized body
//! is a 413, an oversized WebSocket frame closes that socket only (1009); a page from another site
//! cannot open the WebSocket; one address holds only so many sockets; the web page carries its
//! security headers.

use std::time::Duration;

use api::{
    auth::{AuthConfig, Role, TokenSet, new_token},
    limits::{LimitsConfig, Rate},
};
use serde_json::{Value, json};

use crate::common::{self, Ws, base_url, bearer, boot_with, eventually, http, http_with};

fn limits() -> LimitsConfig {
    LimitsConfig {
        max_running_rides: 3,
        max_rides_per_caller: 2,
        writes: Rate {
            per_second: 0.5,
            burst: 8,
        },
        max_body_bytes: 64 << 10,
        max_frame_bytes: 1 << 10,
        sockets_per_address: 4,
        allowed_origins: vec!["https://maps.example.org".into()],
        allowed_hosts: Vec::new(),
    }
}

async fn post(base: &str, path: &str, token: &str, body: &Value) -> (u16, hyper::HeaderMap, Value) {
    let auth = bearer(token);
    let headers = [
        ("content-type", "application/json"),
        (auth.0, auth.1.as_str()),
    ];
    http_with(
        "POST",
        &format!("{base}{path}"),
        &headers,
        Some(&body.to_string()),
    )
    .await
    .unwrap()
}

/// A ride slow enough to run through the whole test.
fn long_ride() -> Value {
    json!({"routeId": "2", "speedKmh": 20})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ride_caps_and_the_write_rate_answer_429_and_leave_running_rides_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (new_token(Role::Operator), new_token(Role::Operator));
    let mut config = common::config(dir.path());
    let api = config.api.as_mut().unwrap();
    api.limits = limits();
    api.auth = AuthConfig {
        tokens: TokenSet::parse(&format!("{},{}", alice.entry, bob.entry)).unwrap(),
        ..AuthConfig::default()
    };
    let platform = boot_with(config).await;
    let base = base_url(&platform);
    let (alice, bob) = (alice.token, bob.token);

    let mut rides = Vec::new();
    for _ in 0..2 {
        let (status, _, body) = post(&base, "/api/rides", &alice, &long_ride()).await;
        assert_eq!(status, 202, "{body}");
        rides.push(body["rideId"].as_str().unwrap().to_owned());
    }
    let mut watcher = Ws::connect(&platform).await;
    watcher.watch(&rides[0]).await;

    let (status, _, body) = post(&base, "/api/rides", &alice, &long_ride()).await;
    assert_eq!(status, 429, "alice's third ride: {body}");
    assert_eq!(
        body["detail"],
        json!({"limit": "callerRides", "running": 2, "max": 2})
    );
    let batch = json!({"rides": [long_ride(), long_ride()]});
    let (status, _, body) = post(&base, "/api/rides/batch", &bob, &batch).await;
    assert_eq!(status, 429, "bob's two rides would make four: {body}");
    assert_eq!(body["detail"]["limit"], "platformRides");
    let (status, _, body) = post(&base, "/api/rides", &bob, &long_ride()).await;
    assert_eq!(status, 202, "bob's one ride fits: {body}");
    let (status, _, body) = post(&base, "/api/rides", &bob, &long_ride()).await;
    assert_eq!(
        (status, &body["detail"]["limit"]),
        (429, &json!("platformRides"))
    );
    // Refused starts started nothing, and the running ride goes on, every position in order.
    let (_, listed) = http("GET", &format!("{base}/api/rides"), None)
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "{listed}");
    let first = watcher.next_position().await.seq;
    let next = watcher.next_position().await.seq;
    assert_eq!(next, first + 1);

    // A cancelled ride frees its place.
    let auth = bearer(&alice);
    let cancel = format!("{base}/api/rides/{}", rides[1]);
    let (status, _, _) = http_with("DELETE", &cancel, &[(auth.0, &auth.1)], None)
        .await
        .unwrap();
    assert_eq!(status, 202);
    eventually("alice may start again", Duration::from_secs(20), || async {
        match post(&base, "/api/rides", &alice, &long_ride()).await {
            (202, _, _) => Ok(()),
            (status, _, body) => Err(format!("{status} {body}")),
        }
    })
    .await;

    // Writes beyond the burst wait for the rate, told how long; another caller is not held up.
    let delete = format!("{base}/api/routes/no-such-route");
    let refused = loop {
        let (status, headers, body) = http_with("DELETE", &delete, &[(auth.0, &auth.1)], None)
            .await
            .unwrap();
        if status == 429 {
            break (headers, body);
        }
        assert_eq!(status, 404, "{body}");
    };
    let (headers, body) = refused;
    assert_eq!(body["detail"]["limit"], "writes", "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // The same refusal over the WebSocket says its status, as the README promises.
    let mut socket = Ws::connect_with(platform.http_addr.unwrap(), &[bearer(&alice)])
        .await
        .unwrap();
    let start = api::frames::ClientFrame::Start {
        route_id: "1".into(),
        speed_kmh: None,
    };
    socket.send(&start).await;
    let (_, detail) = socket.error().await;
    assert_eq!(
        (&detail["status"], &detail["limit"]),
        (&json!(429), &json!("writes")),
        "{detail}"
    );
    let other = bearer(&bob);
    let (status, _, _) = http_with("DELETE", &delete, &[(other.0, &other.1)], None)
        .await
        .unwrap();
    assert_eq!(status, 404, "bob has writes of his own");
    assert_eq!(
        http("GET", &format!("{base}/api/routes"), None)
            .await
            .unwrap()
            .0,
        200,
        "reads are not writes"
    );
    let later = watcher.next_position().await.seq;
    assert!(later > next, "the ride still moves");
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_origins_and_sockets_are_limited_one_client_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api.as_mut().unwrap().limits = limits();
    let platform = boot_with(config).await;
    let base = base_url(&platform);
    let addr = platform.http_addr.unwrap();

    // An oversized body, as JSON and as a route file.
    let big = json!({"title": "big", "points": vec![[1.0, 2.0]; 10_000]}).to_string();
    let (status, body) = http("POST", &format!("{base}/api/routes"), Some(&big))
        .await
        .unwrap();
    assert_eq!(
        (status, &body["error"]),
        (413, &json!("the body is over the size limit"))
    );
    let file = "-15.8,-47.9\n".repeat(10_000);
    let (status, body) = common::http_typed(
        "POST",
        &format!("{base}/api/routes?title=big"),
        Some("text/plain"),
        Some(&file),
    )
    .await
    .unwrap();
    assert_eq!(status, 413, "{body}");

    // An oversized frame closes its own socket; the one beside it carries on.
    let mut other = Ws::connect(&platform).await;
    let mut oversized = Ws::connect(&platform).await;
    oversized
        .send_text(&format!(
            r#"{{"type":"watch","rideId":"{}"}}"#,
            "x".repeat(2_000)
        ))
        .await;
    assert_eq!(oversized.closed().await, (1009, "frame too big".to_owned()));
    let ride = common::start_ride(&base, "1").await;
    other.watch(&ride).await;
    other.next_position().await;

    // Watching is bounded too: an id longer than any ride's, and more rides not heard of than a
    // page asks for, get error frames; the socket stays open and keeps what it watches.
    let watch = |ride_id: &str| api::frames::ClientFrame::Watch {
        ride_id: ride_id.to_owned(),
    };
    other
        .send(&watch(&"x".repeat(events::MAX_ID_BYTES + 1)))
        .await;
    let (message, detail) = other.error().await;
    assert_eq!(detail["status"], 400, "{message}");
    assert!(
        message.contains("rideId must be at most 100 bytes"),
        "{message}"
    );
    for i in 0..api::hub::MAX_EARLY_WATCHES {
        other.send(&watch(&format!("no-such-ride-{i}"))).await;
    }
    other.send(&watch("one-too-many")).await;
    let (_, detail) = other.error().await;
    assert_eq!(
        detail,
        json!({"status": 429, "limit": "earlyWatches", "max": api::hub::MAX_EARLY_WATCHES})
    );
    other.watch_fleet().await;

    // A page from another site may not open the WebSocket; its own page and listed ones may.
    let origin = |o: &str| vec![("origin", o.to_owned())];
    let refused = Ws::connect_with(addr, &origin("https://evil.example")).await;
    let (status, body) = refused.err().expect("a cross-site upgrade is refused");
    assert_eq!(status, 403);
    assert!(body.contains("may not open this api's WebSocket"), "{body}");
    let own = Ws::connect_with(addr, &origin(&base)).await;
    let listed = Ws::connect_with(addr, &origin("https://maps.example.org")).await;
    assert!(own.is_ok() && listed.is_ok());

    // Four sockets an address: `other`, `own` and `listed` are three.
    let fourth = Ws::connect_with(addr, &[]).await.unwrap();
    let (status, body) = Ws::connect_with(addr, &[])
        .await
        .err()
        .expect("a fifth is refused");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("socketsPerAddress"), "{body}");
    drop(fourth);
    eventually(
        "a closed socket frees its place",
        Duration::from_secs(10),
        || async {
            Ws::connect_with(addr, &[])
                .await
                .map(drop)
                .map_err(|(s, _)| s)
        },
    )
    .await;

    // The page's security headers admit the configured tile server and nothing else foreign.
    let (status, headers, _) = http_with("GET", &format!("{base}/"), &[], None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        csp.contains("img-src 'self' data: https://tile.openstreetmap.org;"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    platform.stop().await.unwrap();
}
