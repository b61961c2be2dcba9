//! The deployment files, checked statically since no container engine or cluster runs here:
//! docker-compose.yml against the compose specification and the binary's flags, the Kubernetes
//! overlays rendered by kustomize and validated against Kubernetes' schemas, and the Istio objects
//! against the Services and workloads they name. The checks live in `deploy/check.py`.

use crate::common;

use std::process::Command;

fn check(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deploy/check.py");
    // The topics as the code knows them, for the deployment files to match.
    let all: Vec<&str> = events::TOPICS
        .into_iter()
        .chain([events::TOPIC_DEAD_LETTERS])
        .collect();
    let compacted: Vec<&str> = events::TOPICS
        .into_iter()
        .filter(|t| events::topic_config(t).contains(&("cleanup.policy", "compact")))
        .collect();
    let sink = connect::SinkSettings::new("http://elasticsearch:9200".parse().unwrap());
    let groups = [
        simulator::GROUP,
        api::recorder::HISTORY_GROUP,
        connect::CONNECT_GROUP,
    ];
    let out = Command::new(common::python())
        .arg(script)
        .args(args)
        .env("ROTA_TOPICS", all.join(","))
        .env("ROTA_COMPACTED_TOPICS", compacted.join(","))
        .env("ROTA_INDEXED_TOPICS", sink.topics().join(","))
        .env("ROTA_GROUPS", groups.join(","))
        .output()
        .expect("the test Python runs (scripts/test-setup installs it)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

#[test]
fn compose_agrees_with_the_specification_and_the_binary() {
    check(&["compose", env!("CARGO_BIN_EXE_rota")]);
}

#[test]
fn kubernetes_overlays_render_validate_and_resolve() {
    check(&["kubernetes", env!("CARGO_BIN_EXE_rota")]);
}

#[test]
fn istio_objects_name_existing_services_ports_and_workloads() {
    check(&["istio"]);
}
