//! What the sink has done so far, shared with whoever reports it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Documents Elasticsearch acknowledged.
    pub indexed: AtomicU64,
    /// Bulk requests that indexed at least one document.
    pub batches: AtomicU64,
    /// Bulk requests sent again, whole or in part.
    pub retries: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
    /// Records on the consumed partitions not yet committed (librdkafka's statistics, every 5 s).
    pub lag: AtomicI64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
