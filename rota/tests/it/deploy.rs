//! The deployment files, checked statically since no container engine or cluster runs here:
//! docker-compose.yml against the compose specification and the binary's flags, the Kubernetes
//! overlays rendered by kustomize and validated against Kubernetes' schemas, and the Istio objects
//! against the Services and workloads they name. The checks live in `deploy/check.py`.

use crate::common;

use std::process::Command;

fn check(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deploy/check.py");
    let out = Command::new(common::python())
        .arg(script)
        .args(args)
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
