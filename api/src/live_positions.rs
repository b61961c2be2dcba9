//! The api process's one consumer of `route.new-position`.
//!
//! Every api replica must see every position (each serves its own browsers), so this consumer joins
//! no group: it assigns itself all partitions and never commits.
//!
//! After a restart the hub must not forget running rides. It is refilled from the store (each
//! running ride with its recorded path), and this consumer starts where the store's record ends:
//! at the history group's committed offsets (see [`crate::recorder`]), or at the end of each
//! partition the group has never committed. So the hub's paths continue without a gap. The replica
//! reports ready only once it has read up to where each partition ended when it started, so a
//! browser it serves after a restart sees at least every position shown before it.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use events::{KafkaConfig, NewPosition, RideStatus, TOPIC_NEW_POSITION};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{
    hub::Hub,
    key_tap::KeyTap,
    recorder::HISTORY_GROUP,
    ride::PathPoint,
    store::{PageRequest, RideFilter, Store, StoreError},
};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
const FETCH_WAIT_MS: &str = "50";

/// Most running rides put back into the hub after a restart.
const RESTORED_RIDES_MAX: usize = 10_000;

/// Feeds positions into the hub (and records of followed keys into `tap`) until `shutdown`; sets
/// `ready` once caught up with the topic.
pub async fn consume_positions(
    kafka: &KafkaConfig,
    hub: Arc<Hub>,
    tap: Arc<KeyTap>,
    store: Arc<dyn Store>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> Result<(), events::ConsumeError> {
    match restore_running_rides(&hub, store.as_ref()).await {
        Ok(0) => {}
        Ok(rides) => info!(rides, "running rides restored from the store"),
        Err(e) => warn!(
            error = e.chain(),
            "could not restore running rides; their paths start now"
        ),
    }
    let consumer: StreamConsumer = kafka
        .client()
        // Only to read the history group's committed offsets: this consumer never joins it.
        .set("group.id", HISTORY_GROUP)
        .set("enable.auto.commit", "false")
        // Live positions: ask often rather than let the broker hold a fetch open for up to 500 ms
        // (the built-in broker answers a waiting fetch only when the wait is over). Not less: the
        // built-in broker also reads for about this long per fetch, and at 10 ms the reader fell
        // behind the simulator at 10,000 rides (README, Benchmark).
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        // A position past a partition's end means the topic was deleted and made again: read the
        // new one from its start, not from whatever it holds by the time the reader notices.
        .set("auto.offset.reset", "earliest")
        .create()?;
    let consumer = Arc::new(events::ClosedOffThread::new(consumer));
    // Offsets are looked up explicitly: "the end" resolved lazily could skip positions published
    // between start-up and the first fetch. A broker that is starting or just restarted answers
    // "not coordinator" or "loading" for a while: ask again until it knows.
    let (assignment, mut catch_up) = loop {
        let found = tokio::task::spawn_blocking({
            let consumer = consumer.clone();
            move || assignment_after_history(&consumer)
        })
        .await
        .map_err(|_| KafkaError::Canceled)?;
        match found {
            Ok(found) => break found,
            Err(e) => {
                // The history group's offsets are read: the api may lack the ACL for it.
                let group = Some(HISTORY_GROUP);
                if let Some(denied) = events::AccessDenied::reading(&e, group, TOPIC_NEW_POSITION) {
                    return Err(denied.into());
                }
                warn!(error = %e, "looking up where positions start; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    consumer.assign(&assignment)?;
    info!(
        partitions = assignment.count(),
        behind = catch_up.behind(),
        "api consuming {TOPIC_NEW_POSITION}"
    );
    // Rarely needed: the position also moves past records that are never delivered.
    let mut recheck = tokio::time::interval(Duration::from_millis(200));
    let mut recreated = tokio::time::interval(events::KEEP_TOPICS_EVERY);

    loop {
        if !ready.load(Ordering::Relaxed) && catch_up.reached(&consumer) {
            ready.store(true, Ordering::Release);
            info!("api caught up with {TOPIC_NEW_POSITION}");
        }
        let message = tokio::select! {
            _ = shutdown.cancelled() => {
                if let Ok(consumer) = Arc::try_unwrap(consumer) {
                    consumer.close().await;
                }
                return Ok(());
            }
            _ = recheck.tick(), if !catch_up.ends.is_empty() => continue,
            _ = recreated.tick() => {
                let consumer = consumer.clone();
                let rewound = tokio::task::spawn_blocking(move || {
                    events::rewind_past_end(&**consumer, TOPIC_NEW_POSITION)
                })
                .await;
                if let Ok(Ok(rewound)) = rewound && !rewound.is_empty() {
                    warn!(partitions = ?rewound, "{TOPIC_NEW_POSITION} was made again: reading it from its start");
                }
                continue;
            }
            message = consumer.recv() => message,
        };
        if let Ok(message) = &message {
            tap.observe(message);
        }
        match message {
            Ok(message) => match NewPosition::decode(message.payload().unwrap_or_default()) {
                Ok(position) => {
                    hub.broadcast_position(&position, Some((message.partition(), message.offset())))
                }
                Err(e) => warn!(
                    partition = message.partition(),
                    offset = message.offset(),
                    error = %e,
                    "skipping unusable position"
                ),
            },
            Err(e) => {
                if let Some(denied) = events::AccessDenied::reading(&e, None, TOPIC_NEW_POSITION) {
                    return Err(denied.into());
                }
                warn!(error = %e, "position consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Each partition at the history group's committed offset, or at its end if there is none; and
/// where each partition ends now.
fn assignment_after_history(
    consumer: &StreamConsumer,
) -> Result<(TopicPartitionList, CatchUp), KafkaError> {
    let metadata = consumer.fetch_metadata(Some(TOPIC_NEW_POSITION), METADATA_TIMEOUT)?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            all.add_partition(TOPIC_NEW_POSITION, partition.id());
        }
    }
    let committed = consumer.committed_offsets(all, METADATA_TIMEOUT)?;
    let mut list = TopicPartitionList::new();
    let mut catch_up = CatchUp::default();
    for element in committed.elements() {
        let partition = element.partition();
        let (_, end) =
            consumer.fetch_watermarks(TOPIC_NEW_POSITION, partition, METADATA_TIMEOUT)?;
        let start = match element.offset() {
            Offset::Offset(next) => next,
            _ => end,
        };
        list.add_partition_offset(TOPIC_NEW_POSITION, partition, Offset::Offset(start))?;
        if start < end {
            catch_up.ends.insert(partition, (start, end));
        }
    }
    Ok((list, catch_up))
}

/// The partitions not yet read up to where they ended at start-up: (start, end) offsets.
#[derive(Default)]
struct CatchUp {
    ends: HashMap<i32, (i64, i64)>,
}

impl CatchUp {
    /// Positions between the start and the end, summed over partitions.
    fn behind(&self) -> i64 {
        self.ends.values().map(|(start, end)| end - start).sum()
    }

    /// Whether every partition has been read up to its end, forgetting those that have.
    fn reached(&mut self, consumer: &StreamConsumer) -> bool {
        if self.ends.is_empty() {
            return true;
        }
        let Ok(positions) = consumer.position() else {
            return false;
        };
        for element in positions.elements() {
            if let Offset::Offset(next) = element.offset()
                && self
                    .ends
                    .get(&element.partition())
                    .is_some_and(|&(_, end)| next >= end)
            {
                self.ends.remove(&element.partition());
            }
        }
        self.ends.is_empty()
    }
}

/// Puts the store's running rides, with their paths, back into the hub.
async fn restore_running_rides(hub: &Hub, store: &dyn Store) -> Result<usize, StoreError> {
    let mut restored = 0;
    for status in [RideStatus::Starting, RideStatus::Driving] {
        let filter = RideFilter {
            status: Some(status),
            route_id: None,
        };
        let mut page = PageRequest {
            limit: 500,
            after: None,
        };
        while restored < RESTORED_RIDES_MAX {
            let rides = store.list_rides(&filter, &page).await?;
            for ride in rides.items {
                let path = store.ride_path(&ride.id).await?;
                hub.restore(ride, path.iter().map(PathPoint::lat_lng).collect());
                restored += 1;
            }
            match rides.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
    }
    Ok(restored)
}
