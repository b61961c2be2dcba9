//! Rota's api: REST for routes and rides, a WebSocket hub that pushes live positions to browsers,
//! and the web map's static files.
//!
//! [`Api::start`] opens the store and binds the listener, [`Api::run`] runs it until shutdown:
//! [`router`] builds the axum app around an [`AppState`]; [`consume_positions`] is the one Kafka
//! consumer of `route.new-position` a process runs to feed the hub, and [`record_positions`] writes
//! every position into the store, off the live path.

pub mod auth;
mod browser;
mod error;
pub mod frames;
mod http_metrics;
pub mod hub;
mod key_tap;
pub mod limits;
mod live_positions;
pub mod openapi;
pub mod recorder;
mod rest;
pub mod ride;
mod ride_commands;
pub mod route;
mod route_formats;
mod start;
pub mod store;
pub mod system;
mod ws;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::DefaultBodyLimit, middleware, routing::get};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use http_metrics::HttpMetrics;
pub use live_positions::consume_positions;
pub use recorder::{BatchLimits, record_positions};
pub use ride_commands::MAX_BATCH_RIDES;
pub use start::{Api, ApiConfig, Process, RunError, StartError};

/// Per-socket frame queue: at 2 positions/s per ride this holds several seconds of a busy fleet.
pub const DEFAULT_SOCKET_QUEUE: usize = 4096;

/// Per-socket bytes queued: seconds of whole-fleet frames at ten thousand rides, which a browser on
/// a normal link takes in as they come.
pub const SOCKET_QUEUE_BYTES: usize = 16 << 20;

/// What every handler shares.
pub struct AppState {
    /// Who may do what.
    pub gate: auth::Gate,
    /// What one caller may take.
    pub limits: limits::Limits,
    /// What every answer carries for the browser's protection.
    pub security_headers: browser::SecurityHeaders,
    pub store: Arc<dyn store::Store>,
    /// Set once the store is prepared (indexes, sample routes); see [`prepare_store`].
    pub store_prepared: Arc<AtomicBool>,
    pub hub: Arc<hub::Hub>,
    /// The cluster as the System page shows it, read only while asked for.
    pub system: Arc<system::SystemView>,
    /// The process's one producer, for ride commands.
    pub producer: events::SharedProducer,
    /// Set once the position consumer has read up to where the topic ended at start-up.
    pub positions_ready: Arc<AtomicBool>,
    /// Cancelled on SIGINT/SIGTERM: sockets say goodbye and close.
    pub shutdown: CancellationToken,
    /// What the web map draws under the routes.
    pub map: MapConfig,
    /// Request latencies, recorded by [`router`]'s middleware.
    pub http: Arc<HttpMetrics>,
    /// Other parts of the process whose figures `/metrics` shows (the hub's and `http`'s always
    /// are).
    pub metered: Vec<Arc<dyn ops::Metered>>,
    /// Readiness of the other parts running in this process, on `/readyz` next to the api's own.
    pub checks: Vec<ops::ReadyCheck>,
}

/// The web map's base layer and big-fleet threshold, served to the page at `/api/map-config`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MapConfig {
    /// A Leaflet tile URL template (`{z}`, `{x}`, `{y}`, optional `{s}`); empty for no tiles.
    pub tiles_url: String,
    /// The tile provider's credit line (HTML), shown in the map's corner.
    pub tiles_attribution: String,
    /// Rides running above which the map asks only for the rides in its view (and again as it
    /// pans), instead of the whole fleet.
    pub viewport_above: usize,
}

impl Default for MapConfig {
    fn default() -> Self {
        Self {
            tiles_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".to_owned(),
            tiles_attribution:
                "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors"
                    .to_owned(),
            viewport_above: 500,
        }
    }
}

impl AppState {
    fn positions_ready(&self) -> bool {
        self.positions_ready.load(Ordering::Acquire)
    }

    fn store_prepared(&self) -> bool {
        self.store_prepared.load(Ordering::Acquire)
    }
}

pub type SharedState = Arc<AppState>;

/// The whole HTTP surface: REST under `/api`, the WebSocket at `/ws`, probes, and the web map.
pub fn router(state: SharedState) -> Router {
    let documented: Router<SharedState> = openapi::routes().into();
    documented
        .route("/ws", get(ws::upgrade))
        .fallback(rest::web_asset)
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            browser::open_mode,
        ))
        .layer(DefaultBodyLimit::max(state.limits.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            browser::security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.http.clone(),
            http_metrics::track,
        ))
        .with_state(state)
}

/// Prepares the store (indexes, then the sample routes into an empty catalogue), retrying with
/// back-off while it is unreachable; sets `prepared` when done. `/readyz` reports until then.
pub async fn prepare_store(
    store: Arc<dyn store::Store>,
    prepared: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let mut backoff = events::Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let attempt = async {
            store.prepare().await?;
            store::seed_if_empty(store.as_ref(), events::now_ms()).await
        };
        match attempt.await {
            Ok(seeded) => {
                if seeded > 0 {
                    tracing::info!(routes = seeded, "seeded the sample routes");
                }
                prepared.store(true, Ordering::Release);
                return;
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    error = e.chain(),
                    retry_in_ms = delay.as_millis() as u64,
                    "store not ready"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
