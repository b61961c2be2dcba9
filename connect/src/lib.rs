//! `rota connect`: every event from Kafka into Elasticsearch.
//!
//! Consumer group `connect` reads `route.new-position` and `route.new-direction`, batches records
//! by count, bytes and time, and bulk-indexes each one as a document whose id is its topic,
//! partition and offset, into an index named like its topic. Offsets are committed only after
//! Elasticsearch acknowledged every document of the batch (or the record went to the dead-letter
//! topic), so a crash or a retry never loses or duplicates a document. Index templates are
//! installed before the first document.

mod bulk;
pub mod dead_letters;
mod document;
mod metrics;
mod settings;
mod sink;
#[cfg(feature = "stand-in")]
pub mod stand_in;
pub mod templates;

pub use metrics::Metrics;
pub use settings::*;
pub use sink::{SinkError, run};
