//! A topic's records as they arrive, as `kafka-console-consumer --property print.partition=true
//! …` shows them: partition, offset, key, timestamp and headers, then the value (JSON
//! pretty-printed). It reads every partition without joining a group, so it commits nothing and
//! moves no one's partitions.

use std::io::Write;

use anyhow::{Result, bail};
use events::{
    KafkaConfig,
    cluster::{Record, TIMEOUT},
};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};

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
        let record = Record::of(&message?);
        if key.is_some_and(|wanted| record.key.as_deref() != Some(wanted)) {
            continue;
        }
        write!(
            out,
            "Partition:{}\tOffset:{}\tKey:{}\tCreateTime:{}",
            record.partition,
            record.offset,
            record.key.as_deref().unwrap_or("null"),
            record.timestamp.unwrap_or(-1),
        )?;
        for header in &record.headers {
            let value = header.value.as_deref().unwrap_or("null");
            write!(out, "\t{}:{value}", header.key)?;
        }
        match &record.value {
            serde_json::Value::String(text) => writeln!(out, "\n{text}")?,
            json => writeln!(out, "\n{}", serde_json::to_string_pretty(json)?)?,
        }
        out.flush()?;
        printed += 1;
    }
    Ok(())
}
