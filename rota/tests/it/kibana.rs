//! The Kibana saved objects in `infra/kibana/rota.ndjson` are consistent with themselves and with
//! the index templates the sink installs, and `infra/kibana/import` loads them through Kibana's
//! import API (checked against a local server standing in for Kibana).

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::HeaderMap,
    routing::{get, post},
};
use serde_json::{Value, json};

fn kibana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/kibana")
}

fn saved_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(kibana_dir().join("rota.ndjson")).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1))
        })
        .collect()
}

/// A JSON document kept as a string inside a saved object.
fn inner(object: &Value, attribute: &str) -> Value {
    serde_json::from_str(object["attributes"][attribute].as_str().unwrap()).unwrap()
}

/// Field name -> mapping type, for the index a data view covers, from the sink's own templates.
fn mapped_fields(index: &str) -> HashMap<String, String> {
    connect::templates::default_templates()
        .into_iter()
        .find(|(_, t)| t["index_patterns"] == json!([index]))
        .map(|(_, t)| {
            t["template"]["mappings"]["properties"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v["type"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_else(|| panic!("no template covers {index}"))
}

#[test]
fn every_reference_resolves_and_every_field_is_mapped() {
    let objects = saved_objects();
    let by_id: HashMap<(String, String), &Value> = objects
        .iter()
        .map(|o| {
            (
                (
                    o["type"].as_str().unwrap().to_owned(),
                    o["id"].as_str().unwrap().to_owned(),
                ),
                o,
            )
        })
        .collect();
    assert_eq!(by_id.len(), objects.len(), "ids are unique");
    let types: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["dashboard", "index-pattern", "map", "visualization"])
    );

    // Every reference names an object in the file.
    for object in &objects {
        for reference in object["references"].as_array().unwrap() {
            let key = (
                reference["type"].as_str().unwrap().to_owned(),
                reference["id"].as_str().unwrap().to_owned(),
            );
            assert!(
                by_id.contains_key(&key),
                "{} refers to missing {key:?}",
                object["id"]
            );
        }
    }
    let index_of = |object: &Value, name: &str| -> String {
        let reference = object["references"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name);
        let id = reference.unwrap_or_else(|| panic!("{}: no reference {name}", object["id"]))["id"]
            .as_str()
            .unwrap();
        by_id[&("index-pattern".to_owned(), id.to_owned())]["attributes"]["title"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let check = |object: &Value, index: &str, field: &str, wanted: Option<&str>| {
        let fields = mapped_fields(index);
        let kind = fields
            .get(field)
            .unwrap_or_else(|| panic!("{}: {field} is not mapped in {index}", object["id"]));
        if let Some(wanted) = wanted {
            assert_eq!(kind, wanted, "{}: {field} in {index}", object["id"]);
        }
    };

    let mut fields_used = 0;
    for object in &objects {
        match object["type"].as_str().unwrap() {
            "index-pattern" => {
                let index = object["attributes"]["title"].as_str().unwrap();
                check(
                    object,
                    index,
                    object["attributes"]["timeFieldName"].as_str().unwrap(),
                    Some("date"),
                );
            }
            "visualization" => {
                let meta = &object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"];
                let search: Value = serde_json::from_str(meta.as_str().unwrap()).unwrap();
                let index = index_of(object, search["indexRefName"].as_str().unwrap());
                for agg in inner(object, "visState")["aggs"].as_array().unwrap() {
                    if let Some(field) = agg["params"]["field"].as_str() {
                        let wanted = match agg["type"].as_str().unwrap() {
                            "avg" => Some("double"),
                            "date_histogram" => Some("date"),
                            _ => None,
                        };
                        check(object, &index, field, wanted);
                        fields_used += 1;
                    }
                }
            }
            "map" => {
                for layer in inner(object, "layerListJSON").as_array().unwrap() {
                    let source = &layer["sourceDescriptor"];
                    let index = index_of(object, source["indexPatternRefName"].as_str().unwrap());
                    check(
                        object,
                        &index,
                        source["geoField"].as_str().unwrap(),
                        Some("geo_point"),
                    );
                    for field in source["tooltipProperties"].as_array().unwrap() {
                        check(object, &index, field.as_str().unwrap(), None);
                    }
                    for property in layer["style"]["properties"].as_object().unwrap().values() {
                        if let Some(field) = property["options"]["field"]["name"].as_str() {
                            check(object, &index, field, None);
                            fields_used += 1;
                        }
                    }
                }
            }
            "dashboard" => {
                let names: BTreeSet<&str> = object["references"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap())
                    .collect();
                let panels = inner(object, "panelsJSON");
                assert!(panels.as_array().unwrap().len() >= 7);
                for panel in panels.as_array().unwrap() {
                    assert!(
                        names.contains(panel["panelRefName"].as_str().unwrap()),
                        "{panel}"
                    );
                }
            }
            other => panic!("unexpected saved object type {other}"),
        }
    }
    assert!(fields_used >= 8, "{fields_used}");
    let dashboard = by_id[&("dashboard".to_owned(), "rota-rides".to_owned())];
    assert_eq!(dashboard["attributes"]["title"], "Rides");
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>);

/// A Kibana stand-in: `/api/status` answers, `_import` records the request and answers `answer`.
async fn kibana(answer: Value) -> (std::net::SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/api/status",
            get(|| async { Json(json!({"status": {"overall": {"level": "available"}}})) }),
        )
        .route(
            "/api/saved_objects/_import",
            post(
                move |State(seen): State<Seen>,
                      RawQuery(query): RawQuery,
                      headers: HeaderMap,
                      body: Bytes| {
                    let answer = answer.clone();
                    async move {
                        seen.0
                            .lock()
                            .unwrap()
                            .push((query.unwrap_or_default(), headers, body));
                        Json(answer)
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

async fn import(addr: std::net::SocketAddr) -> std::process::Output {
    let script = kibana_dir().join("import");
    tokio::process::Command::new("sh")
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_script_posts_the_saved_objects_with_overwrite() {
    let (addr, seen) =
        kibana(json!({"success": true, "successCount": saved_objects().len()})).await;
    let output = import(addr).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let requests = seen.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (query, headers, body) = &requests[0];
    assert_eq!(query, "overwrite=true");
    assert!(headers.contains_key("kbn-xsrf"));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/form-data")
    );
    let body = String::from_utf8_lossy(body);
    let ndjson = std::fs::read_to_string(kibana_dir().join("rota.ndjson")).unwrap();
    assert!(body.contains("filename=\"rota.ndjson\""));
    assert!(body.contains(&ndjson), "the whole file is sent");

    // A failed import is an error, with Kibana's answer.
    let (addr, _) = kibana(
        json!({"success": false, "errors": [{"id": "rota-rides", "error": {"type": "conflict"}}]}),
    )
    .await;
    let output = import(addr).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Kibana import failed"));
}
