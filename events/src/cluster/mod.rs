//! What a Kafka cluster says about itself, read through the Kafka protocol alone (metadata, list
//! offsets, describe configs, list and describe groups, offset fetch), so the built-in broker and a
//! real cluster are read the same way. `rota kafka` prints it; the api's System view serves it.
//!
//! Every figure is read, never estimated: a value the broker does not report is `None`, not zero.
//! Reads are blocking librdkafka calls: call them off the async threads.

mod groups;
mod records;

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier},
    client::DefaultClientContext,
    config::FromClientConfig,
    consumer::{BaseConsumer, Consumer},
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
    /// An answer that cannot be used.
    #[error("{0}")]
    Unreadable(String),
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
    /// For ListOffsets; it never subscribes.
    offsets: BaseConsumer,
    cluster_id: Mutex<Option<String>>,
}

impl ClusterReader {
    pub fn new(kafka: &KafkaConfig) -> Result<Self, ClusterError> {
        let admin = create(&kafka.client())?;
        // The log's end, as `kafka-consumer-groups` reports it, not the last stable offset.
        let offsets = create(kafka.client().set("isolation.level", "read_uncommitted"))?;
        Ok(Self {
            kafka: kafka.clone(),
            admin,
            timeout: TIMEOUT,
            group_clients: Mutex::default(),
            offsets,
            cluster_id: Mutex::default(),
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

    /// The cluster id, asked for until the cluster answers, then kept (it does not change).
    fn cluster_id(&self) -> Option<String> {
        let mut known = self
            .cluster_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.is_none() {
            *known = self.admin.inner().fetch_cluster_id(self.timeout);
        }
        known.clone()
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
        let found: Vec<_> = metadata
            .topics()
            .iter()
            .filter(|t| only.is_none_or(|only| only == t.name()))
            .filter(|t| !t.name().starts_with("__"))
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .collect();
        // One ListOffsets for every partition's start, one for every end, one DescribeConfigs for
        // every topic: a handful of requests however many topics and partitions there are.
        let mut every = TopicPartitionList::new();
        for topic in &found {
            for p in topic.partitions() {
                every.add_partition(topic.name(), p.id());
            }
        }
        let starts = self.list_offsets(&every, Offset::Beginning)?;
        let ends = self.list_offsets(&every, Offset::End)?;
        let names: Vec<&str> = found.iter().map(|t| t.name()).collect();
        let mut configs = match self.configs_of(&names) {
            Ok(configs) => configs.into_iter().map(Some).collect(),
            Err(ClusterError::Unsupported { .. }) => vec![None; names.len()],
            Err(e) => return Err(e),
        };
        let mut topics = Vec::new();
        for (topic, configs) in found.iter().zip(configs.drain(..)) {
            let partitions = topic
                .partitions()
                .iter()
                .map(|p| {
                    let key = (topic.name().to_owned(), p.id());
                    Partition {
                        id: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                        start_offset: starts[&key],
                        end_offset: ends[&key],
                    }
                })
                .collect();
            topics.push(Topic {
                name: topic.name().to_owned(),
                partitions,
                defaults_reported: configs.as_ref().is_some_and(|c: &Vec<TopicConfig>| {
                    c.iter().any(|c| c.origin != ConfigOrigin::Topic)
                }),
                configs,
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
        Ok(self.configs_of(&[topic])?.remove(0))
    }

    /// The configs of each of `topics`, in their order, in one DescribeConfigs.
    fn configs_of(&self, topics: &[&str]) -> Result<Vec<Vec<TopicConfig>>, ClusterError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let options = AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout));
        let resources: Vec<ResourceSpecifier> =
            topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
        let answer = block_on(self.admin.describe_configs(&resources, &options))
            .map_err(|e| self.failed("DescribeConfigs", e))?;
        if answer.len() != topics.len() {
            return Err(self.failed("DescribeConfigs", KafkaError::NoMessageReceived));
        }
        answer
            .into_iter()
            .map(|resource| {
                let resource = resource
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
            })
            .collect()
    }

    /// Each partition's offset at `at` (the start or the end), in one ListOffsets per leader.
    fn list_offsets(
        &self,
        partitions: &TopicPartitionList,
        at: Offset,
    ) -> Result<HashMap<(String, i32), i64>, ClusterError> {
        if partitions.count() == 0 {
            return Ok(HashMap::new());
        }
        let mut asked = partitions.clone();
        asked
            .set_all_offsets(at)
            .map_err(|e| self.failed("ListOffsets", e))?;
        // Kafka's "offsets for times" with the special times for the start and the end.
        let answer = self
            .offsets
            .offsets_for_times(asked, self.timeout)
            .map_err(|e| self.failed("ListOffsets", e))?;
        answer
            .elements()
            .iter()
            .map(|e| {
                if let Err(error) = e.error() {
                    return Err(self.failed("ListOffsets", error));
                }
                match e.offset() {
                    Offset::Offset(offset) => Ok(((e.topic().to_owned(), e.partition()), offset)),
                    other => Err(ClusterError::Unreadable(format!(
                        "ListOffsets answered {other:?} for {}/{}",
                        e.topic(),
                        e.partition()
                    ))),
                }
            })
            .collect()
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

/// A client of `config`'s kind; the error names what failed.
fn create<C: FromClientConfig>(config: &ClientConfig) -> Result<C, ClusterError> {
    config.create().map_err(|source| ClusterError::Failed {
        request: "creating a client",
        source,
    })
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
