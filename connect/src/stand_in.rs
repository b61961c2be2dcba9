//! An in-memory stand-in for Elasticsearch's index-template and bulk APIs, for the tests and the
//! benchmark: it keeps every document by index and id, enforces the templates' `geo_point`,
//! `boolean`, numeric and `date` fields the way Elasticsearch rejects a malformed document, and
//! can be told to fail: whole requests (429, 500), a stall longer than the client's timeout, or
//! some items of a bulk request.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// A failure to inject into the next bulk request(s), in order.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer the whole request with this status.
    Status(u16),
    /// Index the request, but answer only after this long: a client with a shorter timeout gives
    /// up on a request that took effect.
    Stall(Duration),
    /// Fail the first item of the request and every `every`-th after it with `status`; the
    /// others are indexed.
    Items { status: u16, every: usize },
}

/// A stored document and how many times it was written.
#[derive(Clone, Debug)]
pub struct Stored {
    pub source: Value,
    pub writes: u32,
}

#[derive(Default)]
struct Inner {
    templates: HashMap<String, Value>,
    docs: BTreeMap<(String, String), Stored>,
    faults: VecDeque<Fault>,
    bulk_requests: u64,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct StandIn {
    pub addr: SocketAddr,
    shared: Shared,
    server: JoinHandle<()>,
}

impl StandIn {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let shared = Shared::default();
        let app = Router::new()
            .route("/", get(info))
            .route("/_index_template/{name}", put(put_template))
            .route("/_bulk", post(bulk).put(bulk))
            .with_state(shared.clone());
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}", self.addr).parse().unwrap()
    }

    /// Queues failures for the next bulk requests.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Faults not used yet.
    pub fn faults_left(&self) -> usize {
        self.shared.lock().faults.len()
    }

    pub fn template(&self, name: &str) -> Option<Value> {
        self.shared.lock().templates.get(name).cloned()
    }

    /// Every document of `index`, by id.
    pub fn documents(&self, index: &str) -> BTreeMap<String, Stored> {
        self.shared
            .lock()
            .docs
            .iter()
            .filter(|((i, _), _)| i == index)
            .map(|((_, id), stored)| (id.clone(), stored.clone()))
            .collect()
    }

    pub fn document_count(&self) -> usize {
        self.shared.lock().docs.len()
    }

    pub fn bulk_requests(&self) -> u64 {
        self.shared.lock().bulk_requests
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn elastic(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-elastic-product"),
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

async fn info() -> Response {
    elastic(Json(json!({
        "name": "stand-in", "cluster_name": "rota-test",
        "version": {"number": "8.15.0"}, "tagline": "You Know, for Search",
    })))
}

async fn put_template(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Json(template): Json<Value>,
) -> Response {
    shared.lock().templates.insert(name, template);
    elastic(Json(json!({"acknowledged": true})))
}

async fn bulk(State(shared): State<Shared>, body: Bytes) -> Response {
    let fault = {
        let mut inner = shared.lock();
        inner.bulk_requests += 1;
        inner.faults.pop_front()
    };
    let failing_items = match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap();
            let error = json!({"error": {"type": "injected", "reason": "injected failure"}, "status": status.as_u16()});
            return elastic((status, Json(error)));
        }
        Some(Fault::Items { status, every }) => Some((status, every.max(1))),
        Some(Fault::Stall(_)) | None => None,
    };
    let answer = apply(&shared, &body, failing_items);
    if let Some(Fault::Stall(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    answer
}

/// Indexes a bulk body; the answer lists each item's result.
fn apply(shared: &Shared, body: &[u8], failing_items: Option<(u16, usize)>) -> Response {
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    if !lines.len().is_multiple_of(2) {
        let error = json!({"error": {"type": "illegal_argument_exception", "reason": "odd number of bulk lines"}, "status": 400});
        return elastic((StatusCode::BAD_REQUEST, Json(error)));
    }
    let mut inner = shared.lock();
    let mut items = Vec::new();
    for (n, pair) in lines.chunks(2).enumerate() {
        let (Ok(action), Ok(source)) = (
            serde_json::from_slice::<Value>(pair[0]),
            serde_json::from_slice::<Value>(pair[1]),
        ) else {
            let error = json!({"error": {"type": "x_content_parse_exception", "reason": "malformed bulk line"}, "status": 400});
            return elastic((StatusCode::BAD_REQUEST, Json(error)));
        };
        let meta = &action["index"];
        let index = meta["_index"].as_str().unwrap_or_default().to_owned();
        let id = meta["_id"].as_str().unwrap_or_default().to_owned();
        let item = if let Some((status, _)) =
            failing_items.filter(|(_, every)| n.is_multiple_of(*every))
        {
            json!({"_index": index, "_id": id, "status": status,
                   "error": {"type": "es_rejected_execution_exception", "reason": "injected item failure"}})
        } else if let Err(reason) = check(&inner.templates, &index, &source) {
            json!({"_index": index, "_id": id, "status": 400,
                   "error": {"type": "document_parsing_exception", "reason": reason}})
        } else {
            let stored = inner
                .docs
                .entry((index.clone(), id.clone()))
                .or_insert(Stored {
                    source: Value::Null,
                    writes: 0,
                });
            stored.source = source;
            stored.writes += 1;
            let (status, result) = if stored.writes == 1 {
                (201, "created")
            } else {
                (200, "updated")
            };
            json!({"_index": index, "_id": id, "status": status, "result": result, "_version": stored.writes})
        };
        items.push(json!({"index": item}));
    }
    let errors = items.iter().any(|i| i["index"]["error"].is_object());
    elastic(Json(json!({"took": 1, "errors": errors, "items": items})))
}

/// Rejects a document whose field does not fit the mapping of the template for its index.
fn check(templates: &HashMap<String, Value>, index: &str, source: &Value) -> Result<(), String> {
    let Some(template) = templates.values().find(|t| {
        t["index_patterns"].as_array().is_some_and(|patterns| {
            patterns
                .iter()
                .filter_map(Value::as_str)
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => index.starts_with(prefix),
                    None => index == p,
                })
        })
    }) else {
        return Ok(());
    };
    let properties = &template["template"]["mappings"]["properties"];
    let Some(fields) = source.as_object() else {
        return Err("the document is not an object".to_owned());
    };
    for (name, value) in fields {
        let kind = properties[name]["type"].as_str().unwrap_or("");
        let fits = match kind {
            "geo_point" => geo_point(value),
            "boolean" => value.is_boolean() || matches!(value.as_str(), Some("true" | "false")),
            "long" => value.is_i64() || value.is_u64(),
            "double" => value.is_number(),
            "date" => value.is_i64() || value.is_string(),
            "keyword" => !value.is_object() && !value.is_array(),
            _ => true,
        };
        if !fits {
            return Err(format!("failed to parse field [{name}] of type [{kind}]"));
        }
    }
    Ok(())
}

/// `[lon, lat]`, `{"lat", "lon"}` or `"lat,lon"`, within range.
fn geo_point(value: &Value) -> bool {
    let in_range =
        |lat: f64, lon: f64| (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
    match value {
        Value::Array(a) if a.len() == 2 => match (a[0].as_f64(), a[1].as_f64()) {
            (Some(lon), Some(lat)) => in_range(lat, lon),
            _ => false,
        },
        Value::Object(o) => match (
            o.get("lat").and_then(Value::as_f64),
            o.get("lon").and_then(Value::as_f64),
        ) {
            (Some(lat), Some(lon)) => in_range(lat, lon),
            _ => false,
        },
        Value::String(s) => s
            .split_once(',')
            .and_then(|(lat, lon)| Some((lat.trim().parse().ok()?, lon.trim().parse().ok()?)))
            .is_some_and(|(lat, lon)| in_range(lat, lon)),
        _ => false,
    }
}
