//! Topics: describe (partitions, leaders, offsets, configs), create, add partitions, configs,
//! delete, as `kafka-topics` and `kafka-configs` do them.

use std::fmt::Write;

use anyhow::Result;
use events::cluster::{ClusterReader, ConfigOrigin, TIMEOUT};
use rdkafka::{
    admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication},
    error::KafkaError,
};

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(TIMEOUT))
}

/// `kafka-topics --describe`, with each partition's start and end offsets.
pub fn describe(reader: &ClusterReader, only: Option<&str>) -> Result<String> {
    let topology = reader.topology(only)?;
    let mut out = String::new();
    for topic in &topology.topics {
        let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
        let set: Vec<String> = topic
            .configs
            .iter()
            .flatten()
            .filter(|c| c.origin == ConfigOrigin::Topic)
            .filter_map(|c| Some(format!("{}={}", c.name, c.value.as_ref()?)))
            .collect();
        writeln!(
            out,
            "Topic: {}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
            topic.name,
            topic.partitions.len(),
            set.join(",")
        )?;
        let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        for p in &topic.partitions {
            writeln!(
                out,
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tStartOffset: {}\tEndOffset: {}",
                topic.name,
                p.id,
                p.leader,
                ids(&p.replicas),
                ids(&p.isr),
                p.start_offset,
                p.end_offset,
            )?;
        }
    }
    Ok(out)
}

/// `kafka-topics --create`.
pub async fn create(
    reader: &ClusterReader,
    topic: &str,
    partitions: i32,
    configs: &[(String, String)],
) -> Result<String> {
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let results = reader
        .admin()
        .create_topics([&new], &options())
        .await
        .map_err(|e| reader.failed("CreateTopics", e))?;
    for result in results {
        result.map_err(|(_, code)| reader.failed("CreateTopics", KafkaError::AdminOp(code)))?;
    }
    Ok(format!("Created topic {topic}.\n"))
}

/// `kafka-topics --alter --partitions`: `partitions` is the new total.
pub async fn add_partitions(
    reader: &ClusterReader,
    topic: &str,
    partitions: usize,
) -> Result<String> {
    const REQUEST: &str = "CreatePartitions (adding partitions)";
    let results = reader
        .admin()
        .create_partitions([&NewPartitions::new(topic, partitions)], &options())
        .await
        .map_err(|e| reader.failed(REQUEST, e))?;
    for result in results {
        result.map_err(|(_, code)| reader.failed(REQUEST, KafkaError::AdminOp(code)))?;
    }
    Ok(format!("Topic {topic} now has {partitions} partitions.\n"))
}

/// `kafka-configs --describe`, or with `set`, `--alter --add-config` first.
pub fn configs(reader: &ClusterReader, topic: &str, set: &[(String, String)]) -> Result<String> {
    if !set.is_empty() {
        super::incremental_alter::set_topic_configs(reader, topic, set)?;
    }
    let configs = reader.topic_configs(topic)?;
    let mut out = format!("Configs for topic {topic}:\n");
    for config in &configs {
        let source = match config.origin {
            ConfigOrigin::Topic => "set on the topic",
            ConfigOrigin::Broker => "broker",
            ConfigOrigin::Default => "default",
        };
        let value = config.value.as_deref().unwrap_or("(sensitive)");
        writeln!(out, "  {}={value}  ({source})", config.name)?;
    }
    if configs.iter().all(|c| c.origin == ConfigOrigin::Topic) {
        writeln!(
            out,
            "  (default values are not reported by {}: only configs set on the topic are listed; \
             Kafka's default retention.ms is 604800000, 7 days)",
            reader.broker_name()
        )?;
    }
    Ok(out)
}

/// `kafka-topics --delete`.
pub async fn delete(reader: &ClusterReader, topic: &str) -> Result<String> {
    let results = reader
        .admin()
        .delete_topics(&[topic], &options())
        .await
        .map_err(|e| reader.failed("DeleteTopics", e))?;
    for result in results {
        result.map_err(|(_, code)| reader.failed("DeleteTopics", KafkaError::AdminOp(code)))?;
    }
    Ok(format!("Deleted topic {topic}.\n"))
}
