//! A topic's records as they arrive, as `kafka-console-consumer --property print.partition=true
//! …` shows them: partition, offset, key, timestamp and headers, then the value (JSON
//! pretty-printed). It reads every partition without joining a group, so it commits nothing and
//! moves no one's partitions.

use std::io::Write;

use anyhow::{Result, bail};
use events::KafkaConfig;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};

use super::TIMEOUT;

pub fn run(
    kafka: &KafkaConfig,
    topic: &str,
    from_beginning: bool,
    key: Option<&str>,
    max: Option<usize>,
) -> Result<()> {
    let consumer: BaseConsumer = kafka
        .client()
        .set("group.id", "rota-kafka-tail")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let Some(found) = metadata
        .topics()
        .first()
        .filter(|t| !t.partitions().is_empty())
    else {
        bail!("topic {topic} does not exist");
    };
    let start = if from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    let mut partitions = TopicPartitionList::new();
    for partition in found.partitions() {
        partitions.add_partition_offset(topic, partition.id(), start)?;
    }
    consumer.assign(&partitions)?;
    let mut out = std::io::stdout().lock();
    let mut printed = 0;
    while max.is_none_or(|max| printed < max) {
        let Some(message) = consumer.poll(TIMEOUT) else {
            continue;
        };
        let message = message?;
        let record_key = message.key().map(String::from_utf8_lossy);
        if key.is_some_and(|wanted| record_key.as_deref() != Some(wanted)) {
            continue;
        }
        write!(
            out,
            "Partition:{}\tOffset:{}\tKey:{}\tCreateTime:{}",
            message.partition(),
            message.offset(),
            record_key.as_deref().unwrap_or("null"),
            message.timestamp().to_millis().unwrap_or(-1),
        )?;
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                let value = header.value.map(String::from_utf8_lossy);
                write!(
                    out,
                    "\t{}:{}",
                    header.key,
                    value.as_deref().unwrap_or("null")
                )?;
            }
        }
        let value = message.payload().unwrap_or_default();
        match serde_json::from_slice::<serde_json::Value>(value) {
            Ok(json) => writeln!(out, "\n{}", serde_json::to_string_pretty(&json)?)?,
            Err(_) => writeln!(out, "\n{}", String::from_utf8_lossy(value))?,
        }
        out.flush()?;
        printed += 1;
    }
    Ok(())
}
