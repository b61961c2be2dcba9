//! The Elasticsearch sink against Elasticsearch-API servers written by others, from PyPI: noida-db
//! (which reports itself as Elasticsearch 8.15) and osmem-server (OpenSearch 3.8, which enforces
//! `geo_point` mappings and has geo aggregations). `rota up` with `ELASTICSEARCH_URL` drives a ride:
//! its index templates are installed, every position and its command are indexed under their
//! `topic+partition+offset` ids, and on osmem a position Elasticsearch cannot map becomes a dead
//! letter and the positions answer a geo aggregation inside the route's area. The fault injection
//! (429s, timeouts, partial failures) stays with Rota's own stand-in (`connect.rs`).

use std::time::Duration;

use connect::SinkSettings;
use serde_json::{Value, json};

use crate::common::{
    self, eventually, http,
    peers::{Peer, TlsFront},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_is_indexed_by_noida_db_as_elasticsearch_8() {
    indexes_a_ride(Peer::noida().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_is_indexed_by_osmem_as_opensearch_with_mappings_enforced() {
    indexes_a_ride(Peer::osmem().await).await;
}

async fn indexes_a_ride(peer: Peer) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.connect = Some(SinkSettings {
        linger: Duration::from_millis(100),
        ..SinkSettings::new(peer.url("").parse().unwrap())
    });
    let platform = common::boot_with(config).await;
    let base = common::base_url(&platform);
    let ride = common::start_ride(&base, "2").await;
    let recorded = common::recorded_ride(&base, &ride).await;
    let positions = recorded["positions"].as_u64().unwrap();

    let (status, template) = http("GET", &peer.url("_index_template/rota-positions"), None)
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "{}: the positions template: {template}",
        peer.name
    );
    let query = json!({"query": {"term": {"rideId": ride}}, "size": 1000});
    let what = format!("{} holds the ride's {positions} positions", peer.name);
    let hits = eventually(&what, Duration::from_secs(30), || async {
        let found = peer.search("route.new-position", query.clone()).await;
        let hits = found["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if hits.len() as u64 == positions {
            Ok(hits)
        } else {
            Err(format!("{} of {positions}", hits.len()))
        }
    })
    .await;
    let mut seqs: Vec<u64> = hits
        .iter()
        .map(|h| h["_source"]["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..positions).collect::<Vec<_>>(),
        "each position once"
    );
    for hit in &hits {
        let id = hit["_id"].as_str().unwrap();
        let parts: Vec<&str> = id.split('+').collect();
        assert!(
            parts.len() == 3 && parts[0] == "route.new-position" && parts[2].parse::<i64>().is_ok(),
            "deterministic ids: {id}"
        );
    }
    let commands = peer
        .search(
            "route.new-direction",
            json!({"query": {"term": {"rideId": ride}}}),
        )
        .await;
    assert_eq!(
        commands["hits"]["hits"].as_array().map(Vec::len),
        Some(1),
        "the ride's command: {commands}"
    );

    if peer.name == "osmem" {
        // The template made `position` a geo_point: it aggregates, within the route's area.
        let bounds = peer
            .search(
                "route.new-position",
                json!({"query": {"term": {"rideId": ride}}, "size": 0,
                       "aggs": {"area": {"geo_bounds": {"field": "position"}}}}),
            )
            .await;
        let area = &bounds["aggregations"]["area"]["bounds"];
        let (top, bottom) = (
            area["top_left"]["lat"].as_f64(),
            area["bottom_right"]["lat"].as_f64(),
        );
        let (left, right) = (
            area["top_left"]["lon"].as_f64(),
            area["bottom_right"]["lon"].as_f64(),
        );
        for (value, low, high) in [
            (top, -16.0, -15.6),
            (bottom, -16.0, -15.6),
            (left, -48.1, -47.7),
            (right, -48.1, -47.7),
        ] {
            let value = value.unwrap_or_else(|| panic!("geo bounds: {bounds}"));
            assert!(
                (low..=high).contains(&value),
                "{value} outside Brasília: {bounds}"
            );
        }
        // And a position it cannot map is a dead letter, with OpenSearch's reason.
        let producer = platform.kafka.producer().unwrap().get();
        let bad = json!({"routeId": "1", "rideId": "unmappable", "position": "nonsense", "finished": false});
        producer
            .send(
                rdkafka::producer::FutureRecord::to(events::TOPIC_NEW_POSITION)
                    .key("unmappable")
                    .payload(&bad.to_string()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        let letters = crate::connect::dead_letters(&platform.kafka, 1).await;
        let (payload, headers) = &letters[0];
        assert_eq!(serde_json::from_str::<Value>(payload).unwrap(), bad);
        let reason = &headers[connect::dead_letters::HEADER_REASON];
        assert!(reason.contains("mapper_parsing_exception"), "{reason}");
    }
    platform.stop().await.unwrap();
}

/// A managed Elasticsearch is reached over https with an API key: `rota connect` with
/// `ELASTICSEARCH_CA_FILE` and `ELASTICSEARCH_API_KEY` indexes a ride into noida-db behind Debian's
/// nginx, which terminates TLS with the test CA's certificate and lets only that key through; the
/// key never reaches the sink's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_reaches_elasticsearch_over_https_with_an_api_key() {
    let peer = Peer::noida().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls::TestCa::new(dir.path());
    // Elasticsearch's `encoded` form: base64 of `id:api_key`.
    let api_key = "cm90YS1zaW5rOnMzY3JldC1hcGkta2V5LXZhbHVl";
    let front = TlsFront::nginx(&ca, peer.addr, api_key).await;
    let platform = common::boot(&dir.path().join("platform")).await;
    let base = common::base_url(&platform);
    let log = dir.path().join("connect.log");
    let env = [
        ("KAFKA_BROKERS", platform.kafka.brokers.clone()),
        ("ELASTICSEARCH_URL", format!("https://{}", front.addr)),
        ("ELASTICSEARCH_API_KEY", api_key.to_owned()),
        ("ELASTICSEARCH_CA_FILE", ca.ca.display().to_string()),
        ("CONNECT_LINGER_MS", "100".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let (sink, _) = common::RotaProcess::serving_logged(&["connect"], &env, &log).await;

    let ride = common::start_ride(&base, "1").await;
    let positions = common::recorded_ride(&base, &ride).await["positions"]
        .as_u64()
        .unwrap();
    let query = json!({"query": {"term": {"rideId": ride}}, "size": 1000});
    eventually(
        "the ride is indexed over https",
        Duration::from_secs(30),
        || async {
            let found = peer.search("route.new-position", query.clone()).await;
            let hits = found["hits"]["hits"].as_array().map_or(0, Vec::len) as u64;
            (hits == positions)
                .then_some(())
                .ok_or(format!("{hits} of {positions}"))
        },
    )
    .await;
    sink.stop().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("ApiKey(***)"),
        "the log says how it signs in: {logged}"
    );
    assert!(!logged.contains(api_key), "the API key is in the log");
    platform.stop().await.unwrap();
}
