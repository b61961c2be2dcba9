//! What the sink has done so far, shared with whoever reports it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use events::MemberContext;
use ops::{Exposition, Metered};

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
    pub lag: MemberContext,
    /// Set once the templates are installed and the consumer subscribed: `/readyz` waits for it.
    pub consuming: AtomicBool,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl Metered for Metrics {
    fn expose(&self, out: &mut Exposition) {
        let counters = [
            (
                "rota_connect_indexed_documents_total",
                "Documents Elasticsearch acknowledged.",
                &self.indexed,
            ),
            (
                "rota_connect_bulk_requests_total",
                "Bulk requests that indexed at least one document.",
                &self.batches,
            ),
            (
                "rota_connect_retries_total",
                "Bulk requests sent again, whole or in part.",
                &self.retries,
            ),
            (
                "rota_connect_dead_letters_total",
                "Records sent to the dead-letter topic.",
                &self.dead_letters,
            ),
        ];
        for (name, help, counter) in counters {
            out.counter(name, help, Self::get(counter));
        }
        out.gauge(
            "rota_connect_lag_records",
            "Records on the sink's partitions not yet committed.",
            self.lag.lag() as f64,
        );
    }
}
