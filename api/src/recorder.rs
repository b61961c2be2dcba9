//! Records every position into the store, off the live path.
//!
//! The live path (Kafka → hub → sockets) never waits for the database. This second consumer, in
//! consumer group [`HISTORY_GROUP`], collects positions into batches and writes each batch with one
//! store call; only then does it commit the batch's offsets. A crash therefore loses nothing: the
//! next api to start re-reads every position after the last committed batch, and writing a position
//! twice changes nothing. Several api replicas share the work through the group.

use std::{collections::HashMap, sync::Arc, time::Duration};

use events::{Exposition, KafkaConfig, LagContext, Metered, NewPosition, TOPIC_NEW_POSITION};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::store::Store;

/// The consumer group whose committed offsets mark what the store holds.
pub const HISTORY_GROUP: &str = "rota-history";

/// When a batch is written: whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    pub max_positions: usize,
    /// How long the first position of a batch may wait.
    pub max_wait: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_positions: 1_000,
            max_wait: Duration::from_millis(250),
        }
    }
}

const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Positions waiting to be written, and the offsets to commit once they are.
#[derive(Default)]
struct Batch {
    positions: Vec<NewPosition>,
    /// Partition -> next offset to read.
    next_offsets: HashMap<i32, i64>,
    started: Option<Instant>,
}

impl Batch {
    fn add(&mut self, message: &impl Message) {
        self.started.get_or_insert_with(Instant::now);
        self.next_offsets
            .insert(message.partition(), message.offset() + 1);
        match NewPosition::decode(message.payload().unwrap_or_default()) {
            Ok(position) => self.positions.push(position),
            // Committed past like the rest: one bad message must not stop history.
            Err(e) => warn!(
                partition = message.partition(),
                offset = message.offset(),
                error = %e,
                "not recording an unusable position"
            ),
        }
    }

    fn offsets(&self) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for (&partition, &next) in &self.next_offsets {
            list.add_partition_offset(TOPIC_NEW_POSITION, partition, Offset::Offset(next))?;
        }
        Ok(list)
    }
}

/// Positions not yet recorded: the history group's lag, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct HistoryLag(pub LagContext);

impl Metered for HistoryLag {
    fn expose(&self, out: &mut Exposition) {
        out.gauge(
            "rota_history_lag_records",
            "Positions not yet recorded into the store (the group rota-history's lag).",
            self.0.get() as f64,
        );
    }
}

/// Records positions until `shutdown`; a batch in hand is written (or left for the next start)
/// before returning.
pub async fn record_positions(
    kafka: &KafkaConfig,
    store: Arc<dyn Store>,
    limits: BatchLimits,
    lag: HistoryLag,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    // A new group records what the topic still holds (`group_member` starts at the earliest).
    let consumer: StreamConsumer<LagContext> = LagContext::configure(
        kafka
            .group_member(HISTORY_GROUP)
            .set("fetch.wait.max.ms", "100"),
    )
    .create_with_context(lag.0)?;
    consumer.subscribe(&[TOPIC_NEW_POSITION])?;
    info!(
        group = HISTORY_GROUP,
        max_positions = limits.max_positions,
        max_wait_ms = limits.max_wait.as_millis() as u64,
        "recording positions"
    );
    let mut batch = Batch::default();
    loop {
        let deadline = batch.started.map(|t| t + limits.max_wait);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                flush(&consumer, store.as_ref(), std::mem::take(&mut batch), &shutdown).await;
            }
            message = consumer.recv() => match message {
                Ok(message) => {
                    batch.add(&message);
                    if batch.positions.len() >= limits.max_positions {
                        flush(&consumer, store.as_ref(), std::mem::take(&mut batch), &shutdown).await;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "history consumer error; retrying");
                    tokio::time::sleep(RETRY_FIRST).await;
                }
            },
        }
    }
    // One attempt on the way out; what fails is re-read by the next api.
    let recorded = match store.record_positions(&batch.positions).await {
        Ok(()) => Some(batch),
        Err(e) => {
            warn!(error = %e, "last batch not recorded; the next start re-reads it");
            None
        }
    };
    // Committing synchronously and closing both wait for the broker: off the async threads (see
    // `events::close_consumer`).
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(batch) = recorded.filter(|b| !b.next_offsets.is_empty()) {
            commit(&consumer, &batch, CommitMode::Sync);
        }
    })
    .await;
    Ok(())
}

/// Writes a batch, retrying with back-off (consumption waits meanwhile), then commits it.
async fn flush(
    consumer: &StreamConsumer<LagContext>,
    store: &dyn Store,
    batch: Batch,
    shutdown: &CancellationToken,
) {
    let mut delay = RETRY_FIRST;
    loop {
        match store.record_positions(&batch.positions).await {
            Ok(()) => break,
            Err(e) => {
                warn!(error = %e, positions = batch.positions.len(), retry_in_ms = delay.as_millis() as u64, "recording positions failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
    debug!(positions = batch.positions.len(), "positions recorded");
    commit(consumer, &batch, CommitMode::Async);
}

fn commit(consumer: &StreamConsumer<LagContext>, batch: &Batch, mode: CommitMode) {
    if let Err(e) = batch
        .offsets()
        .and_then(|offsets| consumer.commit(&offsets, mode))
    {
        // Harmless: those positions are re-read and re-written (a no-op) after a restart.
        warn!(error = %e, "committing recorded positions failed");
    }
}
