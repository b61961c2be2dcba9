//! Shared test harness: boots the whole platform in-process on free ports with a temp data dir, and
//! talks to it the way a user's tools would: HTTP, WebSocket and Kafka clients over real sockets.

pub mod apache_kafka;
pub mod peers;
pub mod tls;

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::Duration,
};

use api::{
    ApiConfig,
    frames::{ClientFrame, FleetMove, ServerFrame},
};
use events::{NewPosition, RideStatus};
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rota::platform::{KafkaSource, Platform, PlatformConfig, SimulatorConfig};
use routes::LatLng;
use serde_json::Value;
use tokio::{net::TcpStream, process::Child};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

/// A frame the api sent, read with the api's own type.
pub type Frame = ServerFrame<'static>;
/// A position as the browser gets it.
pub type Position = NewPosition<LatLng>;

/// A port nothing listens on right now (the broker needs a fixed port it can advertise).
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Test rides are fast-forwarded: 3,000 km/h sampled every 20 ms is ~17 m per position.
pub const TEST_SPEED_KMH: f64 = 3_000.0;
pub const TEST_TICK: Duration = Duration::from_millis(20);
/// Fewer partitions than the default: quicker group joins, and still more than one.
pub const TEST_PARTITIONS: i32 = 3;

pub fn config(data_dir: &Path) -> PlatformConfig {
    PlatformConfig {
        kafka: KafkaSource::built_in("127.0.0.1:0".parse().unwrap()),
        data_dir: data_dir.to_owned(),
        partitions: TEST_PARTITIONS,
        api: Some(ApiConfig {
            http: "127.0.0.1:0".parse().unwrap(),
            socket_queue: 4096,
            mongodb_uri: None,
            batch: api::BatchLimits::default(),
            map: api::MapConfig::default(),
            auth: api::auth::AuthConfig::default(),
            limits: api::limits::LimitsConfig::default(),
        }),
        simulator: Some(SimulatorConfig {
            speed_kmh: TEST_SPEED_KMH,
            tick: TEST_TICK,
            routes_dir: None,
        }),
        connect: None,
    }
}

/// The api and the simulator in this process, on the Kafka cluster at `brokers`.
pub fn on_kafka(brokers: &str, data_dir: &Path) -> PlatformConfig {
    PlatformConfig {
        kafka: KafkaSource::External {
            brokers: brokers.to_owned(),
        },
        ..config(data_dir)
    }
}

/// The whole platform on the built-in broker, ready (`/readyz` says so).
pub async fn boot(data_dir: &Path) -> Platform {
    boot_with(config(data_dir)).await
}

/// Boots a platform and waits until it is ready.
pub async fn boot_with(config: PlatformConfig) -> Platform {
    let platform = Platform::start(config).await.expect("platform starts");
    wait_ready(platform.http_addr.expect("api runs")).await;
    platform
}

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(50);

/// Asks `attempt` every 50 ms until it succeeds and returns what it found; panics with `what` and
/// the last failure once `within` has passed. Every "wait until" in these tests is one of these.
pub async fn eventually<T, E, F>(what: &str, within: Duration, mut attempt: impl FnMut() -> F) -> T
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match attempt().await {
            Ok(found) => return found,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not so within {within:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until `/readyz` answers 200.
pub async fn wait_ready(http_addr: SocketAddr) {
    let url = format!("http://{http_addr}/readyz");
    eventually("the platform is ready", Duration::from_secs(20), || async {
        match http("GET", &url, None).await {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(format!("{status} {body}")),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Starts a ride with `POST /api/rides` and returns its id.
pub async fn start_ride(base: &str, route_id: &str) -> String {
    let body = serde_json::json!({ "routeId": route_id }).to_string();
    let (status, body) = http("POST", &format!("{base}/api/rides"), Some(&body))
        .await
        .unwrap();
    assert_eq!(status, 202, "{body}");
    body["rideId"].as_str().unwrap().to_owned()
}

pub fn base_url(platform: &Platform) -> String {
    format!("http://{}", platform.http_addr.expect("api runs"))
}

/// Sends a request and returns the status and the body (as JSON when it is JSON, else a string).
pub async fn http(method: &str, url: &str, body: Option<&str>) -> Result<(u16, Value), String> {
    let content_type = body.map(|_| "application/json");
    http_typed(method, url, content_type, body).await
}

/// [`http`] with a body of any content type.
pub async fn http_typed(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, Value), String> {
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    let (status, _, body) = http_with(method, url, &headers, body).await?;
    Ok((status, body))
}

/// Sends a request with `headers`; returns the status, the response's headers and its body (as
/// JSON when it is JSON, else a string).
pub async fn http_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, hyper::HeaderMap, Value), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, headers, body))
}

/// An operator's and a viewer's API token, and the set that admits both.
pub struct Tokens {
    pub operator: String,
    pub viewer: String,
    pub set: api::auth::TokenSet,
}

impl Tokens {
    pub fn generate() -> Self {
        use api::auth::{Role, new_token};
        let (operator, viewer) = (new_token(Role::Operator), new_token(Role::Viewer));
        let set =
            api::auth::TokenSet::parse(&format!("{},{}", operator.entry, viewer.entry)).unwrap();
        Self {
            operator: operator.token,
            viewer: viewer.token,
            set,
        }
    }
}

/// `Authorization: Bearer <token>`, for [`http_with`] and [`Ws::connect_with`].
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

pub struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Ws {
    pub async fn connect(platform: &Platform) -> Self {
        Self::connect_to(platform.http_addr.unwrap()).await
    }

    pub async fn connect_to(http: SocketAddr) -> Self {
        Self::connect_with(http, &[])
            .await
            .expect("websocket connects")
    }

    /// Connects with extra upgrade headers (a token, an Origin); a refused upgrade is its HTTP
    /// status and body.
    pub async fn connect_with(
        http: SocketAddr,
        headers: &[(&str, String)],
    ) -> Result<Self, (u16, String)> {
        use tokio_tungstenite::tungstenite::{
            client::IntoClientRequest,
            http::{HeaderName, HeaderValue},
        };
        let mut request = format!("ws://{http}/ws").into_client_request().unwrap();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(value).unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Self(stream)),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().clone().unwrap_or_default();
                Err((
                    response.status().as_u16(),
                    String::from_utf8_lossy(&body).into_owned(),
                ))
            }
            Err(e) => panic!("websocket connects or is refused: {e}"),
        }
    }

    /// Reads until the server closes the socket; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.0.next())
                .await
                .expect("closed within 20 s")
                .expect("a close frame before the stream ends")
                .expect("valid message");
            if let Message::Close(frame) = message {
                let frame = frame.expect("a close code");
                return (frame.code.into(), frame.reason.to_string());
            }
        }
    }

    /// Sends raw text, malformed frames included.
    pub async fn send_text(&mut self, text: &str) {
        self.0.send(Message::text(text)).await.expect("frame sent");
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&serde_json::to_string(frame).unwrap()).await;
    }

    /// The next frame; panics after 20 s of silence, if the socket closes, or if the frame is not
    /// one the api defines.
    pub async fn next(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.0.next())
                .await
                .expect("a frame within 20 s")
                .expect("socket open")
                .expect("valid message");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("not a server frame ({e}): {text}"));
                }
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The first frame `pick` takes, skipping the others.
    pub async fn next_where<T>(&mut self, mut pick: impl FnMut(Frame) -> Option<T>) -> T {
        loop {
            if let Some(found) = pick(self.next().await) {
                return found;
            }
        }
    }

    /// The next `error` frame's message and detail.
    pub async fn error(&mut self) -> (String, Value) {
        self.next_where(|frame| match frame {
            ServerFrame::Error { error, detail } => Some((error.into_owned(), detail.into_owned())),
            _ => None,
        })
        .await
    }

    /// The next `position` frame.
    pub async fn next_position(&mut self) -> Position {
        self.next_where(|frame| match frame {
            ServerFrame::Position(position) => Some(position.into_owned()),
            _ => None,
        })
        .await
    }

    /// The next `started` frame's ride and route ids.
    pub async fn started(&mut self) -> (String, String) {
        self.next_where(|frame| match frame {
            ServerFrame::Started { ride_id, route_id } => {
                Some((ride_id.into_owned(), route_id.into_owned()))
            }
            _ => None,
        })
        .await
    }

    /// The next `finished` frame's ride id and status.
    pub async fn finished(&mut self) -> (String, RideStatus) {
        self.next_where(|frame| match frame {
            ServerFrame::Finished {
                ride_id, status, ..
            } => Some((ride_id.into_owned(), status)),
            _ => None,
        })
        .await
    }

    /// Starts a ride over the socket and returns its id once `started`.
    pub async fn start(&mut self, route_id: &str, speed_kmh: Option<f64>) -> String {
        self.send(&ClientFrame::Start {
            route_id: route_id.to_owned(),
            speed_kmh,
        })
        .await;
        self.started().await.0
    }

    /// Starts a ride on route 3 at 1,000 km/h (with 20 ms ticks about 400 positions, 8 s) and
    /// returns its id once `started`.
    pub async fn start_long_ride(&mut self) -> String {
        self.start("3", Some(1_000.0)).await
    }

    /// Watches `ride_id`; returns the path so far from the `watching` frame.
    pub async fn watch(&mut self, ride_id: &str) -> Vec<LatLng> {
        self.send(&ClientFrame::Watch {
            ride_id: ride_id.to_owned(),
        })
        .await;
        self.next_where(|frame| match frame {
            ServerFrame::Watching { path, .. } => Some(path.into_owned()),
            _ => None,
        })
        .await
    }

    /// Watches the whole fleet; returns the running rides of the first, full `fleet` frame.
    pub async fn watch_fleet(&mut self) -> Vec<FleetMove> {
        self.send(&ClientFrame::WatchFleet { bounds: None }).await;
        self.next_fleet().await
    }

    /// The rides of the next `fleet` frame.
    pub async fn next_fleet(&mut self) -> Vec<FleetMove> {
        self.next_where(|frame| match frame {
            ServerFrame::Fleet { moved, .. } => Some(moved.into_owned()),
            _ => None,
        })
        .await
    }

    /// Every `position` frame of `ride_id` up to and including the one with `finished: true`.
    pub async fn positions_until_finished(&mut self, ride_id: &str) -> Vec<Position> {
        let mut positions = Vec::new();
        loop {
            let position = self.next_position().await;
            if position.ride_id == ride_id {
                let finished = position.finished;
                positions.push(position);
                if finished {
                    return positions;
                }
            }
        }
    }
}

/// The `seq` of each position.
pub fn seqs(positions: &[Position]) -> Vec<u64> {
    positions.iter().map(|p| p.seq).collect()
}

/// The `seq` of each point of a recorded ride's `path` (REST).
pub fn path_seqs(path: &[Value]) -> Vec<u64> {
    path.iter().map(|p| p["seq"].as_u64().unwrap()).collect()
}

/// The `rota` binary as its own process, as a user or service manager runs it.
pub struct RotaProcess(Child);

impl RotaProcess {
    /// Starts `rota ARGS` with `env` (logging warnings unless `env` sets `RUST_LOG`).
    pub fn spawn(args: &[&str], env: &[(&str, String)]) -> Self {
        Self::spawn_to(args, env, None)
    }

    /// [`RotaProcess::spawn`], its standard output and error (its logs) written to `log`.
    fn spawn_to(args: &[&str], env: &[(&str, String)], log: Option<&Path>) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rota"));
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("the log file is created");
            command.stdout(file.try_clone().unwrap()).stderr(file);
        }
        Self(command.spawn().expect("rota starts"))
    }

    /// Starts `rota ARGS` with `env` and waits until `ready_addr` accepts connections.
    pub async fn start(args: &[&str], env: &[(&str, String)], ready_addr: SocketAddr) -> Self {
        Self::listening(Self::spawn(args, env), ready_addr).await
    }

    /// [`RotaProcess::start`] with its logs written to `log`.
    pub async fn start_logged(
        args: &[&str],
        env: &[(&str, String)],
        log: &Path,
        ready_addr: SocketAddr,
    ) -> Self {
        Self::listening(Self::spawn_to(args, env, Some(log)), ready_addr).await
    }

    async fn listening(process: Self, ready_addr: SocketAddr) -> Self {
        for _ in 0..400 {
            if TcpStream::connect(ready_addr).await.is_ok() {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rota never listened on {ready_addr}");
    }

    /// Starts `rota ARGS --http <a free port>` with `env` and waits until its `/readyz` says ready;
    /// returns the process and its listener.
    pub async fn serving(args: &[&str], env: &[(&str, String)]) -> (Self, SocketAddr) {
        Self::serving_to(args, env, None).await
    }

    /// [`RotaProcess::serving`] with its logs written to `log`.
    pub async fn serving_logged(
        args: &[&str],
        env: &[(&str, String)],
        log: &Path,
    ) -> (Self, SocketAddr) {
        Self::serving_to(args, env, Some(log)).await
    }

    async fn serving_to(
        args: &[&str],
        env: &[(&str, String)],
        log: Option<&Path>,
    ) -> (Self, SocketAddr) {
        let http = free_port();
        let http_arg = http.to_string();
        let args = [args, &["--http", &http_arg]].concat();
        let process = Self::listening(Self::spawn_to(&args, env, log), http).await;
        wait_ready(http).await;
        (process, http)
    }

    pub fn pid(&self) -> u32 {
        self.0.id().expect("running")
    }

    /// SIGKILL: a crash, with no chance to clean up.
    pub async fn kill(mut self) {
        self.0.kill().await.expect("killed");
    }

    /// SIGTERM, as a service manager would; the process must exit cleanly.
    pub async fn stop(mut self) {
        let pid = self.0.id().unwrap().to_string();
        let killed = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await;
        assert!(killed.unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.0.wait()).await;
        assert!(
            status.expect("exits within 30 s").unwrap().success(),
            "clean exit on SIGTERM"
        );
    }
}

/// `rota broker`, `rota api` and `rota simulator` as separate processes, as compose runs them, on
/// free ports and a temporary directory. Each part can be stopped and started again.
pub struct Split {
    pub dir: tempfile::TempDir,
    pub kafka: SocketAddr,
    pub http: SocketAddr,
    /// The api's environment beyond KAFKA_BROKERS (MONGODB_URI, say).
    pub api_env: Vec<(&'static str, String)>,
}

impl Split {
    pub fn new(api_env: Vec<(&'static str, String)>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            kafka: free_port(),
            http: free_port(),
            api_env,
        }
    }

    /// The parts with the api's store in MongoDB at `mongodb_uri`, or embedded without one.
    pub fn with_store(mongodb_uri: Option<String>) -> Self {
        Self::new(
            mongodb_uri
                .map(|uri| ("MONGODB_URI", uri))
                .into_iter()
                .collect(),
        )
    }

    fn data(&self, part: &str) -> String {
        self.dir.path().join(part).display().to_string()
    }

    fn brokers(&self) -> (&'static str, String) {
        ("KAFKA_BROKERS", self.kafka.to_string())
    }

    pub async fn broker(&self) -> RotaProcess {
        let kafka = self.kafka.to_string();
        let args = [
            "broker",
            "--kafka-listen",
            &kafka,
            "--data-dir",
            &self.data("broker"),
        ];
        RotaProcess::start(&args, &[], self.kafka).await
    }

    /// Starts the api and waits until it is ready.
    pub async fn api(&self) -> RotaProcess {
        let http = self.http.to_string();
        let args = ["api", "--http", &http, "--data-dir", &self.data("api")];
        let mut env = self.api_env.clone();
        env.push(self.brokers());
        let api = RotaProcess::start(&args, &env, self.http).await;
        wait_ready(self.http).await;
        api
    }

    /// Starts the simulator with 20 ms ticks and `env`.
    pub fn simulator(&self, env: &[(&str, String)]) -> RotaProcess {
        RotaProcess::spawn(&["simulator"], &self.simulator_env(env))
    }

    /// Starts the simulator with 20 ms ticks and an ops listener for its `/metrics`; returns it
    /// once ready, with the listener.
    pub async fn simulator_serving(&self) -> (RotaProcess, SocketAddr) {
        RotaProcess::serving(&["simulator"], &self.simulator_env(&[])).await
    }

    fn simulator_env<'a>(&self, env: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut env = env.to_vec();
        env.push(self.brokers());
        env.push(("ROTA_SIM_TICK_MS", "20".to_owned()));
        env
    }
}

/// Polls `GET /api/rides/{id}` until the ride is over and the store holds its whole path; the
/// history group may first have to wait out a crashed api's session (6 s).
pub async fn recorded_ride(base: &str, ride: &str) -> Value {
    let url = format!("{base}/api/rides/{ride}");
    let what = format!("ride {ride} is recorded whole");
    eventually(&what, Duration::from_secs(30), || async {
        let (status, mut body) = http("GET", &url, None).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let over = body["status"] == "finished" || body["status"] == "cancelled";
        let path = body["path"].as_array().unwrap().len() as u64;
        if over && path == body["positions"].as_u64().unwrap() {
            return Ok(body);
        }
        body["path"] = serde_json::json!(path);
        Err(body)
    })
    .await
}

/// The MongoDB test server's URI with a database of its own, so tests never share data.
/// `scripts/test` starts the server (SecantusDB) and sets `ROTA_TEST_MONGODB_URI`.
pub fn mongodb_uri() -> String {
    let server = std::env::var("ROTA_TEST_MONGODB_URI").expect(
        "ROTA_TEST_MONGODB_URI is not set: run the suite with scripts/test, which starts a MongoDB \
         wire-protocol server (SecantusDB) for these tests",
    );
    let database = format!("rota_test_{}", uuid::Uuid::new_v4().simple());
    format!("{}/{database}", server.trim_end_matches('/'))
}

/// Runs `command` (a peer's script) off the async threads, as the platform under test may share
/// them, and returns its standard output as JSON; panics with its stderr if it fails.
pub async fn json_output(mut command: std::process::Command, what: &str) -> Value {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{what} runs (scripts/test-setup installs it): {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{what} prints JSON: {e}"))
}

/// The Python that has the test clients installed (see scripts/test-setup).
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("ROTA_TEST_PYTHON") {
        return path.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.test-env/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// `GET /metrics` as series -> value, where a series is its name with its labels as written
/// (`rota_x{a="b"}`). Checks that every series belongs to a family with HELP and TYPE lines.
pub async fn scrape(base: &str) -> std::collections::BTreeMap<String, f64> {
    let (status, body) = http("GET", &format!("{base}/metrics"), None).await.unwrap();
    assert_eq!(status, 200);
    let text = body.as_str().unwrap().to_owned();
    let mut series = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        let family = metric_family(name);
        for header in ["HELP", "TYPE"] {
            assert!(
                text.contains(&format!("# {header} {family} ")),
                "{name} has a {header} line"
            );
        }
        series.insert(name.to_owned(), value.parse().unwrap());
    }
    series
}

/// The family a series belongs to: its name without labels, and without a histogram's
/// `_bucket`, `_sum` or `_count`.
pub fn metric_family(series: &str) -> &str {
    let name = series.split('{').next().unwrap();
    if !name.ends_with("_seconds_bucket")
        && !name.ends_with("_seconds_sum")
        && !name.ends_with("_seconds_count")
    {
        return name;
    }
    name.rsplit_once('_').map_or(name, |(family, _)| family)
}
