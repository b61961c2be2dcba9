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
pub use kafka::{
    AccessDenied, ClosedOffThread, ConsumeError, EnsureTopicsError, KEEP_TOPICS_EVERY, KafkaConfig,
    MemberContext, Membership, SharedProducer, TopicKeeper, ensure_topics, rewind_past_end,
};
pub use messages::{
    DecodeError, MAX_ID_BYTES, MAX_SPEED_KMH, MIN_SPEED_KMH, NewDirection, NewPosition,
    RideProgress, RideStatus, check_id, check_speed, now_ms,
};

/// Commands that start a ride: `{"routeId":"1","clientId":"…","rideId":"…"}`, keyed by ride id.
pub const TOPIC_NEW_DIRECTION: &str = "route.new-direction";
/// Vehicle positions, keyed by ride id so one ride stays in order on one partition.
pub const TOPIC_NEW_POSITION: &str = "route.new-position";
/// Records the Elasticsearch sink could not index, unchanged, with headers saying why (the
/// sink's default; `--dead-letter-topic` may name another).
pub const TOPIC_DEAD_LETTERS: &str = "route.dlq";
/// Where each running ride's drive stands, keyed by ride id (a [`RideProgress`] every few positions,
/// a tombstone once its command is committed), so a simulator that takes a ride over after a crash
/// or a rebalance resumes it where it was. Compacted: only each ride's latest checkpoint matters.
pub const TOPIC_RIDE_PROGRESS: &str = "route.ride-progress";
/// Rota's topics, in the order they are created.
pub const TOPICS: [&str; 3] = [TOPIC_NEW_DIRECTION, TOPIC_NEW_POSITION, TOPIC_RIDE_PROGRESS];

/// The settings a topic is created with beyond its partitions (none but for the compacted one).
pub fn topic_config(topic: &str) -> &'static [(&'static str, &'static str)] {
    match topic {
        TOPIC_RIDE_PROGRESS => &[("cleanup.policy", "compact")],
        _ => &[],
    }
}
/// Partitions given to a topic Rota creates: enough for rides to spread over several consumers.
pub const DEFAULT_PARTITIONS: i32 = 6;
