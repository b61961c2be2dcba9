//! Kafka client setup shared by every part, so the code that talks to the built-in broker is exactly
//! the code that talks to Apache Kafka.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    ClientConfig, ClientContext, Offset, Statistics,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance},
    error::KafkaError,
    producer::{BaseProducer, DeliveryResult, FutureProducer, Producer, ProducerContext},
    types::RDKafkaErrorCode,
};
use serde::Serialize;
use tracing::info;
use utoipa::ToSchema;

use crate::cluster::TopicPartition;

/// Prefix of environment variables passed through to librdkafka: `KAFKA_SECURITY_PROTOCOL=SASL_SSL`
/// becomes `security.protocol=SASL_SSL`. `KAFKA_BROKERS` itself is the bootstrap list.
const PASSTHROUGH_PREFIX: &str = "KAFKA_";

/// How long the producer waits to fill a batch.
const PRODUCER_LINGER_MS: &str = "5";

/// Where the Kafka cluster is and any extra client settings (SASL, TLS, timeouts). Its `Debug`
/// hides secrets (passwords, keys), so it may be logged.
#[derive(Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    /// librdkafka properties applied to every client, after Rota's own defaults.
    pub extra: Vec<(String, String)>,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            extra: Vec::new(),
        }
    }

    /// Adds every `KAFKA_*` environment variable (except `KAFKA_BROKERS`) as a client property.
    pub fn with_env_passthrough(mut self) -> Self {
        self.extra
            .extend(std::env::vars().filter_map(|(key, value)| {
                let name = key.strip_prefix(PASSTHROUGH_PREFIX)?;
                (name != "BROKERS").then(|| (name.to_lowercase().replace('_', "."), value))
            }));
        self
    }

    /// The value a client gets for `key` from [`KafkaConfig::extra`] (the last one set wins).
    fn setting(&self, key: &str) -> Option<&str> {
        self.extra
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether clients log in (SASL), as a broker that admits anonymous clients would not know.
    pub fn logs_in(&self) -> bool {
        self.setting("security.protocol")
            .is_some_and(|p| p.to_ascii_uppercase().starts_with("SASL_"))
    }

    /// How this client proves itself, for errors: security protocol, SASL mechanism and user;
    /// never a secret.
    pub fn security_summary(&self) -> String {
        let setting = |key: &str| self.setting(key);
        let mut summary = format!(
            "security.protocol {}",
            setting("security.protocol").unwrap_or("PLAINTEXT")
        );
        if let Some(mechanism) = setting("sasl.mechanism").or(setting("sasl.mechanisms")) {
            summary += &format!(", sasl.mechanism {mechanism}");
        }
        if let Some(user) = setting("sasl.username") {
            summary += &format!(", sasl.username {user:?}");
        }
        summary
    }

    /// A client configuration for this cluster.
    pub fn client(&self) -> ClientConfig {
        self.client_with(&[])
    }

    /// A client configuration with these defaults, which `KAFKA_*` settings override.
    fn client_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "rota")
            // A topic deleted and made again (see [`TopicKeeper`]), or given more partitions, is
            // seen within seconds, not librdkafka's default five minutes.
            .set("topic.metadata.refresh.interval.ms", "5000");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// A consumer in `group` that commits only what it chooses to and starts a new group at the
    /// earliest offset. A member that dies hands its partitions on after 6 s without heartbeats
    /// (librdkafka's default, 45 s, would stall them that long after a crash). `KAFKA_*` settings
    /// still win.
    ///
    /// With `KAFKA_GROUP_PROTOCOL=consumer` (KIP-848, Kafka 4's protocol) the broker sets the session
    /// and heartbeat times, and a client may not.
    pub fn group_member(&self, group: &str) -> ClientConfig {
        let mut defaults = vec![
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        if self.setting("group.protocol") != Some("consumer") {
            defaults.extend([
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "1500"),
            ]);
        }
        self.client_with(&defaults)
    }

    /// The one producer a process shares: idempotent with `acks=all`, so retries neither lose nor
    /// duplicate nor reorder a ride's positions. `KAFKA_LINGER_MS` and the like still win.
    pub fn producer(&self) -> Result<SharedProducer, KafkaError> {
        let config = self.producer_config();
        let current = config.create()?;
        Ok(SharedProducer(Arc::new(Shared {
            config,
            current: Mutex::new(current),
            renewed: AtomicU64::new(0),
        })))
    }

    fn producer_config(&self) -> ClientConfig {
        self.client_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", PRODUCER_LINGER_MS),
            ("compression.type", "none"),
            // A deleted topic must not come back as the broker's default topic at the next send:
            // [`TopicKeeper`] makes it again with its own settings.
            ("allow.auto.create.topics", "false"),
        ])
    }
}

/// The producer a process shares. librdkafka gives up on a producer for good after a fatal error
/// (an idempotent producer whose sequence numbers the broker no longer knows, as after a topic was
/// deleted under it): every later send fails. [`SharedProducer::get`] makes a new one the first
/// time it finds it so, and every part asks it for the producer at each send.
#[derive(Clone)]
pub struct SharedProducer(Arc<Shared>);

struct Shared {
    config: ClientConfig,
    current: Mutex<FutureProducer>,
    /// Producers made anew after a fatal error.
    renewed: AtomicU64,
}

impl SharedProducer {
    /// The producer to send with now: a handle on the same one every time, unless it failed for
    /// good, then on a new one.
    pub fn get(&self) -> FutureProducer {
        let mut current = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((code, reason)) = current.client().fatal_error() {
            match self.0.config.create::<FutureProducer>() {
                Ok(fresh) => {
                    tracing::warn!(%code, reason, "the Kafka producer failed for good; made a new one");
                    *current = fresh;
                    self.0.renewed.fetch_add(1, Ordering::Relaxed);
                }
                // The next send tries again.
                Err(e) => tracing::error!(error = %e, "could not make a new Kafka producer"),
            }
        }
        current.clone()
    }

    /// Producers made anew after a fatal error, for `/metrics`.
    pub fn renewed(&self) -> u64 {
        self.0.renewed.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(key, value)| (key.as_str(), if is_secret(key) { "***" } else { value }))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("extra", &extra)
            .finish()
    }
}

/// Whether a librdkafka property holds a secret: `sasl.password`, `ssl.key.password`,
/// `ssl.key.pem`, `sasl.oauthbearer.client.secret`…
fn is_secret(key: &str) -> bool {
    ["password", "secret", "key.pem", "keystore"]
        .iter()
        .any(|part| key.contains(part))
}

/// A group member's context: its lag (records on its partitions past its committed offsets, from
/// librdkafka's statistics, which come every [`MemberContext::STATS_INTERVAL_MS`]) and its
/// assignment, so a process can show what its own members own where the broker does not report
/// it. Takes effect once the consumer is created with [`MemberContext::configure`].
#[derive(Clone, Debug, Default)]
pub struct MemberContext(Arc<MemberState>);

#[derive(Debug, Default)]
struct MemberState {
    lag: AtomicI64,
    membership: Mutex<Membership>,
}

/// What a member of this process knows of its place in its group.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub group: String,
    /// The partitions it owns since the last rebalance.
    pub assignment: Vec<TopicPartition>,
    /// When the last rebalance gave it its partitions (milliseconds since the Unix epoch).
    pub last_rebalance_at: Option<i64>,
    /// Rebalances it has been through.
    pub rebalances: u64,
}

impl MemberContext {
    pub const STATS_INTERVAL_MS: &str = "5000";

    /// Asks for the statistics this context reads and notes the member's `group.id`.
    pub fn configure<'a>(&self, config: &'a mut ClientConfig) -> &'a mut ClientConfig {
        self.lock().group = config.get("group.id").unwrap_or_default().to_owned();
        config.set("statistics.interval.ms", Self::STATS_INTERVAL_MS)
    }

    pub fn lag(&self) -> i64 {
        self.0.lag.load(Ordering::Relaxed)
    }

    pub fn membership(&self) -> Membership {
        self.lock().clone()
    }

    /// Notes what a rebalance did, once it is done: `consumer`'s whole assignment now (with the
    /// eager protocol a rebalance revokes everything and assigns the new set; with the incremental
    /// ones, cooperative-sticky and KIP-848's `consumer`, it revokes and assigns only what moves).
    pub fn rebalanced<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        rebalance: &Rebalance<'_>,
    ) {
        if matches!(rebalance, Rebalance::Error(_)) {
            return;
        }
        let owned = consumer.assignment().unwrap_or_default();
        let mut membership = self.lock();
        membership.assignment = owned
            .elements()
            .iter()
            .map(|e| TopicPartition {
                topic: e.topic().to_owned(),
                partition: e.partition(),
            })
            .collect();
        membership.assignment.sort();
        if matches!(rebalance, Rebalance::Assign(_)) {
            membership.last_rebalance_at = Some(crate::now_ms());
            membership.rebalances += 1;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Membership> {
        self.0
            .membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientContext for MemberContext {
    fn stats(&self, statistics: Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag > 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.0.lag.store(lag, Ordering::Relaxed);
    }
}

impl ConsumerContext for MemberContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalanced(consumer, rebalance);
    }
}

/// A consumer that never closes on an async thread. Closing a group member leaves the group and
/// waits for the coordinator's answer: on a runtime's worker that stalls the runtime (a built-in
/// broker on the same runtime could not even give the answer), and once the broker is gone it
/// waits for ever. [`ClosedOffThread::close`] closes it on a blocking thread and waits; dropped
/// unclosed (its task aborted), it closes on a thread of its own, which nobody waits for.
pub struct ClosedOffThread<C: Send + 'static>(Option<C>);

impl<C: Send + 'static> ClosedOffThread<C> {
    pub fn new(consumer: C) -> Self {
        Self(Some(consumer))
    }

    /// Closes the consumer off the async threads, and waits until it is closed.
    pub async fn close(mut self) {
        let consumer = self.0.take();
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    }
}

impl<C: Send + 'static> std::ops::Deref for ClosedOffThread<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.0.as_ref().expect("a consumer is there until closed")
    }
}

impl<C: Send + 'static> Drop for ClosedOffThread<C> {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("kafka-close".into())
                .spawn(move || drop(consumer));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "could not close a Kafka consumer off the async threads");
            }
        }
    }
}

/// Kafka refused this client something for want of an ACL: asking again cannot help until an
/// operator grants it, so the part stops at once, saying which ACL.
#[derive(Debug, thiserror::Error)]
#[error("Kafka refused {doing} ({code}): the user needs an ACL allowing {acl}")]
pub struct AccessDenied {
    doing: String,
    code: RDKafkaErrorCode,
    acl: String,
}

impl AccessDenied {
    /// `error` as a refusal of a member of `group` (none: a reader in no group) reading `topic`,
    /// if it is one.
    pub fn reading(error: &KafkaError, group: Option<&str>, topic: &str) -> Option<Self> {
        let code = error.rdkafka_error_code()?;
        let acl = match (code, group) {
            (RDKafkaErrorCode::GroupAuthorizationFailed, Some(group)) => {
                format!("Read on group {group}")
            }
            (RDKafkaErrorCode::TopicAuthorizationFailed, _) => format!("Read on topic {topic}"),
            _ => return None,
        };
        let doing = match group {
            Some(group) => format!("group {group} reading {topic}"),
            None => format!("reading {topic}"),
        };
        Some(Self { doing, code, acl })
    }

    /// `error` as a refusal to create `topic`, if it is one.
    fn creating(code: RDKafkaErrorCode, topic: &str) -> Option<Self> {
        matches!(
            code,
            RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
        .then(|| Self {
            doing: format!("creating topic {topic}"),
            code,
            acl: format!(
                "Create on topic {topic}, or the topic made by an operator (as Strimzi's KafkaTopic \
                 does) and Describe on it"
            ),
        })
    }
}

/// Why a part's consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Denied(#[from] AccessDenied),
}

/// Why the topics could not be made sure of.
#[derive(Debug, thiserror::Error)]
pub enum EnsureTopicsError {
    /// The cluster refused this client (its SASL login or its TLS handshake): asking again with
    /// the same settings cannot help.
    #[error("the Kafka cluster refused this client ({settings}): {reason}")]
    Refused { settings: String, reason: String },
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

impl EnsureTopicsError {
    /// Whether trying again may help (a cluster still starting), unlike a refusal.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Kafka(_))
    }
}

/// Creates whichever of `topics` do not exist yet (with [`crate::topic_config`]'s settings), with
/// `partitions` partitions each.
pub async fn ensure_topics(
    config: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
) -> Result<(), EnsureTopicsError> {
    // Asking first keeps brokers from logging "already exists" errors at every start. (Blocking
    // calls, but short ones, made only at start-up.) Asked in short rounds, so a refused login
    // ends the wait at once instead of after the whole timeout.
    let probe: BaseProducer<Refusals> = config.client().create_with_context(Refusals::default())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metadata = loop {
        match probe
            .client()
            .fetch_metadata(None, Duration::from_millis(500))
        {
            Ok(metadata) => break metadata,
            Err(e) => {
                probe.poll(Duration::ZERO); // hands librdkafka's errors to the context
                if let Some(reason) = probe.context().first() {
                    return Err(EnsureTopicsError::Refused {
                        settings: config.security_summary(),
                        reason,
                    });
                }
                if std::time::Instant::now() >= deadline {
                    return Err(e.into());
                }
            }
        }
    };
    let existing: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|name| !existing.contains(name))
        .map(|name| {
            crate::topic_config(name).iter().fold(
                NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    if new_topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(topic) => info!(topic, partitions, "created topic"),
            // Another process created it in the meantime.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                if let Some(denied) = AccessDenied::creating(code, &topic) {
                    return Err(denied.into());
                }
                tracing::error!(topic, %code, "could not create topic");
                return Err(KafkaError::AdminOp(code).into());
            }
        }
    }
    Ok(())
}

/// How often a [`TopicKeeper`] looks for its topics.
pub const KEEP_TOPICS_EVERY: Duration = Duration::from_secs(2);

/// Keeps a process's topics there: one deleted (by an operator, or a stray client) is made again
/// with its settings within [`KEEP_TOPICS_EVERY`], instead of every send failing, or the broker
/// making it with its own defaults at the next send. Says meanwhile which are missing, for
/// `/readyz`.
pub struct TopicKeeper {
    config: KafkaConfig,
    topics: Vec<String>,
    partitions: i32,
    missing: Mutex<Vec<String>>,
}

impl TopicKeeper {
    pub fn new(config: KafkaConfig, topics: Vec<String>, partitions: i32) -> Self {
        Self {
            config,
            topics,
            partitions,
            missing: Mutex::default(),
        }
    }

    /// Looks for the topics once (a metadata request each, on `producer`'s connections) and makes
    /// again those that are missing.
    pub async fn keep(&self, producer: &SharedProducer) {
        let producer = producer.get();
        let topics = self.topics.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut missing = Vec::new();
            for topic in topics {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(5))?;
                let there = metadata.topics().iter().any(|t| {
                    t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                });
                if !there {
                    missing.push(topic);
                }
            }
            Ok::<_, KafkaError>(missing)
        })
        .await;
        // A broker that does not answer is the broker check's to report.
        let Ok(Ok(missing)) = found else {
            return;
        };
        *self.lock() = missing.clone();
        if missing.is_empty() {
            return;
        }
        tracing::warn!(topics = ?missing, "topics are missing (deleted?); making them again");
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        match ensure_topics(&self.config, &names, self.partitions).await {
            Ok(()) => self.lock().clear(),
            Err(e) => tracing::error!(error = %e, "could not make the missing topics again"),
        }
    }

    /// `/readyz`'s check: the topics missing at the last look, if any.
    pub fn check(&self) -> Result<(), String> {
        let missing = self.lock();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!("missing, being made again: {}", missing.join(", ")))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.missing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Seeks to its beginning each partition of `topic` this consumer is assigned whose position lies
/// past the partition's end, and returns those partitions: the topic was deleted and made again
/// (see [`TopicKeeper`]), and everything in it is new. Apache Kafka answers a fetch past the end
/// "offset out of range" and the consumer starts over by its `auto.offset.reset`; the built-in
/// broker answers with no records, so the consumer would wait there while the new topic's first
/// records went by unread. A blocking call: a watermark request per partition.
pub fn rewind_past_end<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
) -> Result<Vec<i32>, KafkaError> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let mut rewound = Vec::new();
    for element in consumer.position()?.elements_for_topic(topic) {
        let Offset::Offset(position) = element.offset() else {
            continue;
        };
        let partition = element.partition();
        let (_, end) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        if position > end {
            consumer.seek(topic, partition, Offset::Beginning, TIMEOUT)?;
            rewound.push(partition);
        }
    }
    Ok(rewound)
}

/// A client context that notes the first error no retry can fix: a failed SASL login or TLS
/// handshake. librdkafka reports these only to the context, and otherwise tries again forever.
#[derive(Default)]
struct Refusals(Mutex<Option<String>>);

impl Refusals {
    fn first(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ProducerContext for Refusals {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl ClientContext for Refusals {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(error = %error, reason, "Kafka client error");
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
        );
        let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if refused && first.is_none() {
            *first = Some(reason.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_for_want_of_an_acl_names_the_acl_and_nothing_else_is_one() {
        let refused = |code| KafkaError::MessageConsumption(code);
        let denied = AccessDenied::reading(
            &refused(RDKafkaErrorCode::GroupAuthorizationFailed),
            Some("simulator"),
            "route.new-direction",
        )
        .unwrap();
        assert_eq!(
            denied.to_string(),
            "Kafka refused group simulator reading route.new-direction (GroupAuthorizationFailed \
             (Broker: Group authorization failed)): the user needs an ACL allowing Read on group \
             simulator"
        );
        let topic = AccessDenied::reading(
            &refused(RDKafkaErrorCode::TopicAuthorizationFailed),
            None,
            "route.new-position",
        )
        .unwrap();
        assert!(
            topic
                .to_string()
                .ends_with("allowing Read on topic route.new-position")
        );
        for other in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ] {
            assert!(AccessDenied::reading(&refused(other), Some("g"), "t").is_none());
        }
        let created =
            AccessDenied::creating(RDKafkaErrorCode::TopicAuthorizationFailed, "route.dlq");
        assert!(
            created
                .unwrap()
                .to_string()
                .contains("Create on topic route.dlq")
        );
    }

    #[test]
    fn logs_see_how_a_client_logs_in_never_its_secrets() {
        let mut config = KafkaConfig::new("broker:9096");
        config.extra = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "rota"),
            ("sasl.password", "s3cret-pw"),
            ("ssl.key.password", "key-pw"),
            ("ssl.key.pem", "-----BEGIN PRIVATE KEY-----"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        let shown = format!("{config:?} {}", config.security_summary());
        for secret in ["s3cret-pw", "key-pw", "BEGIN PRIVATE KEY"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            config.security_summary(),
            "security.protocol SASL_SSL, sasl.mechanism SCRAM-SHA-512, sasl.username \"rota\""
        );
        assert!(shown.contains("(\"sasl.username\", \"rota\")"), "{shown}");
    }

    #[test]
    fn kafka_settings_win_over_rotas_defaults() {
        let defaults = KafkaConfig::new("broker:9092");
        assert_eq!(defaults.producer_config().get("linger.ms"), Some("5"));
        let mut tuned = defaults.clone();
        tuned.extra = vec![
            ("linger.ms".into(), "20".into()),
            ("session.timeout.ms".into(), "10000".into()),
        ];
        assert_eq!(tuned.producer_config().get("linger.ms"), Some("20"));
        assert_eq!(tuned.producer_config().get("acks"), Some("all"));
        let member = tuned.group_member("rota-history");
        assert_eq!(member.get("session.timeout.ms"), Some("10000"));
        assert_eq!(member.get("group.id"), Some("rota-history"));
    }
}
