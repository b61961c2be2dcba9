use anyhow::Result;
use api::ApiConfig;
use clap::Parser;
use rota::{
    cli::{Cli, Command, HttpArgs, KafkaArgs, ListenArgs, SimArgs, StoreArgs, TokenCommand},
    platform::{KafkaSource, Platform, PlatformConfig, SimulatorConfig},
};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> Result<()> {
    rota::memory::tune();
    let cli = Cli::parse();
    rota::telemetry::init();
    let mut ops = None;
    let config = match cli.command.unwrap_or_else(|| Command::Up(Box::new(cli.up))) {
        #[cfg(feature = "bench")]
        Command::Bench(args) => return rota::bench::run(args).await,
        #[cfg(feature = "bench")]
        Command::BenchConnect(args) => return rota::bench_connect::run(args).await,
        #[cfg(feature = "bench")]
        Command::BenchImport(args) => return rota::bench::import::run(args).await,
        Command::Healthcheck(args) => return rota::healthcheck::run(args.http).await,
        Command::Kafka(args) => return rota::kafka_cli::run(args).await,
        Command::Token {
            command: TokenCommand::New { role },
        } => {
            let new = api::auth::new_token(role);
            println!("{}", new.token);
            eprintln!(
                "The line above is the {} token: give it to its holder and keep it nowhere else.\n\
                 The api admits it with this entry (its hash; join entries with commas):\n\n\
                 ROTA_API_TOKENS={}",
                role.name(),
                new.entry
            );
            return Ok(());
        }
        Command::Openapi => {
            println!("{}", api::openapi::DOCUMENT.as_str());
            return Ok(());
        }
        Command::Up(args) => PlatformConfig {
            kafka: kafka_source(&args.kafka, &args.listen),
            data_dir: args.data.data_dir,
            partitions: args.kafka.partitions,
            api: Some(api_config(&args.http, &args.store)?),
            simulator: Some(simulator_config(args.sim)?),
            connect: args.connect.settings(),
        },
        Command::Broker(args) => PlatformConfig {
            kafka: args.listen.built_in(),
            ..PlatformConfig::broker(
                args.listen.kafka_listen,
                args.data.data_dir,
                args.partitions,
            )
        },
        Command::Simulator(args) => {
            ops = args.ops.http;
            PlatformConfig {
                simulator: Some(simulator_config(args.sim)?),
                ..PlatformConfig::external(args.kafka_brokers)
            }
        }
        Command::Api(args) => PlatformConfig {
            data_dir: args.data.data_dir,
            api: Some(api_config(&args.http, &args.store)?),
            ..PlatformConfig::external(args.kafka_brokers)
        },
        Command::Connect(args) => {
            ops = args.ops.http;
            let settings = args.connect.settings().ok_or_else(|| {
                anyhow::anyhow!("rota connect needs --elasticsearch-url (ELASTICSEARCH_URL)")
            })?;
            PlatformConfig {
                connect: Some(settings),
                ..PlatformConfig::external(args.kafka_brokers)
            }
        }
    };
    let mut platform = Platform::start(config).await?;
    if let Some(addr) = ops {
        platform.serve_ops(addr).await?;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    let failure = tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        _ = terminate.recv() => None,
        e = platform.failed() => Some(e),
    };
    tracing::info!("shutting down");
    platform.stop().await?;
    failure.map_or(Ok(()), Err)
}

fn kafka_source(kafka: &KafkaArgs, listen: &ListenArgs) -> KafkaSource {
    match &kafka.kafka_brokers {
        Some(brokers) => KafkaSource::External {
            brokers: brokers.clone(),
        },
        None => listen.built_in(),
    }
}

fn api_config(http: &HttpArgs, store: &StoreArgs) -> Result<ApiConfig> {
    Ok(ApiConfig {
        http: http.http,
        map: http.map(),
        socket_queue: api::DEFAULT_SOCKET_QUEUE,
        mongodb_uri: store.mongodb_uri.clone(),
        batch: store.batch(),
        auth: http.auth.config(),
        limits: http.limits.config()?,
    })
}

fn simulator_config(sim: SimArgs) -> Result<SimulatorConfig> {
    events::check_speed(sim.sim_speed_kmh)
        .map_err(|reason| anyhow::anyhow!("--sim-speed-kmh (ROTA_SIM_SPEED_KMH) {reason}"))?;
    anyhow::ensure!(
        sim.sim_tick_ms > 0,
        "--sim-tick-ms (ROTA_SIM_TICK_MS) must be at least 1"
    );
    Ok(SimulatorConfig {
        speed_kmh: sim.sim_speed_kmh,
        tick: sim.tick(),
        routes_dir: sim.routes_dir,
    })
}
