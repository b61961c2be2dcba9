//! kill -9 of `rota up` while it drives rides and writes the embedded store, five times in a row:
//! each restart opens the store, and what it holds afterwards is consistent (redb commits are
//! all-or-nothing): every ride asked for is there, and each ride's path has no gap and as many
//! points as its record counts. One more start, with no clean restart between, then drives every
//! ride to its end: the broker hands the killed processes' partitions to the new simulator.

use crate::common;

use std::time::Duration;

use api::store::{EmbeddedStore, PageRequest, RideFilter, Store};
use common::{RotaProcess, eventually, free_port, http, wait_ready};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_write_never_corrupts_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let http_addr = free_port();
    let base = format!("http://{http_addr}");
    let env = [
        ("ROTA_HTTP_ADDR", http_addr.to_string()),
        ("ROTA_KAFKA_LISTEN", "127.0.0.1:0".to_owned()),
        ("ROTA_DATA_DIR", dir.path().display().to_string()),
        ("ROTA_SIM_TICK_MS", "20".to_owned()),
        // Small, frequent batches: more writes in flight when the kill comes.
        ("ROTA_HISTORY_BATCH_WAIT_MS", "20".to_owned()),
    ];
    let mut rides = Vec::new();
    // Kills at different points of the write cycle.
    for delay_ms in [350, 800, 1250, 600, 1500] {
        let rota = RotaProcess::start(&[], &env, http_addr).await;
        wait_ready(http_addr).await;
        // Each ride lasts seconds, so the kills come while rides drive, and fifteen of them
        // still end within the test on a loaded machine.
        for route in ["1", "2", "3"] {
            let body = json!({"routeId": route, "speedKmh": 1_500}).to_string();
            let (status, started) = http("POST", &format!("{base}/api/rides"), Some(&body))
                .await
                .unwrap();
            assert_eq!(status, 202, "{started}");
            rides.push(started["rideId"].as_str().unwrap().to_owned());
        }
        // Once the store is being written: the simulator first waits out the killed
        // members' sessions before the group hands it the rides.
        let latest = format!("{base}/api/rides/{}", rides.last().unwrap());
        eventually(
            "positions are recorded",
            Duration::from_secs(30),
            || async {
                match http("GET", &latest, None).await? {
                    (200, body) if body["positions"].as_u64() > Some(0) => Ok(()),
                    (status, body) => Err(format!("{status} {body}")),
                }
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        rota.kill().await;
    }

    // The file itself, opened as the next start would.
    let recorded = complete_paths(&dir.path().join("store.redb"), &rides).await;
    assert!(
        recorded.iter().any(|(_, positions)| *positions > 0),
        "the kills came while positions were being written"
    );

    // And the platform starts on it again and drives every ride to its end.
    let rota = RotaProcess::start(&[], &env, http_addr).await;
    wait_ready(http_addr).await;
    for ride in &rides {
        let url = format!("{base}/api/rides/{ride}");
        eventually(
            &format!("ride {ride} is driven to its end"),
            Duration::from_secs(90),
            || async {
                match http("GET", &url, None).await? {
                    (200, body) if body["status"] == "finished" => Ok(()),
                    (status, body) => Err(format!("{status} {body}")),
                }
            },
        )
        .await;
    }
    rota.stop().await;
    for (ride, positions) in complete_paths(&dir.path().join("store.redb"), &rides).await {
        assert!(positions > 1, "ride {ride} has its whole path");
    }
}

/// Opens the store at `file` and checks that it records exactly `rides`, each path without a
/// gap; returns each ride with its path's length.
async fn complete_paths(file: &std::path::Path, rides: &[String]) -> Vec<(String, u64)> {
    let store = EmbeddedStore::open(file).expect("the store opens");
    let page = |limit| PageRequest { limit, after: None };
    assert_eq!(store.list_routes(&page(10)).await.unwrap().items.len(), 3);
    let recorded = store
        .list_rides(&RideFilter::default(), &page(100))
        .await
        .unwrap()
        .items;
    let mut ids: Vec<_> = recorded.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut asked = rides.to_vec();
    asked.sort();
    assert_eq!(ids, asked, "every ride asked for is recorded");
    let mut lengths = Vec::new();
    for ride in &recorded {
        let path: Vec<u64> = store
            .ride_path(&ride.id)
            .await
            .unwrap()
            .iter()
            .map(|p| p.seq)
            .collect();
        assert_eq!(
            path,
            (0..ride.positions).collect::<Vec<_>>(),
            "ride {}",
            ride.id
        );
        lengths.push((ride.id.clone(), ride.positions));
    }
    lengths
}
