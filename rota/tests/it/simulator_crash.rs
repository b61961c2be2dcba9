//! The simulator is killed (SIGKILL) mid-ride and another one takes over: the ride goes on from its
//! last published position, one step further, instead of starting its route again. What the topic
//! holds for the ride is one drive: every seq once, in order, each a step further along than the
//! one before, across the crash. The api records exactly that. Once per store.

use crate::common;

use std::time::Duration;

use common::{Split, Ws, path_seqs};
use events::{NewPosition, TOPIC_NEW_POSITION};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_records_a_ride_resumed_after_a_simulator_crash() {
    simulator_crash_resumes_the_ride(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_records_a_ride_resumed_after_a_simulator_crash() {
    simulator_crash_resumes_the_ride(Some(common::mongodb_uri())).await;
}

async fn simulator_crash_resumes_the_ride(mongodb_uri: Option<String>) {
    let split = Split::with_store(mongodb_uri);
    let broker = split.broker().await;
    let api = split.api().await;
    let simulator = split.simulator(&[]);

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    // Past a few checkpoints (one per 10 positions), and not on one.
    let mut before = Vec::new();
    while before.len() < 47 {
        before.push(ws.next_position().await.seq);
    }
    simulator.kill().await;
    let (simulator, http) = split.simulator_serving().await;

    let after = ws.positions_until_finished(&ride).await;
    let last_before = *before.last().unwrap();
    assert!(
        after[0].seq > last_before,
        "the browser sees the ride go on after seq {last_before}, not start again: {:?}",
        common::seqs(&after)[..5.min(after.len())].to_vec()
    );
    assert_eq!(after.last().unwrap().progress, 1.0, "driven to its end");

    // On the topic: one drive, every position once, each a step on from the one before.
    let published = ride_positions(&split.kafka.to_string(), &ride).unwrap();
    let seqs: Vec<u64> = published.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (0..published.len() as u64).collect::<Vec<_>>(),
        "no seq twice, none skipped, no second seq 0"
    );
    let step = published[1].distance_m - published[0].distance_m;
    let mut crash_gap = Duration::ZERO;
    for pair in published.windows(2) {
        let moved = pair[1].distance_m - pair[0].distance_m;
        assert!(
            (moved - step).abs() < 1e-6 || pair[1].finished,
            "seq {} is {moved} m from the one before, not one step ({step} m)",
            pair[1].seq
        );
        crash_gap = crash_gap.max(Duration::from_millis(
            (pair[1].timestamp - pair[0].timestamp) as u64,
        ));
    }
    assert!(
        crash_gap > Duration::from_secs(1),
        "the crash came mid-ride: the longest pause was {crash_gap:?}"
    );
    let metrics = common::scrape(&format!("http://{http}")).await;
    assert_eq!(metrics["rota_simulator_rides_resumed_total"], 1.0);

    // The store records that one drive.
    let recorded = common::recorded_ride(&format!("http://{}", split.http), &ride).await;
    assert_eq!(recorded["status"], "finished");
    assert_eq!(path_seqs(recorded["path"].as_array().unwrap()), seqs);

    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}

/// Every position of `ride` on the topic, in the order of the log.
fn ride_positions(brokers: &str, ride: &str) -> Result<Vec<NewPosition>, KafkaError> {
    let consumer: BaseConsumer = events::KafkaConfig::new(brokers)
        .client()
        // Named because librdkafka wants one; assigned partitions never join it.
        .set("group.id", "test-reader")
        .set("enable.partition.eof", "true")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(TOPIC_NEW_POSITION), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition_offset(TOPIC_NEW_POSITION, partition.id(), Offset::Beginning)?;
    }
    let mut at_end = std::collections::HashSet::new();
    consumer.assign(&list)?;
    let mut positions = Vec::new();
    while at_end.len() < list.count() {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) if message.key() == Some(ride.as_bytes()) => {
                positions.push(NewPosition::decode(message.payload().unwrap()).unwrap())
            }
            Some(Ok(_)) => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(e)) => return Err(e),
            None => panic!("no end of partition within 10 s"),
        }
    }
    Ok(positions)
}
