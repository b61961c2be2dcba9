//! Records that cannot become documents go to a dead-letter topic, unchanged, with headers saying
//! why and where they came from (Kafka Connect's header names, so its tooling reads them too).

use std::time::Duration;

use rdkafka::{
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use crate::document::Source;

pub const HEADER_TOPIC: &str = "__connect.errors.topic";
pub const HEADER_PARTITION: &str = "__connect.errors.partition";
pub const HEADER_OFFSET: &str = "__connect.errors.offset";
pub const HEADER_REASON: &str = "__connect.errors.exception.message";

/// Sends `source` to `topic` with the reason; resolves once the broker has it.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    source: &Source,
    reason: &str,
) -> Result<(), KafkaError> {
    let partition = source.partition.to_string();
    let offset = source.offset.to_string();
    let headers = [
        (HEADER_TOPIC, source.topic.as_str()),
        (HEADER_PARTITION, &partition),
        (HEADER_OFFSET, &offset),
        (HEADER_REASON, reason),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value),
        })
    });
    let mut record = FutureRecord::<[u8], [u8]>::to(topic)
        .payload(&source.payload)
        .headers(headers);
    if let Some(key) = &source.key {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(drop)
        .map_err(|(e, _)| e)
}
