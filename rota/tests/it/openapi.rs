//! The OpenAPI document at /api/openapi.json, generated from the code, describes the API that is
//! really served (and the WebSocket frames beside it): schemathesis
//! (PyPI) generates requests from it against a running platform and checks every response's
//! status, content type, headers and body against the document, and that nothing answers 5xx.

use crate::common;

use std::process::Command;

use common::{base_url, boot_with, http};

/// Fixed, so a failure reproduces; schemathesis prints how to replay it.
const SEED: &str = "20261122";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_api_matches_its_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    // Signed in as the document says writes must be: schemathesis sends the operator's token, and
    // also tries writes without one and with made-up ones.
    let tokens = common::Tokens::generate();
    let mut config = common::config(dir.path());
    config.api.as_mut().unwrap().auth.tokens = tokens.set.clone();
    let platform = boot_with(config).await;
    let base = base_url(&platform);

    let (status, document) = http("GET", &format!("{base}/api/openapi.json"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(operations, 19, "every operation documented");
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
        .arg("openapi")
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(
        printed, document,
        "`rota openapi` prints the served document"
    );
    // The WebSocket frames are documented beside the REST bodies, one schema variant per type.
    let frame_types = |schema: &str| -> Vec<String> {
        document["components"]["schemas"][schema]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} is documented"))
            .iter()
            .map(|variant| {
                let object = variant["allOf"].get(1).unwrap_or(variant);
                object["properties"]["type"]["enum"][0]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        frame_types("ClientFrame"),
        ["start", "watch", "watch-fleet"]
    );
    assert_eq!(
        frame_types("ServerFrame"),
        [
            "started", "watching", "fleet", "position", "finished", "error"
        ]
    );

    let schemathesis = common::python().with_file_name("schemathesis");
    let base_for_run = base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .args(["run", &format!("{base_for_run}/api/openapi.json")])
            .args([
                "--header",
                &format!("Authorization: Bearer {}", tokens.operator),
                "--url",
                &base_for_run,
                "--seed",
                SEED,
                "--max-examples",
                "25",
            ])
            // Not checked, on purpose: route files and GPX bodies have rules a JSON schema cannot
            // state (schema-valid text is often not a route), and DELETE /api/rides/{id} cancels
            // a ride, whose record rightly stays readable.
            .args([
                "--exclude-checks",
                "positive_data_acceptance,use_after_free",
            ])
            .env("NO_COLOR", "1")
            .output()
            .expect("schemathesis runs (scripts/test-setup installs it)")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found differences:\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every operation but the document itself, which schemathesis leaves out.
    assert!(report.contains("Tested: 18"), "{report}");
    platform.stop().await.unwrap();
}
