//! Wiring: starts the parts a subcommand asks for (built-in broker, topics, simulator, api) on one
//! shared producer and one shutdown signal, and stops them in order.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context, Result, anyhow};
use api::{Api, ApiConfig};
use events::KafkaConfig;
use events::{SharedProducer, TopicKeeper};
use rdkafka::producer::Producer;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::broker::{BuiltInBroker, security::BrokerSecurity};

/// Where Kafka is.
#[derive(Clone, Debug)]
pub enum KafkaSource {
    /// Start the built-in broker on this address, its log in the data directory.
    BuiltIn {
        listen: SocketAddr,
        security: BrokerSecurity,
    },
    /// An existing cluster's bootstrap servers.
    External { brokers: String },
}

impl KafkaSource {
    /// The built-in broker on `listen`, open to every client (as on a laptop).
    pub fn built_in(listen: SocketAddr) -> Self {
        Self::BuiltIn {
            listen,
            security: BrokerSecurity::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    pub speed_kmh: f64,
    pub tick: Duration,
    pub routes_dir: Option<PathBuf>,
}

/// Which parts to run and how.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    pub kafka: KafkaSource,
    pub data_dir: PathBuf,
    pub partitions: i32,
    pub api: Option<ApiConfig>,
    pub simulator: Option<SimulatorConfig>,
    /// The Elasticsearch sink, if it runs here.
    pub connect: Option<connect::SinkSettings>,
}

impl PlatformConfig {
    /// Only the built-in broker, listening on `listen`, its log in `data_dir`.
    pub fn broker(listen: SocketAddr, data_dir: PathBuf, partitions: i32) -> Self {
        Self {
            kafka: KafkaSource::built_in(listen),
            data_dir,
            partitions,
            api: None,
            simulator: None,
            connect: None,
        }
    }

    /// Nothing yet, on the brokers of an external Kafka: set the part to run.
    pub fn external(brokers: String) -> Self {
        Self {
            kafka: KafkaSource::External { brokers },
            data_dir: ".".into(), // used only by the api's embedded store
            partitions: events::DEFAULT_PARTITIONS,
            api: None,
            simulator: None,
            connect: None,
        }
    }
}

/// The running parts.
pub struct Platform {
    /// Where the HTTP listener is: the api's, or that of `serve_ops`.
    pub http_addr: Option<SocketAddr>,
    /// What the Elasticsearch sink has done, if it runs.
    pub connect_metrics: Option<Arc<connect::Metrics>>,
    /// What the simulator has done, if it runs.
    pub simulator_metrics: Option<Arc<simulator::Metrics>>,
    pub kafka: KafkaConfig,
    shutdown: CancellationToken,
    tasks: JoinSet<(&'static str, Result<()>)>,
    producer: SharedProducer,
    /// Makes Rota's topics again if they go missing.
    topics: Arc<TopicKeeper>,
    broker: Option<BuiltInBroker>,
}

impl Platform {
    pub async fn start(config: PlatformConfig) -> Result<Self> {
        let signs_in = config.api.as_ref().is_some_and(|api| api.auth.signs_in());
        let (broker, mut kafka) = match &config.kafka {
            KafkaSource::BuiltIn { listen, security } => {
                // Writes that need a token over HTTP must need a login over Kafka too.
                let security = BrokerSecurity {
                    own_login: security.own_login || signs_in,
                    ..security.clone()
                };
                let broker = BuiltInBroker::start(*listen, &config.data_dir, &security).await?;
                let mut kafka = KafkaConfig::new(broker.addr.to_string());
                kafka.extra = broker.login.clone();
                (Some(broker), kafka)
            }
            KafkaSource::External { brokers } => (None, KafkaConfig::new(brokers.clone())),
        };
        kafka = kafka.with_env_passthrough();
        if signs_in && broker.is_none() && !kafka.logs_in() {
            warn!(
                brokers = kafka.brokers,
                "writes here need a token, but this api reaches Kafka without logging in: anyone \
                 who reaches that cluster may write Rota's topics (give Kafka users and ACLs, and \
                 KAFKA_SASL_* settings)"
            );
        }
        ensure_topics(&kafka, config.partitions).await?;
        let producer = kafka.producer().context("creating the Kafka producer")?;
        let mut topics: Vec<String> = events::TOPICS.map(str::to_owned).to_vec();
        topics.extend(config.connect.iter().map(|c| c.dead_letter_topic.clone()));
        let topics = Arc::new(TopicKeeper::new(kafka.clone(), topics, config.partitions));

        let mut platform = Self {
            http_addr: None,
            // Made before the api starts, which shows them on /metrics when they run here.
            connect_metrics: config.connect.as_ref().map(|_| Arc::default()),
            simulator_metrics: config.simulator.as_ref().map(|_| Arc::default()),
            kafka,
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
            producer,
            topics,
            broker,
        };
        platform.keep_topics();
        if let Some(sim) = config.simulator {
            platform.start_simulator(sim);
        }
        if let Some(api) = config.api {
            platform.start_api(api, &config.data_dir).await?;
        }
        if let Some(settings) = config.connect {
            platform.start_connect(settings, config.partitions).await?;
        }
        Ok(platform)
    }

    async fn start_connect(
        &mut self,
        settings: connect::SinkSettings,
        partitions: i32,
    ) -> Result<()> {
        events::ensure_topics(&self.kafka, &[&settings.dead_letter_topic], partitions)
            .await
            .with_context(|| format!("creating the topic {}", settings.dead_letter_topic))?;
        let metrics = self.connect_metrics.clone().unwrap_or_default();
        let (kafka, producer, shutdown) = (
            self.kafka.clone(),
            self.producer.clone(),
            self.shutdown.clone(),
        );
        self.tasks.spawn(async move {
            let result = connect::run(&kafka, producer, settings, metrics, shutdown).await;
            ("elasticsearch sink", result.map_err(Into::into))
        });
        Ok(())
    }

    fn start_simulator(&mut self, sim: SimulatorConfig) {
        let config = simulator::Config {
            kafka: self.kafka.clone(),
            speed_kmh: sim.speed_kmh,
            tick: sim.tick,
            routes_dir: sim.routes_dir,
        };
        let (producer, shutdown) = (self.producer.clone(), self.shutdown.clone());
        let metrics = self.simulator_metrics.clone().unwrap_or_default();
        self.tasks.spawn(async move {
            (
                "simulator",
                simulator::run(config, producer, metrics, shutdown)
                    .await
                    .map_err(Into::into),
            )
        });
    }

    async fn start_api(&mut self, config: ApiConfig, data_dir: &std::path::Path) -> Result<()> {
        let process = api::Process {
            kafka: self.kafka.clone(),
            producer: self.producer.clone(),
            metered: self.metered(),
            checks: self.ready_checks(),
            members: self.members(),
        };
        let api = Api::start(config, data_dir, process).await?;
        self.http_addr = Some(api.addr());
        let shutdown = self.shutdown.clone();
        self.tasks
            .spawn(async move { ("api", api.run(shutdown).await.map_err(Into::into)) });
        Ok(())
    }

    /// The figures of the parts running here, for `/metrics`.
    fn metered(&self) -> Vec<Arc<dyn ops::Metered>> {
        let producer: Arc<dyn ops::Metered> = Arc::new(self.producer.clone());
        let simulator = self.simulator_metrics.iter().map(|m| m.clone() as _);
        let connect = self.connect_metrics.iter().map(|m| m.clone() as _);
        std::iter::once(producer)
            .chain(simulator)
            .chain(connect)
            .collect()
    }

    /// The consumer group members of the parts running here beside the api.
    fn members(&self) -> Vec<events::MemberContext> {
        let simulator = self.simulator_metrics.iter().map(|m| m.lag.clone());
        let connect = self.connect_metrics.iter().map(|m| m.lag.clone());
        simulator.chain(connect).collect()
    }

    /// Looks for Rota's topics every few seconds and makes again any that went missing.
    fn keep_topics(&mut self) {
        let (topics, producer, shutdown) = (
            self.topics.clone(),
            self.producer.clone(),
            self.shutdown.clone(),
        );
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return ("topic keeper", Ok(())),
                    _ = tokio::time::sleep(events::KEEP_TOPICS_EVERY) => topics.keep(&producer).await,
                }
            }
        });
    }

    /// The readiness of the parts running here beyond the api's own, for `/readyz`.
    fn ready_checks(&self) -> Vec<ops::ReadyCheck> {
        let topics = self.topics.clone();
        let topics = ops::ReadyCheck {
            name: "topics",
            check: Box::new(move || topics.check()),
        };
        let sink = self.connect_metrics.clone().map(|metrics| ops::ReadyCheck {
            name: "elasticsearch sink",
            check: Box::new(move || {
                if metrics.consuming.load(Ordering::Acquire) {
                    Ok(())
                } else {
                    Err("installing index templates".to_owned())
                }
            }),
        });
        std::iter::once(topics).chain(sink).collect()
    }

    /// Serves `/healthz`, `/readyz` and `/metrics` on `addr`, for a process without the api (whose
    /// listener serves them already).
    pub async fn serve_ops(&mut self, addr: SocketAddr) -> Result<SocketAddr> {
        let ops = ops::Ops {
            producer: self.producer.clone(),
            checks: self.ready_checks(),
            metered: self.metered(),
        };
        let addr = self.serve_http(addr, ops::router(Arc::new(ops))).await?;
        info!("probes and metrics at http://{addr}");
        Ok(addr)
    }

    async fn serve_http(&mut self, addr: SocketAddr, app: axum::Router) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("HTTP listener {addr} is not free"))?;
        let addr = listener.local_addr()?;
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            ("http server", served.map_err(Into::into))
        });
        self.http_addr = Some(addr);
        Ok(addr)
    }

    /// Resolves when a part stops by itself (an error, since parts run until shutdown).
    pub async fn failed(&mut self) -> anyhow::Error {
        match self.tasks.join_next().await {
            Some(Ok((part, Err(e)))) => e.context(format!("{part} failed")),
            Some(Ok((part, Ok(())))) => anyhow!("{part} stopped unexpectedly"),
            Some(Err(e)) => anyhow!("a task panicked: {e}"),
            None => std::future::pending().await,
        }
    }

    /// Stops every part: sockets are closed, the simulator leaves unfinished rides uncommitted (they
    /// resume after a restart), the producer is flushed, and the broker stops last.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown.cancel();
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => {
                    warn!(parts = self.tasks.len(), "parts did not stop in time; aborting them");
                    self.tasks.abort_all();
                    // Each is dropped at its next poll (its consumers close on threads of their
                    // own): none outlives the broker it would wait for.
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
                next = self.tasks.join_next() => match next {
                    None => break,
                    Some(Ok((part, Err(e)))) => warn!(part, error = %e, "part ended with an error"),
                    Some(_) => {}
                },
            }
        }
        let Self {
            producer, broker, ..
        } = self;
        // Flushed and closed before the broker goes, so nothing is left to send into the void.
        tokio::task::spawn_blocking(move || producer.get().flush(Duration::from_secs(5)))
            .await?
            .context("flushing the producer")?;
        if let Some(broker) = broker {
            broker.stop().await;
        }
        info!("stopped");
        Ok(())
    }
}

/// Creates the topics, retrying while the cluster comes up (a compose Kafka may still be starting).
async fn ensure_topics(kafka: &KafkaConfig, partitions: i32) -> Result<()> {
    const ATTEMPTS: u32 = 10;
    let mut backoff = events::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut attempt = 1;
    loop {
        match events::ensure_topics(kafka, &events::TOPICS, partitions).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retriable() && attempt < ATTEMPTS => {
                warn!(attempt, error = %e, brokers = kafka.brokers, "Kafka not ready; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
                attempt += 1;
            }
            Err(e) => return Err(e).context(format!("creating topics on {}", kafka.brokers)),
        }
    }
}
