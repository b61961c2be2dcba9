//! Ride progress on `route.ride-progress`, so a ride taken over after a crash or a rebalance goes on
//! where it was instead of starting its route again.
//!
//! Every [`CHECKPOINT_EVERY`] positions, and at its end, a ride publishes a [`RideProgress`]: its
//! latest acknowledged position and where that position is on `route.new-position`. Once the
//! ride's command is committed, nobody will drive it again and its checkpoint is removed (a
//! tombstone; the topic is compacted). Checkpoints are not awaited: one that is lost only makes a
//! takeover read a little further.
//!
//! A command that may have been driven before (see [`crate::rebalance`]) is looked up in the
//! [`ProgressView`]: it reads the checkpoints up to where they end now, then reads
//! `route.new-position` on from the ride's checkpoint to its very last position, so the ride
//! resumes one step after the last position anyone published for it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, mpsc},
    thread,
    time::{Duration, Instant},
};

use events::{KafkaConfig, NewPosition, RideProgress, TOPIC_NEW_POSITION, TOPIC_RIDE_PROGRESS};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
};
use tokio::sync::oneshot;
use tracing::{info, warn};

/// Positions between two checkpoints of a ride: at a 500 ms tick, one each 5 s.
pub const CHECKPOINT_EVERY: u64 = 10;
/// A view nobody asked for this long stops reading (and forgets what it read).
const IDLE: Duration = Duration::from_secs(30);
/// Longest a view waits for the broker in one lookup.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Where a ride stands: the last position published for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resume {
    pub seq: u64,
    pub distance_m: f64,
    /// That position finished or cancelled the ride.
    pub over: bool,
}

/// Publishes a checkpoint of `ride_id` without waiting for it.
pub fn checkpoint(producer: &FutureProducer, ride_id: &str, progress: &RideProgress) {
    let payload = serde_json::to_vec(progress).expect("checkpoints always serialize");
    let record = FutureRecord::to(TOPIC_RIDE_PROGRESS)
        .key(ride_id)
        .payload(&payload);
    if let Err((e, _)) = producer.send_result(record) {
        warn!(ride_id, error = %e, "could not queue a progress checkpoint");
    }
}

/// Removes the checkpoint of `ride_id` (its command is committed) without waiting.
pub fn forget(producer: &FutureProducer, ride_id: &str) {
    let record = FutureRecord::<str, [u8]>::to(TOPIC_RIDE_PROGRESS).key(ride_id);
    if let Err((e, _)) = producer.send_result(record) {
        warn!(ride_id, error = %e, "could not queue a progress tombstone");
    }
}

/// Answers "where was this ride?" from `route.ride-progress` and `route.new-position`. Reads on a
/// thread of its own (the reads block), started at the first lookup and stopped when idle: most of
/// the time no command needs one.
pub struct ProgressView {
    kafka: KafkaConfig,
    requests: Arc<Mutex<Option<mpsc::Sender<Lookup>>>>,
}

struct Lookup {
    ride_id: String,
    reply: oneshot::Sender<Result<Option<Resume>, String>>,
}

impl ProgressView {
    pub fn new(kafka: KafkaConfig) -> Self {
        Self {
            kafka,
            requests: Arc::default(),
        }
    }

    /// The last position published for `ride_id`, or `None` if it has none: it was never driven,
    /// or so long ago that its checkpoint is gone.
    pub async fn lookup(&self, ride_id: &str) -> Result<Option<Resume>, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Lookup {
            ride_id: ride_id.to_owned(),
            reply,
        });
        answer
            .await
            .unwrap_or_else(|_| Err("the progress reader stopped".into()))
    }

    fn send(&self, lookup: Lookup) {
        let mut requests = lock(&self.requests);
        // A reader that stopped when idle has dropped its receiver: start another.
        let lookup = match requests.as_ref() {
            Some(tx) => match tx.send(lookup) {
                Ok(()) => return,
                Err(mpsc::SendError(lookup)) => lookup,
            },
            None => lookup,
        };
        let (tx, rx) = mpsc::channel();
        tx.send(lookup).expect("the receiver is here");
        *requests = Some(tx);
        let (kafka, slot) = (self.kafka.clone(), self.requests.clone());
        let spawned = thread::Builder::new()
            .name("ride-progress".into())
            .spawn(move || serve(&kafka, &slot, &rx));
        if let Err(e) = spawned {
            // The lookups queued on `rx` are dropped with it and answer that the reader stopped.
            warn!(error = %e, "could not start the progress reader");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reader thread: answers lookups in rounds, each round for every lookup queued by then.
fn serve(
    kafka: &KafkaConfig,
    slot: &Mutex<Option<mpsc::Sender<Lookup>>>,
    rx: &mpsc::Receiver<Lookup>,
) {
    let mut checkpoints: Option<Checkpoints> = None;
    loop {
        let (mut round, last): (Vec<Lookup>, bool) = match rx.recv_timeout(IDLE) {
            Ok(first) => (std::iter::once(first).chain(rx.try_iter()).collect(), false),
            Err(_) => {
                // Whoever asks from now on starts another reader; what is queued is answered.
                lock(slot).take();
                (rx.try_iter().collect(), true)
            }
        };
        if round.is_empty() {
            return;
        }
        if checkpoints.is_none() {
            checkpoints = Checkpoints::open(kafka)
                .inspect_err(|e| warn!(error = %e, "could not read {TOPIC_RIDE_PROGRESS}"))
                .ok();
        }
        let answers = match checkpoints.as_mut() {
            Some(checkpoints) => {
                let rides: Vec<&str> = round.iter().map(|l| l.ride_id.as_str()).collect();
                checkpoints
                    .resume_points(kafka, &rides)
                    .map_err(|e| e.to_string())
            }
            None => Err(format!("{TOPIC_RIDE_PROGRESS} cannot be read")),
        };
        for lookup in round.drain(..) {
            let answer = match &answers {
                Ok(resumes) => Ok(resumes.get(&lookup.ride_id).copied()),
                Err(e) => Err(format!("reading ride progress: {e}")),
            };
            let _ = lookup.reply.send(answer);
        }
        if last {
            return;
        }
    }
}

/// Every ride's latest checkpoint, read from the start of `route.ride-progress` on.
struct Checkpoints {
    consumer: BaseConsumer,
    latest: HashMap<String, RideProgress>,
}

impl Checkpoints {
    fn open(kafka: &KafkaConfig) -> Result<Self, KafkaError> {
        let consumer = reader(kafka)?;
        let mut list = TopicPartitionList::new();
        for partition in partitions(&consumer, TOPIC_RIDE_PROGRESS)? {
            list.add_partition_offset(TOPIC_RIDE_PROGRESS, partition, Offset::Beginning)?;
        }
        consumer.assign(&list)?;
        Ok(Self {
            consumer,
            latest: HashMap::new(),
        })
    }

    /// Where each of `rides` that was driven before stands now.
    fn resume_points(
        &mut self,
        kafka: &KafkaConfig,
        rides: &[&str],
    ) -> Result<HashMap<String, Resume>, KafkaError> {
        let latest = &mut self.latest;
        read_to_end(&self.consumer, TOPIC_RIDE_PROGRESS, |message| {
            let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                return;
            };
            match message.payload().map(RideProgress::decode) {
                None => {
                    latest.remove(key);
                }
                Some(Ok(progress)) => {
                    latest.insert(key.to_owned(), progress);
                }
                Some(Err(e)) => warn!(
                    offset = message.offset(),
                    error = %e,
                    "skipping unusable checkpoint"
                ),
            }
        })?;
        let mut resumes = HashMap::new();
        // Per partition of `route.new-position`, the earliest checkpoint still driving.
        let mut scan_from: HashMap<i32, i64> = HashMap::new();
        for ride in rides {
            let Some(progress) = self.latest.get(*ride) else {
                continue;
            };
            resumes.insert(
                ride.to_string(),
                Resume {
                    seq: progress.seq,
                    distance_m: progress.distance_m,
                    over: progress.over,
                },
            );
            if !progress.over {
                let from = scan_from.entry(progress.partition).or_insert(i64::MAX);
                *from = (*from).min(progress.offset);
            }
        }
        if !scan_from.is_empty() {
            later_positions(kafka, &scan_from, &mut resumes)?;
            info!(
                rides = resumes.len(),
                "rides resume where their last position was"
            );
        }
        Ok(resumes)
    }
}

/// Moves each of `resumes` on to the last position published for it after `scan_from`.
fn later_positions(
    kafka: &KafkaConfig,
    scan_from: &HashMap<i32, i64>,
    resumes: &mut HashMap<String, Resume>,
) -> Result<(), KafkaError> {
    let consumer = reader(kafka)?;
    let mut list = TopicPartitionList::new();
    for (&partition, &offset) in scan_from {
        list.add_partition_offset(TOPIC_NEW_POSITION, partition, Offset::Offset(offset))?;
    }
    consumer.assign(&list)?;
    read_to_end(&consumer, TOPIC_NEW_POSITION, |message| {
        let resume = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|ride| resumes.get_mut(ride));
        let Some(resume) = resume else { return };
        if let Some(Ok(position)) = message.payload().map(NewPosition::decode)
            && position.seq > resume.seq
        {
            *resume = Resume {
                seq: position.seq,
                distance_m: position.distance_m,
                over: position.status().is_over(),
            };
        }
    })
}

/// A consumer that reads what it is assigned and commits nothing: it never joins its group (which
/// librdkafka wants named all the same).
fn reader(kafka: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
    kafka
        .client()
        .set("group.id", "rota-ride-progress")
        .set("enable.auto.commit", "false")
        // A checkpoint's position may be gone with the topic's retention: read from the oldest.
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), READ_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Hands `apply` every record of `consumer`'s assignment on `topic` up to where each partition
/// ends now. (The last record of a partition is never compacted away: it is its key's latest.)
fn read_to_end(
    consumer: &BaseConsumer,
    topic: &str,
    mut apply: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), KafkaError> {
    let mut ends = HashMap::new();
    for element in consumer.position()?.elements() {
        let partition = element.partition();
        let (low, high) = consumer.fetch_watermarks(topic, partition, READ_TIMEOUT)?;
        let next = match element.offset() {
            Offset::Offset(next) => next,
            _ => low,
        };
        if high > next.max(low) {
            ends.insert(partition, high);
        }
    }
    let deadline = Instant::now() + READ_TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            warn!(
                topic,
                partitions = ends.len(),
                "gave up reading to the end; resuming from what was read"
            );
            break;
        }
        match consumer.poll(POLL) {
            Some(Ok(message)) => {
                apply(&message);
                let partition = message.partition();
                if ends
                    .get(&partition)
                    .is_some_and(|&end| message.offset() + 1 >= end)
                {
                    ends.remove(&partition);
                }
            }
            Some(Err(e)) => warn!(topic, error = %e, "reading ride progress; retrying"),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_cluster_is_an_answer_not_a_hang() {
        let view = ProgressView::new(KafkaConfig::new("127.0.0.1:9"));
        let (first, second) = tokio::join!(view.lookup("a"), view.lookup("b"));
        for answer in [first, second] {
            let error = answer.expect_err("nothing can be read");
            assert!(error.contains(TOPIC_RIDE_PROGRESS), "{error}");
        }
    }
}
