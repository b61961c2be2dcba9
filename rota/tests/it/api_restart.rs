//! The api crashes (SIGKILL) mid-ride and comes back: every position a browser was shown before
//! the crash is in the ride's history afterwards, the history has no gap, and a browser watching
//! again gets the path so far followed by the rest. Once per store. And a restarted api reports
//! ready only once it has read what was published while it was down.

use crate::common;

use std::time::Duration;

use common::{Position, Split, Ws, http, path_seqs, seqs};
use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_history_survives_an_api_crash() {
    api_crash_loses_nothing(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_history_survives_an_api_crash() {
    api_crash_loses_nothing(Some(common::mongodb_uri())).await;
}

async fn api_crash_loses_nothing(mongodb_uri: Option<String>) {
    let split = Split::with_store(mongodb_uri);
    let broker = split.broker().await;
    let api = split.api().await;
    let simulator = split.simulator(&[]);

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    let mut shown: Vec<Position> = Vec::new();
    while shown.len() < 60 {
        shown.push(ws.next_position().await);
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
    let snapshot = ws.watch(&ride).await;
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
        path_seqs(path),
        (0..path.len() as u64).collect::<Vec<_>>(),
        "no gap in history"
    );
    assert_eq!(path.len(), snapshot.len() + rest.len());
    for position in &shown {
        let point = &path[position.seq as usize];
        assert_eq!(
            (point["lat"].as_f64(), point["lng"].as_f64()),
            (Some(position.position.lat), Some(position.position.lng))
        );
    }
    assert!(recorded["summary"]["distanceM"].as_f64().unwrap() > 0.0);

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}

/// Positions published while the api is down, in one burst.
const BACKLOG: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_api_is_ready_only_once_it_has_read_the_backlog() {
    let split = Split::new(Vec::new());
    let broker = split.broker().await;
    let api = split.api().await;
    let base = format!("http://{}", split.http);
    // No simulator runs: this test publishes the ride's positions itself.
    let ride = common::start_ride(&base, "1").await;
    let producer: FutureProducer = kafka_client(&split).create().unwrap();
    let (partition, offset) = publish(&producer, &ride, 0).await;
    wait_for_history_commit(&split, partition, offset + 1).await;
    api.kill().await;

    let sends = (1..=BACKLOG).map(|seq| publish(&producer, &ride, seq));
    futures::future::join_all(sends).await;
    let api = split.api().await;
    let mut ws = Ws::connect_to(split.http).await;
    let snapshot = ws.watch(&ride).await.len() as u64;
    assert_eq!(
        snapshot,
        BACKLOG + 1,
        "ready means every position published while the api was down is in the hub"
    );

    api.stop().await;
    broker.stop().await;
}

fn kafka_client(split: &Split) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", split.kafka.to_string());
    config
}

/// Publishes position `seq` of `ride` as the simulator would; returns where it landed.
async fn publish(producer: &FutureProducer, ride: &str, seq: u64) -> (i32, i64) {
    let payload = json!({
        "routeId": "1", "clientId": "backlog", "rideId": ride,
        "position": [-47.9 + seq as f64 * 1e-6, -15.8], "finished": false, "status": "driving",
        "seq": seq, "progress": 0.5, "distanceM": 10.0, "routeLengthM": 20.0, "speedKmh": 30.0,
        "heading": 90.0, "timestamp": 1_795_000_000_000_u64 + seq,
    })
    .to_string();
    let record = FutureRecord::to(events::TOPIC_NEW_POSITION)
        .key(ride)
        .payload(&payload);
    let delivery = producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    (delivery.partition, delivery.offset)
}

/// Waits until the history group has committed `next` on `partition`: the store holds what came
/// before, and a restarted api starts reading there.
async fn wait_for_history_commit(split: &Split, partition: i32, next: i64) {
    let consumer: BaseConsumer = kafka_client(split)
        .set("group.id", api::recorder::HISTORY_GROUP)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition(events::TOPIC_NEW_POSITION, partition);
    let what = format!("the history group commits offset {next} on partition {partition}");
    common::eventually(&what, Duration::from_secs(20), || async {
        let committed = consumer
            .committed_offsets(list.clone(), Duration::from_secs(10))
            .unwrap();
        match committed.elements()[0].offset() {
            Offset::Offset(o) if o >= next => Ok(()),
            offset => Err(format!("{offset:?}")),
        }
    })
    .await
}
