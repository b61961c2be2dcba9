//! Independent Kafka clients use the running platform's built-in broker: kafka-python (a pure-Python
//! implementation of the protocol) and confluent-kafka list the topics, join consumer groups and
//! read a ride's positions, keyed by ride id and with `position` as `[lng, lat]`; Debian's kcat
//! 1.7.1 (librdkafka 2.0.2, which needs the broker's compatibility relay) lists and reads them too.

use crate::common;

use std::process::Command;

use common::{Ws, boot};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_confluent_kafka_and_kcat_read_positions() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let mut ws = Ws::connect(&platform).await;
    let ride = ws.start("2", None).await;
    let delivered = ws.positions_until_finished(&ride).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka_clients.py");
    let mut clients = Command::new(common::python());
    clients.args([script, &platform.kafka.brokers, &ride]);
    let result = common::json_output(clients, "the kafka clients (kafka_clients.py)").await;

    for client in ["kafka-python", "confluent-kafka"] {
        let topics = &result[client]["topics"];
        for topic in [events::TOPIC_NEW_DIRECTION, events::TOPIC_NEW_POSITION] {
            assert!(
                topics.as_array().unwrap().contains(&json!(topic)),
                "{client} lists {topic}: {topics}"
            );
        }
        let read = result[client]["positions"].as_array().unwrap();
        assert_eq!(read.len(), delivered.len(), "{client} reads every position");
        for (kafka, socket) in read.iter().zip(&delivered) {
            assert_eq!(
                kafka["seq"].as_u64(),
                Some(socket.seq),
                "{client} reads them in order"
            );
            // Kafka carries [lng, lat]; browsers get {lat, lng}.
            assert_eq!(
                kafka["position"],
                json!([socket.position.lng, socket.position.lat])
            );
        }
        assert_eq!(read.last().unwrap()["finished"], true);
    }

    let ride = delivered[0].ride_id.clone();
    let brokers = platform.kafka.brokers.clone();
    let kcat = |args: &[&str]| {
        let output = Command::new("kcat")
            .arg("-b")
            .arg(&brokers)
            .args(args)
            .output();
        let output = output.expect("kcat runs (scripts/test-setup installs it)");
        assert!(
            output.status.success(),
            "kcat {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let listing = kcat(&["-L"]);
    for topic in events::TOPICS {
        assert!(
            listing.contains(&format!("topic \"{topic}\" with 3 partitions")),
            "{listing}"
        );
    }
    let records = kcat(&[
        "-C",
        "-t",
        events::TOPIC_NEW_POSITION,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k\t%s\n",
    ]);
    let seqs: Vec<u64> = records
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(key, _)| *key == ride)
        .map(|(_, value)| {
            serde_json::from_str::<Value>(value).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        seqs.len(),
        delivered.len(),
        "kcat reads every position of the ride"
    );
    assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "in order");
    platform.stop().await.unwrap();
}
