//! Rota's wire contract: the topics every part talks through, the JSON messages on them, and how a
//! Kafka client is set up, so the simulator, the api and any other tool agree byte for byte; plus
//! what every Kafka consumer here shares: committing, batching ([`batch`]) and back-off.
//!
//! The topic names and the original JSON fields (`routeId`, `clientId`, `position`, `finished`) are
//! those of the reference system Rota re-imagines; Rota only adds fields.

mod backoff;
pub mod batch;
pub mod cluster;
mod kafka;
mod messages;

pub use backoff::Backoff;
pub use kafka::{KafkaConfig, MemberContext, Membership, close_consumer, ensure_topics};
pub use messages::{DecodeError, NewDirection, NewPosition, RideStatus, now_ms};

/// Commands that start a ride: `{"routeId":"1","clientId":"…","rideId":"…"}`, keyed by ride id.
pub const TOPIC_NEW_DIRECTION: &str = "route.new-direction";
/// Vehicle positions, keyed by ride id so one ride stays in order on one partition.
pub const TOPIC_NEW_POSITION: &str = "route.new-position";
/// Records the Elasticsearch sink could not index, unchanged, with headers saying why (the
/// sink's default; `--dead-letter-topic` may name another).
pub const TOPIC_DEAD_LETTERS: &str = "route.dlq";
/// Both topics, in the order they are created.
pub const TOPICS: [&str; 2] = [TOPIC_NEW_DIRECTION, TOPIC_NEW_POSITION];
/// Partitions given to a topic Rota creates: enough for rides to spread over several consumers.
pub const DEFAULT_PARTITIONS: i32 = 6;
