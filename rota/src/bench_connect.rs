//! `rota bench-connect`: the Elasticsearch sink's throughput and memory. Starts the built-in
//! broker and an in-memory Elasticsearch stand-in in this process, runs `rota connect` as a child
//! process (so its memory and CPU are its own), publishes positions at `--rate` per second, and
//! prints what the sink indexed per second, how far it lagged, and its peak RSS and CPU.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use connect::stand_in::StandIn;
use events::TOPIC_NEW_POSITION;
use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    bench::{proc_status, process_cpu_seconds as cpu_seconds},
    cli::BenchConnectArgs,
    platform::{Platform, PlatformConfig},
};

pub async fn run(args: BenchConnectArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let listen = "127.0.0.1:0".parse()?;
    let broker = Platform::start(PlatformConfig::broker(
        listen,
        dir.path().to_owned(),
        events::DEFAULT_PARTITIONS,
    ))
    .await?;
    let es = StandIn::start().await?;
    let mut sink = tokio::process::Command::new(std::env::current_exe()?)
        .args(["connect", "--kafka-brokers", &broker.kafka.brokers])
        .env("ELASTICSEARCH_URL", es.url().to_string())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting rota connect")?;
    let pid = sink.id().context("rota connect exited")?;

    let producing = CancellationToken::new();
    let producer = tokio::spawn(publish(
        broker.kafka.producer()?.get(),
        args.rate,
        producing.clone(),
    ));
    println!("publishing {} positions/s; warming up", args.rate);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (docs_before, cpu_before) = (es.document_count(), cpu_seconds(pid));
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let (docs_after, cpu_after) = (es.document_count(), cpu_seconds(pid));
    producing.cancel();
    let published = producer.await??;
    println!(
        "published:        {:.0} positions/s",
        published as f64 / (elapsed + 5.0)
    );
    let behind = published.saturating_sub(docs_after);
    let drained = Instant::now();
    while es.document_count() < published && drained.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "indexed:          {:.0} documents/s ({} bulk requests in all)",
        (docs_after - docs_before) as f64 / elapsed,
        es.bulk_requests()
    );
    println!(
        "behind at the end: {behind} documents, indexed {:.1?} after publishing stopped",
        drained.elapsed()
    );
    println!(
        "rota connect:     peak RSS {}, CPU {:.0}% of one core",
        proc_status(pid, "VmHWM"),
        100.0 * (cpu_after - cpu_before) / elapsed
    );
    let _ = sink.kill().await;
    broker.stop().await
}

/// Publishes positions at `rate` per second until cancelled; returns how many were delivered.
async fn publish(producer: FutureProducer, rate: u64, stop: CancellationToken) -> Result<usize> {
    const TICK: Duration = Duration::from_millis(10);
    let per_tick = (rate as f64 * TICK.as_secs_f64()).max(1.0) as usize;
    let mut ticks = tokio::time::interval(TICK);
    let mut deliveries = Vec::new();
    let mut seq = 0usize;
    while !stop.is_cancelled() {
        ticks.tick().await;
        for _ in 0..per_tick {
            let ride = seq % 1_000;
            let payload = json!({
                "routeId": "1", "clientId": "bench", "rideId": format!("ride-{ride}"),
                "position": [-47.9 + (seq % 997) as f64 * 1e-5, -15.8], "finished": false,
                "status": "driving", "seq": seq / 1_000, "progress": 0.5, "distanceM": 900.0,
                "routeLengthM": 1800.0, "speedKmh": 30.0, "heading": 90.0,
                "timestamp": events::now_ms(),
            })
            .to_string();
            let key = format!("ride-{ride}");
            let mut record = FutureRecord::to(TOPIC_NEW_POSITION)
                .key(&key)
                .payload(&payload);
            // Faster than the broker takes them: wait for room (the rate printed says so).
            let delivery = loop {
                match producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            };
            deliveries.push(delivery);
            seq += 1;
        }
    }
    let mut delivered = 0;
    for delivery in deliveries {
        if matches!(delivery.await, Ok(Ok(_))) {
            delivered += 1;
        }
    }
    Ok(delivered)
}
