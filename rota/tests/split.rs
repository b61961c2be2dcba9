//! The parts as separate processes, as compose and Kubernetes run them: `rota broker`,
//! `rota simulator` and `rota api` find each other through KAFKA_BROKERS. The broker restarts
//! mid-ride: the simulator's producer holds the positions until it is back, both consumers
//! reconnect, and the api, which stayed up, streams the whole ride in order on the same socket.

mod common;

use std::time::Duration;

use common::{RotaProcess, Ws, free_port, wait_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_ride_through_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (kafka, http) = (free_port(), free_port());
    let data = |part: &str| dir.path().join(part).display().to_string();
    let brokers = [("KAFKA_BROKERS", kafka.to_string())];
    let broker_args = [
        "broker",
        "--kafka-listen",
        &kafka.to_string(),
        "--data-dir",
        &data("broker"),
    ];

    let broker = RotaProcess::start(&broker_args, &[], kafka).await;
    let api_args = [
        "api",
        "--http",
        &http.to_string(),
        "--data-dir",
        &data("api"),
    ];
    let api = RotaProcess::start(&api_args, &brokers, http).await;
    wait_ready(http).await;
    let simulator = RotaProcess::spawn(
        &["simulator"],
        &[
            brokers[0].clone(),
            ("ROTA_SIM_TICK_MS", "20".to_owned()),
            // Through the KAFKA_* pass-through: librdkafka's message.timeout.ms, well above the outage.
            ("KAFKA_MESSAGE_TIMEOUT_MS", "60000".to_owned()),
        ],
    );

    let mut ws = Ws::connect_to(http).await;
    // 1,000 km/h every 20 ms: route 3 takes about 400 positions, 8 s.
    ws.send(r#"{"type":"start","routeId":"3","speedKmh":1000}"#)
        .await;
    let ride = ws.next_of("started").await["rideId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        let frame = ws.next_of("position").await;
        seqs.push(frame["seq"].as_u64().unwrap());
    }

    broker.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let broker = RotaProcess::start(&broker_args, &[], kafka).await;

    let rest = ws.positions_until_finished(&ride).await;
    seqs.extend(common::seqs(&rest));
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat, in order"
    );
    assert!(
        seqs.len() > 300,
        "the whole route: {} positions",
        seqs.len()
    );
    assert_eq!(rest.last().unwrap()["progress"], 1.0);

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}
