//! Starting the api: open its store, bind its listener, then run its five parts until shutdown —
//! store preparation, the live position consumer feeding the hub, the hub's fleet batches, the position recorder, and the
//! HTTP server.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
};

use events::{KafkaConfig, MemberContext};
use ops::{Metered, ReadyCheck};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::{
    AppState, BatchLimits, MapConfig, SOCKET_QUEUE_BYTES,
    auth::{AuthConfig, AuthConflict, Gate},
    browser::SecurityHeaders,
    consume_positions,
    hub::{FLEET_BATCH, Hub},
    prepare_store, record_positions,
    recorder::HistoryLag,
    router,
    store::{EmbeddedStore, MongoStore, Store, StoreError},
    system::SystemView,
};

/// How the api runs.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub http: SocketAddr,
    /// Per-socket frame queue length (see [`crate::hub`]).
    pub socket_queue: usize,
    /// MongoDB's URI; `None` keeps routes and rides in the data directory's embedded store.
    pub mongodb_uri: Option<String>,
    /// When recorded positions are written to the store.
    pub batch: BatchLimits,
    /// The web map's base layer.
    pub map: MapConfig,
    /// How operators sign in.
    pub auth: AuthConfig,
    /// What one caller may take.
    pub limits: crate::limits::LimitsConfig,
}

/// What the api shares with the rest of its process.
pub struct Process {
    pub kafka: KafkaConfig,
    /// The process's one producer, for ride commands.
    pub producer: events::SharedProducer,
    /// Other parts running here whose figures `/metrics` shows.
    pub metered: Vec<Arc<dyn Metered>>,
    /// Other parts' readiness, on `/readyz` next to the api's own.
    pub checks: Vec<ReadyCheck>,
    /// The consumer group members of other parts running here, which the System view shows with
    /// what they own (the built-in broker does not report it).
    pub members: Vec<MemberContext>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Auth(#[from] AuthConflict),
    #[error("the store cannot be opened")]
    Store(#[from] StoreError),
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP listener {addr} is not free")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the position consumer failed")]
    Positions(#[source] events::ConsumeError),
    #[error("the position recorder failed")]
    Recorder(#[source] events::ConsumeError),
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
    #[error("a part of the api panicked: {0}")]
    Panicked(String),
}

/// An api with its store open and its listener bound, ready to [`Api::run`].
pub struct Api {
    listener: TcpListener,
    store: Arc<dyn Store>,
    gate: Gate,
    config: ApiConfig,
    process: Process,
}

impl Api {
    /// Opens the store (MongoDB, or `store.redb` in `data_dir`) and binds the listener.
    pub async fn start(
        config: ApiConfig,
        data_dir: &Path,
        process: Process,
    ) -> Result<Self, StartError> {
        let gate = Gate::new(config.auth.clone(), config.http)?;
        let store: Arc<dyn Store> = match &config.mongodb_uri {
            Some(uri) => {
                info!("routes and rides in MongoDB");
                Arc::new(MongoStore::connect(uri).await?)
            }
            None => {
                std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
                    path: data_dir.to_owned(),
                    source,
                })?;
                let path = data_dir.join("store.redb");
                info!(store = %path.display(), "routes and rides in the embedded store");
                Arc::new(EmbeddedStore::open(&path)?)
            }
        };
        let listener =
            TcpListener::bind(config.http)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.http,
                    source,
                })?;
        Ok(Self {
            listener,
            store,
            gate,
            config,
            process,
        })
    }

    /// Where the HTTP listener is (with the port chosen if the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Runs until `shutdown`, or until a part fails; then stops the other parts and returns the
    /// first failure.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunError> {
        let Self {
            listener,
            store,
            gate,
            config,
            process,
        } = self;
        let stop = shutdown.child_token();
        let history_lag = HistoryLag::default();
        let hub = Arc::new(Hub::new(config.socket_queue, SOCKET_QUEUE_BYTES));
        let mut members = process.members;
        members.push(history_lag.0.clone());
        let system = Arc::new(SystemView::new(process.kafka.clone(), hub.clone(), members));
        let mut metered = process.metered;
        metered.push(Arc::new(history_lag.clone()));
        metered.push(system.clone());
        let state = Arc::new(AppState {
            gate,
            limits: crate::limits::Limits::new(config.limits, hub.clone()),
            security_headers: SecurityHeaders::new(&config.map.tiles_url),
            store: store.clone(),
            store_prepared: Arc::new(AtomicBool::new(false)),
            hub,
            system,
            producer: process.producer,
            positions_ready: Arc::new(AtomicBool::new(false)),
            shutdown: stop.clone(),
            map: config.map,
            http: Arc::default(),
            metered,
            checks: process.checks,
        });
        info!(
            "web map at http://{}",
            listener.local_addr().map_err(RunError::Http)?
        );

        let mut parts: JoinSet<Result<(), RunError>> = JoinSet::new();
        parts.spawn({
            let (store, prepared, stop) =
                (store.clone(), state.store_prepared.clone(), stop.clone());
            async move {
                prepare_store(store, prepared, stop).await;
                Ok(())
            }
        });
        parts.spawn({
            let (hub, stop) = (state.hub.clone(), stop.clone());
            async move {
                hub.batch_fleet(FLEET_BATCH, stop).await;
                Ok(())
            }
        });
        parts.spawn({
            let (kafka, hub, store) = (process.kafka.clone(), state.hub.clone(), store.clone());
            let (tap, ready, stop) = (
                state.system.tap(),
                state.positions_ready.clone(),
                stop.clone(),
            );
            async move {
                consume_positions(&kafka, hub, tap, store, ready, stop)
                    .await
                    .map_err(RunError::Positions)
            }
        });
        parts.spawn({
            let (kafka, batch, stop) = (process.kafka, config.batch, stop.clone());
            async move {
                record_positions(&kafka, store, batch, history_lag, stop)
                    .await
                    .map_err(RunError::Recorder)
            }
        });
        parts.spawn({
            let stop = stop.clone();
            async move {
                let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
                    .map_err(RunError::Http)
            }
        });
        let mut failure = None;
        while let Some(ended) = parts.join_next().await {
            let result = ended.unwrap_or_else(|e| Err(RunError::Panicked(e.to_string())));
            if let Err(e) = result {
                stop.cancel();
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}
