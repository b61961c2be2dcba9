//! The web map in a real browser: headless Chromium driven by playwright-core (both installed by
//! scripts/test-setup) loads the page from the running platform, starts a ride and watches it to
//! the end, with every off-platform request (map tiles) refused; after a refresh mid-ride the page
//! shows the whole path driven so far. Screenshots land in target/test-artifacts/.

mod common;

use std::{path::Path, process::Command};

use common::{base_url, boot};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_drives_rides_offline_and_keeps_their_paths_across_a_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let platform = boot(dir.path()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let script = root.join("rota/tests/browser/smoke.cjs");
    let node_modules = std::env::var("ROTA_TEST_NODE_MODULES").unwrap_or_else(|_| {
        root.join(".test-env/node/node_modules")
            .display()
            .to_string()
    });
    let base = base_url(&platform);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args([&base, &artifacts.display().to_string()])
            .env("NODE_PATH", node_modules)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (scripts/test-setup installs playwright-core and chromium)");
    assert!(
        output.status.success(),
        "browser run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["routes"], json!(["Primeiro", "Segundo", "Terceiro"]));
    assert_eq!(seen["rideTitle"], "Terceiro");
    assert_eq!(seen["status"], "finished");
    assert_eq!(seen["toast"], "Ride on Terceiro finished");
    assert!(
        seen["refused"].as_u64().unwrap() > 0,
        "tiles were asked for and refused: {seen}"
    );
    assert_eq!(seen["errors"], json!([]), "no script errors");
    platform.stop().await.unwrap();
}
