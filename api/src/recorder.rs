//! Records every position into the store, off the live path.
//!
//! The live path (Kafka → hub → sockets) never waits for the database. This second consumer, in
//! consumer group [`HISTORY_GROUP`], collects positions into batches and writes each batch with one
//! store call; only then does it commit the batch's offsets. A crash therefore loses nothing: the
//! next api to start re-reads every position after the last committed batch, and writing a position
//! twice changes nothing. Several api replicas share the work through the group.

use std::{sync::Arc, time::Duration};

use events::{
    Backoff, ClosedOffThread, KafkaConfig, MemberContext, NewPosition, TOPIC_NEW_POSITION,
    batch::{self, Batch},
};
use ops::{Exposition, Metered};
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
};
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

/// Waits between attempts to write a batch the store refused.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Positions not yet recorded: the history group's lag, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct HistoryLag(pub MemberContext);

impl Metered for HistoryLag {
    fn expose(&self, out: &mut Exposition) {
        out.gauge(
            "rota_history_lag_records",
            "Positions not yet recorded into the store (the group rota-history's lag).",
            self.0.lag() as f64,
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
) -> Result<(), events::ConsumeError> {
    // A new group records what the topic still holds (`group_member` starts at the earliest).
    let consumer: StreamConsumer<MemberContext> = lag
        .0
        .configure(
            kafka
                .group_member(HISTORY_GROUP)
                .set("fetch.wait.max.ms", "100"),
        )
        .create_with_context(lag.0)?;
    let consumer = ClosedOffThread::new(consumer);
    consumer.subscribe(&[TOPIC_NEW_POSITION])?;
    info!(
        group = HISTORY_GROUP,
        max_positions = limits.max_positions,
        max_wait_ms = limits.max_wait.as_millis() as u64,
        "recording positions"
    );
    let mut batch = Batch::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = batch::until(batch.due(limits.max_wait)) => {
                flush(&consumer, store.as_ref(), std::mem::take(&mut batch), &shutdown).await;
            }
            message = consumer.recv() => match message {
                Ok(message) => {
                    batch.add(&message, decode(&message));
                    if batch.items.len() >= limits.max_positions {
                        flush(&consumer, store.as_ref(), std::mem::take(&mut batch), &shutdown).await;
                    }
                }
                Err(e) => {
                    if let Some(denied) =
                        events::AccessDenied::reading(&e, Some(HISTORY_GROUP), TOPIC_NEW_POSITION)
                    {
                        return Err(denied.into());
                    }
                    warn!(error = %e, "history consumer error; retrying");
                    tokio::time::sleep(RETRY_FIRST).await;
                }
            },
        }
    }
    // One attempt on the way out; what fails is re-read by the next api.
    let recorded = match store.record_positions(&batch.items).await {
        Ok(()) => Some(batch),
        Err(e) => {
            warn!(
                error = e.chain(),
                "last batch not recorded; the next start re-reads it"
            );
            None
        }
    };
    // Committing synchronously and closing both wait for the broker: off the async threads.
    if let Ok(consumer) = tokio::task::spawn_blocking(move || {
        if let Some(batch) = recorded {
            batch.offsets.commit(&*consumer, CommitMode::Sync);
        }
        consumer
    })
    .await
    {
        consumer.close().await;
    }
    Ok(())
}

/// Writes a batch, retrying with back-off (consumption waits meanwhile), then commits it.
async fn flush(
    consumer: &StreamConsumer<MemberContext>,
    store: &dyn Store,
    batch: Batch<NewPosition>,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
    loop {
        match store.record_positions(&batch.items).await {
            Ok(()) => break,
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(
                    error = e.chain(),
                    positions = batch.items.len(),
                    retry_in_ms = delay.as_millis() as u64,
                    "recording positions failed"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    debug!(positions = batch.items.len(), "positions recorded");
    batch.offsets.commit(consumer, CommitMode::Async);
}

/// A position to record; one that cannot be used is logged and committed past like the rest (one
/// bad message must not stop history).
fn decode(message: &impl Message) -> Option<NewPosition> {
    NewPosition::decode(message.payload().unwrap_or_default())
        .map_err(|e| {
            warn!(
                partition = message.partition(),
                offset = message.offset(),
                error = %e,
                "not recording an unusable position"
            )
        })
        .ok()
}
