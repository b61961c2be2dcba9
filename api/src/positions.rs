//! The api process's one consumer of `route.new-position`.
//!
//! Every api replica must see every position (each serves its own browsers), so this consumer joins
//! no group: it assigns itself all partitions, starting at their current end, and never commits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use events::{KafkaConfig, NewPosition, TOPIC_NEW_POSITION};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::hub::Hub;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
const FETCH_WAIT_MS: &str = "10";

/// Feeds positions into the hub until `shutdown`; sets `ready` once assigned.
pub async fn consume_positions(
    kafka: &KafkaConfig,
    hub: Arc<Hub>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", "rota-api")
        .set("enable.auto.commit", "false")
        // Live positions: ask often rather than let the broker hold a fetch open for up to 500 ms
        // (the built-in broker answers a waiting fetch only when the wait is over).
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    let consumer = Arc::new(consumer);
    // Watermarks are looked up explicitly: "the end" resolved lazily could skip positions
    // published between start-up and the first fetch.
    let assignment = tokio::task::spawn_blocking({
        let consumer = consumer.clone();
        move || assignment_at_end(&consumer)
    })
    .await
    .map_err(|_| KafkaError::Canceled)??;
    consumer.assign(&assignment)?;
    ready.store(true, Ordering::Release);
    info!(
        partitions = assignment.count(),
        "api consuming {TOPIC_NEW_POSITION}"
    );

    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = consumer.recv() => message,
        };
        match message {
            Ok(message) => match NewPosition::decode(message.payload().unwrap_or_default()) {
                Ok(position) => hub.position(&position),
                Err(e) => warn!(
                    partition = message.partition(),
                    offset = message.offset(),
                    error = %e,
                    "skipping unusable position"
                ),
            },
            Err(e) => {
                warn!(error = %e, "position consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn assignment_at_end(consumer: &StreamConsumer) -> Result<TopicPartitionList, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(TOPIC_NEW_POSITION), METADATA_TIMEOUT)?;
    let mut list = TopicPartitionList::new();
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            let (_, high) =
                consumer.fetch_watermarks(TOPIC_NEW_POSITION, partition.id(), METADATA_TIMEOUT)?;
            list.add_partition_offset(TOPIC_NEW_POSITION, partition.id(), Offset::Offset(high))?;
        }
    }
    Ok(list)
}
