//! The path users take with a Kafka cluster of their own, on Apache Kafka 4.4: `rota api`, `rota
//! simulator` and `rota connect` run as their own processes with KAFKA_BROKERS pointing at it, and
//! the sink at noida-db's Elasticsearch API: Rota creates its topics there, its consumer groups form
//! there, and a ride streams to a socket in order, is recorded whole and is indexed.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

use crate::common::{
    self, RotaProcess, Split, Ws, apache_kafka::ApacheKafka, eventually, peers::Peer,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_run_on_apache_kafka_with_the_sink() {
    let apache_kafka = ApacheKafka::start().await;
    let peer = Peer::noida().await;
    let kafka = apache_kafka.addr;
    let split = Split {
        kafka,
        ..Split::new(Vec::new())
    };
    let api = split.api().await;
    let simulator = split.simulator(&[]);
    let connect = RotaProcess::spawn(
        &["connect"],
        &[
            ("KAFKA_BROKERS", kafka.to_string()),
            ("ELASTICSEARCH_URL", peer.url("")),
            ("CONNECT_LINGER_MS", "100".to_owned()),
        ],
    );

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start("2", Some(1_000.0)).await;
    let delivered = ws.positions_until_finished(&ride).await;
    let count = delivered.len() as u64;
    assert_eq!(common::seqs(&delivered), (0..count).collect::<Vec<_>>());
    assert_eq!(delivered.last().unwrap().progress, 1.0);

    let recorded = common::recorded_ride(&format!("http://{}", split.http), &ride).await;
    assert_eq!(
        recorded["positions"], count,
        "history records the whole ride"
    );

    let query = json!({"query": {"term": {"rideId": ride}}, "size": 1000});
    let what = format!("noida-db indexes the ride's {count} positions");
    eventually(&what, Duration::from_secs(30), || async {
        let found = peer.search(events::TOPIC_NEW_POSITION, query.clone()).await;
        match found["hits"]["hits"].as_array().map(Vec::len) {
            Some(n) if n as u64 == count => Ok(()),
            other => Err(format!("{other:?} of {count}")),
        }
    })
    .await;

    // The topics are Rota's own, with its partition count.
    let admin: BaseConsumer = events::KafkaConfig::new(kafka.to_string())
        .client()
        .create()
        .unwrap();
    let metadata = admin.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    for topic in events::TOPICS {
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        assert_eq!(
            found.map(|t| t.partitions().len() as i32),
            Some(events::DEFAULT_PARTITIONS),
            "Rota created {topic}"
        );
    }

    for part in [connect, simulator, api] {
        part.stop().await;
    }
}
