//! The built-in broker, through rdkafka: topics, messages and committed group offsets survive a
//! restart of `rota broker` (stopped with SIGTERM) on the same data directory.

mod common;

use std::{net::SocketAddr, path::Path, time::Duration};

use events::KafkaConfig;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    producer::FutureRecord,
};
use tokio::process::{Child, Command};

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

/// `rota broker` as its own process, accepting connections.
struct BrokerProcess(Child);

impl BrokerProcess {
    async fn start(addr: SocketAddr, data_dir: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_rota"))
            .args(["broker", "--kafka-listen", &addr.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("rota broker starts");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Self(child);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rota broker never listened on {addr}");
    }

    /// SIGTERM, as a service manager would; the process must exit cleanly.
    async fn stop(mut self) {
        let pid = self.0.id().unwrap().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.0.wait()).await;
        assert!(
            status.expect("exits within 30 s").unwrap().success(),
            "clean exit on SIGTERM"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_messages_and_group_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_port();
    let kafka = KafkaConfig::new(addr.to_string());
    let expected: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();

    let broker = BrokerProcess::start(addr, dir.path()).await;
    events::ensure_topics(&kafka, &[TOPIC], 1).await.unwrap();
    let producer = kafka.producer().unwrap();
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

    let broker = BrokerProcess::start(addr, dir.path()).await;
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
