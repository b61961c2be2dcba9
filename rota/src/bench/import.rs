//! `rota bench-import`: what big route imports cost everyone else. Starts the platform with one
//! ride driving and a WebSocket watching it, then for each size posts `--files` GPX tracks of that
//! many points at once (all on one line, the worst case for line numbers), while a client asks
//! `/healthz` every 10 ms. Prints how long the imports took, how long `/healthz` took meanwhile,
//! and the longest wait between two positions of the ride on its socket.
//! Figures, not assertions: compare runs, don't gate on them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio_tungstenite::tungstenite::Message;

use api::frames::{ClientFrame, ServerFrame};

use super::{start_rides, wait_ready};
use crate::{
    cli::BenchImportArgs,
    platform::{Platform, PlatformConfig, SimulatorConfig},
};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub async fn run(args: BenchImportArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut config = PlatformConfig::broker(listen, dir.path().to_owned(), 6);
    config.api = Some(api::ApiConfig {
        http: "127.0.0.1:0".parse()?,
        socket_queue: api::DEFAULT_SOCKET_QUEUE,
        mongodb_uri: None,
        batch: api::BatchLimits::default(),
        map: api::MapConfig::default(),
        auth: api::auth::AuthConfig::default(),
        limits: api::limits::LimitsConfig {
            // The imports themselves must not be refused for their rate.
            writes: api::limits::LimitsConfig::unlimited().writes,
            ..api::limits::LimitsConfig::default()
        },
    });
    config.simulator = Some(SimulatorConfig {
        // Slow enough that the watched ride outlasts the slowest imports.
        speed_kmh: 5.0,
        tick: simulator::DEFAULT_TICK,
        routes_dir: None,
    });
    let platform = Platform::start(config).await?;
    let http = platform.http_addr.context("api runs")?;
    wait_ready(http).await?;
    let ride = start_rides(http, 1, 1).await?.remove(0);
    let gaps = RideGaps::watch(http, ride).await?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    println!(
        "{:>8} {:>9} {:>6} {:>22} {:>24} {:>16}",
        "points",
        "MB each",
        "files",
        "import (slowest), HTTP",
        "/healthz p50 / p99 / max",
        "ride's longest gap"
    );
    for (round, &points) in args.points.iter().enumerate() {
        let body = Bytes::from(gpx(points));
        let probing = Arc::new(AtomicBool::new(true));
        let probe = tokio::spawn(probe_healthz(client.clone(), http, probing.clone()));
        gaps.reset();
        let started = Instant::now();
        let imports = futures::future::join_all((0..args.files).map(|file| {
            let title = format!("bench import {round}-{file}");
            import(&client, http, title, body.clone())
        }))
        .await;
        let took = started.elapsed();
        // A moment after, so a stall at the end shows in the ride's gap too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        probing.store(false, Ordering::Release);
        let mut healthz = probe.await??;
        healthz.sort_unstable_by(f64::total_cmp);
        let statuses: Vec<String> = imports
            .into_iter()
            .map(|status| status.map_or_else(|e| format!("error {e}"), |s| s.to_string()))
            .collect();
        let pct = |p: f64| healthz[((healthz.len() - 1) as f64 * p).round() as usize];
        println!(
            "{points:>8} {:>9.2} {:>6} {:>13.2} s, {:<6} {:>24} {:>14.2} s",
            body.len() as f64 / 1e6,
            args.files,
            took.as_secs_f64(),
            statuses.join(","),
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                pct(0.5) * 1e3,
                pct(0.99) * 1e3,
                pct(1.0) * 1e3
            ),
            gaps.longest().as_secs_f64(),
        );
    }
    platform.stop().await?;
    Ok(())
}

/// A GPX track of `points` points on one line.
fn gpx(points: usize) -> String {
    let mut text = String::with_capacity(points * 40 + 100);
    text.push_str(r#"<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>"#);
    for i in 0..points {
        let step = i as f64 * 1e-5;
        text.push_str(&format!(
            r#"<trkpt lat="{:.5}" lon="{:.5}"/>"#,
            -15.8 + step,
            -47.9 + step
        ));
    }
    text.push_str("</trkseg></trk></gpx>");
    text
}

/// Posts a GPX import; returns the HTTP status.
async fn import(
    client: &HttpClient,
    http: std::net::SocketAddr,
    title: String,
    body: Bytes,
) -> Result<u16> {
    let title: String = url::form_urlencoded::byte_serialize(title.as_bytes()).collect();
    let request = hyper::Request::post(format!("http://{http}/api/routes?title={title}"))
        .header("content-type", "application/gpx+xml")
        .body(Full::new(body))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// Asks `/healthz` every 10 ms while `probing`; returns each answer's time in seconds.
async fn probe_healthz(
    client: HttpClient,
    http: std::net::SocketAddr,
    probing: Arc<AtomicBool>,
) -> Result<Vec<f64>> {
    let mut took = Vec::new();
    while probing.load(Ordering::Acquire) {
        let asked = Instant::now();
        let response = client
            .get(format!("http://{http}/healthz").parse()?)
            .await?;
        response.into_body().collect().await?;
        took.push(asked.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(took)
}

/// The longest wait between two positions of a ride, as its watcher's socket saw them.
struct RideGaps {
    longest_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl RideGaps {
    async fn watch(http: std::net::SocketAddr, ride: String) -> Result<Self> {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws")).await?;
        let ask = serde_json::to_string(&ClientFrame::Watch { ride_id: ride })?;
        futures::SinkExt::send(&mut socket, Message::text(ask)).await?;
        let longest_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let longest = longest_ms.clone();
        tokio::spawn(async move {
            let mut last = Instant::now();
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && let Ok(ServerFrame::Position(_)) = serde_json::from_str(&text)
                {
                    let gap = last.elapsed().as_millis() as u64;
                    longest.fetch_max(gap, Ordering::Relaxed);
                    last = Instant::now();
                }
            }
        });
        Ok(Self { longest_ms })
    }

    fn reset(&self) {
        self.longest_ms.store(0, Ordering::Relaxed);
    }

    fn longest(&self) -> Duration {
        Duration::from_millis(self.longest_ms.load(Ordering::Relaxed))
    }
}
