//! `rota bench`: runs N concurrent rides through the built-in broker to WebSocket clients, all in
//! this process — fleet watchers (batched `fleet` frames) and single-ride watchers (every
//! `position`) — and prints for each kind the updates/s delivered against those expected,
//! end-to-end latency (simulator publish → socket receipt) and sockets dropped; then how fast
//! positions were recorded into the store and how far recording lags, and the process's peak RSS.
//! Then, with the platform stopped, the same number of fleet clients watch a bare broadcaster of
//! the same positions ([`baseline`]), and the ratio of Rota's deliveries to its is printed; and the
//! store is written alone, as the recorder writes it ([`store`]), for the recorder's ceiling; and
//! the simulator drives the same rides into a built-in broker that nothing reads ([`broker`]), for
//! the share of the machine the broker takes before any record is read.
//! Figures, not assertions: compare runs, don't gate on them.

mod baseline;
mod broker;
pub mod import;
mod store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, stream};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use api::{
    ApiConfig,
    frames::{ClientFrame, ServerFrame},
};

use crate::{
    cli::BenchArgs,
    platform::{KafkaSource, Platform, PlatformConfig, SimulatorConfig},
};

/// What one WebSocket client saw during the measured window.
#[derive(Default)]
struct Seen {
    /// Rides' positions received: entries of `fleet` frames, or `position` frames.
    updates: u64,
    latencies_ms: Vec<i64>,
    /// Whether the server closed the socket as too slow.
    dropped: bool,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        self.updates += other.updates;
        self.latencies_ms.extend(other.latencies_ms);
        self.dropped |= other.dropped;
    }
}

/// What a bench client watches.
#[derive(Clone)]
enum Watch {
    Fleet,
    Ride(String),
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let kafka = match &args.kafka_brokers {
        Some(brokers) => KafkaSource::External {
            brokers: brokers.clone(),
        },
        None => KafkaSource::built_in(listen),
    };
    let platform = Platform::start(PlatformConfig {
        kafka,
        data_dir: dir.path().to_owned(),
        partitions: events::DEFAULT_PARTITIONS,
        api: Some(ApiConfig {
            http: "127.0.0.1:0".parse()?,
            socket_queue: api::DEFAULT_SOCKET_QUEUE,
            mongodb_uri: args.mongodb_uri.clone(),
            batch: api::BatchLimits::default(),
            map: api::MapConfig::default(),
            auth: api::auth::AuthConfig::default(),
            limits: api::limits::LimitsConfig::unlimited(),
        }),
        simulator: Some(simulator_config(&args)),
        connect: None,
    })
    .await?;
    let http = platform.http_addr.context("api runs")?;
    wait_ready(http).await?;

    let measuring = Arc::new(AtomicBool::new(false));
    let mut fleet_clients = Vec::new();
    for _ in 0..args.clients {
        fleet_clients.push(tokio::spawn(watch(http, Watch::Fleet, measuring.clone())));
    }
    let driving = tokio::spawn(first_positions(http, args.rides));
    let started = Instant::now();
    let ride_ids = start_rides(http, args.rides, args.start_batch as usize).await?;
    let queued = started.elapsed();
    let driving = tokio::time::timeout(Duration::from_secs(120), driving)
        .await
        .context("not every ride published a position within 2 minutes")???;
    println!(
        "started {} rides in {queued:.1?} ({}); every ride's first position on a socket after \
         {:.1?}; warming up",
        args.rides,
        match args.start_batch {
            1 => "one POST /api/rides each".to_owned(),
            n => format!("POST /api/rides/batch of {n}"),
        },
        driving - started
    );
    let mut ride_clients = Vec::new();
    for ride in ride_ids.iter().cycle().take(args.ride_watchers) {
        let ride = Watch::Ride(ride.clone());
        ride_clients.push(tokio::spawn(watch(http, ride, measuring.clone())));
    }
    // Every ride lasts minutes at city speed: after a warm-up all are driving during the window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recorded_before = history(&platform.kafka).await?;
    let pages: Vec<_> = ride_ids
        .iter()
        .take(args.system_pages)
        .map(|ride| tokio::spawn(system_page(http, ride.clone(), measuring.clone())))
        .collect();
    let cpu_before = cpu_seconds();
    let broker_cpu_before = args.kafka_pid.map(process_cpu_seconds);
    let elapsed = measure(&measuring, args.seconds).await;
    let cpu = cpu_seconds() - cpu_before;
    let broker_cpu = args
        .kafka_pid
        .zip(broker_cpu_before)
        .map(|(pid, before)| process_cpu_seconds(pid) - before);
    let (mut view_ms, mut tail_ms) = (Vec::new(), Vec::new());
    for page in pages {
        let (view, tail) = page.await??;
        view_ms.extend(view);
        tail_ms.extend(tail);
    }
    let recorded_after = history(&platform.kafka).await?;

    println!("rides:                 {}", args.rides);
    println!("tick:                  {} ms", args.tick_ms);
    println!("measured for:          {elapsed:.1} s");
    let per_ride = 1000.0 / args.tick_ms as f64 * args.rides as f64;
    let (fleet, rides) = (fleet_clients.len(), ride_clients.len());
    let fleet_expected = per_ride * fleet as f64;
    let fleet_delivered = report("fleet watchers", fleet_clients, fleet_expected, elapsed).await?;
    let ride_expected = 1000.0 / args.tick_ms as f64 * rides as f64;
    report("ride watchers", ride_clients, ride_expected, elapsed).await?;
    println!(
        "peak RSS (whole process: broker, simulator, api, clients): {}",
        proc_status(std::process::id(), "VmHWM")
    );
    println!(
        "process CPU:           {cpu:.1} s in the window ({:.2} cores)",
        cpu / elapsed
    );
    if let (Some(pid), Some(broker_cpu)) = (args.kafka_pid, broker_cpu) {
        println!(
            "broker process:        {broker_cpu:.1} s CPU in the window ({:.2} cores), peak RSS {}",
            broker_cpu / elapsed,
            proc_status(pid, "VmHWM")
        );
    }
    if args.system_pages > 0 {
        let reads = scrape(http, "rota_system_reads_total").await?;
        println!(
            "System pages:          {} open, {} requests answered by {reads} cluster reads",
            args.system_pages,
            view_ms.len() + tail_ms.len()
        );
        for (what, ms) in [
            ("/api/system", &mut view_ms),
            ("ride's records", &mut tail_ms),
        ] {
            ms.sort_unstable();
            println!(
                "  {what:<20} p50 {} ms, max {} ms",
                ms.get(ms.len() / 2).unwrap_or(&0),
                ms.last().unwrap_or(&0)
            );
        }
    }
    println!(
        "positions published:   {:.0}/s by the simulator (expected {per_ride:.0}/s)",
        (recorded_after.published - recorded_before.published) as f64 / elapsed
    );
    println!(
        "positions recorded:    {:.0}/s into the {} store; {} positions not yet recorded at the end",
        (recorded_after.recorded - recorded_before.recorded) as f64 / elapsed,
        if args.mongodb_uri.is_some() {
            "MongoDB"
        } else {
            "embedded"
        },
        recorded_after.published - recorded_after.recorded,
    );
    platform.stop().await?;
    if args.clients > 0 {
        let bare = bare_broadcast(&args).await?;
        println!(
            "Rota's fleet deliveries / the bare broadcaster's: {:.2}",
            fleet_delivered / bare
        );
    }
    let alone = store::positions_per_second(args.mongodb_uri.as_deref(), args.rides, 10).await?;
    println!(
        "the store alone:       {alone:.0} positions/s written as the recorder writes (batches of {}), no broker",
        api::BatchLimits::default().max_positions
    );
    if args.kafka_brokers.is_some() {
        // Its own figures are the broker process's above, apart from the platform's.
        return Ok(());
    }
    let (published, cores) =
        broker::positions_per_second(args.rides, simulator_config(&args), args.seconds).await?;
    println!(
        "the broker alone:      {published:.0} positions/s published by the simulator when nothing \
         reads them (expected {per_ride:.0}/s), {cores:.2} cores"
    );
    Ok(())
}

/// The simulator as every phase runs it: city speed, the bench's tick.
fn simulator_config(args: &BenchArgs) -> SimulatorConfig {
    SimulatorConfig {
        speed_kmh: simulator::DEFAULT_SPEED_KMH,
        tick: Duration::from_millis(args.tick_ms),
        routes_dir: None,
    }
}

/// The same number of fleet clients, measured the same way, on a bare broadcaster of the same
/// positions; returns its updates delivered per second.
async fn bare_broadcast(args: &BenchArgs) -> Result<f64> {
    let stop = tokio_util::sync::CancellationToken::new();
    let tick = Duration::from_millis(args.tick_ms);
    let addr = baseline::start(args.rides, tick, stop.clone()).await?;
    let measuring = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(watch(addr, Watch::Fleet, measuring.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let elapsed = measure(&measuring, args.seconds).await;
    let expected = 1000.0 / args.tick_ms as f64 * (args.rides * args.clients) as f64;
    let kind = "bare tokio-tungstenite broadcaster (every position a frame), fleet clients";
    let delivered = report(kind, clients, expected, elapsed).await;
    stop.cancel();
    delivered
}

/// Sets `measuring` for `seconds`; returns how long it was set, in seconds.
async fn measure(measuring: &AtomicBool, seconds: u64) -> f64 {
    measuring.store(true, Ordering::Release);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Release);
    window.elapsed().as_secs_f64()
}

/// Positions published so far, and how many of them the history group has recorded (committed).
struct History {
    published: i64,
    recorded: i64,
}

async fn history(kafka: &events::KafkaConfig) -> Result<History> {
    let consumer: BaseConsumer = kafka
        .client()
        .set("group.id", api::recorder::HISTORY_GROUP)
        .create()?;
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(5);
        let topic = events::TOPIC_NEW_POSITION;
        let mut partitions = TopicPartitionList::new();
        for p in consumer.fetch_metadata(Some(topic), timeout)?.topics()[0].partitions() {
            partitions.add_partition(topic, p.id());
        }
        let mut history = History {
            published: 0,
            recorded: 0,
        };
        for element in consumer.committed_offsets(partitions, timeout)?.elements() {
            let (low, high) = consumer.fetch_watermarks(topic, element.partition(), timeout)?;
            history.published += high - low;
            history.recorded += match element.offset() {
                Offset::Offset(next) => next - low,
                _ => 0,
            };
        }
        Ok(history)
    })
    .await?
}

/// Waits for `clients` (each stops at its first frame after the window), prints what they saw,
/// and returns the updates delivered per second; prints nothing for no clients.
async fn report(
    kind: &str,
    clients: Vec<tokio::task::JoinHandle<Result<Seen>>>,
    expected: f64,
    elapsed: f64,
) -> Result<f64> {
    let n = clients.len();
    if n == 0 {
        return Ok(0.0);
    }
    let (mut seen, mut dropped) = (Seen::default(), 0);
    for client in clients {
        let client = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .context("a client did not stop")???;
        dropped += usize::from(client.dropped);
        seen.add(client);
    }
    seen.latencies_ms.sort_unstable();
    let pct = |p: f64| -> i64 {
        let l = &seen.latencies_ms;
        if l.is_empty() {
            0
        } else {
            l[((l.len() - 1) as f64 * p).round() as usize]
        }
    };
    let delivered = seen.updates as f64 / elapsed;
    println!("{kind}: {n}");
    println!("  updates delivered:   {delivered:.0}/s (expected {expected:.0}/s)");
    println!(
        "  latency publish→socket: p50 {} ms, p99 {} ms, max {} ms",
        pct(0.50),
        pct(0.99),
        seen.latencies_ms.last().copied().unwrap_or(0)
    );
    println!("  sockets dropped:     {dropped}");
    Ok(delivered)
}

/// Counts a client's updates and their latency while `measuring` is set; returns once it has been
/// unset, or when the server closes the socket.
async fn watch(
    http: std::net::SocketAddr,
    what: Watch,
    measuring: Arc<AtomicBool>,
) -> Result<Seen> {
    // A ride watcher's frames are small; tungstenite's default 128 KiB read buffer for each of a
    // thousand of them would weigh on the peak RSS printed for the platform.
    let config = matches!(what, Watch::Ride(_))
        .then(|| WebSocketConfig::default().read_buffer_size(4 << 10));
    let url = format!("ws://{http}/ws");
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, config, false).await?;
    let ask = match &what {
        Watch::Fleet => ClientFrame::WatchFleet { bounds: None },
        Watch::Ride(ride_id) => ClientFrame::Watch {
            ride_id: ride_id.clone(),
        },
    };
    let ask = Message::text(serde_json::to_string(&ask)?);
    futures::SinkExt::send(&mut socket, ask).await?;
    let mut seen = Seen::default();
    let mut was_measuring = false;
    while let Some(message) = socket.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(frame) => {
                seen.dropped = frame.is_some_and(|f| u16::from(f.code) == 1013);
                break;
            }
            _ => continue,
        };
        let now = measuring.load(Ordering::Acquire);
        if was_measuring && !now {
            break;
        }
        was_measuring |= now;
        if !now {
            continue;
        }
        let received = events::now_ms();
        match serde_json::from_str(&text)? {
            ServerFrame::Fleet {
                full: false, moved, ..
            } => {
                seen.updates += moved.len() as u64;
                seen.latencies_ms
                    .extend(moved.iter().map(|m| received - m.timestamp()));
            }
            ServerFrame::Position(position) => {
                seen.updates += 1;
                seen.latencies_ms.push(received - position.timestamp);
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// What an open System page following `ride` asks for, twice a second, until `measuring` is
/// unset: the view, and the tail of the positions topic filtered by the ride's key (the costlier
/// tail). Returns how long each request of each kind took, in milliseconds.
async fn system_page(
    http: std::net::SocketAddr,
    ride: String,
    measuring: Arc<AtomicBool>,
) -> Result<(Vec<u64>, Vec<u64>)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let tail = format!(
        "/api/system/topics/{}/records?key={ride}",
        events::TOPIC_NEW_POSITION
    );
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let (mut view_ms, mut tail_ms) = (Vec::new(), Vec::new());
    while !measuring.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while measuring.load(Ordering::Acquire) {
        tick.tick().await;
        for (path, took) in [("/api/system", &mut view_ms), (tail.as_str(), &mut tail_ms)] {
            let asked = Instant::now();
            let response = client.get(format!("http://{http}{path}").parse()?).await?;
            if response.status() != 200 {
                bail!("{path}: {}", response.status());
            }
            response.into_body().collect().await?;
            took.push(asked.elapsed().as_millis() as u64);
        }
    }
    Ok((view_ms, tail_ms))
}

/// A counter's value on `/metrics`.
async fn scrape(http: std::net::SocketAddr, name: &str) -> Result<u64> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .get(format!("http://{http}/metrics").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .with_context(|| format!("{name} is not on /metrics"))
}

/// CPU time this process has used (user and system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// CPU time process `pid` has used.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime (fields 14 and 15 of the line, so 11 and 12 counted from 0 after the
    // name), in clock ticks: 100 a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts `n` rides over the sample routes in turn, `batch` per request; returns their ids.
async fn start_rides(http: std::net::SocketAddr, n: usize, batch: usize) -> Result<Vec<String>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let samples = routes::sample_routes();
    let route = |i: usize| samples[i % samples.len()].id;
    let post = |path: &'static str, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let request = hyper::Request::post(format!("http://{http}{path}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))?;
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if status != 202 {
                bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
            }
            Ok(serde_json::from_slice::<serde_json::Value>(&body)?)
        }
    };
    let id =
        |started: &serde_json::Value| started["rideId"].as_str().unwrap_or_default().to_owned();
    if batch == 1 {
        return stream::iter(0..n)
            .map(|i| post("/api/rides", serde_json::json!({ "routeId": route(i) })))
            .buffered(64)
            .map(|started| Ok(id(&started?)))
            .collect::<Vec<Result<String>>>()
            .await
            .into_iter()
            .collect();
    }
    let mut ids = Vec::with_capacity(n);
    for first in (0..n).step_by(batch) {
        let rides: Vec<_> = (first..n.min(first + batch))
            .map(|i| serde_json::json!({ "routeId": route(i) }))
            .collect();
        let started = post("/api/rides/batch", serde_json::json!({ "rides": rides })).await?;
        ids.extend(started["started"].as_array().into_iter().flatten().map(id));
    }
    Ok(ids)
}

/// When a fleet watcher has had a position of `n` distinct rides.
async fn first_positions(http: std::net::SocketAddr, n: usize) -> Result<Instant> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws")).await?;
    let ask = serde_json::to_string(&ClientFrame::WatchFleet { bounds: None })?;
    futures::SinkExt::send(&mut socket, Message::text(ask)).await?;
    let mut seen = std::collections::HashSet::new();
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message?
            && let ServerFrame::Fleet { moved, .. } = serde_json::from_str(&text)?
        {
            seen.extend(moved.iter().map(|m| m.ride_id().to_owned()));
            if seen.len() >= n {
                return Ok(Instant::now());
            }
        }
    }
    bail!("the fleet socket closed after {} of {n} rides", seen.len())
}

async fn wait_ready(http: std::net::SocketAddr) -> Result<()> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for _ in 0..100 {
        let uri = format!("http://{http}/readyz").parse()?;
        if let Ok(response) = client.get(uri).await
            && response.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the platform did not become ready")
}

/// A line of `/proc/<pid>/status` (`VmHWM`: the most resident memory the process has used).
pub fn proc_status(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
