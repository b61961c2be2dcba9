//! A topic's records as a reader sees them (partition, offset, key, timestamp, headers, value), and
//! the newest of them, read without joining a group: nothing is committed, no one's partitions
//! move.

use std::time::{Duration, Instant};

use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ClusterError, ClusterReader, Topic};

/// Records read per partition to find the newest ones with a key (a key's records are all on one
/// partition, among every other key's).
const KEY_SCAN_PER_PARTITION: i64 = 2_000;

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// When the producer created the record (milliseconds since the Unix epoch).
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
    /// The value: its JSON if it is JSON, else its text as a string.
    pub value: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Header {
    pub key: String,
    pub value: Option<String>,
}

impl Record {
    pub fn of(message: &impl Message) -> Self {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let payload = message.payload().unwrap_or_default();
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(text),
            timestamp: message.timestamp().to_millis(),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| Header {
                            key: h.key.to_owned(),
                            value: h.value.map(text),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            value: serde_json::from_slice(payload)
                .unwrap_or_else(|_| serde_json::Value::String(text(payload))),
        }
    }
}

/// The newest `limit` records of `topic` (only those keyed `key`, if given), oldest first, by
/// timestamp across partitions (in offset order for one key). Gives up reading after `within`.
pub fn newest_records(
    reader: &ClusterReader,
    topic: &Topic,
    key: Option<&str>,
    limit: usize,
    within: Duration,
) -> Result<Vec<Record>, ClusterError> {
    let consumer: BaseConsumer = super::create(
        reader
            .kafka
            .client()
            // librdkafka assigns partitions only to a consumer with a group; it never joins it.
            .set("group.id", "rota-system-tail")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10"),
    )?;
    let window = if key.is_some() {
        KEY_SCAN_PER_PARTITION
    } else {
        limit as i64
    };
    let mut assignment = TopicPartitionList::new();
    let mut unread = Vec::new();
    for p in topic
        .partitions
        .iter()
        .filter(|p| p.end_offset > p.start_offset)
    {
        let from = p.start_offset.max(p.end_offset - window);
        assignment
            .add_partition_offset(&topic.name, p.id, Offset::Offset(from))
            .map_err(|e| reader.failed("Fetch", e))?;
        unread.push((p.id, p.end_offset));
    }
    consumer
        .assign(&assignment)
        .map_err(|e| reader.failed("Fetch", e))?;
    let mut records = Vec::new();
    let deadline = Instant::now() + within;
    while !unread.is_empty() && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| reader.failed("Fetch", e))?;
        let (partition, offset) = (message.partition(), message.offset());
        unread.retain(|&(p, end)| p != partition || offset + 1 < end);
        if key.is_none_or(|key| message.key() == Some(key.as_bytes())) {
            records.push(Record::of(&message));
        }
    }
    // One key's records are on one partition, in the order they were produced.
    if key.is_some() {
        records.sort_by_key(|r| (r.partition, r.offset));
    } else {
        records.sort_by_key(|r| (r.timestamp, r.partition, r.offset));
    }
    let skip = records.len().saturating_sub(limit);
    records.drain(..skip);
    Ok(records)
}
