//! The api crashes (SIGKILL) mid-ride and comes back: every position a browser was shown before
//! the crash is in the ride's history afterwards, the history has no gap, and a browser watching
//! again gets the path so far followed by the rest. Once per store.

mod common;

use common::{Split, Ws, http, seqs};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_history_survives_an_api_crash() {
    api_crash_loses_nothing(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_history_survives_an_api_crash() {
    api_crash_loses_nothing(Some(common::mongodb_uri())).await;
}

async fn api_crash_loses_nothing(mongodb_uri: Option<String>) {
    let api_env = mongodb_uri
        .map(|uri| ("MONGODB_URI", uri))
        .into_iter()
        .collect();
    let split = Split::new(api_env);
    let broker = split.broker().await;
    let api = split.api().await;
    let simulator = split.simulator(&[]);

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    let mut shown: Vec<Value> = Vec::new();
    while shown.len() < 60 {
        shown.push(ws.next_of("position").await);
    }
    let base = format!("http://{}", split.http);
    let (_, before) = http("GET", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    let recorded_before = before["path"].as_array().unwrap().len();
    api.kill().await;
    eprintln!(
        "at the crash: {} positions shown, {recorded_before} recorded",
        shown.len()
    );

    let api = split.api().await;
    let mut ws = Ws::connect_to(split.http).await;
    ws.send(&json!({"type": "watch", "rideId": ride}).to_string())
        .await;
    let snapshot = ws.next_of("watching").await["path"]
        .as_array()
        .unwrap()
        .clone();
    let rest = ws.positions_until_finished(&ride).await;
    let resumed = seqs(&rest);
    assert!(
        snapshot.len() >= shown.len(),
        "the watcher's snapshot holds everything shown before the crash"
    );
    assert_eq!(
        resumed,
        (snapshot.len() as u64..snapshot.len() as u64 + resumed.len() as u64).collect::<Vec<_>>(),
        "the live positions continue the snapshot: no gap, no repeat"
    );

    // The history, once the recorder has caught up, is the whole ride.
    let recorded = common::recorded_ride(&base, &ride).await;
    let path = recorded["path"].as_array().unwrap();
    assert_eq!(
        seqs(path),
        (0..path.len() as u64).collect::<Vec<_>>(),
        "no gap in history"
    );
    assert_eq!(path.len(), snapshot.len() + rest.len());
    for position in &shown {
        let point = &path[position["seq"].as_u64().unwrap() as usize];
        assert_eq!(
            (&point["lat"], &point["lng"]),
            (&position["position"]["lat"], &position["position"]["lng"])
        );
    }
    assert!(recorded["summary"]["distanceM"].as_f64().unwrap() > 0.0);

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}
