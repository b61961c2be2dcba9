//! The parts as separate processes, as compose and Kubernetes run them: `rota broker`,
//! `rota simulator` and `rota api` find each other through KAFKA_BROKERS. The broker restarts
//! mid-ride: the simulator's producer holds the positions until it is back, both consumers
//! reconnect, and the api, which stayed up, streams the whole ride in order on the same socket.
//! A longer outage, past the producer's `message.timeout.ms`, fails the ride's undelivered
//! positions: the simulator drives the ride again once the broker is back, and the broker takes
//! the idempotent producer's new epoch (tansu 0.6 panicked there and stopped serving).

use crate::common;

use std::time::Duration;

use common::{Split, Ws};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_ride_through_a_broker_restart() {
    let split = Split::new(Vec::new());
    let broker = split.broker().await;
    let api = split.api().await;
    // Through the KAFKA_* pass-through: librdkafka's message.timeout.ms, well above the outage.
    let simulator = split.simulator(&[("KAFKA_MESSAGE_TIMEOUT_MS", "60000".to_owned())]);

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        seqs.push(ws.next_position().await.seq);
    }

    broker.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let broker = split.broker().await;

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
    assert_eq!(rest.last().unwrap().progress, 1.0);

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rides_keep_moving_through_an_outage_longer_than_the_message_timeout() {
    let split = Split::new(Vec::new());
    let broker = split.broker().await;
    let api = split.api().await;
    let simulator = split.simulator(&[("KAFKA_MESSAGE_TIMEOUT_MS", "2000".to_owned())]);

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    for _ in 0..10 {
        ws.next_position().await;
    }
    broker.stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let broker = split.broker().await;

    let rest = ws.positions_until_finished(&ride).await;
    assert_eq!(
        rest.last().unwrap().progress,
        1.0,
        "the ride reaches its end"
    );
    // And the broker still serves: a new ride goes through on the producer's new epoch.
    let next = ws.start("2", Some(1_000.0)).await;
    let next = ws.positions_until_finished(&next).await;
    assert_eq!(
        common::seqs(&next),
        (0..next.len() as u64).collect::<Vec<_>>()
    );

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}
