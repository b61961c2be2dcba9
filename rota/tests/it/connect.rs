//! The Elasticsearch sink against a stand-in that speaks the bulk protocol (`connect::stand_in`),
//! with faults injected: 429 bursts, a 500, a timeout, partly failed bulks, a mapping rejection,
//! records that are not JSON objects, and a SIGKILL of `rota connect` mid-stream. Afterwards the
//! stand-in holds every event exactly once and the dead-letter topic exactly the bad ones.

use crate::common;

use std::{collections::BTreeMap, time::Duration};

use common::{RotaProcess, TEST_PARTITIONS};
use connect::{
    SinkSettings,
    dead_letters::{HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC},
    stand_in::{Fault, StandIn},
};
use events::{KafkaConfig, TOPIC_NEW_DIRECTION, TOPIC_NEW_POSITION};
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
    message::Headers,
    producer::{FutureProducer, FutureRecord},
};
use rota::platform::{KafkaSource, Platform, PlatformConfig};
use serde_json::{Value, json};

/// Only the built-in broker.
async fn broker(dir: &std::path::Path) -> Platform {
    let listen = "127.0.0.1:0".parse().unwrap();
    Platform::start(PlatformConfig::broker(
        listen,
        dir.to_owned(),
        TEST_PARTITIONS,
    ))
    .await
    .unwrap()
}

/// Quick batches and retries, so faults play out in seconds.
fn settings(es: &StandIn) -> SinkSettings {
    SinkSettings {
        batch_size: 50,
        linger: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(20),
        max_retry_backoff: Duration::from_millis(200),
        read_timeout: Duration::from_millis(500),
        ..SinkSettings::new(es.url())
    }
}

/// Only the sink, in-process, against `kafka`.
async fn sink(kafka: &KafkaConfig, settings: SinkSettings) -> Platform {
    Platform::start(PlatformConfig {
        kafka: KafkaSource::External {
            brokers: kafka.brokers.clone(),
        },
        data_dir: ".".into(),
        partitions: TEST_PARTITIONS,
        api: None,
        simulator: None,
        connect: Some(settings),
    })
    .await
    .unwrap()
}

/// Produces `payload` keyed by `key`; returns the document id it must get.
async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &str) -> String {
    let record = FutureRecord::to(topic).key(key).payload(payload);
    let delivery = producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    format!("{topic}+{}+{}", delivery.partition, delivery.offset)
}

fn position(ride: usize, seq: usize) -> String {
    json!({
        "routeId": "1", "clientId": "c", "rideId": format!("ride-{ride}"),
        "position": [-47.9 + seq as f64 * 1e-4, -15.8], "finished": false, "status": "driving",
        "seq": seq, "progress": 0.5, "distanceM": 10.0, "routeLengthM": 20.0, "speedKmh": 30.0,
        "heading": 90.0, "timestamp": 1_795_000_000_000_i64 + seq as i64,
    })
    .to_string()
}

/// Waits until the stand-in holds `count` documents in `index`.
async fn documents(
    es: &StandIn,
    index: &str,
    count: usize,
) -> BTreeMap<String, connect::stand_in::Stored> {
    let what = format!("{index} holds {count} documents");
    common::eventually(&what, Duration::from_secs(60), || async {
        let docs = es.documents(index);
        if docs.len() >= count {
            Ok(docs)
        } else {
            Err(docs.len())
        }
    })
    .await
}

/// The first `count` dead letters: (payload, headers).
pub async fn dead_letters(
    kafka: &KafkaConfig,
    count: usize,
) -> Vec<(String, BTreeMap<String, String>)> {
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&[connect::DEFAULT_DEAD_LETTER_TOPIC])
        .unwrap();
    let mut letters = Vec::new();
    while letters.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("a dead letter within 60 s")
            .unwrap();
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let payload = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        letters.push((payload, headers));
    }
    letters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_indexed_exactly_once_through_faults_and_bad_ones_are_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let es = StandIn::start().await.unwrap();
    es.inject([
        Fault::Status(429),
        Fault::Status(429),
        Fault::Status(429),
        Fault::Status(500),
        Fault::Stall(Duration::from_millis(1_500)), // past the 500 ms read timeout
        Fault::Items {
            status: 429,
            every: 3,
        },
        Fault::Items {
            status: 503,
            every: 2,
        },
    ]);
    let sink = sink(&broker.kafka, settings(&es)).await;
    let producer = broker.kafka.producer().unwrap().get();

    let mut expected = BTreeMap::new();
    for seq in 0..300 {
        let payload = position(seq % 5, seq);
        expected.insert(
            produce(&producer, TOPIC_NEW_POSITION, "ride", &payload).await,
            payload,
        );
    }
    let mut commands = BTreeMap::new();
    for ride in 0..5 {
        let payload = json!({"routeId": "1", "clientId": "c", "rideId": format!("ride-{ride}"), "points": [[-47.9, -15.8], [-47.8, -15.7]]}).to_string();
        commands.insert(
            produce(&producer, TOPIC_NEW_DIRECTION, "ride", &payload).await,
            payload,
        );
    }
    // Bad records: not JSON, not an object, a position Elasticsearch cannot map.
    let bad = [
        (TOPIC_NEW_POSITION, "{not json".to_owned()),
        (TOPIC_NEW_DIRECTION, "[1, 2]".to_owned()),
        (
            TOPIC_NEW_POSITION,
            json!({"rideId": "x", "position": "nowhere"}).to_string(),
        ),
    ];
    let mut bad_ids = Vec::new();
    for (topic, payload) in &bad {
        bad_ids.push(produce(&producer, topic, "bad", payload).await);
    }

    let positions = documents(&es, TOPIC_NEW_POSITION, expected.len()).await;
    let directions = documents(&es, TOPIC_NEW_DIRECTION, commands.len()).await;
    let letters = dead_letters(&broker.kafka, bad.len()).await;
    // Whatever arrives late would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    for (got, want) in [(&positions, &expected), (&directions, &commands)] {
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "each event once, by id"
        );
        for (id, stored) in got.iter() {
            let mut source: Value = serde_json::from_str(&want[id]).unwrap();
            // Commands carry no timestamp: the Kafka record's is added.
            if source.get("timestamp").is_none() {
                assert!(stored.source["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
                source["timestamp"] = stored.source["timestamp"].clone();
            }
            assert_eq!(stored.source, source, "{id}");
        }
    }
    assert_eq!(es.documents(TOPIC_NEW_POSITION).len(), expected.len());
    assert_eq!(es.faults_left(), 0, "every fault was met");
    // The stalled request was indexed after the client gave up, then sent again: same ids.
    assert!(
        positions
            .values()
            .chain(directions.values())
            .any(|d| d.writes > 1)
    );

    assert_eq!(letters.len(), bad.len());
    for ((topic, payload), id) in bad.iter().zip(&bad_ids) {
        let (_, headers) = letters
            .iter()
            .find(|(p, _)| p == payload)
            .unwrap_or_else(|| panic!("{payload} is a dead letter"));
        let source = format!(
            "{}+{}+{}",
            headers[HEADER_TOPIC], headers[HEADER_PARTITION], headers[HEADER_OFFSET]
        );
        assert_eq!(&source, id);
        assert_eq!(&headers[HEADER_TOPIC], topic);
        assert!(!headers[HEADER_REASON].is_empty());
    }
    let reasons: Vec<&str> = letters
        .iter()
        .map(|(_, h)| h[HEADER_REASON].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("not valid JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r == &"not a JSON object but an array"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("failed to parse field [position] of type [geo_point]")),
        "{reasons:?}"
    );

    let metrics = sink.connect_metrics.clone().unwrap();
    assert_eq!(connect::Metrics::get(&metrics.dead_letters), 3);
    assert!(connect::Metrics::get(&metrics.retries) >= 7, "{metrics:?}");
    assert!(connect::Metrics::get(&metrics.indexed) >= (expected.len() + commands.len()) as u64);

    // Templates were installed first: positions are geo points, ids keywords.
    let template = es
        .template("rota-positions")
        .expect("positions template installed");
    assert_eq!(template["index_patterns"], json!([TOPIC_NEW_POSITION]));
    let properties = &template["template"]["mappings"]["properties"];
    assert_eq!(properties["position"]["type"], "geo_point");
    assert_eq!(properties["rideId"]["type"], "keyword");
    assert_eq!(properties["timestamp"]["type"], "date");
    assert_eq!(properties["finished"]["type"], "boolean");
    assert!(es.template("rota-directions").is_some());

    sink.stop().await.unwrap();
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_killed_mid_stream_indexes_everything_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let es = StandIn::start().await.unwrap();
    let args = [
        "connect",
        "--kafka-brokers",
        &broker.kafka.brokers,
        "--linger-ms",
        "50",
        "--batch-size",
        "100",
    ];
    let env = [("ELASTICSEARCH_URL", es.url().to_string())];
    // 3,000 positions over about six seconds; the connector is killed while they stream in.
    let producer = broker.kafka.producer().unwrap().get();
    let producing = tokio::spawn(async move {
        let mut expected = BTreeMap::new();
        for chunk in 0..120 {
            let sends = (chunk * 25..(chunk + 1) * 25).map(|seq| {
                let (producer, payload) = (&producer, position(seq % 10, seq));
                async move {
                    let key = (seq % 10).to_string();
                    (
                        produce(producer, TOPIC_NEW_POSITION, &key, &payload).await,
                        payload,
                    )
                }
            });
            expected.extend(futures::future::join_all(sends).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        expected
    });
    let connector = RotaProcess::spawn(&args, &env);
    documents(&es, TOPIC_NEW_POSITION, 500).await;
    connector.kill().await;
    let at_kill = es.documents(TOPIC_NEW_POSITION).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let expected = producing.await.unwrap();
    assert!(at_kill < expected.len(), "killed mid-stream: {at_kill}");
    let connector = RotaProcess::spawn(&args, &env);
    let docs = documents(&es, TOPIC_NEW_POSITION, expected.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        es.documents(TOPIC_NEW_POSITION).keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (id, stored) in &docs {
        assert_eq!(
            stored.source,
            serde_json::from_str::<Value>(&expected[id]).unwrap()
        );
    }
    connector.stop().await;
    broker.stop().await.unwrap();
}

/// In `rota up`, `/readyz` also waits for the sink's index templates: with Elasticsearch
/// unreachable it stays 503 once everything else is ready, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_platform_is_not_ready_while_elasticsearch_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    let closed = common::free_port();
    config.connect = Some(SinkSettings::new(
        format!("http://{closed}").parse().unwrap(),
    ));
    let platform = Platform::start(config).await.unwrap();
    let url = format!("{}/readyz", common::base_url(&platform));
    let what = "/readyz says ok for all but the sink";
    let (status, body) = common::eventually(what, Duration::from_secs(20), || async {
        let (status, body) = common::http("GET", &url, None).await.unwrap();
        let checks = &body["checks"];
        if ["broker", "store", "positions"]
            .iter()
            .all(|c| checks[c] == "ok")
        {
            Ok((status, body))
        } else {
            Err(body)
        }
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["checks"]["positions"], "ok",
        "the rest became ready: {body}"
    );
    assert_eq!(
        body["checks"]["elasticsearch sink"], "installing index templates",
        "{body}"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_platform_with_an_elasticsearch_url_indexes_its_rides() {
    let dir = tempfile::tempdir().unwrap();
    let es = StandIn::start().await.unwrap();
    let mut config = common::config(dir.path());
    config.connect = Some(settings(&es));
    let platform = common::boot_with(config).await;
    let ride = common::start_ride(&common::base_url(&platform), "2").await;

    let what = "the ride's last position is indexed";
    let positions: Vec<Value> = common::eventually(what, Duration::from_secs(60), || async {
        let positions: Vec<Value> = es
            .documents(TOPIC_NEW_POSITION)
            .into_values()
            .map(|d| d.source)
            .filter(|p| p["rideId"] == ride.as_str())
            .collect();
        if positions.iter().any(|p| p["finished"] == true) {
            Ok(positions)
        } else {
            Err(positions.len())
        }
    })
    .await;
    let (_, recorded) = common::http(
        "GET",
        &format!("{}/api/rides/{ride}", common::base_url(&platform)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        positions.len() as u64,
        recorded["positions"].as_u64().unwrap(),
        "every position indexed once"
    );
    let commands = es.documents(TOPIC_NEW_DIRECTION);
    assert!(
        commands
            .values()
            .any(|c| c.source["rideId"] == ride.as_str()),
        "the ride's command is indexed"
    );

    // /metrics shows the api's figures and the sink's, as Prometheus reads them.
    let _watcher = common::Ws::connect(&platform).await;
    let metrics = common::scrape(&common::base_url(&platform)).await;
    assert!(
        metrics["rota_positions_total"] >= positions.len() as f64,
        "{metrics:?}"
    );
    assert!(
        metrics["rota_connect_indexed_documents_total"] > positions.len() as f64,
        "{metrics:?}"
    );
    assert!(metrics["rota_connect_bulk_requests_total"] >= 1.0);
    assert_eq!(metrics["rota_connect_dead_letters_total"], 0.0);
    assert_eq!(metrics["rota_rides_running"], 0.0);
    assert_eq!(metrics["rota_websocket_clients"], 1.0);
    assert_eq!(
        metrics["rota_simulator_rides_started_total"], 1.0,
        "one page for every part"
    );
    for series in ["rota_connect_retries_total", "rota_connect_lag_records"] {
        assert!(metrics.contains_key(series), "{series}");
    }
    platform.stop().await.unwrap();
}
