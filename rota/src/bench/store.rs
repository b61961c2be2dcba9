//! The recorder's ceiling: the store alone, written as the recorder writes it (one
//! `record_positions` call per batch of [`api::BatchLimits`]' size, one batch after the other),
//! with positions of the same number of rides, no broker in the way.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use api::store::{EmbeddedStore, MongoStore, Store};
use events::{NewPosition, RideStatus};

/// Writes batches for `seconds` and returns positions written per second.
pub async fn positions_per_second(
    mongodb_uri: Option<&str>,
    rides: usize,
    seconds: u64,
) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = match mongodb_uri {
        Some(uri) => Arc::new(MongoStore::connect(uri).await?),
        None => Arc::new(EmbeddedStore::open(&dir.path().join("store.redb"))?),
    };
    store.prepare().await?;
    let batch = api::BatchLimits::default().max_positions;
    let (started, window) = (Instant::now(), Duration::from_secs(seconds));
    let mut written = 0;
    while started.elapsed() < window {
        let positions: Vec<NewPosition> = (written..written + batch)
            .map(|n| position(n % rides, (n / rides) as u64))
            .collect();
        store.record_positions(&positions).await?;
        written += batch;
    }
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

/// Ride `ride`'s position `seq`, as the simulator publishes it.
fn position(ride: usize, seq: u64) -> NewPosition {
    NewPosition {
        route_id: "1".into(),
        client_id: String::new(),
        ride_id: format!("bench-{ride}"),
        position: [-47.9 + seq as f64 * 1e-5, -15.8],
        finished: false,
        status: Some(RideStatus::Driving),
        seq,
        progress: 0.5,
        distance_m: seq as f64 * 4.2,
        route_length_m: 10_000.0,
        speed_kmh: 30.0,
        heading: 90.0,
        timestamp: events::now_ms(),
    }
}
