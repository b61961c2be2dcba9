//! Kafka client setup shared by every part, so the code that talks to the built-in broker is exactly
//! the code that talks to Apache Kafka.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    ClientConfig, ClientContext, Statistics,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, ConsumerContext, Rebalance},
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

    /// How this client proves itself, for errors: security protocol, SASL mechanism and user;
    /// never a secret.
    pub fn security_summary(&self) -> String {
        let setting = |key: &str| {
            self.extra
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
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
            .set("client.id", "rota");
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
    pub fn group_member(&self, group: &str) -> ClientConfig {
        self.client_with(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1500"),
        ])
    }

    /// The one producer a process shares: idempotent with `acks=all`, so retries neither lose nor
    /// duplicate nor reorder a ride's positions. `KAFKA_LINGER_MS` and the like still win.
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        self.producer_config().create()
    }

    fn producer_config(&self) -> ClientConfig {
        self.client_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", PRODUCER_LINGER_MS),
            ("compression.type", "none"),
        ])
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

    /// Notes what a rebalance did: called once it is done.
    pub fn rebalanced(&self, rebalance: &Rebalance<'_>) {
        let mut membership = self.lock();
        match rebalance {
            Rebalance::Assign(partitions) => {
                membership.assignment = partitions
                    .elements()
                    .iter()
                    .map(|e| TopicPartition {
                        topic: e.topic().to_owned(),
                        partition: e.partition(),
                    })
                    .collect();
                membership.assignment.sort();
                membership.last_rebalance_at = Some(crate::now_ms());
                membership.rebalances += 1;
            }
            Rebalance::Revoke(_) => membership.assignment.clear(),
            Rebalance::Error(_) => {}
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
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalanced(rebalance);
    }
}

/// Closes a consumer off the async threads. Closing leaves the group and waits for the broker's
/// answer; a built-in broker on the same runtime needs those threads to give it, so dropping a
/// consumer on them can stall shutdown for librdkafka's whole request timeout.
pub async fn close_consumer<C: Send + 'static>(consumer: C) {
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

/// Why the topics could not be made sure of.
#[derive(Debug, thiserror::Error)]
pub enum EnsureTopicsError {
    /// The cluster refused this client (its SASL login or its TLS handshake): asking again with
    /// the same settings cannot help.
    #[error("the Kafka cluster refused this client ({settings}): {reason}")]
    Refused { settings: String, reason: String },
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
                tracing::error!(topic, %code, "could not create topic");
                return Err(KafkaError::AdminOp(code).into());
            }
        }
    }
    Ok(())
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
