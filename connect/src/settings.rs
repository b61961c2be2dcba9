//! How the sink runs. Names follow Confluent's Kafka Connect Elasticsearch sink where they mean the
//! same thing (`batch.size`, `bulk.size.bytes`, `linger.ms`, `retry.backoff.ms`, `read.timeout.ms`,
//! `errors.deadletterqueue.topic.name`).

use std::{fmt, path::PathBuf, time::Duration};

use events::{TOPIC_NEW_DIRECTION, TOPIC_NEW_POSITION};
use url::Url;

/// The consumer group whose committed offsets mark what Elasticsearch holds.
pub const CONNECT_GROUP: &str = "connect";
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = events::TOPIC_DEAD_LETTERS;
pub const DEFAULT_BATCH_SIZE: usize = 2_000;
pub const DEFAULT_BULK_SIZE_BYTES: usize = 5 * 1024 * 1024;
pub const DEFAULT_LINGER_MS: u64 = 1_000;
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 100;
pub const DEFAULT_MAX_RETRY_BACKOFF_MS: u64 = 10_000;
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 3_000;

#[derive(Clone, Debug)]
pub struct SinkSettings {
    /// Where Elasticsearch is, without credentials (see [`SinkSettings::new`]).
    pub elasticsearch_url: Url,
    /// How the sink proves itself, if it must.
    pub credentials: Option<Credentials>,
    /// A CA certificate (PEM) that an `https` Elasticsearch's certificate is checked against,
    /// besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Indexed into `route.new-position`-named indices with the positions template.
    pub positions_topic: String,
    /// Indexed with the directions template.
    pub directions_topic: String,
    /// Where records Elasticsearch refuses, and messages that are not JSON objects, go.
    pub dead_letter_topic: String,
    /// `batch.size`: documents per bulk request at most.
    pub batch_size: usize,
    /// `bulk.size.bytes`: bytes per bulk request at most (about).
    pub bulk_size_bytes: usize,
    /// `linger.ms`: how long a batch's first record may wait for more.
    pub linger: Duration,
    /// `retry.backoff.ms`: the first wait before sending again; it doubles up to `max_retry_backoff`.
    pub retry_backoff: Duration,
    pub max_retry_backoff: Duration,
    /// `read.timeout.ms`: how long one request may take before it counts as failed.
    pub read_timeout: Duration,
}

/// How the sink proves itself to Elasticsearch. `Debug` says which, never the secret.
#[derive(Clone, PartialEq)]
pub enum Credentials {
    /// Basic auth, from the URL's `user:password@`.
    Basic { user: String, password: String },
    /// An API key: Elasticsearch's `encoded` form (base64 of `id:key`), or `id:key`.
    ApiKey(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user:?}, ***)"),
            Self::ApiKey(_) => write!(f, "ApiKey(***)"),
        }
    }
}

impl SinkSettings {
    /// Settings for the Elasticsearch at `elasticsearch_url`; its `user:password@`, if any, are
    /// taken out of the URL into basic-auth [`Credentials`], so the URL may be logged.
    pub fn new(mut elasticsearch_url: Url) -> Self {
        let credentials = (!elasticsearch_url.username().is_empty()).then(|| Credentials::Basic {
            user: elasticsearch_url.username().to_owned(),
            password: elasticsearch_url.password().unwrap_or_default().to_owned(),
        });
        let _ = elasticsearch_url.set_username("");
        let _ = elasticsearch_url.set_password(None);
        Self {
            elasticsearch_url,
            credentials,
            ca_file: None,
            positions_topic: TOPIC_NEW_POSITION.to_owned(),
            directions_topic: TOPIC_NEW_DIRECTION.to_owned(),
            dead_letter_topic: DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
            batch_size: DEFAULT_BATCH_SIZE,
            bulk_size_bytes: DEFAULT_BULK_SIZE_BYTES,
            linger: Duration::from_millis(DEFAULT_LINGER_MS),
            retry_backoff: Duration::from_millis(DEFAULT_RETRY_BACKOFF_MS),
            max_retry_backoff: Duration::from_millis(DEFAULT_MAX_RETRY_BACKOFF_MS),
            read_timeout: Duration::from_millis(DEFAULT_READ_TIMEOUT_MS),
        }
    }

    /// The waits between attempts to index, install a template or send a dead letter.
    pub fn backoff(&self) -> events::Backoff {
        events::Backoff::new(self.retry_backoff, self.max_retry_backoff)
    }

    pub fn topics(&self) -> [&str; 2] {
        [&self.positions_topic, &self.directions_topic]
    }
}
