//! The skeleton of Rota's batch-and-commit consumers (the position recorder and the Elasticsearch
//! sink): gather records until the batch is full or its first record has waited long enough,
//! write the batch, and only then commit the offsets after it. A crash re-reads what was not
//! committed, and both write idempotently, so nothing is lost or doubled.

use std::collections::HashMap;

use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, ConsumerContext},
};
use tokio::time::{Duration, Instant};

/// Where a consumer resumes on each partition: one past the last record it is done with.
#[derive(Clone, Debug, Default)]
pub struct NextOffsets(HashMap<(String, i32), i64>);

impl NextOffsets {
    /// The consumer is done with `message` (and everything before it on its partition).
    pub fn done_with(&mut self, message: &impl Message) {
        self.set(message.topic(), message.partition(), message.offset() + 1);
    }

    pub fn set(&mut self, topic: &str, partition: i32, next: i64) {
        self.0.insert((topic.to_owned(), partition), next);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Commits these offsets. A failure is only logged: the records after the last commit are read
    /// again after a restart, and every consumer here takes a second reading as a no-op.
    pub fn commit<C: ConsumerContext>(&self, consumer: &impl Consumer<C>, mode: CommitMode) {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), next) in &self.0 {
            if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(*next)) {
                tracing::warn!(topic, partition, error = %e, "offset not committed");
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(e) = consumer.commit(&list, mode) {
            tracing::warn!(error = %e, "committing offsets failed; those records are read again after a restart");
        }
    }
}

/// Records waiting to be written together, and the offsets to commit once they are.
#[derive(Debug)]
pub struct Batch<T> {
    pub items: Vec<T>,
    pub offsets: NextOffsets,
    started: Option<Instant>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            offsets: NextOffsets::default(),
            started: None,
        }
    }
}

impl<T> Batch<T> {
    /// Adds what `message` became (`None` for a record that is skipped, but committed past all the
    /// same: one bad record must not stop the consumer).
    pub fn add(&mut self, message: &impl Message, item: Option<T>) {
        self.started.get_or_insert_with(Instant::now);
        self.offsets.done_with(message);
        self.items.extend(item);
    }

    /// When the batch must be written even if it is not full: `linger` after its first record.
    pub fn due(&self, linger: Duration) -> Option<Instant> {
        self.started.map(|t| t + linger)
    }
}

/// Sleeps until `deadline`; never wakes without one (for `select!` arms).
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
