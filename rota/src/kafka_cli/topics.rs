//! Topics: describe (partitions, leaders, offsets, configs), create, add partitions, configs,
//! delete, as `kafka-topics` and `kafka-configs` do them.

use std::fmt::Write;

use anyhow::{Result, anyhow, bail};
use events::KafkaConfig;
use rdkafka::{
    admin::{
        AdminClient, AdminOptions, ConfigResource, ConfigSource, NewPartitions, NewTopic,
        ResourceSpecifier, TopicReplication,
    },
    client::DefaultClientContext,
};

use super::{TIMEOUT, admin, broker_name, failed, request_failed};

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(TIMEOUT))
}

/// `kafka-topics --describe`, with each partition's start and end offsets.
pub async fn describe(kafka: &KafkaConfig, only: Option<&str>) -> Result<String> {
    let admin = admin(kafka)?;
    let metadata = admin.inner().fetch_metadata(only, TIMEOUT)?;
    let mut out = String::new();
    for topic in metadata.topics() {
        if let Some(error) = topic.error() {
            bail!("topic {}: {:?}", topic.name(), error);
        }
        let replication = topic.partitions().first().map_or(0, |p| p.replicas().len());
        let set = set_configs(&describe_configs(&admin, topic.name()).await?);
        writeln!(
            out,
            "Topic: {}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
            topic.name(),
            topic.partitions().len(),
            set.join(",")
        )?;
        for partition in topic.partitions() {
            let (start, end) =
                admin
                    .inner()
                    .fetch_watermarks(topic.name(), partition.id(), TIMEOUT)?;
            let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            writeln!(
                out,
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tStartOffset: {start}\tEndOffset: {end}",
                topic.name(),
                partition.id(),
                partition.leader(),
                ids(partition.replicas()),
                ids(partition.isr()),
            )?;
        }
    }
    Ok(out)
}

/// `kafka-topics --create`.
pub async fn create(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
    configs: &[(String, String)],
) -> Result<String> {
    let admin = admin(kafka)?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let results = admin
        .create_topics([&new], &options())
        .await
        .map_err(|e| request_failed(&admin, "CreateTopics", e))?;
    for result in results {
        result.map_err(|(_, code)| failed(&admin, "CreateTopics", code))?;
    }
    Ok(format!("Created topic {topic}.\n"))
}

/// `kafka-topics --alter --partitions`: `partitions` is the new total.
pub async fn add_partitions(kafka: &KafkaConfig, topic: &str, partitions: usize) -> Result<String> {
    let admin = admin(kafka)?;
    let results = admin
        .create_partitions([&NewPartitions::new(topic, partitions)], &options())
        .await
        .map_err(|e| request_failed(&admin, "CreatePartitions (adding partitions)", e))?;
    for result in results {
        result.map_err(|(_, code)| failed(&admin, "CreatePartitions (adding partitions)", code))?;
    }
    Ok(format!("Topic {topic} now has {partitions} partitions.\n"))
}

/// `kafka-configs --describe`, or with `set`, `--alter --add-config` first.
pub async fn configs(kafka: &KafkaConfig, topic: &str, set: &[(String, String)]) -> Result<String> {
    let admin = admin(kafka)?;
    if !set.is_empty() {
        super::incremental_alter::set_topic_configs(&admin, topic, set)?;
    }
    let resource = describe_configs(&admin, topic).await?;
    let mut out = format!("Configs for topic {topic}:\n");
    for entry in &resource.entries {
        let source = match entry.source {
            ConfigSource::DynamicTopic => "set on the topic",
            ConfigSource::Default => "default",
            _ => "broker",
        };
        let value = entry.value.as_deref().unwrap_or("(sensitive)");
        writeln!(out, "  {}={value}  ({source})", entry.name)?;
    }
    if !resource.entries.iter().any(|e| e.is_default) {
        writeln!(
            out,
            "  (default values are not reported by {}: only configs set on the topic are listed; \
             Kafka's default retention.ms is 604800000, 7 days)",
            broker_name(admin.inner())
        )?;
    }
    Ok(out)
}

/// `kafka-topics --delete`.
pub async fn delete(kafka: &KafkaConfig, topic: &str) -> Result<String> {
    let admin = admin(kafka)?;
    let results = admin
        .delete_topics(&[topic], &options())
        .await
        .map_err(|e| request_failed(&admin, "DeleteTopics", e))?;
    for result in results {
        result.map_err(|(_, code)| failed(&admin, "DeleteTopics", code))?;
    }
    Ok(format!("Deleted topic {topic}.\n"))
}

async fn describe_configs(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<ConfigResource> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options())
        .await
        .map_err(|e| request_failed(admin, "DescribeConfigs", e))?;
    results
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("DescribeConfigs answered nothing for {topic}"))?
        .map_err(|code| failed(admin, "DescribeConfigs", code))
}

/// `key=value` of each config set on the topic itself.
fn set_configs(resource: &ConfigResource) -> Vec<String> {
    resource
        .entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .filter_map(|e| Some(format!("{}={}", e.name, e.value.as_ref()?)))
        .collect()
}
