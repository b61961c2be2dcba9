//! One ride: samples the drive every tick and publishes each position, keyed by ride id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::{LatLng, NewDirection, NewPosition, TOPIC_NEW_POSITION};
use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use tokio::time::{MissedTickBehavior, interval};
use tracing::{debug, info};

use crate::motion::{Drive, Polyline};

#[derive(Debug, thiserror::Error)]
#[error("ride {ride_id}: publishing position {seq} failed: {source}")]
pub struct RideError {
    ride_id: String,
    seq: u64,
    source: KafkaError,
}

#[derive(Clone)]
pub(crate) struct Ride {
    command: NewDirection,
    ride_id: String,
    speed_kmh: f64,
    tick: Duration,
    drive: Drive,
}

impl Ride {
    /// `command.ride_id` must be set.
    pub(crate) fn new(
        command: NewDirection,
        points: Vec<LatLng>,
        speed_kmh: f64,
        tick: Duration,
    ) -> Self {
        let ride_id = command.ride_id.clone().unwrap_or_default();
        let drive = Drive::new(Polyline::new(points), speed_kmh, tick);
        Self {
            command,
            ride_id,
            speed_kmh,
            tick,
            drive,
        }
    }

    /// Publishes every position, one per tick, waiting for each to be acknowledged so the next can
    /// never overtake it.
    pub(crate) async fn drive(self, producer: &FutureProducer) -> Result<(), RideError> {
        let Ride {
            command,
            ride_id,
            speed_kmh,
            tick,
            drive,
        } = self;
        let route_length_m = drive.line().length_m();
        info!(
            ride_id,
            route_id = command.route_id,
            route_length_m,
            speed_kmh,
            "ride started"
        );
        let mut ticks = interval(tick);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for sample in drive {
            ticks.tick().await;
            let event = NewPosition {
                route_id: command.route_id.clone(),
                client_id: command.client_id.clone(),
                ride_id: ride_id.clone(),
                position: sample.position.to_lng_lat(),
                finished: sample.finished,
                seq: sample.seq,
                progress: sample.progress,
                distance_m: sample.distance_m,
                route_length_m,
                speed_kmh: if sample.finished { 0.0 } else { speed_kmh },
                heading: sample.heading,
                timestamp: now_ms(),
            };
            let payload = serde_json::to_vec(&event).expect("positions always serialize");
            let record = FutureRecord::to(TOPIC_NEW_POSITION)
                .key(&ride_id)
                .payload(&payload);
            producer
                .send(record, Timeout::Never)
                .await
                .map_err(|(source, _)| RideError {
                    ride_id: ride_id.clone(),
                    seq: sample.seq,
                    source,
                })?;
            debug!(ride_id, seq = sample.seq, "position published");
        }
        info!(ride_id, "ride finished");
        Ok(())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
