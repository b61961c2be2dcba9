//! What a Kafka cluster says about itself, read through the Kafka protocol alone (metadata, list
//! offsets, describe configs, list and describe groups, offset fetch), so the built-in broker and a
//! real cluster are read the same way. `rota kafka` prints it; the api's System view serves it.
//!
//! Every figure is read, never estimated: a value the broker does not report is `None` (with the
//! reason in [`Unreported`]), not zero. Reads are blocking librdkafka calls: call them off the
//! async threads.

mod groups;
mod records;

use std::{collections::HashMap, sync::Mutex, time::Duration};

use rdkafka::{
    admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier},
    client::DefaultClientContext,
    consumer::BaseConsumer,
    error::KafkaError,
    types::RDKafkaErrorCode,
};
use serde::Serialize;
use utoipa::ToSchema;

pub use groups::{Group, GroupMember, GroupOffset, TopicPartition};
pub use records::{Header, Record, newest_records};

use crate::KafkaConfig;

/// The cluster id the built-in broker reports, by which Rota's tools know they talk to it.
pub const BUILT_IN_CLUSTER_ID: &str = "rota";

/// How long one request to the cluster may take, unless the reader is given another limit.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{request} is not supported by {broker}")]
    Unsupported {
        request: &'static str,
        broker: &'static str,
    },
    #[error("{request} failed")]
    Failed {
        request: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("consumer group '{0}' does not exist")]
    UnknownGroup(String),
}

/// The brokers and topics of a cluster.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub cluster_id: Option<String>,
    /// Whether this is Rota's built-in broker (by its cluster id).
    pub built_in: bool,
    pub brokers: Vec<Broker>,
    /// Every topic but Kafka's internal ones (`__…`), by name.
    pub topics: Vec<Topic>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Partition>,
    /// The configs set on the topic itself (`retention.ms`, `cleanup.policy`, …); `None` when the
    /// broker does not answer DescribeConfigs.
    pub configs: Option<Vec<TopicConfig>>,
    /// Whether the broker reports the values not set on the topic too; the built-in broker lists
    /// only what is set.
    pub defaults_reported: bool,
}

impl Topic {
    /// The partition's end offset, if the topic has that partition.
    pub fn end_offset(&self, partition: i32) -> Option<i64> {
        self.partitions
            .iter()
            .find(|p| p.id == partition)
            .map(|p| p.end_offset)
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Partition {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The first offset still held (retention moves it on).
    pub start_offset: i64,
    /// The offset the next record will get.
    pub end_offset: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    pub name: String,
    /// `None` for a sensitive value.
    pub value: Option<String>,
    pub origin: ConfigOrigin,
}

/// Where a config's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfigOrigin {
    /// Set on the topic itself.
    Topic,
    /// The broker's setting for every topic.
    Broker,
    /// Kafka's default.
    Default,
}

/// One cluster's clients for reading it, kept for repeated reads (the System view reads about
/// once a second while someone watches).
pub struct ClusterReader {
    kafka: KafkaConfig,
    admin: AdminClient<DefaultClientContext>,
    /// How long one request may take.
    timeout: Duration,
    /// One client per group whose offsets are read: offset fetches name the client's `group.id`.
    /// These clients never subscribe, so they do not join their groups.
    group_clients: Mutex<HashMap<String, BaseConsumer>>,
}

impl ClusterReader {
    pub fn new(kafka: &KafkaConfig) -> Result<Self, ClusterError> {
        let admin = kafka
            .client()
            .create()
            .map_err(|source| ClusterError::Failed {
                request: "creating a client",
                source,
            })?;
        Ok(Self {
            kafka: kafka.clone(),
            admin,
            timeout: TIMEOUT,
            group_clients: Mutex::default(),
        })
    }

    /// Requests give up after `timeout` instead of [`TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// "the built-in broker" or "this broker", for saying which broker cannot do something.
    pub fn broker_name(&self) -> &'static str {
        if self.is_built_in() {
            "the built-in broker"
        } else {
            "this broker"
        }
    }

    pub fn is_built_in(&self) -> bool {
        self.cluster_id().as_deref() == Some(BUILT_IN_CLUSTER_ID)
    }

    fn cluster_id(&self) -> Option<String> {
        self.admin.inner().fetch_cluster_id(self.timeout)
    }

    pub fn admin(&self) -> &AdminClient<DefaultClientContext> {
        &self.admin
    }

    /// The brokers, and every topic (or only `only`) with its partitions' offsets and configs.
    pub fn topology(&self, only: Option<&str>) -> Result<Topology, ClusterError> {
        let client = self.admin.inner();
        // Always every topic: asking for one by name lets a broker create it (this is a
        // producer-type client, so librdkafka allows auto-creation).
        let metadata = client
            .fetch_metadata(None, self.timeout)
            .map_err(|e| self.failed("Metadata", e))?;
        let mut topics = Vec::new();
        for topic in metadata.topics() {
            let wanted = only.is_none_or(|only| only == topic.name());
            if !wanted
                || topic.name().starts_with("__")
                || topic.error().is_some()
                || topic.partitions().is_empty()
            {
                continue;
            }
            let mut partitions = Vec::new();
            for p in topic.partitions() {
                let (start_offset, end_offset) = client
                    .fetch_watermarks(topic.name(), p.id(), self.timeout)
                    .map_err(|e| self.failed("ListOffsets", e))?;
                partitions.push(Partition {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                    start_offset,
                    end_offset,
                });
            }
            let (configs, defaults_reported) = match self.topic_configs(topic.name()) {
                Ok(configs) => {
                    let defaults = configs.iter().any(|c| c.origin != ConfigOrigin::Topic);
                    (Some(configs), defaults)
                }
                Err(ClusterError::Unsupported { .. }) => (None, false),
                Err(e) => return Err(e),
            };
            topics.push(Topic {
                name: topic.name().to_owned(),
                partitions,
                configs,
                defaults_reported,
            });
        }
        if let (Some(only), true) = (only, topics.is_empty()) {
            return Err(ClusterError::UnknownTopic(only.to_owned()));
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let cluster_id = self.cluster_id();
        Ok(Topology {
            built_in: cluster_id.as_deref() == Some(BUILT_IN_CLUSTER_ID),
            cluster_id,
            brokers: metadata
                .brokers()
                .iter()
                .map(|b| Broker {
                    id: b.id(),
                    host: b.host().to_owned(),
                    port: b.port(),
                })
                .collect(),
            topics,
        })
    }

    /// A topic's configs (DescribeConfigs), every one the broker reports.
    pub fn topic_configs(&self, topic: &str) -> Result<Vec<TopicConfig>, ClusterError> {
        let options = AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout));
        let resource = ResourceSpecifier::Topic(topic);
        let answer = block_on(self.admin.describe_configs([&resource], &options))
            .map_err(|e| self.failed("DescribeConfigs", e))?;
        let resource = answer
            .into_iter()
            .next()
            .ok_or_else(|| self.failed("DescribeConfigs", KafkaError::NoMessageReceived))?
            .map_err(|code| self.failed("DescribeConfigs", KafkaError::AdminOp(code)))?;
        Ok(resource
            .entries
            .into_iter()
            .map(|entry| TopicConfig {
                origin: match entry.source {
                    ConfigSource::DynamicTopic => ConfigOrigin::Topic,
                    ConfigSource::Default => ConfigOrigin::Default,
                    _ => ConfigOrigin::Broker,
                },
                name: entry.name,
                value: entry.value,
            })
            .collect())
    }

    /// The error for a failed `request`: named as unsupported when the broker lacks the API.
    pub fn failed(&self, request: &'static str, source: KafkaError) -> ClusterError {
        let code = match &source {
            KafkaError::AdminOp(code) => Some(*code),
            other => other.rdkafka_error_code(),
        };
        match code {
            Some(RDKafkaErrorCode::UnsupportedFeature | RDKafkaErrorCode::UnsupportedVersion) => {
                ClusterError::Unsupported {
                    request,
                    broker: self.broker_name(),
                }
            }
            _ => ClusterError::Failed { request, source },
        }
    }
}

/// Runs an admin request's future to its end on this (blocking) thread: librdkafka answers it on
/// its own thread, so no runtime is needed.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::{
        pin::pin,
        sync::Arc,
        task::{Context, Poll, Wake, Waker},
        thread::{self, Thread},
    };
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}
