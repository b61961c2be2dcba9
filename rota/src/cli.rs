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
    Up(UpArgs),
    /// Only the built-in Kafka-compatible broker.
    Broker(BrokerArgs),
    /// Only the route simulator, against KAFKA_BROKERS.
    Simulator(SimulatorArgs),
    /// Only the api and web map, against KAFKA_BROKERS.
    Api(ApiArgs),
    /// Drives many rides through the built-in broker to WebSocket clients and prints figures.
    Bench(BenchArgs),
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
}

impl HttpArgs {
    pub fn map(&self) -> api::MapConfig {
        api::MapConfig {
            tiles_url: self.map_tiles_url.clone(),
            tiles_attribution: self.map_tiles_attribution.clone(),
        }
    }
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
    /// WebSocket clients, each watching the whole fleet.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Milliseconds between two positions of a ride.
    #[arg(long, default_value_t = 500)]
    pub tick_ms: u64,
    /// Seconds to measure for.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Record history into this MongoDB instead of an embedded store in a temporary directory.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,
}
