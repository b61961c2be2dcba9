//! The sink's loop: consume both topics in group [`CONNECT_GROUP`], batch records, bulk-index them,
//! send what Elasticsearch refuses to the dead-letter topic, and only then commit the batch's
//! offsets. A crash re-reads the uncommitted records and indexes them under the same ids, so
//! delivery is at least once and the effect exactly once.
//!
//! While Elasticsearch cannot take a batch (429, 5xx, a timeout), the sink waits with a doubling
//! back-off and pauses its partitions: nothing more is fetched, so memory stays bounded by one batch
//! and librdkafka's queue (`queued.max.messages.kbytes`).

use std::{sync::Arc, time::Duration};

use elasticsearch::{
    Elasticsearch,
    auth::Credentials,
    cert::{Certificate, CertificateValidation},
    http::transport::{BuildError, SingleNodeConnectionPool, TransportBuilder},
};
use events::{KafkaConfig, MemberContext, batch};
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    message::OwnedMessage,
};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    bulk::{self, Outcome},
    dead_letters,
    document::{Document, Source},
    metrics::Metrics,
    settings::{CONNECT_GROUP, SinkSettings},
    templates,
};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Denied(#[from] events::AccessDenied),
    #[error("Elasticsearch client: {0}")]
    Client(#[from] BuildError),
    #[error("the Elasticsearch CA file {}: {reason}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// Runs the sink until `shutdown`; dead letters go out through `producer` (the process's one).
/// Templates are installed first (retrying until Elasticsearch answers), so no document is indexed
/// before its index has its mapping.
pub async fn run(
    kafka: &KafkaConfig,
    producer: events::SharedProducer,
    settings: SinkSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), SinkError> {
    let client = client(&settings)?;
    let installed = install_templates(&client, &settings, &shutdown).await;
    if !installed {
        return Ok(());
    }
    let consumer: StreamConsumer<MemberContext> = metrics
        .lag
        .configure(
            kafka
                .group_member(CONNECT_GROUP)
                .set("queued.max.messages.kbytes", "16384")
                .set("fetch.wait.max.ms", "100"),
        )
        .create_with_context(metrics.lag.clone())?;
    let consumer = events::ClosedOffThread::new(consumer);
    consumer.subscribe(&settings.topics())?;
    metrics
        .consuming
        .store(true, std::sync::atomic::Ordering::Release);
    info!(
        group = CONNECT_GROUP,
        topics = ?settings.topics(),
        elasticsearch = %settings.elasticsearch_url,
        credentials = ?settings.credentials,
        batch_size = settings.batch_size,
        linger_ms = settings.linger.as_millis() as u64,
        "indexing into Elasticsearch"
    );
    let mut sink = Sink {
        client,
        producer,
        consumer,
        settings,
        metrics,
        shutdown,
        carried: Vec::new(),
    };
    let ran = sink.run().await;
    sink.consumer.close().await;
    Ok(ran?)
}

fn client(settings: &SinkSettings) -> Result<Elasticsearch, SinkError> {
    let url = settings.elasticsearch_url.clone();
    let mut transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
        .timeout(settings.read_timeout)
        .disable_proxy();
    if let Some(credentials) = &settings.credentials {
        transport = transport.auth(match credentials {
            crate::Credentials::Basic { user, password } => {
                Credentials::Basic(user.clone(), password.clone())
            }
            crate::Credentials::ApiKey(key) => match key.split_once(':') {
                Some((id, secret)) => Credentials::ApiKey(id.to_owned(), secret.to_owned()),
                None => Credentials::EncodedApiKey(key.clone()),
            },
        });
    }
    if let Some(path) = &settings.ca_file {
        let unreadable = |reason: String| SinkError::CaFile {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
        let ca = Certificate::from_pem(&pem).map_err(|e| unreadable(e.to_string()))?;
        transport = transport.cert_validation(CertificateValidation::Full(ca));
    }
    Ok(Elasticsearch::new(transport.build()?))
}

async fn install_templates(
    client: &Elasticsearch,
    settings: &SinkSettings,
    shutdown: &CancellationToken,
) -> bool {
    let templates = templates::templates(&settings.positions_topic, &settings.directions_topic);
    let mut backoff = settings.backoff();
    for (name, template) in &templates {
        loop {
            match bulk::put_template(client, name, template, settings.read_timeout).await {
                Ok(()) => break,
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!(template = name, error = %e, retry_in_ms = delay.as_millis() as u64, "index template not installed yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = sleep(delay) => {}
                    }
                }
            }
        }
    }
    info!(templates = templates.len(), "index templates installed");
    true
}

/// A record in a batch: where it came from, and its document or why it cannot have one.
struct Record {
    source: Source,
    document: Result<Document, String>,
}

/// Records waiting to be indexed, and the offsets to commit once they are.
#[derive(Default)]
struct Batch {
    records: batch::Batch<Record>,
    /// Documents and their bytes so far (`batch.size`, `bulk.size.bytes`).
    documents: usize,
    bytes: usize,
}

impl Batch {
    fn add(&mut self, message: OwnedMessage) {
        let source = Source {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            timestamp: message.timestamp().to_millis(),
            payload: message.payload().unwrap_or_default().to_vec(),
        };
        let document = Document::of(&source);
        if let Ok(doc) = &document {
            self.documents += 1;
            self.bytes += doc.size;
        }
        self.records
            .add(&message, Some(Record { source, document }));
    }

    fn is_full(&self, settings: &SinkSettings) -> bool {
        self.documents >= settings.batch_size || self.bytes >= settings.bulk_size_bytes
    }
}

struct Sink {
    client: Elasticsearch,
    producer: events::SharedProducer,
    consumer: events::ClosedOffThread<StreamConsumer<MemberContext>>,
    settings: SinkSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// Records that arrived while the partitions were paused; they start the next batch.
    carried: Vec<OwnedMessage>,
}

/// The sink was asked to stop in the middle of something.
struct Stopped;

impl Sink {
    /// Indexes until shutdown, or until Kafka refuses this client for want of an ACL.
    async fn run(&mut self) -> Result<(), events::AccessDenied> {
        let mut batch = Batch::default();
        let mut report = tokio::time::interval(Duration::from_secs(30));
        loop {
            for message in std::mem::take(&mut self.carried) {
                batch.add(message);
            }
            if batch.is_full(&self.settings) {
                let full = std::mem::take(&mut batch);
                if self.flush(full).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = report.tick() => self.report(),
                _ = batch::until(batch.records.due(self.settings.linger)) => {
                    if self.flush(std::mem::take(&mut batch)).await.is_err() {
                        return Ok(());
                    }
                }
                message = self.consumer.recv() => match message {
                    Ok(message) => batch.add(message.detach()),
                    Err(e) => {
                        let topics = self.settings.topics().join(", ");
                        if let Some(denied) = events::AccessDenied::reading(&e, Some(CONNECT_GROUP), &topics) {
                            return Err(denied);
                        }
                        warn!(error = %e, "connect consumer error; retrying");
                        sleep(self.settings.retry_backoff).await;
                    }
                },
            }
        }
        // Stopping: one last attempt, without waiting for retries. What is not indexed is not
        // committed, and the next start indexes it (under the same ids).
        if !batch.records.items.is_empty() {
            let _ = self.flush(batch).await;
        }
        Ok(())
    }

    /// Indexes a batch (sending again what Elasticsearch could not take, with back-off), sends
    /// its dead letters, then commits its offsets.
    async fn flush(&mut self, batch: Batch) -> Result<(), Stopped> {
        let batch::Batch { items, offsets, .. } = batch.records;
        let (mut docs, mut dead) = (Vec::new(), Vec::new());
        for (at, record) in items.iter().enumerate() {
            match &record.document {
                Ok(doc) => docs.push((at, doc)),
                Err(reason) => dead.push((at, reason.clone())),
            }
        }
        let mut pending: Vec<usize> = (0..docs.len()).collect();
        let mut backoff = self.settings.backoff();
        while !pending.is_empty() {
            let sending: Vec<&Document> = pending.iter().map(|&i| docs[i].1).collect();
            let retry = match bulk::index(&self.client, &sending, self.settings.read_timeout).await
            {
                Ok(outcomes) => {
                    let (mut retry, mut indexed, mut why) = (Vec::new(), 0, String::new());
                    for (&i, outcome) in pending.iter().zip(outcomes) {
                        match outcome {
                            Outcome::Indexed => indexed += 1,
                            Outcome::Retry(reason) => {
                                retry.push(i);
                                why = reason;
                            }
                            Outcome::Rejected(reason) => dead.push((docs[i].0, reason)),
                        }
                    }
                    if indexed > 0 {
                        Metrics::add(&self.metrics.indexed, indexed);
                        Metrics::add(&self.metrics.batches, 1);
                    }
                    if !retry.is_empty() {
                        warn!(
                            documents = retry.len(),
                            of = pending.len(),
                            reason = why,
                            "Elasticsearch could not take part of a bulk request; sending it again"
                        );
                    }
                    retry
                }
                Err(e) => {
                    warn!(error = %e, documents = pending.len(), "bulk request failed; sending it again");
                    pending
                }
            };
            if retry.is_empty() {
                break;
            }
            Metrics::add(&self.metrics.retries, 1);
            self.wait(backoff.next_delay()).await?;
            pending = retry;
        }
        for (at, reason) in dead {
            self.dead_letter(&items[at].source, &reason).await?;
        }
        offsets.commit(&*self.consumer, CommitMode::Async);
        debug!(records = items.len(), "batch indexed and committed");
        Ok(())
    }

    async fn dead_letter(&mut self, source: &Source, reason: &str) -> Result<(), Stopped> {
        let mut backoff = self.settings.backoff();
        let topic = self.settings.dead_letter_topic.clone();
        loop {
            match dead_letters::send(&self.producer.get(), &topic, source, reason).await {
                Ok(()) => break,
                Err(e) => {
                    warn!(error = %e, topic, "dead letter not delivered; trying again");
                    self.wait(backoff.next_delay()).await?;
                }
            }
        }
        warn!(
            topic = source.topic,
            partition = source.partition,
            offset = source.offset,
            reason,
            dead_letters = topic,
            "record sent to the dead-letter topic"
        );
        Metrics::add(&self.metrics.dead_letters, 1);
        Ok(())
    }

    /// Waits `delay` with the partitions paused. Polling goes on (the group must see this member
    /// alive); records already fetched are carried into the next batch.
    async fn wait(&mut self, delay: Duration) -> Result<(), Stopped> {
        let assignment = self.consumer.assignment().unwrap_or_default();
        let _ = self.consumer.pause(&assignment);
        let until = Instant::now() + delay;
        let result = loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break Err(Stopped),
                _ = sleep_until(until) => break Ok(()),
                message = self.consumer.recv() => {
                    if let Ok(message) = message {
                        self.carried.push(message.detach());
                    }
                }
            }
        };
        let _ = self.consumer.resume(&assignment);
        result
    }

    fn report(&self) {
        let m = &self.metrics;
        info!(
            indexed = Metrics::get(&m.indexed),
            batches = Metrics::get(&m.batches),
            retries = Metrics::get(&m.retries),
            dead_letters = Metrics::get(&m.dead_letters),
            lag = m.lag.lag(),
            "connect"
        );
    }
}
