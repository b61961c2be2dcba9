//! Every service run as its own process, as compose and Kubernetes run them, serves `/healthz`,
//! `/readyz` and Prometheus `/metrics`: after a ride, each shows the series the README documents
//! for it, with the right counts, and nothing undocumented. The Grafana dashboard uses only series
//! the services export.

use crate::common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use common::{RotaProcess, Split, TEST_SPEED_KMH};
use connect::stand_in::StandIn;
use events::TOPIC_NEW_POSITION;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_serves_probes_and_the_documented_metrics() {
    let split = Split::new(Vec::new());
    let broker = split.broker().await;
    let api = split.api().await;
    let es = StandIn::start().await.unwrap();
    let kafka = ("KAFKA_BROKERS", split.kafka.to_string());
    let (simulator, simulator_http) = RotaProcess::serving(
        &["simulator"],
        &[
            kafka.clone(),
            ("ROTA_SIM_SPEED_KMH", TEST_SPEED_KMH.to_string()),
            ("ROTA_SIM_TICK_MS", "20".to_owned()),
        ],
    )
    .await;
    let (connect, connect_http) = RotaProcess::serving(
        &["connect"],
        &[
            kafka,
            ("ELASTICSEARCH_URL", es.url().to_string()),
            ("CONNECT_LINGER_MS", "50".to_owned()),
        ],
    )
    .await;

    let api_base = format!("http://{}", split.http);
    let ride = common::start_ride(&api_base, "2").await;
    let recorded = common::recorded_ride(&api_base, &ride).await;
    let positions = recorded["positions"].as_u64().unwrap();
    let indexed = || {
        es.documents(TOPIC_NEW_POSITION)
            .values()
            .filter(|d| d.source["rideId"] == ride.as_str())
            .count() as u64
    };
    let what = "the sink indexed the ride";
    common::eventually(what, Duration::from_secs(30), || async {
        match indexed() {
            n if n == positions => Ok(()),
            n => Err(format!("{n} of {positions}")),
        }
    })
    .await;

    let bases = [
        ("api", api_base.clone()),
        ("simulator", format!("http://{simulator_http}")),
        ("connect", format!("http://{connect_http}")),
    ];
    let mut scraped = BTreeMap::new();
    for (service, base) in &bases {
        let (status, health) = common::http("GET", &format!("{base}/healthz"), None)
            .await
            .unwrap();
        assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
        scraped.insert(*service, common::scrape(base).await);
    }
    let (_, ready) = common::http("GET", &format!("http://{connect_http}/readyz"), None)
        .await
        .unwrap();
    assert_eq!(ready["checks"]["elasticsearch sink"], "ok", "{ready}");
    assert_eq!(ready["checks"]["broker"], "ok", "{ready}");
    // The container healthcheck: ready services pass, a closed port fails.
    let healthcheck = |addr: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
            .args(["healthcheck", "--http", &addr])
            .output()
            .unwrap()
    };
    for addr in [split.http, simulator_http, connect_http] {
        let wildcard = format!("0.0.0.0:{}", addr.port());
        assert!(healthcheck(wildcard).status.success(), "{addr} is ready");
    }
    let closed = healthcheck(common::free_port().to_string());
    assert!(!closed.status.success());
    assert!(String::from_utf8_lossy(&closed.stderr).contains("nothing listens on"));

    // The figures agree with the ride.
    let (api_m, sim_m, connect_m) = (&scraped["api"], &scraped["simulator"], &scraped["connect"]);
    assert_eq!(sim_m["rota_simulator_rides_started_total"], 1.0);
    assert_eq!(sim_m["rota_simulator_rides_running"], 0.0);
    assert_eq!(
        sim_m["rota_simulator_positions_published_total"],
        positions as f64
    );
    assert_eq!(api_m["rota_positions_total"], positions as f64);
    assert_eq!(api_m["rota_rides_running"], 0.0);
    assert!(connect_m["rota_connect_indexed_documents_total"] > positions as f64);
    let started = r#"rota_http_request_duration_seconds_count{method="POST",route="/api/rides",status="202"}"#;
    assert_eq!(api_m.get(started), Some(&1.0), "{api_m:#?}");
    let polled = r#"rota_http_request_duration_seconds_bucket{method="GET",route="/api/rides/{id}",status="200",le="+Inf"}"#;
    assert!(api_m[polled] >= 1.0, "{api_m:#?}");

    // Exactly the documented series, each on its service.
    let documented = readme_metrics();
    for (service, series) in &scraped {
        let families: BTreeSet<&str> = series.keys().map(|s| common::metric_family(s)).collect();
        let expected: BTreeSet<&str> = documented
            .iter()
            .filter(|(_, s)| s == service)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            families, expected,
            "{service}'s /metrics against the README"
        );
    }

    // The dashboard asks only for what the services export.
    let exported = tempfile::NamedTempFile::new().unwrap();
    let names: Vec<&str> = documented.iter().map(|(name, _)| name.as_str()).collect();
    std::fs::write(exported.path(), names.join("\n")).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deploy/check.py");
    let out = std::process::Command::new(common::python())
        .args([script, "grafana"])
        .arg(exported.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");

    connect.stop().await;
    simulator.stop().await;
    api.stop().await;
    broker.stop().await;
}

/// The README's metrics table: (series, the service that serves it); a series of `every`
/// service is listed once for each.
fn readme_metrics() -> Vec<(String, String)> {
    let readme = include_str!("../../../README.md");
    let rows: Vec<(String, String)> = readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix("`rota_")?.strip_suffix('`')?;
            let services = match cells.next()? {
                "every" => vec!["api", "simulator", "connect"],
                one => vec![one],
            };
            Some(
                services
                    .into_iter()
                    .map(move |s| (format!("rota_{name}"), s.to_owned())),
            )
        })
        .flatten()
        .collect();
    assert!(
        rows.len() >= 10,
        "the README documents the metrics: {rows:?}"
    );
    rows
}
