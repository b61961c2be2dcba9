//! The route simulator: consumes `route.new-direction` commands (consumer group `simulator`), drives
//! one vehicle per command along its route with a speed model, and publishes `route.new-position`
//! events keyed by ride id, the last one with `finished: true`.
//!
//! Many rides run at once, each its own task, all on the process's one shared producer. A ride awaits
//! each delivery before its next tick, so its positions stay in order even across retries. A ride
//! checkpoints its progress ([`progress`]), so one taken over after a crash or a rebalance goes on
//! from its last position, never from the start of its route again.

mod geometry;
mod metrics;
pub mod motion;
mod offsets;
mod progress;
mod rebalance;
mod ride;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use events::{Backoff, NewDirection, SharedProducer, TOPIC_NEW_DIRECTION, batch::NextOffsets};
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
};
use routes::LatLng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The consumer group of the simulators: ride commands are shared out among its members.
pub const GROUP: &str = "simulator";
pub use metrics::Metrics;
pub use ride::RideError;

use geometry::Geometries;
use progress::ProgressView;
use rebalance::CommandContext;
use ride::Ended;

/// City speed the reference system's users expect to watch.
pub const DEFAULT_SPEED_KMH: f64 = 30.0;
/// How often a vehicle reports its position, as in the reference system.
pub const DEFAULT_TICK: Duration = Duration::from_millis(500);
/// Back-off after a Kafka failure: first wait, then doubling up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Lookups of a ride's progress before it is driven from its start instead.
const LOOKUP_ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct Config {
    pub kafka: events::KafkaConfig,
    /// Speed of a ride whose command names none.
    pub speed_kmh: f64,
    /// Time between two positions of a ride.
    pub tick: Duration,
    /// Where `<routeId>.txt` files are looked up for commands that carry no points; the sample
    /// routes are used when unset or when the file is not there.
    pub routes_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Denied(#[from] events::AccessDenied),
}

/// Runs the simulator until `shutdown` is cancelled. Running rides are then stopped and their
/// commands left uncommitted, so a restarted simulator resumes them.
pub async fn run(
    config: Config,
    producer: SharedProducer,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let consumer: StreamConsumer<CommandContext> = metrics
        .lag
        .configure(
            config
                .kafka
                .group_member(GROUP)
                // A ride should start promptly; the built-in broker holds a waiting fetch for its full
                // wait.
                .set("fetch.wait.max.ms", "50"),
        )
        .create_with_context(CommandContext::new(metrics.lag.clone()))?;
    let consumer = Arc::new(events::ClosedOffThread::new(consumer));
    let progress = Arc::new(ProgressView::new(config.kafka.clone()));
    consumer.subscribe(&[TOPIC_NEW_DIRECTION])?;
    info!(
        speed_kmh = config.speed_kmh,
        tick_ms = config.tick.as_millis() as u64,
        "simulator consuming {TOPIC_NEW_DIRECTION}"
    );
    let mut simulator = Simulator {
        config,
        producer,
        metrics,
        consumer,
        tracker: offsets::OffsetTracker::default(),
        progress,
        geometries: Geometries::default(),
        driven: HashMap::new(),
        tasks: JoinSet::new(),
        running: HashMap::new(),
        drives: 0,
    };
    let mut recreated = tokio::time::interval(events::KEEP_TOPICS_EVERY);
    loop {
        simulator
            .metrics
            .rides_running
            .store(simulator.running.len() as u64, Ordering::Relaxed);
        let done = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = recreated.tick() => {
                simulator.rewind_recreated().await;
                None
            }
            Some(ended) = simulator.tasks.join_next() => {
                simulator.forget_revoked();
                simulator.ride_ended(ended)
            }
            message = simulator.consumer.recv() => {
                // Commands are few: owning one frees the consumer for the rest of the loop.
                let message = message.map(|m| m.detach());
                simulator.forget_revoked();
                match message {
                    Ok(message) => simulator.command(&message),
                    Err(e) => {
                        if let Some(denied) = events::AccessDenied::reading(&e, Some(GROUP), TOPIC_NEW_DIRECTION) {
                            return Err(denied.into());
                        }
                        // librdkafka reconnects by itself; a broker blip must not stop the rides.
                        warn!(error = %e, "command consumer error; retrying");
                        tokio::time::sleep(RETRY_FIRST).await;
                        None
                    }
                }
            }
        };
        if let Some(done) = done {
            simulator.done_with(done);
        }
    }
    info!(
        running = simulator.tasks.len(),
        "simulator stopping; unfinished rides resume where they are after restart"
    );
    simulator.tasks.shutdown().await;
    if let Ok(consumer) = Arc::try_unwrap(simulator.consumer) {
        consumer.close().await;
    }
    // The producer is shared; whoever owns it flushes it.
    Ok(())
}

/// The simulator's state while it runs: its command consumer, the rides it drives, and which
/// command offsets are safe to commit.
struct Simulator {
    config: Config,
    producer: SharedProducer,
    metrics: Arc<Metrics>,
    consumer: Arc<events::ClosedOffThread<StreamConsumer<CommandContext>>>,
    tracker: offsets::OffsetTracker,
    progress: Arc<ProgressView>,
    geometries: Geometries,
    /// Per partition, rides driven to their end whose commands are not committed yet, by offset:
    /// their checkpoints go once the commit passes them.
    driven: HashMap<i32, BTreeMap<i64, String>>,
    tasks: JoinSet<RideDone>,
    /// Running rides by id, for cancel commands and redeliveries.
    running: HashMap<String, Running>,
    /// Drives started so far, to tell one drive of a ride from a later one.
    drives: u64,
}

impl Simulator {
    /// A rebalance may have run inside `recv()`: the rides of partitions that went elsewhere are
    /// stopping, and their offsets are no longer ours to track or commit.
    fn forget_revoked(&mut self) {
        for partition in self.consumer.context().take_revoked() {
            self.forget(partition);
        }
    }

    /// `partition`'s offsets are no longer ours to track or commit; rides still driving from its
    /// commands end unnoticed.
    fn forget(&mut self, partition: i32) {
        self.tracker.forget(partition);
        self.driven.remove(&partition);
        self.running.retain(|_, ride| ride.partition != partition);
    }

    /// The command topic deleted and made again: its partitions are read from their start, and the
    /// offsets of the deleted topic's commands mean nothing in the new one.
    async fn rewind_recreated(&mut self) {
        let consumer = self.consumer.clone();
        let rewound = tokio::task::spawn_blocking(move || {
            events::rewind_past_end(&**consumer, TOPIC_NEW_DIRECTION)
        })
        .await;
        // Not knowing (a broker away) is the next look's to find out.
        let Ok(Ok(rewound)) = rewound else { return };
        for partition in rewound {
            warn!(
                partition,
                "{TOPIC_NEW_DIRECTION} was made again: reading the partition from its start"
            );
            self.forget(partition);
        }
    }

    /// A ride task ended; returns its command if that command is now done with.
    fn ride_ended(&mut self, ended: Result<RideDone, tokio::task::JoinError>) -> Option<Done> {
        let done = match ended {
            Ok(done) => done,
            Err(e) => {
                error!(error = %e, "ride task failed");
                return None;
            }
        };
        // Not ours any more (abandoned, or its partition revoked while it finished).
        if self
            .running
            .get(&done.ride_id)
            .is_none_or(|r| r.drive != done.drive)
        {
            return None;
        }
        self.running.remove(&done.ride_id);
        (done.ended != Ended::Abandoned).then_some(Done {
            partition: done.partition,
            offset: done.offset,
            ride_id: Some(done.ride_id),
        })
    }

    /// Acts on a command; returns it if it is done with at once (a cancel, an unusable command),
    /// `None` while its ride drives.
    fn command(&mut self, message: &impl Message) -> Option<Done> {
        let (partition, offset) = (message.partition(), message.offset());
        let done = Done {
            partition,
            offset,
            ride_id: None,
        };
        match read_command(&self.config, &mut self.geometries, message) {
            // Redelivered after a rebalance (the broker restarted, say) while its ride is still
            // driving here: one drive is enough, and that one commits the offset.
            Ok(Command::Start(ride)) if self.running.contains_key(ride.id()) => {
                info!(
                    ride_id = ride.id(),
                    "command redelivered while its ride is driving; ignored"
                );
                None
            }
            Ok(Command::Start(ride)) => {
                self.start(*ride, partition, offset);
                None
            }
            Ok(Command::Cancel(ride_id)) => {
                match self.running.get(&ride_id) {
                    Some(ride) => ride.cancel.cancel(),
                    None => info!(ride_id, "cancel for a ride not running here; ignored"),
                }
                Some(done)
            }
            Err(reason) => {
                warn!(partition, offset, %reason, "skipping unusable {TOPIC_NEW_DIRECTION} message");
                Some(done)
            }
        }
    }

    fn start(&mut self, ride: ride::Ride, partition: i32, offset: i64) {
        let cancel = CancellationToken::new();
        let context = self.consumer.context();
        let abandon = context.abandon_token(partition);
        // Only a command from before this simulator owned its partition may have been driven.
        let progress = (!context.is_fresh(partition, offset)).then(|| self.progress.clone());
        let (ride_id, drive) = (ride.id().to_owned(), self.drives);
        self.drives += 1;
        self.running.insert(
            ride_id.clone(),
            Running {
                drive,
                partition,
                cancel: cancel.clone(),
            },
        );
        self.tracker.start(partition, offset);
        let (producer, metrics) = (self.producer.clone(), self.metrics.clone());
        self.tasks.spawn(async move {
            let ended = drive_ride(ride, progress, &producer, &metrics, &cancel, &abandon).await;
            RideDone {
                partition,
                offset,
                ride_id,
                drive,
                ended,
            }
        });
    }

    /// A command is done with: commit up to the oldest command still driving, and remove the
    /// checkpoints of the rides that commit leaves behind. (Should the commit fail and the process
    /// die before the next, such a ride is driven again from its start, as before checkpoints.)
    fn done_with(&mut self, done: Done) {
        let Done {
            partition,
            offset,
            ride_id,
        } = done;
        let driven = self.driven.entry(partition).or_default();
        if let Some(ride_id) = ride_id {
            driven.insert(offset, ride_id);
        }
        if let Some(next) = self.tracker.finish(partition, offset) {
            let mut offsets = NextOffsets::default();
            offsets.set(TOPIC_NEW_DIRECTION, partition, next);
            offsets.commit(&**self.consumer, CommitMode::Async);
            let still = driven.split_off(&next);
            for ride_id in std::mem::replace(driven, still).values() {
                progress::forget(&self.producer.get(), ride_id);
            }
        }
    }
}

/// A command done with: where it is, and the ride it drove, if any.
struct Done {
    partition: i32,
    offset: i64,
    ride_id: Option<String>,
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

enum Command {
    Start(Box<ride::Ride>),
    Cancel(String),
}

/// Decodes a command: a ride ready to be driven, or the id of a ride to cancel.
fn read_command(
    config: &Config,
    geometries: &mut Geometries,
    message: &impl Message,
) -> Result<Command, String> {
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
    let points = match command.points.take() {
        Some(points) => points
            .into_iter()
            .map(LatLng::from_lng_lat)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?,
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
        geometries.line(points),
        speed,
        config.tick,
    ))))
}

/// Drives a ride: from its start, or, if it may have been driven before (`progress` is where to look
/// that up), on from its last position, or not at all if it is over.
async fn drive_ride(
    ride: ride::Ride,
    progress: Option<Arc<ProgressView>>,
    producer: &SharedProducer,
    metrics: &Metrics,
    cancel: &CancellationToken,
    abandon: &CancellationToken,
) -> Ended {
    let found = match progress {
        None => Ok(None),
        Some(progress) => match look_up(&progress, ride.id(), abandon).await {
            Some(found) => found,
            None => return Ended::Abandoned,
        },
    };
    let ride = match found {
        Ok(None) => ride,
        Ok(Some(resume)) if resume.over => {
            info!(
                ride_id = ride.id(),
                seq = resume.seq,
                "ride already over; not driven again"
            );
            return Ended::Driven;
        }
        Ok(Some(resume)) => {
            metrics.rides_resumed.fetch_add(1, Ordering::Relaxed);
            ride.resumed_after(resume)
        }
        Err(e) => {
            error!(
                ride_id = ride.id(),
                error = e,
                "ride progress unknown; driving it from its start"
            );
            ride
        }
    };
    metrics.rides_started.fetch_add(1, Ordering::Relaxed);
    drive_until_done(ride, producer, metrics, cancel, abandon).await
}

/// Where a ride stands, asked a few times (the broker may be restarting); `None` if the ride is
/// abandoned meanwhile.
async fn look_up(
    progress: &ProgressView,
    ride_id: &str,
    abandon: &CancellationToken,
) -> Option<Result<Option<progress::Resume>, String>> {
    let (mut backoff, mut attempt) = (Backoff::new(RETRY_FIRST, RETRY_MAX), 1);
    loop {
        let found = tokio::select! {
            _ = abandon.cancelled() => return None,
            found = progress.lookup(ride_id) => found,
        };
        match found {
            Err(e) if attempt < LOOKUP_ATTEMPTS => {
                let delay = backoff.next_delay();
                warn!(
                    ride_id,
                    error = e,
                    retry_in_ms = delay.as_millis() as u64,
                    "ride progress unknown; asking again"
                );
                tokio::select! {
                    _ = abandon.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
            found => return Some(found),
        }
    }
}

/// Drives a ride to its end (or its cancellation). Positions that could not be published (the
/// broker gone for longer than the producer's message timeout) must not leave a ride half-driven:
/// it goes on after the last position that was.
async fn drive_until_done(
    mut ride: ride::Ride,
    producer: &SharedProducer,
    metrics: &Metrics,
    cancel: &CancellationToken,
    abandon: &CancellationToken,
) -> Ended {
    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
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
        if e.is_permanent() {
            // Its command is done with: redriven after a restart, it would fail the same way.
            metrics.rides_failed.fetch_add(1, Ordering::Relaxed);
            error!(error = %e, "ride failed: the broker refuses its positions for good; not retried");
            return Ended::Driven;
        }
        if let Some(acknowledged) = e.acknowledged {
            ride = ride.resumed_after(acknowledged);
        }
        let delay = backoff.next_delay();
        error!(error = %e, retry_in_ms = delay.as_millis() as u64, "ride stopped early; driving it on after its last position");
        tokio::select! {
            _ = abandon.cancelled() => return Ended::Abandoned,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// A route by id: `<routes_dir>/<id>.txt` if present, else the sample route of that id.
fn lookup_route(config: &Config, id: &str) -> Result<Vec<LatLng>, String> {
    let safe = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if let Some(dir) = config.routes_dir.as_ref().filter(|_| safe) {
        let file = dir.join(format!("{id}.txt"));
        if file.exists() {
            return routes::read_route_file(&file).map_err(|e| e.to_string());
        }
    }
    routes::sample_routes()
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
            "the file wins over the sample"
        );
        assert_eq!(
            lookup_route(&config, "2").unwrap().len(),
            40,
            "the samples fill in"
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
