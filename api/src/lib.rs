//! Rota's api: REST for routes and rides, a WebSocket hub that pushes live positions to browsers,
//! and the web map's static files.
//!
//! [`router`] builds the axum app around an [`AppState`]; [`consume_positions`] is the one Kafka
//! consumer of `route.new-position` a process runs to feed the hub.

mod error;
pub mod hub;
mod positions;
mod rest;
mod rides;
pub mod store;
mod ws;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Router,
    routing::{get, post},
};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use positions::consume_positions;

/// Per-socket frame queue: at 2 positions/s per ride this holds several seconds of a busy fleet.
pub const DEFAULT_SOCKET_QUEUE: usize = 4096;

/// What every handler shares.
pub struct AppState {
    pub store: Arc<dyn store::RouteStore>,
    pub hub: Arc<hub::Hub>,
    /// The process's one producer, for ride commands.
    pub producer: FutureProducer,
    /// Set once the position consumer is assigned its partitions.
    pub positions_ready: Arc<AtomicBool>,
    /// Cancelled on SIGINT/SIGTERM: sockets say goodbye and close.
    pub shutdown: CancellationToken,
}

impl AppState {
    fn positions_ready(&self) -> bool {
        self.positions_ready.load(Ordering::Acquire)
    }
}

pub type SharedState = Arc<AppState>;

/// The whole HTTP surface: REST under `/api`, the WebSocket at `/ws`, probes, and the web map.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .route("/api/routes", get(rest::list_routes))
        .route("/api/routes/{id}", get(rest::get_route))
        .route("/api/rides", post(rest::start_ride))
        .route("/api/rides/{id}", get(rest::get_ride))
        .route("/ws", get(ws::upgrade))
        .fallback(rest::web_asset)
        .with_state(state)
}
