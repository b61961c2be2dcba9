//! MongoDB goes away and comes back. The api starts before MongoDB and becomes ready once it can
//! prepare the store; while MongoDB is down `/readyz` says so, live positions keep reaching
//! browsers (no database on the live path), and once it is back the ride's history is complete.

use crate::common;

use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};

use common::{Ws, base_url, free_port, http, path_seqs, seqs};
use serde_json::Value;
use tokio::process::{Child, Command};

/// SecantusDB on `port`, its data in `dir` so that a restart keeps it.
fn secantusdb(port: SocketAddr, dir: &Path) -> Child {
    Command::new(common::python().with_file_name("secantusd-py"))
        .args(["--host", "127.0.0.1", "--port", &port.port().to_string()])
        .arg("--storage-path")
        .arg(dir)
        .args(["--log-level", "WARNING"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("secantusd-py runs (scripts/test-setup installs it)")
}

async fn readyz(base: &str) -> (u16, Value) {
    http("GET", &format!("{base}/readyz"), None).await.unwrap()
}

async fn wait_until(base: &str, ready: bool) -> Value {
    let what = if ready { "ready" } else { "not ready" };
    common::eventually(what, Duration::from_secs(30), || async {
        let (status, body) = readyz(base).await;
        if (status == 200) == ready {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await
}

async fn stop(mut server: Child) {
    let pid = server.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_history_but_loses_nothing_and_never_stalls_live_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mongo = free_port();
    let mut config = common::config(&dir.path().join("platform"));
    config.api.as_mut().unwrap().mongodb_uri = Some(format!("mongodb://{mongo}/rota"));
    let platform = rota::platform::Platform::start(config).await.unwrap();
    let base = base_url(&platform);

    // MongoDB is not there yet: alive, not ready, and saying why.
    let (status, body) = readyz(&base).await;
    assert_eq!(status, 503, "{body}");
    let reason = body["checks"]["store"].as_str().unwrap();
    assert!(
        reason.starts_with("MongoDB failed: ") && reason.contains("Server selection timeout"),
        "the reason is MongoDB: {body}"
    );
    assert_eq!(
        http("GET", &format!("{base}/healthz"), None)
            .await
            .unwrap()
            .0,
        200
    );

    let data = dir.path().join("mongo");
    let server = secantusdb(mongo, &data);
    wait_until(&base, true).await;

    // A slow ride (about 2 m per position on route 3), watched live.
    let mut ws = Ws::connect(&platform).await;
    let ride = ws.start("3", Some(400.0)).await;
    let mut live = Vec::new();
    while live.len() < 20 {
        live.push(ws.next_position().await);
    }

    stop(server).await;
    let body = wait_until(&base, false).await;
    let reason = body["checks"]["store"].as_str().unwrap();
    assert!(reason.starts_with("MongoDB failed: "), "{body}");
    // Positions keep coming while the store is gone.
    let during = live.len();
    while live.len() < during + 100 {
        live.push(ws.next_position().await);
    }
    let (status, _) = readyz(&base).await;
    assert_eq!(status, 503, "still down while those positions arrived");

    let _server = secantusdb(mongo, &data);
    wait_until(&base, true).await;
    // Hurry the rest of the ride along: cancel it, then check the history is whole.
    let (status, _) = http("DELETE", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    assert_eq!(status, 202);
    live.extend(ws.positions_until_finished(&ride).await);
    let recorded = common::recorded_ride(&base, &ride).await;
    let path = recorded["path"].as_array().unwrap();
    assert_eq!(
        path_seqs(path),
        seqs(&live),
        "every position shown is in the history, in order"
    );
    assert_eq!(recorded["status"], "cancelled");
    platform.stop().await.unwrap();
}
