//! The route simulator: consumes `route.new-direction` commands (consumer group `simulator`), drives
//! one vehicle per command along its route with a speed model, and publishes `route.new-position`
//! events keyed by ride id, the last one with `finished: true`.
//!
//! Many rides run at once, each its own task, all on the process's one shared producer. A ride awaits
//! each delivery before its next tick, so its positions stay in order even across retries.

mod metrics;
pub mod motion;
mod offsets;
mod rebalance;
mod ride;
pub mod route;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use events::{LagContext, LatLng, NewDirection, TOPIC_NEW_DIRECTION};
use rdkafka::{
    Message, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    producer::FutureProducer,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use metrics::Metrics;
pub use ride::RideError;

use rebalance::CommandContext;
use ride::Ended;

/// City speed the reference system's users expect to watch.
pub const DEFAULT_SPEED_KMH: f64 = 30.0;
/// How often a vehicle reports its position, as in the reference system.
pub const DEFAULT_TICK: Duration = Duration::from_millis(500);
/// Back-off after a Kafka failure: first wait, then doubling up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Config {
    pub kafka: events::KafkaConfig,
    /// Speed of a ride whose command names none.
    pub speed_kmh: f64,
    /// Time between two positions of a ride.
    pub tick: Duration,
    /// Where `<routeId>.txt` files are looked up for commands that carry no points; the seed
    /// catalogue is used when unset or when the file is not there.
    pub routes_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// Runs the simulator until `shutdown` is cancelled. Running rides are then stopped and their
/// commands left uncommitted, so a restarted simulator drives them again.
pub async fn run(
    config: Config,
    producer: FutureProducer,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let consumer: StreamConsumer<CommandContext> = LagContext::configure(
        config
            .kafka
            .group_member("simulator")
            // A ride should start promptly; the built-in broker holds a waiting fetch for its full
            // wait.
            .set("fetch.wait.max.ms", "50"),
    )
    .create_with_context(CommandContext::new(metrics.lag.clone()))?;
    consumer.subscribe(&[TOPIC_NEW_DIRECTION])?;
    info!(
        speed_kmh = config.speed_kmh,
        tick_ms = config.tick.as_millis() as u64,
        "simulator consuming {TOPIC_NEW_DIRECTION}"
    );

    let mut tracker = offsets::OffsetTracker::default();
    let mut rides: JoinSet<RideDone> = JoinSet::new();
    // Running rides by id, for cancel commands and redeliveries.
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut drives = 0..;
    loop {
        metrics
            .rides_running
            .store(running.len() as u64, Ordering::Relaxed);
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = rides.join_next() => Event::RideDone(done),
            message = consumer.recv() => Event::Message(message),
        };
        // A rebalance may have run inside recv(): the rides of partitions that went elsewhere are
        // stopping, and their offsets are no longer ours to track or commit.
        for partition in consumer.context().take_revoked() {
            tracker.forget(partition);
            running.retain(|_, ride| ride.partition != partition);
        }
        let (partition, offset) = match event {
            Event::RideDone(Err(e)) => {
                error!(error = %e, "ride task failed");
                continue;
            }
            Event::RideDone(Ok(done)) => {
                // Not ours any more (abandoned, or its partition revoked while it finished).
                if running
                    .get(&done.ride_id)
                    .is_none_or(|r| r.drive != done.drive)
                {
                    continue;
                }
                running.remove(&done.ride_id);
                if done.ended == Ended::Abandoned {
                    continue;
                }
                (done.partition, done.offset)
            }
            Event::Message(Err(e)) => {
                // librdkafka reconnects by itself; a broker blip must not stop the rides.
                warn!(error = %e, "command consumer error; retrying");
                tokio::time::sleep(RETRY_FIRST).await;
                continue;
            }
            Event::Message(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                match read_command(&config, &message) {
                    // Redelivered after a rebalance (the broker restarted, say) while its ride is
                    // still driving here: one drive is enough, and that one commits the offset.
                    Ok(Command::Start(ride)) if running.contains_key(ride.id()) => {
                        info!(
                            ride_id = ride.id(),
                            "command redelivered while its ride is driving; ignored"
                        );
                        continue;
                    }
                    Ok(Command::Start(ride)) => {
                        let cancel = CancellationToken::new();
                        let abandon = consumer.context().abandon_token(partition);
                        let (ride_id, drive) =
                            (ride.id().to_owned(), drives.next().unwrap_or_default());
                        running.insert(
                            ride_id.clone(),
                            Running {
                                drive,
                                partition,
                                cancel: cancel.clone(),
                            },
                        );
                        tracker.start(partition, offset);
                        let (producer, metrics) = (producer.clone(), metrics.clone());
                        metrics.rides_started.fetch_add(1, Ordering::Relaxed);
                        rides.spawn(async move {
                            let ended =
                                drive_until_done(*ride, &producer, &metrics, &cancel, &abandon)
                                    .await;
                            RideDone {
                                partition,
                                offset,
                                ride_id,
                                drive,
                                ended,
                            }
                        });
                        continue;
                    }
                    Ok(Command::Cancel(ride_id)) => {
                        match running.get(&ride_id) {
                            Some(ride) => ride.cancel.cancel(),
                            None => info!(ride_id, "cancel for a ride not running here; ignored"),
                        }
                        (partition, offset)
                    }
                    Err(reason) => {
                        warn!(partition, offset, %reason, "skipping unusable {TOPIC_NEW_DIRECTION} message");
                        (partition, offset)
                    }
                }
            }
        };
        if let Some(next) = tracker.finish(partition, offset) {
            commit(&consumer, partition, next);
        }
    }

    info!(
        running = rides.len(),
        "simulator stopping; unfinished rides resume after restart"
    );
    rides.shutdown().await;
    events::close_consumer(consumer).await;
    // The producer is shared; whoever owns it flushes it.
    Ok(())
}

/// What woke the run loop.
enum Event<M> {
    RideDone(Result<RideDone, tokio::task::JoinError>),
    Message(Result<M, KafkaError>),
}

/// A ride driven here now.
struct Running {
    /// Tells this drive from a later one of the same ride (after a rebalance gave it back).
    drive: u64,
    partition: i32,
    cancel: CancellationToken,
}

/// What a ride task reports when it ends.
struct RideDone {
    partition: i32,
    offset: i64,
    ride_id: String,
    drive: u64,
    ended: Ended,
}

fn commit(consumer: &StreamConsumer<CommandContext>, partition: i32, next: i64) {
    let mut list = TopicPartitionList::new();
    if let Err(e) = list
        .add_partition_offset(
            TOPIC_NEW_DIRECTION,
            partition,
            rdkafka::Offset::Offset(next),
        )
        .and_then(|()| consumer.commit(&list, CommitMode::Async))
    {
        warn!(partition, next, error = %e, "offset commit failed; the commands may be replayed");
    }
}

enum Command {
    Start(Box<ride::Ride>),
    Cancel(String),
}

/// Decodes a command: a ride ready to be driven, or the id of a ride to cancel.
fn read_command(config: &Config, message: &impl Message) -> Result<Command, String> {
    let mut command =
        NewDirection::decode(message.payload().unwrap_or_default()).map_err(|e| e.to_string())?;
    if command.cancel {
        return Ok(Command::Cancel(command.ride_id.unwrap_or_default()));
    }
    // The reference system sends no ride id; one derived from the command's place in the log stays
    // the same when the command is redelivered.
    command
        .ride_id
        .get_or_insert_with(|| format!("p{}-o{}", message.partition(), message.offset()));
    let points = match &command.points {
        Some(points) => points
            .iter()
            .map(|p| LatLng::from_lng_lat(*p))
            .collect::<Result<Vec<_>, _>>()?,
        None => lookup_route(config, &command.route_id)?,
    };
    if points.len() < 2 {
        return Err(format!(
            "route {} has fewer than 2 points",
            command.route_id
        ));
    }
    let speed = command.speed_kmh.unwrap_or(config.speed_kmh);
    Ok(Command::Start(Box::new(ride::Ride::new(
        command,
        points,
        speed,
        config.tick,
    ))))
}

/// Drives a ride to its end (or its cancellation). Positions that could not be published (the
/// broker gone for longer than the producer's message timeout) must not leave a ride half-driven:
/// it is driven again from its start, as a restarted simulator would.
async fn drive_until_done(
    ride: ride::Ride,
    producer: &FutureProducer,
    metrics: &Metrics,
    cancel: &CancellationToken,
    abandon: &CancellationToken,
) -> Ended {
    let mut delay = RETRY_FIRST;
    loop {
        let drive = ride.clone();
        let e = match drive
            .drive(producer, &metrics.positions_published, cancel, abandon)
            .await
        {
            Ok(ended) => return ended,
            Err(_) if abandon.is_cancelled() => return Ended::Abandoned,
            Err(e) => e,
        };
        error!(error = %e, retry_in_ms = delay.as_millis() as u64, "ride stopped early; driving it again from its start");
        tokio::select! {
            _ = abandon.cancelled() => return Ended::Abandoned,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// A route by id: `<routes_dir>/<id>.txt` if present, else the seed catalogue.
fn lookup_route(config: &Config, id: &str) -> Result<Vec<LatLng>, String> {
    let safe = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if let Some(dir) = config.routes_dir.as_ref().filter(|_| safe) {
        let file = dir.join(format!("{id}.txt"));
        if file.exists() {
            return route::read_route_file(&file).map_err(|e| e.to_string());
        }
    }
    route::seed_routes()
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| r.points)
        .ok_or_else(|| format!("unknown route {id:?} and the command carries no points"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes_dir: Option<PathBuf>) -> Config {
        Config {
            kafka: events::KafkaConfig::new("127.0.0.1:9"),
            speed_kmh: DEFAULT_SPEED_KMH,
            tick: DEFAULT_TICK,
            routes_dir,
        }
    }

    #[test]
    fn route_files_override_the_seed_and_a_corrupt_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.txt"), "1,1\n2,2\n").unwrap();
        std::fs::write(dir.path().join("7.txt"), "1,1\n2,2\nlat,lng\n").unwrap();
        let config = config(Some(dir.path().to_owned()));
        assert_eq!(
            lookup_route(&config, "1").unwrap().len(),
            2,
            "the file wins over the seed"
        );
        assert_eq!(
            lookup_route(&config, "2").unwrap().len(),
            40,
            "the seed fills in"
        );
        let err = lookup_route(&config, "7").unwrap_err();
        assert!(
            err.contains("7.txt:3: latitude \"lat\" is not a number"),
            "{err}"
        );
        let err = lookup_route(&config, "../1").unwrap_err();
        assert!(
            err.contains("unknown route"),
            "ids never escape the directory: {err}"
        );
    }
}
