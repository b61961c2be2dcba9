//! What the simulator does when the `simulator` group moves a partition of ride commands to another
//! member (one joined or left): its rides stop as soon as the new assignment is known, the moment
//! the new owner learns it too, and before that one has fetched their commands. So a ride is never
//! driven by two simulators at once; the new owner resumes it from its last position
//! ([`crate::progress`]). With Kafka's eager protocol a rebalance revokes every partition first,
//! then assigns the new set: rides of partitions assigned back go on undisturbed. With the
//! incremental ones (cooperative-sticky, and KIP-848's `group.protocol=consumer`, Kafka 4's
//! default for new clients) only the partitions that move are revoked or assigned.
//!
//! Which commands a new owner must look up: those below where their partition ended when it was
//! assigned here. Any command another simulator (or this process before a crash) could have driven
//! was there by then; the ones after it were only ever delivered here, so they start at once.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use events::{MemberContext, TOPIC_NEW_DIRECTION};
use rdkafka::{
    ClientContext, Statistics,
    consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol},
};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The command consumer's context: its lag and assignment, and the rides of each partition it owns.
#[derive(Default)]
pub struct CommandContext {
    lag: MemberContext,
    /// Per partition, the parent of its rides' `abandon` tokens.
    owned: Mutex<HashMap<i32, CancellationToken>>,
    /// Partitions revoked by a rebalance in progress: lost unless the new assignment has them.
    in_doubt: Mutex<Vec<i32>>,
    /// Partitions lost since the run loop last asked.
    revoked: Mutex<Vec<i32>>,
    /// Per partition owned, where it ended when it was assigned here.
    fresh_from: Mutex<HashMap<i32, i64>>,
}

impl CommandContext {
    pub fn new(lag: MemberContext) -> Self {
        Self {
            lag,
            ..Self::default()
        }
    }

    /// The token that stops a ride whose command came from `partition` when the partition goes.
    pub fn abandon_token(&self, partition: i32) -> CancellationToken {
        lock(&self.owned)
            .entry(partition)
            .or_default()
            .child_token()
    }

    /// Whether the command at `offset` came after its partition was assigned here, so no one can
    /// have driven its ride before.
    pub fn is_fresh(&self, partition: i32, offset: i64) -> bool {
        lock(&self.fresh_from)
            .get(&partition)
            .is_some_and(|&from| offset >= from)
    }

    /// The partitions lost since the last call: their offsets are no longer this process's to
    /// commit.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut *lock(&self.revoked))
    }
}

const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClientContext for CommandContext {
    fn stats(&self, statistics: Statistics) {
        self.lag.stats(statistics);
    }
}

impl CommandContext {
    /// Stops the rides of partitions that went elsewhere, and forgets the partitions.
    fn lose(&self, lost: Vec<i32>) {
        for partition in &lost {
            if let Some(rides) = lock(&self.owned).remove(partition) {
                rides.cancel();
            }
        }
        lock(&self.fresh_from).retain(|p, _| !lost.contains(p));
        lock(&self.revoked).extend(lost);
    }

    /// Notes where each partition gained ends now.
    fn gain(&self, consumer: &BaseConsumer<Self>, gained: &[i32]) {
        let mut fresh_from = lock(&self.fresh_from);
        for &partition in gained {
            if fresh_from.contains_key(&partition) {
                continue;
            }
            // A short blocking call, once per partition gained. Unknown, every command of
            // the partition is looked up: slower, never wrong.
            match consumer.fetch_watermarks(TOPIC_NEW_DIRECTION, partition, WATERMARK_TIMEOUT) {
                Ok((_, end)) => {
                    fresh_from.insert(partition, end);
                }
                Err(e) => warn!(
                    partition,
                    error = %e,
                    "partition end unknown; each of its commands is looked up"
                ),
            }
        }
    }
}

fn partitions(list: &rdkafka::TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for CommandContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let incremental = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match rebalance {
            // Incremental: what is revoked goes elsewhere; what is assigned is new here.
            Rebalance::Revoke(revoked) if incremental => self.lose(partitions(revoked)),
            Rebalance::Assign(assigned) if incremental => {
                self.gain(consumer, &partitions(assigned))
            }
            // Eager: everything is revoked, then the new set assigned; kept is not lost.
            Rebalance::Revoke(revoked) => lock(&self.in_doubt).extend(partitions(revoked)),
            Rebalance::Assign(assigned) => {
                let kept = partitions(assigned);
                let lost: Vec<i32> = std::mem::take(&mut *lock(&self.in_doubt))
                    .into_iter()
                    .filter(|p| !kept.contains(p))
                    .collect();
                self.lose(lost);
                self.gain(consumer, &kept);
            }
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.lag.rebalanced(consumer, rebalance);
    }
}
