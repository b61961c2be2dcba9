//! One ride: samples the drive every tick and publishes each position, keyed by ride id.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use events::{
    NewDirection, NewPosition, RideProgress, RideStatus, SharedProducer, TOPIC_NEW_POSITION,
};
use rdkafka::{error::KafkaError, producer::FutureRecord, util::Timeout};
use routes::Polyline;
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::{
    motion::{Drive, Sample},
    progress::{self, CHECKPOINT_EVERY, Resume},
};

#[derive(Debug, thiserror::Error)]
#[error("ride {ride_id}: publishing position {seq} failed: {source}")]
pub struct RideError {
    ride_id: String,
    seq: u64,
    source: KafkaError,
    /// The last position the broker acknowledged: the ride goes on from there.
    pub(crate) acknowledged: Option<Resume>,
}

impl RideError {
    /// Whether the broker refuses the position itself, so no retry can publish it: a record too
    /// large for the topic, or one it finds malformed. (A broker gone, a topic missing or an ACL
    /// not granted yet are conditions of the cluster, which an operator mends: those are retried.)
    pub(crate) fn is_permanent(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode::*;
        matches!(
            self.source.rdkafka_error_code(),
            Some(
                MessageSizeTooLarge
                    | MessageBatchTooLarge
                    | InvalidMessageSize
                    | InvalidRecord
                    | InvalidMessage
            )
        )
    }
}

/// A ride to drive: what its positions say about it, and its drive. Holds nothing of its command
/// beyond that (its points are in the drive's shared line).
#[derive(Clone)]
pub(crate) struct Ride {
    route_id: String,
    client_id: String,
    ride_id: String,
    speed_kmh: f64,
    tick: Duration,
    drive: Drive,
}

impl Ride {
    /// `command.ride_id` must be set.
    pub(crate) fn new(
        command: NewDirection,
        line: Arc<Polyline>,
        speed_kmh: f64,
        tick: Duration,
    ) -> Self {
        Self {
            route_id: command.route_id,
            client_id: command.client_id,
            ride_id: command.ride_id.unwrap_or_default(),
            speed_kmh,
            tick,
            drive: Drive::new(line, speed_kmh, tick),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.ride_id
    }

    /// The same ride, going on one step after `resume` instead of from its start.
    pub(crate) fn resumed_after(self, resume: Resume) -> Self {
        Self {
            drive: self.drive.resumed_after(resume.seq, resume.distance_m),
            ..self
        }
    }

    /// Publishes every position, one per tick, waiting for each to be acknowledged so the next can
    /// never overtake it, and a checkpoint of it every [`CHECKPOINT_EVERY`] positions and at the
    /// end. When `cancel` fires the ride stops where it is and publishes one last
    /// position there, with `finished: true` and status `cancelled`. When `abandon` fires (its
    /// command's partition went to another simulator) it stops without a word.
    pub(crate) async fn drive(
        self,
        producer: &SharedProducer,
        published: &AtomicU64,
        cancel: &CancellationToken,
        abandon: &CancellationToken,
    ) -> Result<Ended, RideError> {
        let Ride {
            route_id,
            client_id,
            ride_id,
            speed_kmh,
            tick,
            drive,
        } = self;
        let route_length_m = drive.line().length_m();
        let mut last = drive.resumed_at();
        info!(
            ride_id,
            route_id,
            route_length_m,
            speed_kmh,
            resumed_after = last.map(|s| s.seq),
            "ride started"
        );
        let publish = |sample: &Sample, status: RideStatus| {
            let event = NewPosition {
                route_id: route_id.clone(),
                client_id: client_id.clone(),
                ride_id: ride_id.clone(),
                position: sample.position.to_lng_lat(),
                finished: sample.finished,
                status: Some(status),
                seq: sample.seq,
                progress: sample.progress,
                distance_m: sample.distance_m,
                route_length_m,
                speed_kmh: if sample.finished { 0.0 } else { speed_kmh },
                heading: sample.heading,
                timestamp: events::now_ms(),
            };
            let payload = serde_json::to_vec(&event).expect("positions always serialize");
            let (ride_id, sample) = (ride_id.clone(), *sample);
            async move {
                let record = FutureRecord::to(TOPIC_NEW_POSITION)
                    .key(&ride_id)
                    .payload(&payload);
                let producer = producer.get();
                let delivery = producer.send(record, Timeout::Never).await;
                let delivery = delivery.map_err(|(source, _)| RideError {
                    ride_id: ride_id.clone(),
                    seq: sample.seq,
                    source,
                    acknowledged: None,
                })?;
                published.fetch_add(1, Ordering::Relaxed);
                let over = status.is_over();
                if over || sample.seq % CHECKPOINT_EVERY == 0 {
                    let checkpoint = RideProgress {
                        seq: sample.seq,
                        distance_m: sample.distance_m,
                        over,
                        partition: delivery.partition,
                        offset: delivery.offset,
                    };
                    progress::checkpoint(&producer, &ride_id, &checkpoint);
                }
                Ok(())
            }
        };
        // A failed publish reports the last position that went through.
        let acknowledged = |last: Option<Sample>| {
            move |e: RideError| RideError {
                acknowledged: last.map(|s| Resume {
                    seq: s.seq,
                    distance_m: s.distance_m,
                    over: false,
                }),
                ..e
            }
        };
        let mut ticks = interval(tick);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for sample in drive.clone() {
            tokio::select! {
                biased;
                _ = abandon.cancelled() => {
                    info!(ride_id, "ride handed over to another simulator");
                    return Ok(Ended::Abandoned);
                }
                _ = cancel.cancelled() => {
                    let stop = stop_sample(last.as_ref(), &drive);
                    publish(&stop, RideStatus::Cancelled).await.map_err(acknowledged(last))?;
                    info!(ride_id, seq = stop.seq, "ride cancelled");
                    return Ok(Ended::Driven);
                }
                _ = ticks.tick() => {}
            }
            let status = if sample.finished {
                RideStatus::Finished
            } else {
                RideStatus::Driving
            };
            publish(&sample, status).await.map_err(acknowledged(last))?;
            debug!(ride_id, seq = sample.seq, "position published");
            last = Some(sample);
        }
        info!(ride_id, "ride finished");
        Ok(Ended::Driven)
    }
}

/// How a ride's drive ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// To its end, or to its cancellation: its command is done.
    Driven,
    /// Left to the simulator that owns its command now: its command must not be committed here.
    Abandoned,
}

/// The final sample of a cancelled ride: where it stands (its last position, or the one it resumed
/// after), one seq later.
fn stop_sample(last: Option<&Sample>, drive: &Drive) -> Sample {
    match last {
        Some(last) => Sample {
            seq: last.seq + 1,
            finished: true,
            ..*last
        },
        None => Sample {
            finished: true,
            ..drive.clone().next().expect("a drive has a first sample")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode;

    fn failed(code: RDKafkaErrorCode) -> RideError {
        RideError {
            ride_id: "r".into(),
            seq: 3,
            source: KafkaError::MessageProduction(code),
            acknowledged: None,
        }
    }

    #[test]
    fn only_a_position_the_broker_refuses_as_such_is_never_retried() {
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::InvalidRecord,
        ] {
            assert!(failed(code).is_permanent(), "{code:?}");
        }
        // The cluster's conditions, which change: retried.
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::Fatal,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
        ] {
            assert!(!failed(code).is_permanent(), "{code:?}");
        }
    }
}
