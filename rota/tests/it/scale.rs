//! Horizontal scale as compose and Kubernetes run it: two `rota api` replicas and two
//! `rota simulator` replicas on one broker and one MongoDB. Each api replica streams every ride to
//! its own browsers (each watching every ride), in order. The second simulator joins while rides
//! are driving: a ride whose partition moves to it is stopped by the first before the second
//! resumes it from its last position, so no ride is ever driven twice at once, nor from its start
//! again. The api replicas share the recording, and each ride's history is complete.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use api::frames::{ClientFrame, ServerFrame};
use common::{Frame, RotaProcess, Split, Ws};

/// Rides of about 8 s (20 ms ticks), long enough for the second simulator to join mid-ride.
const SPEED_KMH: u32 = 1_000;
const RIDES: [&str; 8] = ["1", "2", "3", "1", "2", "3", "1", "2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_work_and_every_api_streams_every_ride() {
    let mongodb_uri = common::mongodb_uri();
    let split = Split::new(vec![("MONGODB_URI", mongodb_uri.clone())]);
    let kafka = ("KAFKA_BROKERS", split.kafka.to_string());
    let broker = split.broker().await;
    let api_a = split.api().await;
    let data_b = split.dir.path().join("api-b").display().to_string();
    let (api_b, http_b) = RotaProcess::serving(
        &["api", "--data-dir", &data_b],
        &[kafka.clone(), ("MONGODB_URI", mongodb_uri)],
    )
    .await;
    let simulator = || {
        let env = [kafka.clone(), ("ROTA_SIM_TICK_MS", "20".to_owned())];
        async move { RotaProcess::serving(&["simulator"], &env).await }
    };
    let mut simulators = vec![simulator().await];

    let mut watchers = Vec::new();
    for http in [split.http, http_b] {
        watchers.push(Ws::connect_to(http).await);
    }
    let base_a = format!("http://{}", split.http);
    let mut rides = BTreeSet::new();
    for route in RIDES {
        let body = format!(r#"{{"routeId":"{route}","speedKmh":{SPEED_KMH}}}"#);
        let (status, started) = common::http("POST", &format!("{base_a}/api/rides"), Some(&body))
            .await
            .unwrap();
        assert_eq!(status, 202, "{started}");
        rides.insert(started["rideId"].as_str().unwrap().to_owned());
    }
    // Each replica's browser watches every ride, as a page following them does: the second
    // replica may not have heard of a ride yet.
    for ws in &mut watchers {
        for ride in &rides {
            ws.send(&ClientFrame::Watch {
                ride_id: ride.clone(),
            })
            .await;
        }
    }
    let mut seen: Vec<BTreeMap<String, Vec<u64>>> = vec![BTreeMap::new(); watchers.len()];
    let mut finished = vec![0; watchers.len()];
    // The first positions arrive: the rides are driving. Now the second simulator joins.
    for (i, ws) in watchers.iter_mut().enumerate() {
        while !record(ws.next().await, &mut seen[i], &mut finished[i]) {}
    }
    simulators.push(simulator().await);

    for (replica, ws) in watchers.iter_mut().enumerate() {
        while finished[replica] < rides.len() {
            record(ws.next().await, &mut seen[replica], &mut finished[replica]);
        }
    }
    // Every replica's browser got every ride as one drive: in order, and never from 0 again.
    for (replica, seqs) in seen.iter().enumerate() {
        assert_eq!(
            seqs.keys().collect::<BTreeSet<_>>(),
            rides.iter().collect(),
            "api replica {replica} streamed every ride"
        );
        for (ride, seqs) in seqs {
            assert_eq!(
                seqs,
                &(0..seqs.len() as u64).collect::<Vec<_>>(),
                "api replica {replica}, ride {ride}: one drive, in order"
            );
        }
    }

    // The history, read through the replica that started none of them, is whole.
    let base_b = format!("http://{http_b}");
    for ride in &rides {
        let recorded = common::recorded_ride(&base_b, ride).await;
        assert_eq!(recorded["status"], "finished");
    }

    // Each start beyond one per ride was a handover, and each handover resumed its ride.
    let (mut started, mut resumed) = (0.0, 0.0);
    for (_, http) in &simulators {
        let metrics = common::scrape(&format!("http://{http}")).await;
        started += metrics["rota_simulator_rides_started_total"];
        resumed += metrics["rota_simulator_rides_resumed_total"];
    }
    println!(
        "{} rides: {resumed} handed over when the second simulator joined",
        rides.len()
    );
    assert_eq!(started - rides.len() as f64, resumed);

    for (simulator, _) in simulators {
        simulator.stop().await;
    }
    api_b.stop().await;
    api_a.stop().await;
    broker.stop().await;
}

/// Notes a ride's snapshot (its path so far stands for the seqs before it) or a position; true for
/// a position.
fn record(frame: Frame, seqs: &mut BTreeMap<String, Vec<u64>>, finished: &mut usize) -> bool {
    match frame {
        ServerFrame::Watching { ride_id, path, .. } => {
            seqs.insert(ride_id.into_owned(), (0..path.len() as u64).collect());
            false
        }
        ServerFrame::Position(position) => {
            seqs.entry(position.ride_id.clone())
                .or_default()
                .push(position.seq);
            if position.finished {
                *finished += 1;
            }
            true
        }
        _ => false,
    }
}
