//! kill -9 while the embedded store is being written, again and again: each restart opens the store
//! (redb commits are all-or-nothing) and goes on, and in the end every ride is recorded whole.

mod common;

use std::time::Duration;

use common::{RotaProcess, free_port, http, seqs, wait_ready};
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
        for route in ["1", "2", "3"] {
            let body = json!({"routeId": route, "speedKmh": 1500}).to_string();
            let (status, started) = http("POST", &format!("{base}/api/rides"), Some(&body))
                .await
                .unwrap();
            assert_eq!(status, 202, "{started}");
            rides.push(started["rideId"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        rota.kill().await;
    }

    let rota = RotaProcess::start(&[], &env, http_addr).await;
    wait_ready(http_addr).await;
    let (_, routes) = http("GET", &format!("{base}/api/routes"), None)
        .await
        .unwrap();
    assert_eq!(routes["items"].as_array().unwrap().len(), 3);
    // Every ride is driven again to its end and recorded without a gap.
    for ride in &rides {
        let recorded = common::recorded_ride(&base, ride).await;
        let path = recorded["path"].as_array().unwrap();
        assert_eq!(
            seqs(path),
            (0..path.len() as u64).collect::<Vec<_>>(),
            "ride {ride}"
        );
        assert_eq!(recorded["status"], "finished");
    }
    let (_, listed) = http("GET", &format!("{base}/api/rides?limit=500"), None)
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), rides.len());
    rota.stop().await;
}
