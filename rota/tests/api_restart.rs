//! The api crashes (SIGKILL) mid-ride and comes back: every position a browser was shown before
//! the crash is in the ride's history afterwards, the history has no gap, and a browser watching
//! again gets the path so far followed by the rest. Once per store.

mod common;

use common::{RotaProcess, Ws, free_port, http, seqs, wait_ready};
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
    let dir = tempfile::tempdir().unwrap();
    let (kafka, http_addr) = (free_port(), free_port());
    let data = |part: &str| dir.path().join(part).display().to_string();
    let broker_args = [
        "broker",
        "--kafka-listen",
        &kafka.to_string(),
        "--data-dir",
        &data("broker"),
    ];
    let broker = RotaProcess::start(&broker_args, &[], kafka).await;
    let mut env = vec![("KAFKA_BROKERS", kafka.to_string())];
    if let Some(uri) = mongodb_uri {
        env.push(("MONGODB_URI", uri));
    }
    let api_args = [
        "api",
        "--http",
        &http_addr.to_string(),
        "--data-dir",
        &data("api"),
    ];
    let api = RotaProcess::start(&api_args, &env, http_addr).await;
    wait_ready(http_addr).await;
    let simulator = RotaProcess::spawn(
        &["simulator"],
        &[env[0].clone(), ("ROTA_SIM_TICK_MS", "20".to_owned())],
    );

    let mut ws = Ws::connect_to(http_addr).await;
    // 1,000 km/h every 20 ms: route 3 takes about 400 positions, 8 s.
    ws.send(r#"{"type":"start","routeId":"3","speedKmh":1000}"#)
        .await;
    let ride = ws.next_of("started").await["rideId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut shown: Vec<Value> = Vec::new();
    while shown.len() < 60 {
        shown.push(ws.next_of("position").await);
    }
    let base = format!("http://{http_addr}");
    let (_, before) = http("GET", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    let recorded_before = before["path"].as_array().unwrap().len();
    api.kill().await;
    eprintln!(
        "at the crash: {} positions shown, {recorded_before} recorded",
        shown.len()
    );

    let api = RotaProcess::start(&api_args, &env, http_addr).await;
    wait_ready(http_addr).await;
    let mut ws = Ws::connect_to(http_addr).await;
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

    // The history, once the recorder has caught up, is the whole ride. The crashed api's partitions
    // come back to the new one after the group's session timeout (6 s).
    let mut recorded = Value::Null;
    for _ in 0..400 {
        (_, recorded) = http("GET", &format!("{base}/api/rides/{ride}"), None)
            .await
            .unwrap();
        let path_len = recorded["path"].as_array().unwrap().len() as u64;
        if recorded["status"] == "finished" && path_len == recorded["positions"].as_u64().unwrap() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let path = recorded["path"].as_array().unwrap();
    let mut summary = recorded.clone();
    summary["path"] = json!(path.len());
    assert_eq!(summary["status"], "finished", "{summary}");
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
