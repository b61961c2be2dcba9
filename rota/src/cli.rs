//! Command-line flags, each with an environment fallback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rota",
    version,
    about = "Ride tracking on Kafka: simulator, API, web map and a built-in broker in one binary.",
    long_about = "Ride tracking on Kafka. With no subcommand, runs `up`: the whole platform in one \
                  process on a built-in Kafka-compatible broker, with the web map at --http.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub up: UpArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: broker (unless KAFKA_BROKERS is set), simulator, api, web map.
    Up(Box<UpArgs>),
    /// Only the built-in Kafka-compatible broker.
    Broker(BrokerArgs),
    /// Only the route simulator, against KAFKA_BROKERS.
    Simulator(SimulatorArgs),
    /// Only the api and web map, against KAFKA_BROKERS.
    Api(ApiArgs),
    /// Only the Elasticsearch sink, against KAFKA_BROKERS.
    Connect(ConnectCommandArgs),
    /// Drives many rides through the built-in broker to WebSocket clients and prints figures.
    #[cfg(feature = "bench")]
    Bench(BenchArgs),
    /// Publishes positions at a fixed rate through `rota connect` into an Elasticsearch stand-in
    /// and prints the sink's throughput, lag, memory and CPU.
    #[cfg(feature = "bench")]
    BenchConnect(BenchConnectArgs),
    /// Posts big GPX imports while a ride drives and prints how long they take and what they cost
    /// `/healthz` and the ride's positions meanwhile.
    #[cfg(feature = "bench")]
    BenchImport(BenchImportArgs),
    /// Prints the API's OpenAPI document (REST, WebSocket frames and Kafka messages), as served
    /// at /api/openapi.json.
    Openapi,
    /// Kafka's own tools for any Kafka (KAFKA_BROKERS): topics, configs, consumer groups with lag,
    /// and a live tail of a topic.
    Kafka(KafkaCommandArgs),
    /// API tokens for operators and viewers.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Asks this machine's Rota process whether it is ready (`GET /readyz` on ROTA_HTTP_ADDR's
    /// port); exits 0 if so. For container healthchecks: the image carries no curl.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints a new random token, and the ROTA_API_TOKENS entry (its hash) that admits it.
    New {
        #[arg(long, value_parser = parse_role, default_value = "operator")]
        role: api::auth::Role,
    },
}

fn parse_role(name: &str) -> Result<api::auth::Role, String> {
    api::auth::Role::parse(name).ok_or_else(|| format!("{name:?}: the role is viewer or operator"))
}

#[derive(Debug, Args)]
pub struct KafkaCommandArgs {
    /// Kafka bootstrap servers (`KAFKA_*` variables pass through to the client, as for the parts).
    #[arg(
        long,
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub kafka_brokers: String,
    /// The data directory of the built-in broker on this machine: when sign-in made it a login,
    /// it is read from there (unless KAFKA_SECURITY_PROTOCOL is set).
    #[arg(
        long,
        env = "ROTA_DATA_DIR",
        default_value = "./rota-data",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: KafkaCommand,
}

#[derive(Debug, Subcommand)]
pub enum KafkaCommand {
    /// Describes every topic, or one: partitions, leader, replicas, start and end offsets, and
    /// the configs set on it (`kafka-topics --describe`).
    Topics { topic: Option<String> },
    /// Creates a topic (`kafka-topics --create`).
    Create {
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// A topic config, such as retention.ms=3600000; repeatable.
        #[arg(long = "config", value_parser = crate::kafka_cli::key_value)]
        configs: Vec<(String, String)>,
    },
    /// Raises a topic's partition count to --partitions (`kafka-topics --alter --partitions`).
    AddPartitions {
        topic: String,
        /// The new total number of partitions.
        #[arg(long)]
        partitions: usize,
    },
    /// Shows a topic's configs; with --set, changes them first (`kafka-configs --describe`,
    /// `--alter --add-config`).
    Configs {
        topic: String,
        /// A config to set, such as retention.ms=3600000; repeatable.
        #[arg(long, value_parser = crate::kafka_cli::key_value)]
        set: Vec<(String, String)>,
    },
    /// Deletes a topic and its records (`kafka-topics --delete`).
    Delete { topic: String },
    /// Lists consumer groups with their states; with --describe, one group's committed offset,
    /// end offset, lag and owner per partition (`kafka-consumer-groups --describe`).
    Groups {
        #[arg(long, value_name = "GROUP")]
        describe: Option<String>,
    },
    /// Prints a topic's records as they arrive, with partition, offset, key, timestamp and
    /// headers (`kafka-console-consumer`); commits nothing.
    Tail {
        topic: String,
        /// From the oldest record kept instead of from now.
        #[arg(long)]
        from_beginning: bool,
        /// Only records with this key (a ride id).
        #[arg(long)]
        key: Option<String>,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<usize>,
    },
}

#[derive(Clone, Debug, Args)]
pub struct HttpArgs {
    /// HTTP + WebSocket listener (web map, REST API, /ws).
    #[arg(
        long = "http",
        env = "ROTA_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http: SocketAddr,
    /// Map tiles for the web map: a Leaflet URL template with {z}, {x}, {y}. Empty: no tiles, the
    /// routes on a plain background.
    #[arg(long, env = "ROTA_MAP_TILES_URL", default_value_t = api::MapConfig::default().tiles_url)]
    pub map_tiles_url: String,
    /// The tile provider's credit line (HTML), shown in the map's corner.
    #[arg(long, env = "ROTA_MAP_TILES_ATTRIBUTION", default_value_t = api::MapConfig::default().tiles_attribution)]
    pub map_tiles_attribution: String,
    /// Rides running above which the web map asks only for the rides in its view, not the whole
    /// fleet (lower it for slow browsers).
    #[arg(long, env = "ROTA_MAP_VIEWPORT_ABOVE", default_value_t = api::MapConfig::default().viewport_above)]
    pub map_viewport_above: usize,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
}

/// What one caller may take (see the README's Security section).
#[derive(Clone, Debug, Args)]
pub struct LimitsArgs {
    /// Rides running at once on the whole platform; more starts answer 429.
    #[arg(long, env = "ROTA_MAX_RUNNING_RIDES", default_value_t = LIMITS.max_running_rides)]
    pub max_running_rides: usize,
    /// Rides one caller (token, OIDC subject, or address without one) may have running at once,
    /// per api replica.
    #[arg(long, env = "ROTA_MAX_RIDES_PER_CALLER", default_value_t = LIMITS.max_rides_per_caller)]
    pub max_rides_per_caller: usize,
    /// Writes (REST requests other than GET, WebSocket starts) per second per caller.
    #[arg(long, env = "ROTA_WRITES_PER_SECOND", default_value_t = LIMITS.writes.per_second)]
    pub writes_per_second: f64,
    /// Writes a caller may make at once after a pause.
    #[arg(long, env = "ROTA_WRITES_BURST", default_value_t = LIMITS.writes.burst)]
    pub writes_burst: u32,
    /// Largest request body in bytes; larger answers 413.
    #[arg(long, env = "ROTA_MAX_BODY_BYTES", default_value_t = LIMITS.max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest WebSocket message a client may send, in bytes; larger closes that socket (1009).
    #[arg(long, env = "ROTA_MAX_FRAME_BYTES", default_value_t = LIMITS.max_frame_bytes)]
    pub max_frame_bytes: usize,
    /// WebSockets one client address may hold at once.
    #[arg(long, env = "ROTA_SOCKETS_PER_ADDRESS", default_value_t = LIMITS.sockets_per_address)]
    pub sockets_per_address: usize,
    /// Origins besides the api's own whose pages may open the WebSocket, and with no sign-in
    /// write, separated by commas (`*`: any).
    #[arg(long, env = "ROTA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Host names besides loopback ones (localhost, 127.0.0.1, [::1]) that a loopback listener
    /// with no sign-in answers, separated by commas; requests naming any other are refused, so a
    /// web page cannot reach it by DNS rebinding.
    #[arg(long, env = "ROTA_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
}

static LIMITS: std::sync::LazyLock<api::limits::LimitsConfig> =
    std::sync::LazyLock::new(api::limits::LimitsConfig::default);

impl LimitsArgs {
    pub fn config(&self) -> anyhow::Result<api::limits::LimitsConfig> {
        anyhow::ensure!(
            self.writes_per_second.is_finite() && self.writes_per_second > 0.0,
            "--writes-per-second (ROTA_WRITES_PER_SECOND) must be a positive number, got {}",
            self.writes_per_second
        );
        anyhow::ensure!(
            self.writes_burst > 0,
            "--writes-burst (ROTA_WRITES_BURST) must be at least 1"
        );
        Ok(api::limits::LimitsConfig {
            max_running_rides: self.max_running_rides,
            max_rides_per_caller: self.max_rides_per_caller,
            writes: api::limits::Rate {
                per_second: self.writes_per_second,
                burst: self.writes_burst,
            },
            max_body_bytes: self.max_body_bytes,
            max_frame_bytes: self.max_frame_bytes,
            sockets_per_address: self.sockets_per_address,
            allowed_origins: self.allowed_origins.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
        })
    }
}

/// How operators sign in (see the README's Security section).
#[derive(Clone, Debug, Args)]
pub struct AuthArgs {
    /// `none`: anyone may write, also on a non-loopback address. `auto`: API tokens and OIDC as
    /// configured; with neither, writes are open on a loopback address and refused elsewhere.
    #[arg(long, env = "ROTA_AUTH", value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,
    /// Hashes of the API tokens admitted, `role:sha256-hex` separated by commas; `rota token new`
    /// prints one.
    #[arg(long, env = "ROTA_API_TOKENS", hide_env_values = true, value_parser = api::auth::TokenSet::parse, default_value = "")]
    pub api_tokens: api::auth::TokenSet,
    /// The OIDC issuer whose access tokens sign operators in (the `iss` they carry).
    #[arg(long, env = "ROTA_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_jwks_url"])]
    pub oidc_issuer: Option<String>,
    /// The `aud` those tokens must carry.
    #[arg(long, env = "ROTA_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// The issuer's signing keys (JWKS), fetched and cached.
    #[arg(long, env = "ROTA_OIDC_JWKS_URL", requires = "oidc_issuer")]
    pub oidc_jwks_url: Option<String>,
    /// The claim with the caller's roles (a string or list; dots reach into objects, e.g.
    /// realm_access.roles).
    #[arg(long, env = "ROTA_OIDC_ROLE_CLAIM", default_value = "roles")]
    pub oidc_role_claim: String,
    /// The role in that claim that makes an operator; any other token is a viewer.
    #[arg(long, env = "ROTA_OIDC_OPERATOR_ROLE", default_value = "operator")]
    pub oidc_operator_role: String,
    /// Proxies in front of the api whose X-Forwarded-For entries are believed (1 behind an Istio
    /// gateway or one load balancer); 0 takes the peer's address.
    #[arg(long, env = "ROTA_TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
pub enum AuthMode {
    Auto,
    None,
}

impl AuthArgs {
    pub fn config(&self) -> api::auth::AuthConfig {
        let oidc = self
            .oidc_issuer
            .as_ref()
            .map(|issuer| api::auth::OidcConfig {
                issuer: issuer.clone(),
                audience: self.oidc_audience.clone().unwrap_or_default(),
                jwks_url: self.oidc_jwks_url.clone().unwrap_or_default(),
                role_claim: self.oidc_role_claim.clone(),
                operator_role: self.oidc_operator_role.clone(),
            });
        api::auth::AuthConfig {
            none: self.auth == AuthMode::None,
            tokens: self.api_tokens.clone(),
            oidc,
            trusted_proxies: self.trusted_proxies,
        }
    }
}

impl HttpArgs {
    pub fn map(&self) -> api::MapConfig {
        api::MapConfig {
            tiles_url: self.map_tiles_url.clone(),
            tiles_attribution: self.map_tiles_attribution.clone(),
            viewport_above: self.map_viewport_above,
        }
    }
}

/// The simulator's and the sink's own listener, for probes and Prometheus.
#[derive(Clone, Debug, Args)]
pub struct OpsArgs {
    /// Serve /healthz, /readyz and /metrics here (e.g. 0.0.0.0:8080); none when unset.
    #[arg(long = "http", env = "ROTA_HTTP_ADDR")]
    pub http: Option<SocketAddr>,
}

#[derive(Clone, Debug, Args)]
pub struct HealthcheckArgs {
    /// The listener to ask; an unspecified address (0.0.0.0) is asked on loopback.
    #[arg(
        long = "http",
        env = "ROTA_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http: SocketAddr,
}

#[derive(Clone, Debug, Args)]
pub struct DataArgs {
    /// Directory for the broker log and the embedded store.
    #[arg(long, env = "ROTA_DATA_DIR", default_value = "./rota-data")]
    pub data_dir: PathBuf,
}

#[derive(Clone, Debug, Args)]
pub struct KafkaArgs {
    /// Use this Kafka cluster (comma-separated bootstrap servers) instead of the built-in broker.
    /// Other KAFKA_* variables pass through to the client: KAFKA_SASL_USERNAME=rota sets
    /// sasl.username.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Partitions of each topic Rota creates when it is missing.
    #[arg(long, env = "ROTA_TOPIC_PARTITIONS", default_value_t = events::DEFAULT_PARTITIONS)]
    pub partitions: i32,
}

#[derive(Clone, Debug, Args)]
pub struct ListenArgs {
    /// Built-in broker listener (Kafka protocol).
    #[arg(long, env = "ROTA_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    pub kafka_listen: SocketAddr,
    /// The built-in broker's TLS certificate chain (PEM): its listener is then TLS only.
    #[arg(long, env = "ROTA_KAFKA_TLS_CERT", requires = "kafka_tls_key")]
    pub kafka_tls_cert: Option<PathBuf>,
    /// The private key of that certificate (PEM).
    #[arg(long, env = "ROTA_KAFKA_TLS_KEY", requires = "kafka_tls_cert")]
    pub kafka_tls_key: Option<PathBuf>,
    /// Users who may log in to the built-in broker with SASL/SCRAM (SHA-256 or SHA-512), one
    /// `name:password` a line: then every client must. Rota's own clients log in with KAFKA_SASL_*.
    #[arg(long, env = "ROTA_KAFKA_USERS_FILE")]
    pub kafka_users_file: Option<PathBuf>,
}

impl ListenArgs {
    /// The built-in broker these flags describe.
    pub fn built_in(&self) -> crate::platform::KafkaSource {
        use crate::broker::security::{BrokerSecurity, TlsFiles};
        let tls = self.kafka_tls_cert.clone().zip(self.kafka_tls_key.clone());
        crate::platform::KafkaSource::BuiltIn {
            listen: self.kafka_listen,
            security: BrokerSecurity {
                tls: tls.map(|(cert, key)| TlsFiles { cert, key }),
                users_file: self.kafka_users_file.clone(),
                own_login: false,
            },
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct SimArgs {
    /// Speed of a ride whose start command names none.
    #[arg(long, env = "ROTA_SIM_SPEED_KMH", default_value_t = simulator::DEFAULT_SPEED_KMH)]
    pub sim_speed_kmh: f64,
    /// Milliseconds between two positions of a ride.
    #[arg(long, env = "ROTA_SIM_TICK_MS", default_value_t = simulator::DEFAULT_TICK.as_millis() as u64)]
    pub sim_tick_ms: u64,
    /// Directory of `<routeId>.txt` route files (`lat,lng` per line) for commands without points;
    /// the built-in sample routes are used otherwise.
    #[arg(long, env = "ROTA_ROUTES_DIR")]
    pub routes_dir: Option<PathBuf>,
}

impl SimArgs {
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.sim_tick_ms)
    }
}

#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Keep routes and rides in MongoDB (e.g. mongodb://rota:secret@mongo:27017/rota) instead of
    /// the embedded store in the data directory. The database is the URI's, else `rota`.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,
    /// Recorded positions are written to the store in batches of at most this many...
    #[arg(long, env = "ROTA_HISTORY_BATCH_POSITIONS", default_value_t = api::BatchLimits::default().max_positions)]
    pub history_batch_positions: usize,
    /// ...or after the batch's first position waited this many milliseconds.
    #[arg(long, env = "ROTA_HISTORY_BATCH_WAIT_MS", default_value_t = api::BatchLimits::default().max_wait.as_millis() as u64)]
    pub history_batch_wait_ms: u64,
}

impl StoreArgs {
    pub fn batch(&self) -> api::BatchLimits {
        api::BatchLimits {
            max_positions: self.history_batch_positions.max(1),
            max_wait: Duration::from_millis(self.history_batch_wait_ms),
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ConnectArgs {
    /// Index every event into this Elasticsearch (e.g. https://elastic:secret@es:9200; credentials
    /// in the URL are sent as basic auth and never logged). `rota up` runs the sink only when set.
    #[arg(long, env = "ELASTICSEARCH_URL", hide_env_values = true)]
    pub elasticsearch_url: Option<url::Url>,
    /// An Elasticsearch API key, instead of basic auth: the `encoded` value Elasticsearch returns,
    /// or `id:api_key`. Never logged.
    #[arg(long, env = "ELASTICSEARCH_API_KEY", hide_env_values = true)]
    pub elasticsearch_api_key: Option<String>,
    /// A CA certificate (PEM) to check an https Elasticsearch's certificate against, besides the
    /// system's.
    #[arg(long, env = "ELASTICSEARCH_CA_FILE")]
    pub elasticsearch_ca_file: Option<std::path::PathBuf>,
    /// Topic of positions, indexed with the positions template.
    #[arg(long, env = "CONNECT_POSITIONS_TOPIC", default_value = events::TOPIC_NEW_POSITION)]
    pub positions_topic: String,
    /// Topic of ride commands, indexed with the directions template.
    #[arg(long, env = "CONNECT_DIRECTIONS_TOPIC", default_value = events::TOPIC_NEW_DIRECTION)]
    pub directions_topic: String,
    /// Where records Elasticsearch refuses, and messages that are not JSON objects, go
    /// (Kafka Connect: errors.deadletterqueue.topic.name).
    #[arg(long, env = "CONNECT_DEAD_LETTER_TOPIC", default_value = connect::DEFAULT_DEAD_LETTER_TOPIC)]
    pub dead_letter_topic: String,
    /// Documents per bulk request at most (Kafka Connect: batch.size).
    #[arg(long, env = "CONNECT_BATCH_SIZE", default_value_t = connect::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Bytes per bulk request at most (Kafka Connect: bulk.size.bytes).
    #[arg(long, env = "CONNECT_BULK_SIZE_BYTES", default_value_t = connect::DEFAULT_BULK_SIZE_BYTES)]
    pub bulk_size_bytes: usize,
    /// How long a batch's first record waits for more (Kafka Connect: linger.ms).
    #[arg(long, env = "CONNECT_LINGER_MS", default_value_t = connect::DEFAULT_LINGER_MS)]
    pub linger_ms: u64,
    /// First wait before a failed request is sent again; it doubles up to the maximum
    /// (Kafka Connect: retry.backoff.ms).
    #[arg(long, env = "CONNECT_RETRY_BACKOFF_MS", default_value_t = connect::DEFAULT_RETRY_BACKOFF_MS)]
    pub retry_backoff_ms: u64,
    #[arg(long, env = "CONNECT_MAX_RETRY_BACKOFF_MS", default_value_t = connect::DEFAULT_MAX_RETRY_BACKOFF_MS)]
    pub max_retry_backoff_ms: u64,
    /// How long one request may take before it counts as failed (Kafka Connect: read.timeout.ms).
    #[arg(long, env = "CONNECT_READ_TIMEOUT_MS", default_value_t = connect::DEFAULT_READ_TIMEOUT_MS)]
    pub read_timeout_ms: u64,
}

impl ConnectArgs {
    /// The sink's settings, if an Elasticsearch URL is set.
    pub fn settings(&self) -> Option<connect::SinkSettings> {
        let url = self.elasticsearch_url.clone()?;
        let basic = connect::SinkSettings::new(url);
        let api_key = self
            .elasticsearch_api_key
            .clone()
            .map(connect::Credentials::ApiKey);
        Some(connect::SinkSettings {
            credentials: api_key.or(basic.credentials.clone()),
            ca_file: self.elasticsearch_ca_file.clone(),
            positions_topic: self.positions_topic.clone(),
            directions_topic: self.directions_topic.clone(),
            dead_letter_topic: self.dead_letter_topic.clone(),
            batch_size: self.batch_size.max(1),
            bulk_size_bytes: self.bulk_size_bytes.max(1),
            linger: Duration::from_millis(self.linger_ms),
            retry_backoff: Duration::from_millis(self.retry_backoff_ms.max(1)),
            max_retry_backoff: Duration::from_millis(self.max_retry_backoff_ms.max(1)),
            read_timeout: Duration::from_millis(self.read_timeout_ms.max(1)),
            ..basic
        })
    }
}

#[derive(Clone, Debug, Args)]
pub struct ConnectCommandArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Clone, Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Clone, Debug, Args)]
pub struct BrokerArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Partitions of each topic created at start-up.
    #[arg(long, env = "ROTA_TOPIC_PARTITIONS", default_value_t = events::DEFAULT_PARTITIONS)]
    pub partitions: i32,
}

#[derive(Clone, Debug, Args)]
pub struct SimulatorArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Clone, Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// Concurrent rides.
    #[arg(long, default_value_t = 100)]
    pub rides: usize,
    /// WebSocket clients, each watching the whole fleet (batched `fleet` frames).
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// WebSocket clients each watching one ride (every `position` frame), spread over the rides.
    #[arg(long, default_value_t = 0)]
    pub ride_watchers: usize,
    /// Milliseconds between two positions of a ride.
    #[arg(long, default_value_t = 500)]
    pub tick_ms: u64,
    /// Rides started per `POST /api/rides/batch`; 1 starts each with its own `POST /api/rides`
    /// (64 at a time).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=api::MAX_BATCH_RIDES as u64))]
    pub start_batch: u64,
    /// Seconds to measure for.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// System pages kept open: each follows one ride, asking twice a second for `/api/system` and
    /// the positions topic's newest records of the ride's key, as the page does.
    #[arg(long, default_value_t = 0)]
    pub system_pages: usize,
    /// Record history into this MongoDB instead of an embedded store in a temporary directory.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,
    /// Run on this Kafka cluster (a fresh one: the rides' topics and groups are Rota's own)
    /// instead of a built-in broker; the broker-alone phase is then left out.
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    /// The broker's process, whose CPU and peak memory are printed beside the platform's.
    #[arg(long, requires = "kafka_brokers")]
    pub kafka_pid: Option<u32>,
}

#[derive(Clone, Debug, Args)]
pub struct BenchConnectArgs {
    /// Positions published per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds to measure for.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
}

#[derive(Clone, Debug, Args)]
pub struct BenchImportArgs {
    /// Points of each GPX track, one round per size.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 40_000, 100_000])]
    pub points: Vec<usize>,
    /// Tracks posted at once in each round.
    #[arg(long, default_value_t = 2)]
    pub files: usize,
}
