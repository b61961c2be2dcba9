//! The built-in broker's share: the simulator driving the same rides into a built-in broker that
//! nothing reads (no api: no live reader, no recorder), started by commands published straight to
//! `route.new-direction`. What it publishes, and the cores it takes, bound what the whole platform
//! can do on this machine before any record is read.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use events::{NewDirection, TOPIC_NEW_DIRECTION};
use futures::{TryStreamExt, stream};
use rdkafka::{producer::FutureRecord, util::Timeout};

use crate::platform::{Platform, PlatformConfig, SimulatorConfig};

/// Positions published per second over `seconds`, and the cores the process used meanwhile.
pub async fn positions_per_second(
    rides: usize,
    simulator: SimulatorConfig,
    seconds: u64,
) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let platform = Platform::start(PlatformConfig {
        simulator: Some(simulator),
        ..PlatformConfig::broker(listen, dir.path().to_owned(), events::DEFAULT_PARTITIONS)
    })
    .await?;
    let producer = platform.kafka.producer()?.get();
    // The platform phase's rides: the sample routes in turn, each command carrying its points.
    let samples: Vec<(&str, Vec<[f64; 2]>)> = routes::sample_routes()
        .into_iter()
        .map(|route| {
            (
                route.id,
                route.points.iter().map(|p| p.to_lng_lat()).collect(),
            )
        })
        .collect();
    let commands = (0..rides).map(|n| {
        let (route_id, points) = &samples[n % samples.len()];
        NewDirection {
            route_id: (*route_id).to_owned(),
            client_id: String::new(),
            ride_id: Some(format!("bench-{n}")),
            points: Some(points.clone()),
            speed_kmh: None,
            cancel: false,
        }
    });
    stream::iter(commands.map(anyhow::Ok))
        .try_for_each_concurrent(1_000, |command| {
            let producer = &producer;
            async move {
                let payload = serde_json::to_vec(&command)?;
                let record = FutureRecord::to(TOPIC_NEW_DIRECTION)
                    .key(command.key())
                    .payload(&payload);
                let sent = producer.send(record, Timeout::After(Duration::from_secs(30)));
                sent.await.map_err(|(e, _)| e).context("start command")?;
                Ok(())
            }
        })
        .await?;
    // Every ride driving (a position each), then the same warm-up as the platform's run.
    let driving = Instant::now();
    while super::history(&platform.kafka).await?.published < rides as i64 {
        anyhow::ensure!(
            driving.elapsed() < Duration::from_secs(120),
            "the rides did not all publish within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = (super::history(&platform.kafka).await?, super::cpu_seconds());
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = (super::history(&platform.kafka).await?, super::cpu_seconds());
    let elapsed = window.elapsed().as_secs_f64();
    platform.stop().await?;
    Ok((
        (after.0.published - before.0.published) as f64 / elapsed,
        (after.1 - before.1) / elapsed,
    ))
}
