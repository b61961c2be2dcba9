//! The binary as a user runs it: `rota` (that is, `rota up`) configured by environment variables.
//! SIGTERM closes sockets with "going away" and exits cleanly; after a restart on the same data
//! directory, a ride that was cut off goes on from where it stopped to its end.

use crate::common;

use common::{RotaProcess, Ws, free_port, http, wait_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_an_interrupted_ride_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http_addr = free_port();
    let env = [
        ("ROTA_HTTP_ADDR", http_addr.to_string()),
        ("ROTA_KAFKA_LISTEN", "127.0.0.1:0".to_owned()),
        ("ROTA_DATA_DIR", dir.path().display().to_string()),
        ("ROTA_SIM_TICK_MS", "20".to_owned()),
    ];

    let rota = RotaProcess::start(&[], &env, http_addr).await;
    wait_ready(http_addr).await;
    let mut ws = Ws::connect_to(http_addr).await;
    let ride = ws.start_long_ride().await;
    for _ in 0..20 {
        assert!(!ws.next_position().await.finished);
    }
    rota.stop().await;
    assert_eq!(ws.closed().await, (1001, "server shutting down".to_owned()));

    let rota = RotaProcess::start(&[], &env, http_addr).await;
    wait_ready(http_addr).await;
    let (_, routes) = http("GET", &format!("http://{http_addr}/api/routes"), None)
        .await
        .unwrap();
    assert_eq!(
        routes["items"].as_array().unwrap().len(),
        3,
        "the store kept its routes and was not re-seeded"
    );
    let mut ws = Ws::connect_to(http_addr).await;
    let already = ws.watch(&ride).await.len() as u64;
    let positions = ws.positions_until_finished(&ride).await;
    let seqs = common::seqs(&positions);
    // The snapshot holds the path recorded before the stop (all of it, unless the stop came
    // before the history's first commit); the ride goes on after the 20 positions seen.
    let first = seqs[0];
    assert!(
        first >= 20 && first >= already,
        "{first} does not go on after the 20 positions seen and the snapshot of {already}"
    );
    assert_eq!(
        seqs,
        (first..first + seqs.len() as u64).collect::<Vec<_>>(),
        "in order, no gap, never from 0 again"
    );
    assert_eq!(positions.last().unwrap().progress, 1.0);
    rota.stop().await;
}
