//! The built-in broker, through rdkafka: topics, messages and committed group offsets survive a
//! restart of `rota broker` (stopped with SIGTERM) on the same data directory.

use crate::common;

use std::time::Duration;

use common::RotaProcess;
use events::KafkaConfig;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    producer::{FutureRecord, Producer},
};

const TOPIC: &str = "restart-check";

fn consumer(kafka: &KafkaConfig, group: &str) -> StreamConsumer {
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

async fn read(consumer: &StreamConsumer, count: usize) -> Vec<String> {
    let mut values = Vec::new();
    while values.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a message within 30 s")
            .unwrap();
        values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
    }
    values
}

async fn start_broker(addr: std::net::SocketAddr, data_dir: &std::path::Path) -> RotaProcess {
    let args = [
        "broker",
        "--kafka-listen",
        &addr.to_string(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    RotaProcess::start(&args, &[], addr).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_messages_and_group_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_port();
    let kafka = KafkaConfig::new(addr.to_string());
    let expected: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();

    let broker = start_broker(addr, dir.path()).await;
    // `rota broker` creates Rota's topics at start-up, with several partitions.
    let producer = kafka.producer().unwrap();
    let partitions = |name: &str| {
        let metadata = producer
            .client()
            .fetch_metadata(Some(name), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        match metadata.topics().first().map(|t| t.partitions().len()) {
            None | Some(0) => Err("no partitions yet".to_owned()),
            Some(found) => Ok(found),
        }
    };
    for name in events::TOPICS {
        let found =
            common::eventually(name, Duration::from_secs(20), || async { partitions(name) }).await;
        assert_eq!(found, events::DEFAULT_PARTITIONS as usize, "{name}");
    }
    events::ensure_topics(&kafka, &[TOPIC], 1).await.unwrap();
    for value in &expected {
        producer
            .send(
                FutureRecord::to(TOPIC).key("k").payload(value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // A group reads four messages and commits.
    let group = consumer(&kafka, "restart-group");
    assert_eq!(read(&group, 4).await, expected[..4]);
    let mut committed = TopicPartitionList::new();
    committed
        .add_partition_offset(TOPIC, 0, Offset::Offset(4))
        .unwrap();
    group.commit(&committed, CommitMode::Sync).unwrap();
    drop(group);
    drop(producer);
    broker.stop().await;

    let broker = start_broker(addr, dir.path()).await;
    let everything = consumer(&kafka, "fresh-group");
    assert_eq!(
        read(&everything, 10).await,
        expected,
        "every message, from the beginning"
    );
    let resumed = consumer(&kafka, "restart-group");
    assert_eq!(
        read(&resumed, 6).await,
        expected[4..],
        "the group resumes at its committed offset"
    );
    // Creating the topic again is a no-op, not an error.
    events::ensure_topics(&kafka, &[TOPIC], 1).await.unwrap();
    broker.stop().await;
}
